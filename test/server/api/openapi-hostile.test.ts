// Hostile input on the admin API, the table generated from the server's own OpenAPI document
// (/docs/json): every route × every parameter it declares (path, query, header, and each
// top-level property of a JSON body) × a list of hostile values, sent over HTTP with the admin
// token and, around the hostile value, valid values that name a real device, image, campaign,
// token, update and alert. No answer is a 5xx, every 4xx is JSON with a message, an integer in
// a text part is refused unless it is digits in range, and afterwards the server still answers
// with everything it held intact (`DELETE /api/v1/tokens/+1` once revoked token 1).
import * as assert from 'uvu/assert';
import { encodePublicKeyPem, generateSigningKey } from '../../../protocols/package-keys.ts';
import type { Ferry } from '../../../server/main.ts';
import { insertAlert } from '../../../server/store/alerts.ts';
import { CONFIGURED_ADMIN } from '../../../server/store/tokens.ts';
import * as devices from '../../../server/store/devices.ts';
import { SimDevice } from '../../../simulator/device.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { offlineDevice } from '../../helpers/devices.ts';
import { bearer, eventually, injectRaw, startTestFerry } from '../../helpers/ferry.ts';
import { refusalProblem, sendAll, type RawRequest, type RawResponse } from '../../helpers/http-table.ts';

interface Schema { type?: string | string[]; properties?: Record<string, Schema>; [k: string]: unknown }
interface Parameter { in: 'path' | 'query' | 'header' | 'cookie'; name: string; required?: boolean; schema?: Schema }
interface Operation { parameters?: Parameter[]; requestBody?: { content?: Record<string, { schema?: Schema }> } }
interface Document { paths: Record<string, Record<string, Operation>> }

/** A hostile value for a text part: `text` is sent percent-encoded (the server decodes it back), `raw` as written. */
interface TextValue { label: string; text?: string; raw?: string }
const show = (s: string): string => (s.length > 24 ? `${JSON.stringify(s.slice(0, 12))}…(${s.length})` : JSON.stringify(s));
const TEXT_VALUES: TextValue[] = [
  ...['1e309', '+1', '-1', '0x10', '1.0', ' 1', '1 ', '\u0661', '9007199254740993', '99999999999999999999', `1${'0'.repeat(400)}`,
    'NaN', 'Infinity', '-0', '', 'x'.repeat(10 * 1024), '../../etc/passwd', "'; DROP TABLE devices; --",
    '\u202e1\u200b', '\u200b', '\u202edevice', 'true', 'null', '\u0000',
    // Instants a date-time format takes or nearly takes, and the database may not.
    '0000-01-01T00:00:00Z', '9999-12-31T23:59:60Z', '2026-02-30T00:00:00Z', '+275760-09-13T00:00:00Z', '2026-01-01T00:00:00+99:99'].map((text) => ({ label: show(text), text })),
  { label: 'raw %00', raw: '%00' },
  { label: 'raw %C3%28 (invalid UTF-8)', raw: '%C3%28' },
  { label: 'raw ../../etc/passwd', raw: '../../etc/passwd' },
  { label: 'raw +1', raw: '+1' },
];
/** The same parameter given a shape instead of a value: a list, a nested object. */
const QUERY_SHAPES = (name: string): Array<[string, string]> => [
  ['list x=1&x=2', `${name}=1&${name}=2`], ['nested x[a]=1', `${name}[a]=1`], ['x[]=1', `${name}[]=1`],
];

const deep = (n: number, open: string, close: string): string => `${open.repeat(n)}1${close.repeat(n)}`;
/** Raw JSON for one property: wrong types, huge and odd numbers, deep nesting, and the text values as strings. */
const JSON_VALUES: string[] = [
  '"x"', '1', '0', '-1', '-0', '1.0', '1.5', 'true', 'false', 'null', '[]', '[1]', '{}', '{"a":1}',
  '1e309', '-1e309', '1e300', '9007199254740993', '99999999999999999999', `1${'0'.repeat(400)}`,
  deep(5000, '[', ']'), deep(5000, '{"a":', '}'),
  ...TEXT_VALUES.filter((v) => v.text !== undefined).map((v) => JSON.stringify(v.text)),
];
/** A JSON string whose bytes are not UTF-8: C3 starts a two-byte sequence, 28 cannot continue it. */
const INVALID_UTF8 = Buffer.from([0x22, 0xc3, 0x28, 0x22]);
/** Raw JSON for the whole body. */
const BODY_VALUES: string[] = ['', '{', '[]', '[{}]', '"x"', '1', 'null', 'true', deep(5000, '[', ']'), deep(5000, '{"a":', '}')];

