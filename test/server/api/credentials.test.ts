// The credentials API: create (a given key or a generated one, returned once), replace, rotate,
// delete, list, import (JSON and CSV, all or nothing); bad input refused with its code; roles; no
// key ever in an answer but the one that generated it, nor in the events table.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { newSecretsKeyText } from '../../../server/credentials/secrets-key.ts';
import type { Ferry } from '../../../server/main.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { offlineDevice } from '../../helpers/devices.ts';
import { apiCalls, bearer, startTestFerry } from '../../helpers/ferry.ts';

const dir = mkdtempSync(join(tmpdir(), 'ferry-credentials-'));
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
const keyFile = join(dir, 'secrets.key');
writeFileSync(keyFile, newSecretsKeyText(), { mode: 0o600 });

const hex = (n: number, fill: number) => Buffer.alloc(n, fill).toString('hex');
const KEYS = [hex(16, 0xa1), hex(32, 0xb2), hex(20, 0xc3), hex(16, 0xd4)];

forEachDatabase('api, device credentials', ({ suite, get }) => {
  let ferry: Ferry;
  suite.before(async () => { ferry = await startTestFerry(get().db, { secretsKeyFile: keyFile }); });
  suite.after(async () => { await ferry.close(); });
  const { call, expect } = apiCalls(() => ferry);
  /** Nothing the database's events hold, nor any GET, shows a key. */
  const noKeyLeaked = async (keys: string[]) => {
    const events = JSON.stringify((await get().db.query('SELECT * FROM events')).rows).toLowerCase();
    for (const k of keys) assert.not.ok(events.includes(k), 'a key in the events table');
  };

  suite('create, read, replace, rotate, delete; the audit log names who and which identity, never the key', async () => {
    await offlineDevice(get().db, 'dev-1');
    const url = '/api/v1/devices/dev-1/credentials';
    assert.equal(await expect(call('PUT', url, { identity: 'id-1', key: KEYS[0] }), 200), { endpoint: 'dev-1', identity: 'id-1' });
    const info = await expect(call('GET', url), 200);
    assert.equal([info.identity, info.previousIdentity, info.rotatedAt, info.lastHandshakeAt], ['id-1', null, null, null]);
    assert.equal(Object.keys(info).sort(), ['createdAt', 'endpoint', 'identity', 'lastHandshakeAt', 'previousIdentity', 'rotatedAt']);
    const generated = await expect(call('PUT', url, { identity: 'id-1', generate: true }), 200);
    assert.match(generated.key, /^[0-9a-f]{64}$/);
    assert.equal((await ferry.credentials.pskFor('id-1'))!.current, Buffer.from(generated.key, 'hex'));
    const rotated = await expect(call('POST', `${url}/rotate`, { identity: 'id-1', key: KEYS[1] }), 200);
    assert.is(rotated.key, undefined);
    const psk = (await ferry.credentials.pskFor('id-1'))!;
    assert.equal([psk.current!.toString('hex'), psk.previous!.toString('hex')], [KEYS[1], generated.key]);
    const after = await expect(call('GET', url), 200);
    assert.is(after.previousIdentity, 'id-1');
    assert.type(after.rotatedAt, 'string');
    assert.not.ok(JSON.stringify(after).includes(KEYS[1]!));
    await expect(call('DELETE', url), 204);
    await expect(call('GET', url), 404, 'FERRY_CREDENTIALS_NOT_FOUND');
    await expect(call('DELETE', url), 404, 'FERRY_CREDENTIALS_NOT_FOUND');
    await expect(call('POST', `${url}/rotate`, { identity: 'id-1', key: KEYS[1] }), 404, 'FERRY_CREDENTIALS_NOT_FOUND');
    assert.is(await ferry.credentials.pskFor('id-1'), undefined);
    const events = await expect(call('GET', '/api/v1/events?kind=credentials.'), 200);
    assert.equal(events.items.map((e: { kind: string }) => e.kind), ['credentials.created', 'credentials.replaced', 'credentials.rotated', 'credentials.deleted']);
    assert.ok(events.items.every((e: { actor: string; endpoint: string }) => e.actor.startsWith('token:') && e.endpoint === 'dev-1'));
    await noKeyLeaked([...KEYS, generated.key]);
  });

  suite('bad input: its code, never a 500', async () => {
    await offlineDevice(get().db, 'dev-1');
    await offlineDevice(get().db, 'dev-2');
    const url = '/api/v1/devices/dev-1/credentials';
    await expect(call('PUT', url, { identity: 'id-1', key: 'zz'.repeat(16) }), 400, 'FERRY_PSK_INVALID');
    await expect(call('PUT', url, { identity: 'id-1', key: 'abc' }), 400, 'FERRY_PSK_INVALID');
    await expect(call('PUT', url, { identity: 'id-1', key: hex(15, 1) }), 400, 'FERRY_PSK_INVALID');
    await expect(call('PUT', url, { identity: 'id-1', key: hex(65, 1) }), 400, 'FERRY_VALIDATION');
    await expect(call('PUT', url, { identity: 'has space', key: KEYS[0] }), 400, 'FERRY_PSK_INVALID');
    await expect(call('PUT', url, { identity: 'id-1' }), 400, 'FERRY_VALIDATION');
    await expect(call('PUT', url, { identity: 'id-1', key: KEYS[0], generate: true }), 400, 'FERRY_VALIDATION');
    await expect(call('PUT', url, { identity: 'id-1', generate: false }), 400, 'FERRY_VALIDATION');
    await expect(call('PUT', url, { identity: 'id-1', key: KEYS[0], extra: 1 }), 400, 'FERRY_VALIDATION');
    // Only a put makes a device: reading or rotating an unknown one finds nothing.
    await expect(call('GET', '/api/v1/devices/nobody/credentials'), 404, 'FERRY_DEVICE_NOT_FOUND');
    await expect(call('POST', '/api/v1/devices/nobody/credentials/rotate', { identity: 'id-9', key: KEYS[0] }), 404, 'FERRY_DEVICE_NOT_FOUND');
    await expect(call('GET', '/api/v1/devices/nobody'), 404, 'FERRY_DEVICE_NOT_FOUND');
    await expect(call('PUT', url, { identity: 'id-1', key: KEYS[0] }), 200);
    await expect(call('PUT', '/api/v1/devices/dev-2/credentials', { identity: 'id-1', key: KEYS[1] }), 409, 'FERRY_PSK_IDENTITY_TAKEN');
    // A previous identity is still taken.
    await expect(call('POST', `${url}/rotate`, { identity: 'id-1-new', key: KEYS[1] }), 200);
    await expect(call('PUT', '/api/v1/devices/dev-2/credentials', { identity: 'id-1', key: KEYS[1] }), 409, 'FERRY_PSK_IDENTITY_TAKEN');
    await noKeyLeaked(KEYS);
  });

  suite('an endpoint that never registered: a put makes its device, provisioned, shown as such; the metrics and the list filter count it', async () => {
    const url = '/api/v1/devices/factory-0001/credentials';
    assert.equal(await expect(call('PUT', url, { identity: 'f-0001', key: KEYS[0] }), 200), { endpoint: 'factory-0001', identity: 'f-0001' });
    assert.equal((await ferry.credentials.pskFor('f-0001'))!.current!.toString('hex'), KEYS[0]);
    assert.is((await expect(call('GET', url), 200)).identity, 'f-0001');
    const device = await expect(call('GET', '/api/v1/devices/factory-0001'), 200);
    // As a de-registered device shows, with no registration at all: no lifetime, times or address.
    assert.equal(
      [device.status, device.registrationId, device.lifetime, device.registeredAt, device.lastSeen, device.expiresAt, device.address, device.port, device.hardwareClass, device.activeUpdate],
      ['provisioned', null, null, null, null, null, null, null, null, null]);
    assert.equal(device.events.map((e: { kind: string; actor: string }) => [e.kind, e.actor.startsWith('token:')]), [['device.provisioned', true], ['credentials.created', true]]);
    // A second put replaces the key on the same row; the device is not made again.
    await expect(call('PUT', url, { identity: 'f-0001', key: KEYS[1] }), 200);
    const again = await expect(call('GET', '/api/v1/devices/factory-0001'), 200);
    assert.is(again.id, device.id);
    assert.equal(again.events.map((e: { kind: string }) => e.kind), ['device.provisioned', 'credentials.created', 'credentials.replaced']);
    await offlineDevice(get().db, 'dev-1');
    const list = async (q: string) => (await expect(call('GET', `/api/v1/devices${q}`), 200)).items.map((d: { endpoint: string }) => d.endpoint);
    assert.equal(await list(''), ['factory-0001', 'dev-1']);
    assert.equal(await list('?status=provisioned'), ['factory-0001']);
    assert.equal(await list('?status=deregistered'), ['dev-1']);
    assert.equal(await list('?lastSeenAfter=2000-01-01T00:00:00Z'), ['dev-1'], 'never seen: no last contact to filter on');
    const metrics = await ferry.metrics.scrape();
    assert.match(metrics, /ferry_devices_by_status\{status="provisioned"\} 1\n/);
    // A refusal makes no device: an identity another device holds.
    await expect(call('PUT', '/api/v1/devices/factory-0002/credentials', { identity: 'f-0001', key: KEYS[2] }), 409, 'FERRY_PSK_IDENTITY_TAKEN');
    await expect(call('GET', '/api/v1/devices/factory-0002'), 404, 'FERRY_DEVICE_NOT_FOUND');
    // Its credentials deleted, a device that never registered and holds nothing else goes with them.
    await expect(call('DELETE', url), 204);
    await expect(call('GET', '/api/v1/devices/factory-0001'), 404, 'FERRY_DEVICE_NOT_FOUND');
    const history = await expect(call('GET', '/api/v1/events?endpoint=factory-0001'), 200);
    assert.equal(history.items.map((e: { kind: string }) => e.kind), ['device.provisioned', 'credentials.created', 'credentials.replaced', 'credentials.deleted', 'device.unprovisioned']);
    await noKeyLeaked(KEYS);
  });

  suite('an endpoint name a Register would refuse is refused: 400 with its code, 422 naming the line in an import', async () => {
    await expect(call('PUT', '/api/v1/devices/bad%01name/credentials', { identity: 'id-1', key: KEYS[0] }), 400, 'FERRY_VALIDATION');
    await expect(call('PUT', '/api/v1/devices/bad%C2%85name/credentials', { identity: 'id-1', key: KEYS[0] }), 400, 'FERRY_VALIDATION');
    const imp = '/api/v1/credentials/import';
    const bad = await expect(call('POST', imp, [
      { endpoint: 'ok-1', identity: 'i-1', key: KEYS[0] }, { endpoint: '', identity: 'i-2', key: KEYS[1] },
      { endpoint: 'x'.repeat(256), identity: 'i-3', key: KEYS[2] }, { endpoint: 'tab\there', identity: 'i-4', key: KEYS[3] },
      { endpoint: 7, identity: 'i-5', key: KEYS[3] },
    ]), 422, 'FERRY_CREDENTIALS_IMPORT');
    assert.match(bad.message, /line 2: the endpoint name must not be empty/);
    assert.match(bad.message, /line 3: the endpoint name is longer than 255 characters/);
    assert.match(bad.message, /line 4: the endpoint name contains a control character/);
    assert.match(bad.message, /line 5: no endpoint/);
    // What a Register takes is taken: 255 characters (not bytes), spaces, any script.
    const names = ['é'.repeat(255), 'with space', 'urn:imei:490154203237518'];
    assert.equal(await expect(call('POST', imp, names.map((endpoint, i) => ({ endpoint, identity: `n-${i}`, key: KEYS[i] }))), 200), { imported: 3 });
    const rows = await get().db.query<{ endpoint: string; status: string }>('SELECT endpoint, status FROM devices');
    assert.equal(rows.rows.map((r) => [r.endpoint, r.status]).sort(), names.map((endpoint) => [endpoint, 'provisioned']).sort(), 'the refused batch made no device');
  });

  suite('import: endpoints that never registered get their devices, in the one transaction, JSON and CSV', async () => {
    await offlineDevice(get().db, 'dev-1');
    const imp = '/api/v1/credentials/import';
    const csv = { 'content-type': 'text/csv' };
    assert.equal(await expect(call('POST', imp, [{ endpoint: 'dev-1', identity: 'id-1', key: KEYS[0] }, { endpoint: 'new-1', identity: 'id-n1', key: KEYS[1] }]), 200), { imported: 2 });
    assert.equal(await expect(call('POST', imp, `endpoint,identity,key_hex\nnew-2,id-n2,${KEYS[2]}\nnew-3,id-n3,${KEYS[3]}\nnew-1,id-n1b,${KEYS[0]}\n`, csv), 200), { imported: 3 });
    for (const [ep, id, key] of [['new-1', 'id-n1b', KEYS[0]], ['new-2', 'id-n2', KEYS[2]], ['new-3', 'id-n3', KEYS[3]]] as const) {
      assert.is((await expect(call('GET', `/api/v1/devices/${ep}`), 200)).status, 'provisioned');
      const psk = (await ferry.credentials.pskFor(id))!;
      assert.equal([psk.endpoint, psk.current!.toString('hex')], [ep, key]);
    }
    assert.is((await expect(call('GET', '/api/v1/devices/dev-1'), 200)).status, 'deregistered');
    // A batch refused for one line makes none of its devices.
    await expect(call('POST', imp, `new-4,id-n4,${KEYS[0]}\nnew-5,id-n1b,${KEYS[1]}\n`, csv), 422, 'FERRY_CREDENTIALS_IMPORT');
    await expect(call('GET', '/api/v1/devices/new-4'), 404, 'FERRY_DEVICE_NOT_FOUND');
    // The audit log: each device made, and each import, by whom.
    const made = await expect(call('GET', '/api/v1/events?kind=device.provisioned'), 200);
    assert.equal(made.items.map((e: { endpoint: string }) => e.endpoint), ['new-1', 'new-2', 'new-3']);
    assert.ok(made.items.every((e: { actor: string }) => e.actor.startsWith('token:')));
    const imports = await expect(call('GET', '/api/v1/events?kind=credentials.imported'), 200);
    assert.equal(imports.items.map((e: { data: { count: number; provisioned: number } }) => [e.data.count, e.data.provisioned]), [[2, 1], [3, 2]]);
    await noKeyLeaked(KEYS);
  });

  suite('roles: credentials are for admins only, to read as to change', async () => {
    await offlineDevice(get().db, 'dev-1');
    const token = async (role: string) => (await expect(call('POST', '/api/v1/tokens', { name: `t-${role}`, role }), 201)).token as string;
    const viewer = bearer(await token('viewer'));
    const operator = bearer(await token('operator'));
    const url = '/api/v1/devices/dev-1/credentials';
    for (const who of [viewer, operator]) {
      await expect(call('PUT', url, { identity: 'id-1', key: KEYS[0] }, who), 403, 'FERRY_FORBIDDEN');
      await expect(call('GET', url, undefined, who), 403, 'FERRY_FORBIDDEN');
      await expect(call('POST', `${url}/rotate`, { identity: 'id-1', generate: true }, who), 403, 'FERRY_FORBIDDEN');
      await expect(call('DELETE', url, undefined, who), 403, 'FERRY_FORBIDDEN');
      await expect(call('POST', '/api/v1/credentials/import', [{ endpoint: 'dev-1', identity: 'x', key: KEYS[1] }], who), 403, 'FERRY_FORBIDDEN');
    }
    await expect(call('GET', url), 404, 'FERRY_CREDENTIALS_NOT_FOUND');
    await expect(call('PUT', url, { identity: 'id-1', key: KEYS[0] }), 200);
    await expect(call('GET', url), 200);
    await expect(call('DELETE', url), 204);
  });

  suite('import: JSON and CSV, all or nothing, each bad line named', async () => {
    for (const ep of ['dev-1', 'dev-2', 'dev-3']) await offlineDevice(get().db, ep);
    const imp = '/api/v1/credentials/import';
    const csv = { 'content-type': 'text/csv' };
    assert.equal(await expect(call('POST', imp, [{ endpoint: 'dev-1', identity: 'id-1', key: KEYS[0] }, { endpoint: 'dev-2', identity: 'id-2', key: KEYS[1] }]), 200), { imported: 2 });
    assert.equal((await ferry.credentials.pskFor('id-2'))!.current!.toString('hex'), KEYS[1]);
    // A CSV with one bad line: nothing imported, dev-1 keeps its key.
    const bad = await expect(call('POST', imp, `endpoint,identity,key_hex\ndev-1,id-1x,${KEYS[2]}\ndev-3,id-3,nothex\n`, csv), 422, 'FERRY_CREDENTIALS_IMPORT');
    assert.match(bad.message, /line 3: the key must be hex/);
    assert.is((await expect(call('GET', '/api/v1/devices/dev-1/credentials'), 200)).identity, 'id-1');
    const lines = await expect(call('POST', imp, `dev-3,id-3,${hex(8, 1)}\nnobody,id-9,${KEYS[3]}\ndev-2,id-3,${KEYS[3]}\ndev-1,a,b,c\n`, csv), 422, 'FERRY_CREDENTIALS_IMPORT');
    assert.match(lines.message, /line 1: the key must be 16 to 64 bytes, got 8/);
    assert.match(lines.message, /line 4: expected endpoint,identity,key_hex/);
    // An identity another device holds, found in the database.
    const db = await expect(call('POST', imp, `dev-3,id-3,${KEYS[2]}\ndev-2,id-1,${KEYS[3]}\n`, csv), 422, 'FERRY_CREDENTIALS_IMPORT');
    assert.match(db.message, /line 2: identity id-1 is device dev-1's/);
    await expect(call('GET', '/api/v1/devices/dev-3/credentials'), 404, 'FERRY_CREDENTIALS_NOT_FOUND');
    // Identities may swap between devices of one batch.
    assert.equal(await expect(call('POST', imp, `dev-1,id-2,${KEYS[2]}\ndev-2,id-1,${KEYS[3]}\n# a comment\n\ndev-3,id-3,${KEYS[0]}\n`, csv), 200), { imported: 3 });
    assert.is((await ferry.credentials.pskFor('id-2'))!.endpoint, 'dev-1');
    await expect(call('POST', imp, { not: 'an array' }), 400, 'FERRY_VALIDATION');
    await expect(call('POST', imp, []), 422, 'FERRY_CREDENTIALS_IMPORT');
    await expect(call('POST', imp, [{ endpoint: 'dev-1' }]), 422, 'FERRY_CREDENTIALS_IMPORT');
    await expect(call('POST', imp, '', csv), 422, 'FERRY_CREDENTIALS_IMPORT');
    await expect(call('POST', imp, 'x', { 'content-type': 'text/plain' }), 415, 'FERRY_UNSUPPORTED_MEDIA_TYPE');
    const events = await expect(call('GET', '/api/v1/events?kind=credentials.imported'), 200);
    assert.is(events.items.length, 2);
    await noKeyLeaked(KEYS);
  });
});

forEachDatabase('api, device credentials in OpenAPI', ({ suite, get }) => {
  suite('each route is documented with its body, answers and the bearer scheme', async () => {
    const ferry = await startTestFerry(get().db);
    try {
      const doc = (await ferry.api.inject({ method: 'GET', url: '/docs/json' })).json();
      const ops: Array<[string, string, string]> = [
        ['/api/v1/devices/{endpoint}/credentials', 'put', '200'], ['/api/v1/devices/{endpoint}/credentials', 'get', '200'],
        ['/api/v1/devices/{endpoint}/credentials', 'delete', '204'], ['/api/v1/devices/{endpoint}/credentials/rotate', 'post', '200'],
        ['/api/v1/credentials/import', 'post', '200'],
      ];
      for (const [path, method, ok] of ops) {
        const op = doc.paths[path]?.[method];
        assert.ok(op, `${method} ${path} documented`);
        assert.ok(op.responses[ok] && op.responses['4XX'], `${method} ${path} answers`);
        assert.ok(op.security?.length > 0, `${method} ${path} security`);
        if (method === 'put' || method === 'post') assert.ok(op.requestBody, `${method} ${path} body`);
      }
      assert.equal(Object.keys(doc.paths['/api/v1/credentials/import'].post.requestBody.content).sort(), ['application/json', 'text/csv']);
    } finally {
      await ferry.close();
    }
  });
}, { only: 'pglite' });

forEachDatabase('api, device credentials without a master key', ({ suite, get }) => {
  suite('storing a key is refused with 409, reading works', async () => {
    const ferry = await startTestFerry(get().db);
    try {
      await offlineDevice(get().db, 'dev-1');
      const put = await ferry.api.inject({ method: 'PUT', url: '/api/v1/devices/dev-1/credentials', payload: { identity: 'id-1', generate: true } });
      assert.is(put.statusCode, 409, put.body);
      assert.is(put.json().code, 'FERRY_CREDENTIALS_NO_SECRETS_KEY');
      const imp = await ferry.api.inject({ method: 'POST', url: '/api/v1/credentials/import', headers: { 'content-type': 'text/csv' }, payload: `dev-1,id-1,${KEYS[0]}` });
      assert.is(imp.json().code, 'FERRY_CREDENTIALS_NO_SECRETS_KEY');
      assert.is((await ferry.api.inject({ method: 'GET', url: '/api/v1/devices/dev-1/credentials' })).statusCode, 404);
    } finally {
      await ferry.close();
    }
  });
}, { only: 'pglite' });
