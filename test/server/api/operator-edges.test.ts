// What a new operator meets first: the OpenAPI document (a summary and a tag on every operation,
// the upload's octet-stream body, action bodies optional, success schemas for device management,
// no stray parameters on /metrics); refusals that say what to change (an enum's allowed values, a
// 413 naming the limit and --max-upload-mb, a 415 naming the type to send); action routes taking
// no body, an empty one or {}; one log line per request; a readable log for a terminal.
import { mkdtempSync, readFileSync, rmSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError } from '../../../server/errors.ts';
import { parseConfig } from '../../../server/config.ts';
import { createLogger } from '../../../server/log.ts';
import { startFerry, type Ferry } from '../../../server/main.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { injectAsAdmin, injectRaw, testConfig } from '../../helpers/ferry.ts';
import { recordingLogger, type RecordedLog } from '../../helpers/log.ts';

interface Operation { summary?: string; tags?: string[]; parameters?: unknown[]; requestBody?: { required?: boolean; content?: Record<string, { schema?: { type?: string; format?: string } }> }; responses?: Record<string, unknown> }
type Document = { paths: Record<string, Record<string, Operation>> };

const dir = mkdtempSync(join(tmpdir(), 'ferry-edges-'));
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));

forEachDatabase('api, the rough edges a new operator meets', ({ suite, get }) => {
  let ferry: Ferry;
  let rec: RecordedLog;
  suite.before(async () => {
    rec = recordingLogger('info');
    ferry = await startFerry(testConfig({ maxUploadMb: 1, logLevel: 'info' }), { log: rec.log, db: get().db, sweepMs: 60_000 });
    injectAsAdmin(ferry.api);
  });
  suite.after(async () => { await ferry.close(); });

  suite('the document: every operation has a summary and a tag; the upload takes octet-stream; action bodies are optional; device management says what it answers', async () => {
    const doc = (await injectRaw(ferry, { method: 'GET', url: '/docs/json' })).json() as Document;
    const missing: string[] = [];
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        if (!op.summary) missing.push(`${method} ${path}: no summary`);
        if (!op.tags?.length) missing.push(`${method} ${path}: no tag`);
      }
    }
    assert.equal(missing, []);
    const upload = doc.paths['/api/v1/firmware']!['post']!.requestBody!;
    assert.is(upload.required, true);
    assert.equal(upload.content?.['application/octet-stream']?.schema, { type: 'string', format: 'binary' });
    assert.equal(doc.paths['/metrics']!['get']!.parameters ?? [], [], 'no query parameters on /metrics');
    for (const action of ['start', 'pause', 'resume', 'abort', 'revert']) {
      assert.is(doc.paths[`/api/v1/campaigns/{id}/${action}`]!['post']!.requestBody?.required, false, action);
    }
    assert.is(doc.paths['/api/v1/updates/{id}/cancel']!['post']!.requestBody?.required, false);
    assert.is(doc.paths['/api/v1/devices/{endpoint}/decommission']!['post']!.requestBody?.required, true);
    for (const [method, path, status] of [['get', 'lwm2m', '200'], ['put', 'lwm2m', '204'], ['post', 'lwm2m', '201'], ['delete', 'lwm2m', '204'], ['post', 'execute', '204'],
      ['get', 'discover', '200'], ['put', 'attributes', '204'], ['post', 'observe', '200'], ['get', 'observe', '200'], ['delete', 'observe', '204']] as const) {
      assert.ok(doc.paths[`/api/v1/devices/{endpoint}/${path}/{path}`]![method]!.responses?.[status], `${method} ${path}: its ${status}`);
    }
    const read = doc.paths['/api/v1/devices/{endpoint}/lwm2m/{path}']!['get']!.responses!['200'] as { content: Record<string, { schema: { properties: Record<string, unknown> } }> };
    assert.equal(Object.keys(read.content['application/json']!.schema.properties).sort(), ['contentFormat', 'path', 'values']);
  });

  suite('refusals say what to change: an enum lists its values, 413 names the limit and its flag, 415 the type to send', async () => {
    const enumRefusal = await ferry.api.inject({ method: 'POST', url: '/api/v1/tokens', payload: { name: 'x', role: 'superuser' } });
    assert.is(enumRefusal.statusCode, 400);
    assert.match(enumRefusal.json().message, /body\/role must be equal to one of the allowed values: viewer, operator, admin/);
    const query = await ferry.api.inject({ method: 'GET', url: '/api/v1/devices?status=gone' });
    assert.match(query.json().message, /one of the allowed values: registered, expired, deregistered, provisioned, decommissioned/);

    const big = await ferry.api.inject({ method: 'POST', url: '/api/v1/firmware?version=1&hardwareClass=sim-1', headers: { 'content-type': 'application/octet-stream' }, payload: Buffer.alloc(1024 * 1024 + 1) });
    assert.equal([big.statusCode, big.json().code], [413, 'FERRY_PAYLOAD_TOO_LARGE']);
    assert.is(big.json().message, 'the upload is larger than this server\'s limit of 1 MiB (--max-upload-mb / FERRY_MAX_UPLOAD_MB)');
    const bigJson = await ferry.api.inject({ method: 'POST', url: '/api/v1/tokens', headers: { 'content-type': 'application/json' }, payload: `{"name":"${'x'.repeat(1024 * 1024)}"}` });
    assert.equal([bigJson.statusCode, bigJson.json().message], [413, 'the request body is larger than the limit of 1 MiB']);

    const text = await ferry.api.inject({ method: 'POST', url: '/api/v1/firmware?version=1&hardwareClass=sim-1', headers: { 'content-type': 'text/plain' }, payload: 'image' });
    assert.equal([text.statusCode, text.json().code], [415, 'FERRY_UNSUPPORTED_MEDIA_TYPE']);
    assert.is(text.json().message, 'send the image or package as application/octet-stream (got Content-Type "text/plain")');
    const form = await ferry.api.inject({ method: 'POST', url: '/api/v1/tokens', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'name=x' });
    assert.equal([form.statusCode, form.json().message], [415, 'send a JSON body as application/json (got Content-Type "application/x-www-form-urlencoded")']);
  });

  suite('an action takes no body, an empty JSON body or {}; a route that needs a body says so', async () => {
    const up = await ferry.api.inject({ method: 'POST', url: '/api/v1/firmware?version=2.0.0&hardwareClass=sim-1', headers: { 'content-type': 'application/octet-stream' }, payload: Buffer.from('image') });
    const campaign = async () => (await ferry.api.inject({ method: 'POST', url: '/api/v1/campaigns', payload: { name: 'c', firmwareId: up.json().id, policy: { waves: ['100%'] } } })).json().id as number;
    for (const [label, payload, headers] of [['no body', undefined, {}], ['an empty JSON body', '', { 'content-type': 'application/json' }], ['{}', '{}', { 'content-type': 'application/json' }]] as const) {
      const res = await ferry.api.inject({ method: 'POST', url: `/api/v1/campaigns/${await campaign()}/abort`, headers, ...(payload === undefined ? {} : { payload }) });
      assert.is(res.statusCode, 200, `${label}: ${res.body}`);
      assert.is(res.json().state, 'aborted');
    }
    const none = await ferry.api.inject({ method: 'POST', url: '/api/v1/tokens', headers: { 'content-type': 'application/json' }, payload: '' });
    assert.equal([none.statusCode, none.json().code], [400, 'FERRY_VALIDATION']);
    assert.match(none.json().message, /body must be object/);
  });

  suite('one log line per request: method, URL, status, milliseconds; a refusal\'s code and message on the same line', async () => {
    rec.lines.length = 0;
    await ferry.api.inject({ method: 'GET', url: '/api/v1/devices?limit=5' });
    await ferry.api.inject({ method: 'GET', url: '/api/v1/updates/12345' });
    const lines = rec.lines.filter((l) => l['part'] === 'api');
    assert.is(lines.length, 2, JSON.stringify(lines));
    assert.equal([lines[0]!.msg, lines[0]!['method'], lines[0]!['url'], lines[0]!['status']], ['request', 'GET', '/api/v1/devices?limit=5', 200]);
    assert.type(lines[0]!['ms'], 'number');
    assert.equal([lines[1]!['status'], lines[1]!['code'], lines[1]!['reason']], [404, 'FERRY_UPDATE_NOT_FOUND', 'no update 12345']);
  });
});