const JSON_TYPE = 'application/json';
const MARK = '__hostile__';
const openapiPath = (url: string): string => url.replace(/\*$/, '{path}').replace(/:([A-Za-z_]+)/g, '{$1}');
const isInteger = (s: Schema | undefined): boolean => [s?.type].flat().includes('integer') && ![s?.type].flat().includes('string');

interface Row { route: string; param: string; value: string; integer: boolean; req: RawRequest }

forEachDatabase('api, a hostile-input table from the OpenAPI document', ({ suite, get }) => {
  let ferry: Ferry;
  /**
   * What the table's valid values name (each exists before the table runs), and the victims: id 1
   * of each kind, which a value misread as 1 ('+1', '1.0', ' 1') would name. Valid requests in
   * the table (a `null` body is an action's empty one) may change the first, never the second.
   */
  const real = { token: 0, firmware: 0, update: 0, campaign: 0, alert: 0, cancel: 0 };
  const victim = { token: 0, firmware: 0, campaign: 0, alert: 0 };
  let uploads = 0;

  let sim: SimDevice | undefined;
  suite.before(async () => { ferry = await startTestFerry(get().db, { requestTimeout: 3, maxUploadMb: 1 }); });
  suite.after(async () => { await sim?.stop(); await ferry.close(); });

  /** A registered device (simulated), an offline one, an image, a token, an update, a campaign, an alert, an observation. */
  async function setUp(): Promise<void> {
    sim = new SimDevice({ endpoint: 'dev-h', server: { host: '127.0.0.1', port: ferry.coapAddress!.port }, lifetime: 300, coap: { ackTimeoutMs: 300 } });
    await sim.start();
    await eventually(async () => ((await devices.findByEndpoint(get().db, 'dev-h'))?.firmwareVersion ? true : undefined), 5000, 'dev-h in the inventory');
    const off = await offlineDevice(get().db, 'off-h');
    const call = async (method: 'GET' | 'POST', url: string, payload?: object | Buffer, status = method === 'GET' ? 200 : 201) => {
      const res = await ferry.api.inject({ method, url, ...(Buffer.isBuffer(payload) ? { headers: { 'content-type': 'application/octet-stream' } } : {}), ...(payload ? { payload } : {}) });
      assert.is(res.statusCode, status, `${method} ${url}: ${res.body}`);
      return res.json();
    };
    const admin = ((await call('GET', '/api/v1/tokens')).items as Array<{ id: number; name: string }>).find((t) => t.name === CONFIGURED_ADMIN);
    victim.token = admin!.id;
    real.token = (await call('POST', '/api/v1/tokens', { name: 'base', role: 'viewer' })).id;
    await call('POST', '/api/v1/keys', { name: 'table-key', publicKeyPem: encodePublicKeyPem(generateSigningKey('ed25519')) });
    victim.firmware = (await call('POST', '/api/v1/firmware?version=2.0.0&hardwareClass=sim-1', Buffer.from('image'))).id;
    real.firmware = (await call('POST', '/api/v1/firmware?version=2.0.1&hardwareClass=sim-1', Buffer.from('image'))).id;
    real.update = (await call('POST', '/api/v1/devices/off-h/update', { firmwareId: real.firmware }, 202)).id;
    // Cancelled and decommissioned by the table's valid requests: their own device and update.
    await offlineDevice(get().db, 'gone-h');
    real.cancel = (await call('POST', '/api/v1/devices/gone-h/update', { firmwareId: real.firmware }, 202)).id;
    const campaign = { firmwareId: real.firmware, target: { hardwareClass: 'sim-1', tags: ['no-such-tag'] }, policy: { waves: ['100%'] } };
    victim.campaign = (await call('POST', '/api/v1/campaigns', { ...campaign, name: 'victim' })).id;
    real.campaign = (await call('POST', '/api/v1/campaigns', { ...campaign, name: 'base' })).id;
    await call('POST', `/api/v1/campaigns/${real.campaign}/abort`, {}, 200); // every action on it is then a 409
    const alert = { kind: 'update.stalled', severity: 'warning', campaignId: null, deviceId: off.id, updateId: real.update, data: {}, webhook: 'none' } as const;
    victim.alert = (await insertAlert(get().db, { ...alert, message: 'victim' })).id;
    real.alert = (await insertAlert(get().db, { ...alert, message: 'base' })).id;
    assert.equal(Object.values(victim), [1, 1, 1, 1], 'each victim is id 1');
    await call('POST', '/api/v1/devices/dev-h/observe/3/0/9', undefined, 200);
  }

  /** A valid value for each path parameter, by route: what the hostile value stands in for. */
  function validPathValue(route: string, name: string): string {
    if (name === 'endpoint') return route.endsWith('/update') ? 'off-h' : route.endsWith('/decommission') ? 'gone-h' : 'dev-h';
    if (name === 'hardwareClass') return 'sim-1';
    if (name === 'id') {
      const kind = / \/api\/v1\/(tokens|firmware|updates|campaigns|alerts)\//.exec(route)?.[1];
      if (kind === 'tokens') return String(real.token);
      if (kind === 'firmware') return String(real.firmware);
      if (kind === 'updates') return String(route.endsWith('/cancel') ? real.cancel : real.update);
      if (kind === 'campaigns') return String(real.campaign);
      if (kind === 'alerts') return String(real.alert);
    }
    if (name === 'name' && route.includes('/api/v1/keys/')) return 'table-key';
    if (name === 'name') return 'base'; // the user of the viewer token made above
    if (name === 'hardwareClass') return 'sim-1';
    if (name === 'version') return '2.0.1';
    if (name === 'path') {
      // Harmless on the simulated device: reads, a write to App Data's description, a create on an
      // instance that exists (refused), a delete of one that does not, Registration Update Trigger.
      const [method, url] = route.split(' ') as [string, string];
      const kind = /\/(lwm2m|execute|discover|attributes|observe)\//.exec(url)?.[1];
      if (kind === 'lwm2m') return ({ GET: '3/0', PUT: '19/0/3', POST: '19', DELETE: '19/99' } as Record<string, string>)[method]!;
      if (kind === 'execute') return '1/0/8';
      if (kind === 'discover') return '3';
      if (kind === 'attributes' || kind === 'observe') return '3/0/9';
    }
    throw new Error(`${route}: no valid value for the path parameter {${name}}; add one`);
  }
  /** Valid query parameters a route needs (raw uploads need a version and class: a new version each time). */
  function validQuery(route: string): Record<string, string> {
    if (route === 'POST /api/v1/firmware') return { version: `t-${++uploads}`, hardwareClass: 'sim-1' };
    return {};
  }
  /** A valid JSON body for each route that takes one. */
  function validBody(route: string): Record<string, unknown> | unknown[] | null {
    const bodies: Record<string, Record<string, unknown> | unknown[]> = {
      'POST /api/v1/tokens': { name: 'made-by-table', role: 'viewer' },
      'POST /api/v1/users': { name: 'made-by-table', roles: ['viewer'] },
      'PUT /api/v1/users/{name}/roles': { roles: ['viewer'] },
      'POST /api/v1/keys': { name: 'made-by-table', publicKeyPem: encodePublicKeyPem(generateSigningKey('es256')) },
      'PATCH /api/v1/keys/{name}': { notAfter: '2099-01-01T00:00:00Z' },
      'POST /api/v1/keys/{name}/revoke': { reason: 'table' },
      'POST /api/v1/devices/{endpoint}/update': { firmwareId: real.firmware },
      'POST /api/v1/updates/{id}/cancel': { reason: 'table' },
      'POST /api/v1/devices/{endpoint}/decommission': { reason: 'table' },
      'PUT /api/v1/devices/{endpoint}/lwm2m/{path}': { value: 'table' },
      'POST /api/v1/devices/{endpoint}/lwm2m/{path}': { values: [{ path: '/19/0/3', value: 'table' }] },
      'POST /api/v1/devices/{endpoint}/execute/{path}': {},
      'PUT /api/v1/devices/{endpoint}/attributes/{path}': { pmin: 10 },
      'PUT /api/v1/devices/{endpoint}/tags': { tags: ['table'] },
      'PUT /api/v1/devices/{endpoint}/credentials': { identity: 'table-identity', generate: true },
      'POST /api/v1/devices/{endpoint}/credentials/rotate': { identity: 'table-identity-2', generate: true },
      'POST /api/v1/credentials/import': [],
      'POST /api/v1/alerts/{id}/ack': {},
      'POST /api/v1/campaigns': { name: 'table', firmwareId: real.firmware, target: { hardwareClass: 'sim-1', tags: ['no-such-tag'] }, policy: { waves: ['100%'] } },
      'POST /api/v1/campaigns/{id}/start': {}, 'POST /api/v1/campaigns/{id}/pause': { reason: 'table' },
      'POST /api/v1/campaigns/{id}/resume': {}, 'POST /api/v1/campaigns/{id}/abort': {}, 'POST /api/v1/campaigns/{id}/revert': {},
      'PUT /api/v1/vulnerabilities/{hardwareClass}/{version}': { advisories: ['CVE-2026-1234'], severity: 'low' },
      'PUT /api/v1/compliance/policies/{hardwareClass}': { staleDays: 30 },
      'POST /api/v1/firmware/{id}/approve': { reason: 'table' }, 'POST /api/v1/firmware/{id}/deprecate': { reason: 'table' },
      'POST /api/v1/firmware/{id}/revoke': { reason: 'table' },
      'PUT /api/v1/devices/{endpoint}/testbed': { testbed: true }, 'PUT /api/v1/testbed-policies/{hardwareClass}': { minDevices: 1 },
    };
    return bodies[route] ?? null;
  }

  /** Every route × parameter × hostile value of the document. */
  function table(doc: Document): { rows: Row[]; routes: number; parameters: number } {
    const rows: Row[] = [];
    let routes = 0;
    let parameters = 0;
    for (const [template, item] of Object.entries(doc.paths)) {
      for (const [m, op] of Object.entries(item)) {
        const method = m.toUpperCase();
        if (method === 'HEAD') continue;
        const route = `${method} ${template}`;
        routes++;
        const params = op.parameters ?? [];
        const jsonBody = op.requestBody?.content?.[JSON_TYPE]?.schema;
        const body = validBody(route);
        if (jsonBody && !body) throw new Error(`${route} takes a JSON body: add a valid one`);
        const binary = route === 'POST /api/v1/firmware' ? Buffer.from('image') : undefined;

        /** The route's request with valid values, but `path` / `query` / `headers` / `rawBody` where given. */
        const build = (o: { path?: Record<string, string>; query?: string; headers?: Record<string, string>; rawBody?: string | Buffer }): RawRequest => {
          const path = template.replace(/\{([^}]+)\}/g, (_, name: string) => o.path?.[name] ?? encodeURI(validPathValue(route, name)));
          const valid = new URLSearchParams(validQuery(route));
          const qs = [valid.toString(), o.query ?? ''].filter(Boolean).join('&');
          const headers: Record<string, string> = { ...bearer(), ...o.headers };
          const payload = o.rawBody ?? (body ? JSON.stringify(body) : binary);
          if (payload !== undefined) headers['content-type'] = payload === binary ? 'application/octet-stream' : JSON_TYPE;
          return { method, path: qs ? `${path}?${qs}` : path, headers, ...(payload === undefined ? {} : { body: payload }) };
        };
        const add = (param: string, value: string, integer: boolean, req: RawRequest) => rows.push({ route, param, value, integer, req });

        for (const p of params) {
          parameters++;
          const integer = isInteger(p.schema);
          const param = `${p.in}:${p.name}`;
          for (const v of TEXT_VALUES) {
            const inUrl = v.raw ?? encodeURIComponent(v.text!);
            if (p.in === 'path') add(param, v.label, integer, build({ path: { [p.name]: inUrl } }));
            else if (p.in === 'query') add(param, v.label, integer, build({ query: `${encodeURIComponent(p.name)}=${inUrl}` }));
            else if (p.in === 'header' && v.text !== undefined && /^[\t\x20-\x7e]*$/.test(v.text)) add(param, v.label, integer, build({ headers: { [p.name]: v.text } }));
          }
          if (p.in === 'query') for (const [label, q] of QUERY_SHAPES(encodeURIComponent(p.name))) add(param, label, integer, build({ query: q }));
        }
        if (jsonBody && body) {
          for (const name of Object.keys(jsonBody.properties ?? {})) {
            parameters++;
            const text = JSON.stringify({ ...(body as Record<string, unknown>), [name]: MARK });
            for (const v of JSON_VALUES) add(`body:${name}`, v.length > 40 ? `${v.slice(0, 12)}…(${v.length})` : v, false, build({ rawBody: text.replace(`"${MARK}"`, () => v) }));
            const [before, after] = text.split(`"${MARK}"`) as [string, string];
            add(`body:${name}`, 'a string of invalid UTF-8', false, build({ rawBody: Buffer.concat([Buffer.from(before), INVALID_UTF8, Buffer.from(after)]) }));
          }
          for (const v of BODY_VALUES) add('body', v.length > 40 ? `${v.slice(0, 12)}…(${v.length})` : JSON.stringify(v), false, build({ rawBody: v }));
          add('body', 'an unknown property', false, build({ rawBody: JSON.stringify({ ...body, [MARK]: 1 }) }));
        }
        add('query', 'an undeclared parameter', false, build({ query: `${MARK}=1` }));
      }
    }
    return { rows, routes, parameters };
  }

  suite('every route × parameter × hostile value: no 5xx, each 4xx JSON with a message, integers refused unless digits in range; all intact after', async () => {
    await setUp();
    const res = await fetch(`${ferry.apiUrl}/docs/json`);
    assert.is(res.status, 200);
    const doc = (await res.json()) as Document;
    const { rows, routes, parameters } = table(doc);
    console.log(`  [${get().name}] the table: ${routes} routes, ${parameters} parameters, ${rows.length} requests`);
    const undocumented = ferry.api.apiRoutes.filter((r) => r.method !== 'HEAD' && !doc.paths[openapiPath(r.url)]?.[r.method.toLowerCase()]);
    assert.equal(undocumented, [], 'every API route is in the document, so in the table');

    const answers = await sendAll(new URL(ferry.apiUrl), rows.map((r) => r.req), 6);
    const failures: string[] = [];
    rows.forEach((row, i) => {
      const a = answers[i]!;
      const where = `${row.route} ${row.param} = ${row.value}: ${row.req.method} ${row.req.path.slice(0, 160)}`;
      if (a instanceof Error) { failures.push(`${where} → ${a.message}`); return; }
      const said = `${a.status} ${a.body.slice(0, 200)}`;
      if (a.status >= 500) { failures.push(`${where} → ${said}`); return; }
      // Every request carries the admin token: a 401 means a hostile request revoked it, and the rest of the table tests nothing.
      if (a.status === 401) { failures.push(`${where} → the admin token was refused: ${said}`); return; }
      if (a.status >= 400) {
        const problem = refusalProblem(a.status, a.headers['content-type'], a.body);
        if (problem) { failures.push(`${where} → ${problem}: ${said}`); return; }
      }
      let message = '';
      try { message = String((JSON.parse(a.body) as { message?: unknown }).message ?? ''); } catch { /* a 2xx need not be JSON */ }
      // A parameter or property the document lists must be one the route takes.
      const [part, name] = row.param.split(/:(.*)/) as [string, string | undefined];
      if (name !== undefined && part !== 'path' && message.includes(`must NOT have additional properties: ${JSON.stringify(name)}`)) {
        failures.push(`${where} → the document lists ${row.param}, the route refuses it as unknown: ${said}`);
      }
      // An integer in a text part: digits in range or nothing (a 2xx here means a value was read from something else).
      if (row.integer) {
        if (a.status < 400) failures.push(`${where} → taken as an integer: ${said}`);
        else if (a.status === 400 && !message.includes(name!) && !/not a valid url component/.test(message)) failures.push(`${where} → the message does not name ${name}: ${said}`);
      }
    });
    assert.ok(failures.length === 0, `${failures.length} of ${rows.length} requests failed:\n${failures.join('\n')}`);
    // A write that does not fit in one CoAP message is the caller's to split (it was the transport's 502).
    const big = rows.findIndex((r) => r.route === 'PUT /api/v1/devices/{endpoint}/lwm2m/{path}' && r.param === 'body:value' && r.value.endsWith('(10242)'));
    assert.is((answers[big] as RawResponse).status, 413, (answers[big] as RawResponse).body);

    // Afterwards the server answers, and everything it held is as it was.
    assert.is((await injectRaw(ferry, { method: 'GET', url: '/healthz' })).statusCode, 200);
    const tokens = await fetch(`${ferry.apiUrl}/api/v1/tokens`, { headers: bearer() });
    assert.is(tokens.status, 200, 'the admin token still works');
    const list = ((await tokens.json()) as { items: Array<{ id: number; name: string; revokedAt: string | null }> }).items;
    assert.is(list.find((t) => t.id === victim.token)?.revokedAt, null, 'token 1 (the admin token) is not revoked');
    assert.is(list.find((t) => t.id === real.token)?.revokedAt, null, 'the table\'s token is not revoked');
    const get200 = async (url: string) => {
      const r = await ferry.api.inject({ method: 'GET', url });
      assert.is(r.statusCode, 200, `${url}: ${r.body}`);
      return r.json();
    };
    assert.is((await get200(`/api/v1/firmware/${victim.firmware}`)).version, '2.0.0');
    assert.is(((await get200('/api/v1/keys')).items as Array<{ name: string; status: string }>).find((k) => k.name === 'server-signing')?.status, 'live');
    assert.is((await get200(`/api/v1/firmware/${real.firmware}`)).version, '2.0.1');
    { const u = await get200(`/api/v1/updates/${real.update}`); assert.is(u.state, 'queued', JSON.stringify(u)); }
    assert.is((await get200(`/api/v1/campaigns/${victim.campaign}`)).state, 'draft');
    assert.is((await get200(`/api/v1/campaigns/${real.campaign}`)).state, 'aborted');
    assert.is((await get200('/api/v1/devices/dev-h')).status, 'registered');
    assert.is((await get200('/api/v1/devices/off-h')).status, 'deregistered');
    const alerts = (await get200('/api/v1/alerts')).items as Array<{ id: number; acknowledgedAt: string | null }>;
    assert.is(alerts.find((a) => a.id === victim.alert)?.acknowledgedAt, null, 'alert 1 is not acknowledged');
    const updates = await get().db.query<{ n: number }>("SELECT count(*)::int AS n FROM device_updates WHERE device_id = (SELECT id FROM devices WHERE endpoint = 'dev-h')");
    assert.is(updates.rows[0]?.n, 0, 'no update was started on dev-h');
    await sim?.stop();
    sim = undefined;
  });

  suite('regressions: +1 is not id 1, 1e309 is not Infinity, digits beyond 2^53 − 1 are refused', async () => {
    await offlineDevice(get().db, 'off-r');
    const image = await ferry.api.inject({ method: 'POST', url: '/api/v1/firmware?version=3.0.0&hardwareClass=sim-1', headers: { 'content-type': 'application/octet-stream' }, payload: Buffer.from('image') });
    assert.is(image.statusCode, 201, image.body);
    const revoke = await ferry.api.inject({ method: 'DELETE', url: '/api/v1/tokens/+1' });
    assert.is(revoke.statusCode, 400, revoke.body);
    assert.match(revoke.json().message, /params\/id/);
    assert.is((await ferry.api.inject({ method: 'GET', url: '/api/v1/tokens' })).statusCode, 200, 'token 1 still works');
    for (const url of ['/api/v1/devices?limit=1e309', '/api/v1/devices?after=1e309', '/api/v1/events?after=1e309', '/api/v1/alerts?limit=1e309', '/api/v1/updates/1e309', '/api/v1/campaigns/1e309', `/api/v1/devices?after=1${'0'.repeat(400)}`, '/api/v1/devices?limit=%2B5', '/api/v1/devices?limit=0x10', '/api/v1/devices?after=-0']) {
      const r = await ferry.api.inject({ method: 'GET', url });
      assert.is(r.statusCode, 400, `${url}: ${r.body}`);
      assert.match(r.json().message, /(querystring|params)\/(limit|after|id) must be an integer from \d+ to \d+/, url);
    }
    // Digits in range are still read: leading zeros, the bounds.
    const page = await ferry.api.inject({ method: 'GET', url: '/api/v1/devices?limit=0001&after=0' });
    assert.is(page.statusCode, 200, page.body);
    assert.is(page.json().items.length, 1);
    assert.is((await ferry.api.inject({ method: 'GET', url: `/api/v1/firmware/00${image.json().id}` })).json().id, image.json().id);
  });

  suite('regressions: bodies that reached the database as a 500 (NUL in text, an id beyond bigint, an instant JavaScript cannot hold)', async () => {
    const image = await ferry.api.inject({ method: 'POST', url: '/api/v1/firmware?version=3.0.0&hardwareClass=sim-1', headers: { 'content-type': 'application/octet-stream' }, payload: Buffer.from('image') });
    const valid = { name: 'r', firmwareId: image.json().id, target: { hardwareClass: 'sim-1' }, policy: { waves: ['100%'] } };
    const post = (url: string, payload: string) => ferry.api.inject({ method: 'POST', url, headers: { 'content-type': JSON_TYPE }, payload });
    const cases: Array<[string, string, string]> = [
      ['campaign name with NUL', '/api/v1/campaigns', JSON.stringify({ ...valid, name: 'a\u0000b' })],
      ['campaign firmwareId beyond 2^53', '/api/v1/campaigns', JSON.stringify({ ...valid, firmwareId: MARK }).replace(`"${MARK}"`, '99999999999999999999')],
      ['campaign startAt a leap second', '/api/v1/campaigns', JSON.stringify({ ...valid, startAt: '2999-12-31T23:59:60Z' })],
      ['campaign startAt in year 0', '/api/v1/campaigns', JSON.stringify({ ...valid, startAt: '0000-01-01T00:00:00Z' })],
      ['campaign target endpoint with NUL', '/api/v1/campaigns', JSON.stringify({ ...valid, target: { endpoints: ['a\u0000'] } })],
      ['execute arguments with NUL (the audit log keeps them)', '/api/v1/devices/dev-r/execute/3/0/4', JSON.stringify({ arguments: "0='\u0000'" })],
    ];
    for (const [what, url, payload] of cases) {
      const r = await post(url, payload);
      assert.is(r.statusCode, 400, `${what}: ${r.body}`);
      assert.ok(refusalProblem(r.statusCode, r.headers['content-type'], r.body) === undefined, what);
    }
    const campaign = await post('/api/v1/campaigns', JSON.stringify(valid));
    assert.is(campaign.statusCode, 201, campaign.body);
    assert.is((await post(`/api/v1/campaigns/${campaign.json().id}/pause`, JSON.stringify({ reason: 'a\u0000' }))).statusCode, 400, 'a pause reason with NUL');
    const scheduled = await post('/api/v1/campaigns', JSON.stringify({ ...valid, startAt: '2999-12-31T00:00:00Z' }));
    assert.is(scheduled.statusCode, 201, `the latest year still taken: ${scheduled.body}`);
  });
});
