// The trusted keys registry through the API: a key added, uploads signed by it taken (and named);
// one outside its validity or revoked refused with its code, naming it; revoking a key revokes the
// images it signed and pauses the campaigns rolling them out, with an alert; file keys listed and
// read-only; bad input a 4xx with a message on every route; a second server sharing the database
// follows changes; the server-signing mode announced (/readyz, the log, the API document).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { encodePrivateKeyPem, encodePublicKeyPem, generateSigningKey } from '../../../protocols/package-keys.ts';
import { signPackage, type SigningKey } from '../../../protocols/package.ts';
import { KeyFileError } from '../../../server/errors.ts';
import { SERVER_SIGNING_NOTICE } from '../../../server/firmware/key-registry.ts';
import { startFerry, type Ferry } from '../../../server/main.ts';
import * as devices from '../../../server/store/devices.ts';
import { listEvents } from '../../../server/store/events.ts';
import { createToken } from '../../../server/store/tokens.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { bearer, injectRaw, startTestFerry, testConfig } from '../../helpers/ferry.ts';
import { recordingLogger } from '../../helpers/log.ts';

const dir = mkdtempSync(join(tmpdir(), 'ferry-keys-'));
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
const VENDOR = generateSigningKey('ed25519');
const VENDOR_FILE = join(dir, 'vendor.pub');
writeFileSync(VENDOR_FILE, encodePublicKeyPem(VENDOR));
const pem = (k: SigningKey): string => encodePublicKeyPem(k);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
let sequence = 100;
const pkg = (key: SigningKey, version: string, classId = 'sensor-v2'): Buffer =>
  Buffer.from(signPackage({ payload: Buffer.alloc(3000, 5), key, sequence: sequence++, vendorId: 'acme', classId, version }));

