// Hostile input on every admin API route: huge numbers, floats, negatives, booleans, arrays,
// nested objects, wrong content types, empty and 1 MiB bodies, unknown fields, NUL bytes. Each
// gets a 4xx with a JSON { message }, never a 500, and nothing is started or stored by it.
import * as assert from 'uvu/assert';
import type { Ferry } from '../../server/main.ts';
import { forEachDatabase } from '../helpers/db.ts';
import { offlineDevice } from '../helpers/devices.ts';
import { startTestFerry } from '../helpers/ferry.ts';

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';
/** [what, method, url, raw body (sent as is), content-type] */
type Case = [string, Method, string, string | Buffer | undefined, string?];

const JSON_TYPE = 'application/json';
const deep = (n: number): string => `${'['.repeat(n)}1${']'.repeat(n)}`;
const big = `{"firmwareId":1,"pad":"${'x'.repeat(1024 * 1024)}"}`;

/** The bodies a JSON integer field must refuse: each would reach the store or start an update. */
const badIds = ['99999999999999999999', '1e300', '9007199254740992', '1.5', '-1', '0', 'true', 'false', '[1]', '{"a":1}', '"1"', 'null', deep(64)];
/** The same as a querystring or path value. */
const badIdTexts = ['99999999999999999999', '1e300', '9007199254740992', '1.5', '-1', 'true', 'abc', '%00', '1%000'];

const CASES: Case[] = [
  ...badIds.map((v): Case => [`update firmwareId ${v.slice(0, 24)}`, 'POST', '/api/v1/devices/dev-h/update', `{"firmwareId":${v}}`, JSON_TYPE]),
  ['update: unknown field', 'POST', '/api/v1/devices/dev-h/update', '{"firmwareId":1,"force":true}', JSON_TYPE],
  ['update: body is an array', 'POST', '/api/v1/devices/dev-h/update', '[{"firmwareId":1}]', JSON_TYPE],
  ['update: body is a number', 'POST', '/api/v1/devices/dev-h/update', '1', JSON_TYPE],
  ['update: nested object', 'POST', '/api/v1/devices/dev-h/update', '{"firmwareId":{"firmwareId":{"firmwareId":1}}}', JSON_TYPE],
  ['update: empty JSON body', 'POST', '/api/v1/devices/dev-h/update', '', JSON_TYPE],
  ['update: no body', 'POST', '/api/v1/devices/dev-h/update', undefined],
  ['update: broken JSON', 'POST', '/api/v1/devices/dev-h/update', '{"firmwareId":', JSON_TYPE],
  ['update: text/plain', 'POST', '/api/v1/devices/dev-h/update', 'firmwareId=1', 'text/plain'],
  ['update: form', 'POST', '/api/v1/devices/dev-h/update', 'firmwareId=1', 'application/x-www-form-urlencoded'],
  ['update: octet-stream', 'POST', '/api/v1/devices/dev-h/update', Buffer.from('{"firmwareId":1}'), 'application/octet-stream'],
  ['update: 1 MiB JSON', 'POST', '/api/v1/devices/dev-h/update', big, JSON_TYPE],
  ['update: endpoint with NUL', 'POST', '/api/v1/devices/dev%00h/update', '{"firmwareId":1}', JSON_TYPE],
  ...badIdTexts.map((v): Case => [`devices ?after=${v}`, 'GET', `/api/v1/devices?after=${v}`, undefined]),
  ...badIdTexts.map((v): Case => [`devices ?limit=${v}`, 'GET', `/api/v1/devices?limit=${v}`, undefined]),
  ['devices ?limit twice', 'GET', '/api/v1/devices?limit=1&limit=2', undefined],
  ['devices ?after[]=', 'GET', '/api/v1/devices?after[]=1', undefined],
  ['devices: unknown query', 'GET', '/api/v1/devices?sort=id', undefined],
  ...badIdTexts.map((v): Case => [`updates/${v}`, 'GET', `/api/v1/updates/${v}`, undefined]),
  ['updates/0', 'GET', '/api/v1/updates/0', undefined],
  ['device with NUL', 'GET', '/api/v1/devices/dev%00h', undefined],
  ['device with a control character', 'GET', '/api/v1/devices/dev%1bh', undefined],
  ['device name of 300 characters', 'GET', `/api/v1/devices/${'d'.repeat(300)}`, undefined],
  ['firmware: JSON body', 'POST', '/api/v1/firmware?version=9&hardwareClass=sim-1', '{"image":"AAAA"}', JSON_TYPE],
  ['firmware: no body', 'POST', '/api/v1/firmware?version=9&hardwareClass=sim-1', undefined],
  ['firmware: version with NUL', 'POST', '/api/v1/firmware?version=9%00&hardwareClass=sim-1', Buffer.from('img'), 'application/octet-stream'],
  ['firmware: version of 200 characters', 'POST', `/api/v1/firmware?version=${'9'.repeat(200)}&hardwareClass=sim-1`, Buffer.from('img'), 'application/octet-stream'],
  ['firmware: ?force=maybe', 'POST', '/api/v1/firmware?version=9&hardwareClass=sim-1&force=maybe', Buffer.from('img'), 'application/octet-stream'],
  ['firmware: ?delivery twice', 'POST', '/api/v1/firmware?version=9&hardwareClass=sim-1&delivery=package&delivery=payload', Buffer.from('img'), 'application/octet-stream'],
  ['firmware: unknown query', 'POST', '/api/v1/firmware?version=9&hardwareClass=sim-1&id=1', Buffer.from('img'), 'application/octet-stream'],
  ['firmware list: unknown query', 'GET', '/api/v1/firmware?limit=1e300', undefined],
  ['lwm2m read: bad format', 'GET', '/api/v1/devices/dev-h/lwm2m/3/0?format=xml', undefined],
  ['lwm2m read: huge path number', 'GET', '/api/v1/devices/dev-h/lwm2m/99999999999999999999/0', undefined],
  ['lwm2m write: values not an array', 'PUT', '/api/v1/devices/dev-h/lwm2m/1/0/1', '{"values":"x"}', JSON_TYPE],
  ['lwm2m write: unknown field', 'PUT', '/api/v1/devices/dev-h/lwm2m/1/0/1', '{"value":1,"as":"int"}', JSON_TYPE],
  ['lwm2m write: nested values', 'PUT', '/api/v1/devices/dev-h/lwm2m/1/0/1', '{"values":[{"path":{"a":1},"value":1}]}', JSON_TYPE],
  ['execute: arguments a number', 'POST', '/api/v1/devices/dev-h/execute/3/0/4', '{"arguments":5}', JSON_TYPE],
  ['execute: arguments an array', 'POST', '/api/v1/devices/dev-h/execute/3/0/4', '{"arguments":["a"]}', JSON_TYPE],
  ['attributes: boolean', 'PUT', '/api/v1/devices/dev-h/attributes/3/0/9', '{"pmin":true}', JSON_TYPE],
  ['attributes: array', 'PUT', '/api/v1/devices/dev-h/attributes/3/0/9', '{"pmin":[1]}', JSON_TYPE],
  ['attributes: string', 'PUT', '/api/v1/devices/dev-h/attributes/3/0/9', '{"pmin":"1"}', JSON_TYPE],
  ['attributes: 1e300', 'PUT', '/api/v1/devices/dev-h/attributes/3/0/9', '{"pmin":1e300}', JSON_TYPE],
  ['attributes: none', 'PUT', '/api/v1/devices/dev-h/attributes/3/0/9', '{}', JSON_TYPE],
  ['observe: huge path', 'POST', '/api/v1/devices/dev-h/observe/3/99999999999999999999', undefined],
];

