// Hostile input on every admin API route: huge numbers, floats, negatives, booleans, arrays,
// nested objects, wrong content types, empty and 1 MiB bodies, unknown fields, NUL bytes. Each
// gets a 4xx with a JSON { message }, never a 500, and nothing is started or stored by it.
import * as assert from 'uvu/assert';
import type { Ferry } from '../../../server/main.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { offlineDevice } from '../../helpers/devices.ts';
import { startTestFerry } from '../../helpers/ferry.ts';

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

const UPDATE = '/api/v1/devices/dev-h/update';
const UPLOAD = '/api/v1/firmware?version=9&hardwareClass=sim-1';
const ATTRIBUTES = '/api/v1/devices/dev-h/attributes/3/0/9';
const json = (what: string, method: Method, url: string, body: string): Case => [what, method, url, body, JSON_TYPE];
const image = (what: string, url: string): Case => [what, 'POST', url, Buffer.from('img'), 'application/octet-stream'];
const newToken = (what: string, body: string): Case => json(`tokens: ${what}`, 'POST', '/api/v1/tokens', body);
/** One bodiless case per value: `url(value)` with each of `values` (by default the bad id texts). */
const each = (what: string, method: Method, url: (v: string) => string, values: readonly string[] = badIdTexts): Case[] =>
  values.map((v) => [`${what} ${v.slice(0, 30)}`, method, url(v), undefined]);