forEachDatabase('api: trusted keys', ({ suite, get }) => {
  let ferry: Ferry;
  suite.before(async () => { ferry = await startTestFerry(get().db, { campaignTick: 60_000, trustedKeys: [VENDOR_FILE] }); });
  suite.after(async () => { await ferry.close(); });

  const call = async (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: unknown, server = ferry) => {
    const res = await server.api.inject({ method, url, ...(payload === undefined ? {} : { payload: payload as object }) });
    assert.ok(res.statusCode < 500, `${method} ${url}: ${res.statusCode} ${res.body}`);
    return { status: res.statusCode, body: res.json() };
  };
  const upload = async (body: Buffer, query = '', server = ferry) => {
    const res = await server.api.inject({ method: 'POST', url: `/api/v1/firmware${query}`, headers: { 'content-type': 'application/octet-stream' }, payload: body });
    return { status: res.statusCode, body: res.json() };
  };
  const add = async (name: string, key: SigningKey, validity: { notBefore?: string; notAfter?: string } = {}) => {
    const res = await call('POST', '/api/v1/keys', { name, publicKeyPem: pem(key), ...validity });
    assert.is(res.status, 201, JSON.stringify(res.body));
    return res.body;
  };
  const events = async (kind: string) => (await listEvents(get().db, {})).filter((e) => e.kind === kind);

  suite('a key added through the API signs uploads; the image names it; listed with the images it signed, beside the file keys', async () => {
    const release = generateSigningKey('es256');
    const added = await add('release-2027', release);
    assert.is(added.source, 'api');
    assert.is(added.status, 'live');
    assert.is(added.kid, hex(release.kid));
    assert.match(added.fingerprint, /^[0-9a-f]{64}$/);
    assert.is(added.publicKeyPem, pem(release));
    assert.is(added.notAfter, null);

    const up = await upload(pkg(release, '2.0.0'));
    assert.is(up.status, 201, JSON.stringify(up.body));
    assert.is(up.body.keyName, 'release-2027');
    assert.is(up.body.signedBy, 'uploader');
    const raw = await upload(Buffer.from('raw image'), '?version=3.0.0&hardwareClass=other');
    assert.is(raw.status, 201);
    assert.is(raw.body.signedBy, 'server');
    assert.is(raw.body.keyName, 'server-signing', 'the server\'s own key signed it');
    assert.is((await upload(pkg(VENDOR, '2.0.1'))).body.keyName, 'vendor.pub', 'a --trusted-keys file is named by its file');

    const listed = (await call('GET', '/api/v1/keys')).body.items as Array<Record<string, unknown>>;
    assert.equal(listed.map((k) => [k['name'], k['source'], k['images']]), [['release-2027', 'api', 1], ['server-signing', 'file', 1], ['vendor.pub', 'file', 1]]);
    const [event] = await events('key.added');
    assert.equal(event?.data, { name: 'release-2027', alg: 'es256', kid: hex(release.kid), notBefore: added.notBefore, notAfter: null, user: 'FERRY_ADMIN_TOKEN' });
    assert.is(event?.actor, 'token:FERRY_ADMIN_TOKEN');
  });

  suite('outside its validity a key signs no new upload: FERRY_KEY_EXPIRED naming it; the validity changed through PATCH counts at once', async () => {
    const old = generateSigningKey('ed25519');
    await add('old-2020', old, { notBefore: '2020-01-01T00:00:00Z', notAfter: '2021-01-01T00:00:00Z' });
    const refused = await upload(pkg(old, '1.0.0'));
    assert.is(refused.status, 422);
    assert.is(refused.body.code, 'FERRY_KEY_EXPIRED');
    assert.match(refused.body.message, /signed by key old-2020 .*expired at 2021-01-01T00:00:00.000Z/);

    const reopened = await call('PATCH', '/api/v1/keys/old-2020', { notAfter: null });
    assert.is(reopened.status, 200);
    assert.is(reopened.body.status, 'live');
    assert.is((await upload(pkg(old, '1.0.0'))).status, 201, 'live again');
    const closed = await call('PATCH', '/api/v1/keys/old-2020', { notAfter: '2024-06-01T00:00:00Z' });
    assert.is(closed.body.status, 'expired');
    assert.is((await upload(pkg(old, '1.0.1'))).body.code, 'FERRY_KEY_EXPIRED');
    const [changed] = await events('key.validity_changed');
    assert.equal(changed?.data['to'], { notBefore: '2020-01-01T00:00:00.000Z', notAfter: null });

    const future = generateSigningKey('ed25519');
    await add('next-2099', future, { notBefore: '2099-01-01T00:00:00Z' });
    const early = await upload(pkg(future, '9.0.0'));
    assert.is(early.body.code, 'FERRY_KEY_EXPIRED');
    assert.match(early.body.message, /next-2099 .*not valid before 2099-01-01/);
    const stranger = await upload(pkg(generateSigningKey('ed25519'), '9.0.1'));
    assert.is(stranger.body.code, 'FERRY_PACKAGE_INVALID', 'a key the registry does not hold is not trusted');
  });

  suite('revoking a key: its images revoked, the running campaign rolling one out paused with a critical alert, in the audit log; its uploads refused', async () => {
    const leaked = generateSigningKey('ed25519');
    await add('leaked', leaked);
    const signed = (await upload(pkg(leaked, '2.0.0', 'sim-1'))).body;
    const other = (await upload(pkg(VENDOR, '2.1.0', 'sim-1'))).body;
    // Held by another node: this server's campaign driver claims it not, and the campaign keeps running.
    const { device } = await devices.register(get().db, {
      endpoint: 'dev-1', registrationId: 'r-dev-1', lifetime: 600, lwm2mVersion: '1.1', binding: 'U', queueMode: false,
      objectLinks: '</5/0>', address: '127.0.0.1', port: 9, ownerNode: 'another-node',
    });
    await devices.setDeviceInfo(get().db, device.id, { manufacturer: 'm', modelNumber: 'sim-1', hardwareVersion: null, firmwareVersion: '1.0.0', hardwareClass: 'sim-1' });
    const campaign = (await call('POST', '/api/v1/campaigns', { name: 'roll', firmwareId: signed.id, target: { hardwareClass: 'sim-1' }, policy: { waves: ['100%'] } })).body;
    assert.is((await call('POST', `/api/v1/campaigns/${campaign.id}/start`)).body.state, 'running');
    await ferry.campaigns.tickOnce();
    assert.is((await call('GET', `/api/v1/campaigns/${campaign.id}`)).body.state, 'running');

    const revoked = await call('POST', '/api/v1/keys/leaked/revoke', { reason: 'left on a build server' });
    assert.is(revoked.status, 200, JSON.stringify(revoked.body));
    assert.is(revoked.body.status, 'revoked');
    assert.is(revoked.body.revokeReason, 'left on a build server');
    assert.equal(revoked.body.revokedImages.map((i: { id: number }) => i.id), [signed.id]);
    assert.equal(revoked.body.pausedCampaigns, [campaign.id]);

    assert.is((await call('GET', `/api/v1/firmware/${signed.id}`)).body.state, 'revoked');
    assert.is.not((await call('GET', `/api/v1/firmware/${other.id}`)).body.state, 'revoked', 'another key\'s image stays');
    const paused = (await call('GET', `/api/v1/campaigns/${campaign.id}`)).body;
    assert.is(paused.state, 'paused');
    assert.match(paused.pauseReason, /signing key leaked was revoked: left on a build server/);
    const alerts = (await call('GET', '/api/v1/alerts')).body.items as Array<{ kind: string; severity: string; campaignId: number }>;
    assert.ok(alerts.some((a) => a.kind === 'campaign.paused' && a.severity === 'critical' && a.campaignId === campaign.id), JSON.stringify(alerts));

    const [keyEvent] = await events('key.revoked');
    assert.equal({ ...keyEvent?.data }, { name: 'leaked', kid: hex(leaked.kid), reason: 'left on a build server', images: 1, user: 'FERRY_ADMIN_TOKEN' });
    const [stateEvent] = await events('firmware.state_changed');
    assert.equal([stateEvent?.data['firmwareId'], stateEvent?.data['to'], stateEvent?.data['user']], [signed.id, 'revoked', 'FERRY_ADMIN_TOKEN']);
    assert.match(String(stateEvent?.data['reason']), /signing key leaked was revoked/);

    const refused = await upload(pkg(leaked, '2.0.1', 'sim-1'));
    assert.is(refused.status, 422);
    assert.is(refused.body.code, 'FERRY_KEY_REVOKED');
    assert.match(refused.body.message, /key leaked .*revoked at .*left on a build server/);
    const again = await call('POST', '/api/v1/keys/leaked/revoke', { reason: 'again' });
    assert.is(again.status, 200);
    assert.equal([again.body.revokeReason, again.body.revokedImages], ['left on a build server', []], 'revoked once; nothing left to revoke');
    assert.is((await events('key.revoked')).length, 1);
  });

  suite('a key revoked after this server read its anchors is still refused: the upload checks its signer again, locked, in its transaction', async () => {
    const late = generateSigningKey('ed25519');
    await add('late', late);
    assert.is((await upload(pkg(late, '6.0.0'))).status, 201, 'the anchors read, the key live');
    // As a revocation committing between the verification and the insert: the stamp not moved, the cache not reloaded.
    await get().db.query("UPDATE trusted_keys SET revoked_at = now(), revoke_reason = 'meanwhile' WHERE name = 'late'");
    const refused = await upload(pkg(late, '6.0.1'));
    assert.equal([refused.status, refused.body.code], [422, 'FERRY_KEY_REVOKED']);
    assert.match(refused.body.message, /key late .*meanwhile/);
    assert.equal((await get().db.query<{ version: string }>('SELECT version FROM firmware_images ORDER BY id')).rows.map((r) => r.version), ['6.0.0']);
  });

  suite('file keys are listed read-only: changing or revoking one is a 409 that names its flag; their public key cannot be added twice', async () => {
    const listed = (await call('GET', '/api/v1/keys')).body.items as Array<{ name: string; source: string; status: string }>;
    assert.equal(listed.map((k) => [k.name, k.source, k.status]), [['server-signing', 'file', 'live'], ['vendor.pub', 'file', 'live']]);
    const revoke = await call('POST', '/api/v1/keys/vendor.pub/revoke', { reason: 'x' });
    assert.equal([revoke.status, revoke.body.code], [409, 'FERRY_KEY_FROM_FILE']);
    assert.match(revoke.body.message, /remove the file from --trusted-keys/);
    const patch = await call('PATCH', '/api/v1/keys/server-signing', { notAfter: '2030-01-01T00:00:00Z' });
    assert.equal([patch.status, patch.body.code], [409, 'FERRY_KEY_FROM_FILE']);
    assert.match(patch.body.message, /--signing-key/);
    const twice = await call('POST', '/api/v1/keys', { name: 'vendor-again', publicKeyPem: pem(VENDOR) });
    assert.equal([twice.status, twice.body.code], [409, 'FERRY_KEY_EXISTS']);
    assert.match(twice.body.message, /trusted already, as vendor\.pub \(from a key file\)/);
    assert.is((await events('key.revoked')).length + (await events('key.validity_changed')).length, 0);
  });

  suite('bad input on every route: a 4xx with a code and a message, nothing stored', async () => {
    const k = generateSigningKey('ed25519');
    await add('taken', k);
    const cases: Array<[string, 'GET' | 'POST' | 'PATCH', string, unknown, number, string]> = [
      ['query on the list', 'GET', '/api/v1/keys?all=1', undefined, 400, 'FERRY_VALIDATION'],
      ['no name', 'POST', '/api/v1/keys', { publicKeyPem: pem(k) }, 400, 'FERRY_VALIDATION'],
      ['a name with a space', 'POST', '/api/v1/keys', { name: 'a b', publicKeyPem: pem(k) }, 400, 'FERRY_VALIDATION'],
      ['an unknown field', 'POST', '/api/v1/keys', { name: 'n', publicKeyPem: pem(k), role: 'x' }, 400, 'FERRY_VALIDATION'],
      ['not a PEM', 'POST', '/api/v1/keys', { name: 'n', publicKeyPem: 'hello' }, 400, 'FERRY_KEY_INVALID'],
      ['a private key', 'POST', '/api/v1/keys', { name: 'n', publicKeyPem: encodePrivateKeyPem(k) }, 400, 'FERRY_KEY_INVALID'],
      ['an empty period', 'POST', '/api/v1/keys', { name: 'n', publicKeyPem: pem(generateSigningKey('ed25519')), notBefore: '2030-01-01T00:00:00Z', notAfter: '2029-01-01T00:00:00Z' }, 400, 'FERRY_KEY_INVALID'],
      ['notAfter already past (from now)', 'POST', '/api/v1/keys', { name: 'n', publicKeyPem: pem(generateSigningKey('ed25519')), notAfter: '2001-01-01T00:00:00Z' }, 400, 'FERRY_KEY_INVALID'],
      ['not an instant', 'POST', '/api/v1/keys', { name: 'n', publicKeyPem: pem(k), notAfter: 'tomorrow' }, 400, 'FERRY_VALIDATION'],
      ['the reserved name', 'POST', '/api/v1/keys', { name: 'server-signing', publicKeyPem: pem(generateSigningKey('ed25519')) }, 400, 'FERRY_KEY_INVALID'],
      ['a name taken', 'POST', '/api/v1/keys', { name: 'taken', publicKeyPem: pem(generateSigningKey('ed25519')) }, 409, 'FERRY_KEY_EXISTS'],
      ['a key trusted already', 'POST', '/api/v1/keys', { name: 'n', publicKeyPem: pem(k) }, 409, 'FERRY_KEY_EXISTS'],
      ['patch: an unknown key', 'PATCH', '/api/v1/keys/nobody', { notAfter: null }, 404, 'FERRY_KEY_NOT_FOUND'],
      ['patch: nothing to change', 'PATCH', '/api/v1/keys/taken', {}, 400, 'FERRY_VALIDATION'],
      ['patch: an unknown field', 'PATCH', '/api/v1/keys/taken', { name: 'x' }, 400, 'FERRY_VALIDATION'],
      ['patch: an empty period', 'PATCH', '/api/v1/keys/taken', { notAfter: '2001-01-01T00:00:00Z' }, 400, 'FERRY_KEY_INVALID'],
      ['patch: a name too long', 'PATCH', `/api/v1/keys/${'a'.repeat(65)}`, { notAfter: null }, 400, 'FERRY_VALIDATION'],
      ['revoke: no reason', 'POST', '/api/v1/keys/taken/revoke', {}, 400, 'FERRY_VALIDATION'],
      ['revoke: a control character', 'POST', '/api/v1/keys/taken/revoke', { reason: 'a\u0000b' }, 400, 'FERRY_VALIDATION'],
      ['revoke: an unknown key', 'POST', '/api/v1/keys/nobody/revoke', { reason: 'x' }, 404, 'FERRY_KEY_NOT_FOUND'],
      ['revoke: a bad name', 'POST', '/api/v1/keys/a%20b/revoke', { reason: 'x' }, 400, 'FERRY_VALIDATION'],
    ];
    for (const [what, method, url, payload, status, code] of cases) {
      const res = await call(method, url, payload);
      assert.is(res.status, status, `${what}: ${JSON.stringify(res.body)}`);
      assert.is(res.body.code, code, what);
      assert.type(res.body.message, 'string', what);
    }
    const listed = (await call('GET', '/api/v1/keys')).body.items as Array<{ name: string; status: string }>;
    assert.equal(listed.filter((x) => x.name !== 'server-signing' && x.name !== 'vendor.pub').map((x) => [x.name, x.status]), [['taken', 'live']]);
    const viewer = await createToken(get().db, { name: 'v', role: 'viewer', createdBy: 'test' });
    assert.is((await injectRaw(ferry, { method: 'GET', url: '/api/v1/keys', headers: bearer(viewer.token) })).statusCode, 200);
    assert.is((await injectRaw(ferry, { method: 'POST', url: '/api/v1/keys/taken/revoke', headers: bearer(viewer.token), payload: { reason: 'x' } })).statusCode, 403);
  });

  suite('a second server on the database follows a revocation made through the first; start-up refuses a key file that holds an API key', async () => {
    const shared = generateSigningKey('ed25519');
    const second = await startTestFerry(get().db, { campaignTick: 60_000, trustedKeys: [VENDOR_FILE] });
    try {
      await add('shared', shared);
      assert.is((await upload(pkg(shared, '5.0.0'), '', second)).status, 201, 'the second server trusts a key added through the first');
      await call('POST', '/api/v1/keys/shared/revoke', { reason: 'rotated' });
      assert.is((await upload(pkg(shared, '5.0.1'), '', second)).body.code, 'FERRY_KEY_REVOKED', 'and its revocation');
    } finally {
      await second.close();
    }
    const sharedFile = join(dir, 'shared.pub');
    writeFileSync(sharedFile, pem(shared));
    try {
      await startFerry(testConfig({ trustedKeys: [sharedFile] }), { log: recordingLogger('silent').log, db: get().db });
      assert.unreachable('started');
    } catch (err) {
      assert.instance(err, KeyFileError);
      assert.match((err as Error).message, /shared\.pub holds the key shared .*added through the API/);
    }
  });

  suite('server signing announced: a warning at start-up, /readyz, the API document; a server without --signing-key says false', async () => {
    const ready = (await ferry.api.inject({ method: 'GET', url: '/readyz' })).json();
    assert.is(ready.serverSigning, true);
    const doc = (await ferry.api.inject({ method: 'GET', url: '/docs/json' })).json();
    assert.match(doc.info.description, /signs raw image uploads itself \(--signing-key\)/);
    const rec = recordingLogger('info');
    const signing = await startFerry(testConfig({ campaignTick: 60_000 }), { log: rec.log, db: get().db });
    await signing.close();
    assert.ok(rec.lines.some((l) => l.level === 40 && l.msg === SERVER_SIGNING_NOTICE), 'a warning line');
    const rec2 = recordingLogger('info');
    const plain = await startFerry(testConfig({ signingKey: undefined, campaignTick: 60_000 }), { log: rec2.log, db: get().db });
    try {
      assert.is((await plain.api.inject({ method: 'GET', url: '/readyz' })).json().serverSigning, false);
      assert.not.match((await plain.api.inject({ method: 'GET', url: '/docs/json' })).json().info.description, /signs raw image uploads/);
      assert.not.ok(rec2.lines.some((l) => l.msg === SERVER_SIGNING_NOTICE));
    } finally {
      await plain.close();
    }
  });
});