test('--log-format pretty writes readable lines, json one object a line; FERRY_LOG_FORMAT too; anything else is refused', async () => {
  for (const format of ['pretty', 'json'] as const) {
    const file = join(dir, `${format}.log`);
    const fd = openSync(file, 'w');
    const log = createLogger({ level: 'info', destination: fd, format });
    log.info({ endpoint: 'dev-1' }, 'device registered');
    // The JSON destination writes asynchronously (as a service's should): read once the line is there.
    const until = Date.now() + 5000;
    while (Date.now() < until && !readFileSync(file, 'utf8').endsWith('\n')) await new Promise((r) => setTimeout(r, 20));
    const out = readFileSync(file, 'utf8').trim();
    closeSync(fd);
    if (format === 'json') assert.equal(JSON.parse(out).msg, 'device registered');
    else {
      assert.throws(() => JSON.parse(out));
      assert.match(out, /INFO.*device registered/);
      assert.match(out, /endpoint: "dev-1"/);
    }
  }
  assert.is((parseConfig(['--log-format', 'pretty'], {}) as { logFormat: string }).logFormat, 'pretty');
  assert.is((parseConfig([], { FERRY_LOG_FORMAT: 'json' }) as { logFormat: string }).logFormat, 'json');
  assert.is((parseConfig([], {}) as { logFormat: string | undefined }).logFormat, undefined, 'by default: pretty on a terminal, JSON otherwise');
  assert.throws(() => parseConfig(['--log-format', 'xml'], {}), (e: Error) => e instanceof ConfigError && /--log-format must be one of json, pretty, got "xml"/.test(e.message));
});

test.run();