const CASES: Case[] = [
  ...badIds.map((v) => json(`update firmwareId ${v.slice(0, 24)}`, 'POST', UPDATE, `{"firmwareId":${v}}`)),
  json('update: unknown field', 'POST', UPDATE, '{"firmwareId":1,"force":true}'),
  json('update: body is an array', 'POST', UPDATE, '[{"firmwareId":1}]'),
  json('update: body is a number', 'POST', UPDATE, '1'),
  json('update: nested object', 'POST', UPDATE, '{"firmwareId":{"firmwareId":{"firmwareId":1}}}'),
  json('update: empty JSON body', 'POST', UPDATE, ''),
  ['update: no body', 'POST', UPDATE, undefined],
  json('update: broken JSON', 'POST', UPDATE, '{"firmwareId":'),
  ['update: text/plain', 'POST', UPDATE, 'firmwareId=1', 'text/plain'],
  ['update: form', 'POST', UPDATE, 'firmwareId=1', 'application/x-www-form-urlencoded'],
  ['update: octet-stream', 'POST', UPDATE, Buffer.from('{"firmwareId":1}'), 'application/octet-stream'],
  json('update: 1 MiB JSON', 'POST', UPDATE, big),
  json('update: endpoint with NUL', 'POST', '/api/v1/devices/dev%00h/update', '{"firmwareId":1}'),
  ...each('devices ?after=', 'GET', (v) => `/api/v1/devices?after=${v}`),
  ...each('devices ?limit=', 'GET', (v) => `/api/v1/devices?limit=${v}`),
  ['devices ?limit twice', 'GET', '/api/v1/devices?limit=1&limit=2', undefined],
  ['devices ?after[]=', 'GET', '/api/v1/devices?after[]=1', undefined],
  ['devices: unknown query', 'GET', '/api/v1/devices?sort=id', undefined],
  ...each('updates/', 'GET', (v) => `/api/v1/updates/${v}`),
  ['updates/0', 'GET', '/api/v1/updates/0', undefined],
  ['device with NUL', 'GET', '/api/v1/devices/dev%00h', undefined],
  ['device with a control character', 'GET', '/api/v1/devices/dev%1bh', undefined],
  ['device name of 300 characters', 'GET', `/api/v1/devices/${'d'.repeat(300)}`, undefined],
  json('firmware: JSON body', 'POST', UPLOAD, '{"image":"AAAA"}'),
  ['firmware: no body', 'POST', UPLOAD, undefined],
  image('firmware: version with NUL', '/api/v1/firmware?version=9%00&hardwareClass=sim-1'),
  image('firmware: version of 200 characters', `/api/v1/firmware?version=${'9'.repeat(200)}&hardwareClass=sim-1`),
  image('firmware: ?force=maybe', `${UPLOAD}&force=maybe`),
  image('firmware: ?delivery twice', `${UPLOAD}&delivery=package&delivery=payload`),
  image('firmware: unknown query', `${UPLOAD}&id=1`),
  ['firmware list: unknown query', 'GET', '/api/v1/firmware?limit=1e300', undefined],
  ['lwm2m read: bad format', 'GET', '/api/v1/devices/dev-h/lwm2m/3/0?format=xml', undefined],
  ['lwm2m read: huge path number', 'GET', '/api/v1/devices/dev-h/lwm2m/99999999999999999999/0', undefined],
  json('lwm2m write: values not an array', 'PUT', '/api/v1/devices/dev-h/lwm2m/1/0/1', '{"values":"x"}'),
  json('lwm2m write: unknown field', 'PUT', '/api/v1/devices/dev-h/lwm2m/1/0/1', '{"value":1,"as":"int"}'),
  json('lwm2m write: nested values', 'PUT', '/api/v1/devices/dev-h/lwm2m/1/0/1', '{"values":[{"path":{"a":1},"value":1}]}'),
  json('execute: arguments a number', 'POST', '/api/v1/devices/dev-h/execute/3/0/4', '{"arguments":5}'),
  json('execute: arguments an array', 'POST', '/api/v1/devices/dev-h/execute/3/0/4', '{"arguments":["a"]}'),
  json('attributes: boolean', 'PUT', ATTRIBUTES, '{"pmin":true}'),
  json('attributes: array', 'PUT', ATTRIBUTES, '{"pmin":[1]}'),
  json('attributes: string', 'PUT', ATTRIBUTES, '{"pmin":"1"}'),
  json('attributes: 1e300', 'PUT', ATTRIBUTES, '{"pmin":1e300}'),
  json('attributes: none', 'PUT', ATTRIBUTES, '{}'),
  ['observe: huge path', 'POST', '/api/v1/devices/dev-h/observe/3/99999999999999999999', undefined],
  ...each('devices ?', 'GET', (q) => `/api/v1/devices?${q}`, ['status=gone', 'status[]=registered', 'hardwareClass=a%00b', `firmwareVersion=${'9'.repeat(200)}`,
    'lastSeenBefore=yesterday', 'lastSeenBefore=0000-01-01T00:00:00Z', 'lastSeenAfter=9999999-01-01T00:00:00Z', 'lastSeenAfter=2026-01-01T00:00:00', 'tag=x']),
  ...each('firmware/', 'GET', (v) => `/api/v1/firmware/${v}`),
  ...each('delete firmware/', 'DELETE', (v) => `/api/v1/firmware/${v}`),
  ['delete firmware/0', 'DELETE', '/api/v1/firmware/0', undefined],
  ['delete firmware with a query', 'DELETE', '/api/v1/firmware/1?force=true', undefined],
  ...each('events ?after=', 'GET', (v) => `/api/v1/events?after=${v}`),
  ...each('events ?limit=', 'GET', (v) => `/api/v1/events?limit=${v}`),
  ...each('events ?', 'GET', (q) => `/api/v1/events?${q}`, ['kind=%00', `kind=${'k'.repeat(65)}`, 'kind=a%25', 'endpoint=a%00b', 'actor=a%20b',
    'since=now', 'until=0000-01-01T00:00:00Z', 'order=random', 'deviceId=1', 'limit=1&limit=2']),
  ...each('delete tokens/', 'DELETE', (v) => `/api/v1/tokens/${v}`),
  ['delete tokens/0', 'DELETE', '/api/v1/tokens/0', undefined],
  newToken('no body', ''),
  newToken('unknown role', '{"name":"x","role":"root"}'),
  newToken('role an array', '{"name":"x","role":["admin"]}'),
  newToken('name a number', '{"name":1,"role":"viewer"}'),
  newToken('name with NUL', '{"name":"a\\u0000b","role":"viewer"}'),
  newToken('name of 1000', `{"name":"${'n'.repeat(1000)}","role":"viewer"}`),
  newToken('own secret', '{"name":"x","role":"viewer","token":"fry_x"}'),
  newToken('1 MiB', `{"name":"x","role":"viewer","pad":"${'x'.repeat(1024 * 1024)}"}`),
  ['tokens: form', 'POST', '/api/v1/tokens', 'name=x&role=admin', 'application/x-www-form-urlencoded'],
  ['tokens list: unknown query', 'GET', '/api/v1/tokens?all=1', undefined],
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
    const images = await get().db.query<{ n: number }>('SELECT count(*)::int AS n FROM firmware_images WHERE deleted_at IS NULL');
    assert.is(images.rows[0]?.n, 1, 'no image was stored or deleted');
    const tokens = await get().db.query<{ n: number }>('SELECT count(*)::int AS n FROM api_tokens WHERE revoked_at IS NULL');
    assert.is(tokens.rows[0]?.n, 1, 'no token was made or revoked');
  });

  suite('the bounds themselves are accepted: the largest id is a clean 404, not a database error', async () => {
    await offlineDevice(get().db, 'dev-m');
    const max = String(Number.MAX_SAFE_INTEGER);
    const update = await ferry.api.inject({ method: 'POST', url: '/api/v1/devices/dev-m/update', headers: { 'content-type': JSON_TYPE }, payload: `{"firmwareId":${max}}` });
    assert.is(update.statusCode, 404, update.body);
    assert.is((await ferry.api.inject({ method: 'GET', url: `/api/v1/updates/${max}` })).statusCode, 404);
    const page = await ferry.api.inject({ method: 'GET', url: `/api/v1/devices?after=${max}&limit=1000` });
    assert.is(page.statusCode, 200, page.body);
    assert.equal(page.json(), { items: [], next: null });
    assert.is((await ferry.api.inject({ method: 'GET', url: '/api/v1/devices?after=0' })).json().items.length, 1);
  });
});