forEachDatabase('api, hostile input', ({ suite, get }) => {
  let ferry: Ferry;
  suite.before(async () => { ferry = await startTestFerry(get().db, { maxUploadMb: 1 }); });
  suite.after(async () => { await ferry.close(); });

  suite('every case: 4xx, JSON with a message, no 500; nothing started or stored', async () => {
    // A device and an image that a coerced body (true → 1, [1] → 1) would start an update with.
    await offlineDevice(get().db, 'dev-h');
    const image = await ferry.api.inject({
      method: 'POST', url: '/api/v1/firmware?version=2.0.0&hardwareClass=sim-1', headers: { 'content-type': 'application/octet-stream' }, payload: Buffer.from('image'),
    });
    assert.is(image.statusCode, 201);
    assert.is(image.json().id, 1);
    const failures: string[] = [];
    for (const [what, method, url, body, type] of CASES) {
      const res = await ferry.api.inject({ method, url, ...(type ? { headers: { 'content-type': type } } : {}), ...(body === undefined ? {} : { payload: body }) });
      let message: unknown;
      try { message = res.json().message; } catch { message = undefined; }
      if (res.statusCode < 400 || res.statusCode >= 500 || typeof message !== 'string' || message === '' || !String(res.headers['content-type']).startsWith('application/json')) {
        failures.push(`${what}: ${res.statusCode} ${res.body.slice(0, 120)}`);
      }
    }
    assert.equal(failures, [], failures.join('\n'));
    const updates = await get().db.query<{ n: number }>('SELECT count(*)::int AS n FROM device_updates');
    assert.is(updates.rows[0]?.n, 0, 'no update was started');
    const images = await get().db.query<{ n: number }>('SELECT count(*)::int AS n FROM firmware_images');
    assert.is(images.rows[0]?.n, 1, 'no image was stored');
  });

  suite('the bounds themselves are accepted: the largest id is a clean 404, not a database error', async () => {
    await offlineDevice(get().db, 'dev-m');
    const max = String(Number.MAX_SAFE_INTEGER);
    const update = await ferry.api.inject({ method: 'POST', url: '/api/v1/devices/dev-m/update', headers: { 'content-type': JSON_TYPE }, payload: `{"firmwareId":${max}}` });
    assert.is(update.statusCode, 404, update.body);
    assert.is((await ferry.api.inject({ method: 'GET', url: `/api/v1/updates/${max}` })).statusCode, 404);
    const page = await ferry.api.inject({ method: 'GET', url: `/api/v1/devices?after=${max}&limit=1000` });
    assert.is(page.statusCode, 200, page.body);
    assert.equal(page.json(), []);
    assert.is((await ferry.api.inject({ method: 'GET', url: '/api/v1/devices?after=0' })).json().length, 1);
  });
});
