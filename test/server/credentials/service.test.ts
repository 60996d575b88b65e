// Device credentials below the API: AES-256-GCM round trip bound to its row (a ciphertext moved to
// another row, or opened under another master key, does not decrypt), the master key's check at
// start, rotation and confirmation, and a second service on the same database seeing a change
// made through the first (the generation).
import { randomBytes } from 'node:crypto';
import * as assert from 'uvu/assert';
import { CredentialService } from '../../../server/credentials/service.ts';
import { SecretsKey } from '../../../server/credentials/secrets-key.ts';
import { checkSecretsKey } from '../../../server/credentials/startup.ts';
import { FerryError } from '../../../server/errors.ts';
import { findByEndpoint, purgeLeftDevices, setTags } from '../../../server/store/devices.ts';
import { listEvents } from '../../../server/store/events.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { offlineDevice } from '../../helpers/devices.ts';

const KEY = new SecretsKey(randomBytes(32));
const OTHER = new SecretsKey(randomBytes(32));
const hex = (n: number, fill: number) => Buffer.alloc(n, fill).toString('hex');

async function refusedWith(p: Promise<unknown>, code: string): Promise<FerryError> {
  try { await p; } catch (err) {
    assert.instance(err, FerryError);
    assert.is((err as FerryError).code, code, (err as Error).message);
    return err as FerryError;
  }
  assert.unreachable(`expected ${code}`);
  throw new Error('unreachable');
}

forEachDatabase('credentials service', ({ suite, get }) => {
  suite('seal and open: a round trip; another row, another key or an altered byte does not open', () => {
    const plain = randomBytes(32);
    const here = { endpoint: 'dev-1', identity: 'id-1' };
    const sealed = KEY.seal(plain, here);
    assert.is(sealed.nonce.length, 12);
    assert.ok(!sealed.ct.includes(plain), 'the key is not in the ciphertext');
    assert.equal(KEY.open(sealed, here), plain);
    assert.not.equal(KEY.seal(plain, here).nonce, sealed.nonce, 'a fresh nonce each time');
    assert.throws(() => KEY.open(sealed, { endpoint: 'dev-2', identity: 'id-1' }), /does not decrypt/);
    assert.throws(() => KEY.open(sealed, { endpoint: 'dev-1', identity: 'id-2' }), /does not decrypt/);
    assert.throws(() => OTHER.open(sealed, here), /does not decrypt/);
    const altered = Buffer.from(sealed.ct);
    altered[0]! ^= 1;
    assert.throws(() => KEY.open({ ct: altered, nonce: sealed.nonce }, here), /does not decrypt/);
  });

  suite('the database holds no key in the clear; a ciphertext moved to another row does not decrypt', async () => {
    const { db } = get();
    await offlineDevice(db, 'dev-1');
    await offlineDevice(db, 'dev-2');
    const svc = new CredentialService({ db, secretsKey: KEY });
    await svc.put('dev-1', 'id-1', { key: hex(16, 0xab) }, 'test');
    await svc.put('dev-2', 'id-2', { key: hex(16, 0xcd) }, 'test');
    const dump = JSON.stringify((await db.query('SELECT encode(key_ct, \'hex\') AS ct FROM device_credentials')).rows);
    assert.not.match(dump, hex(16, 0xab));
    assert.equal((await svc.pskFor('id-1'))!.current, Buffer.alloc(16, 0xab));
    // dev-1's ciphertext and nonce copied over dev-2's row.
    await db.query(`UPDATE device_credentials t SET key_ct = s.key_ct, key_nonce = s.key_nonce FROM device_credentials s
      WHERE s.identity = 'id-1' AND t.identity = 'id-2'`);
    await refusedWith(new CredentialService({ db, secretsKey: KEY }).pskFor('id-2'), 'FERRY_SECRETS_KEY');
  });

  suite('start-up check: the key is claimed once, another key is refused while keys are stored, none refused with keys', async () => {
    const { db } = get();
    await offlineDevice(db, 'dev-1');
    await checkSecretsKey(db, undefined);
    await checkSecretsKey(db, KEY);
    await checkSecretsKey(db, KEY);
    await new CredentialService({ db, secretsKey: KEY }).put('dev-1', 'id-1', { generate: true }, 'test');
    const wrong = await refusedWith(checkSecretsKey(db, OTHER), 'FERRY_SECRETS_KEY');
    assert.match(wrong.message, /not the one the stored device keys were encrypted with/);
    const none = await refusedWith(checkSecretsKey(db, undefined), 'FERRY_SECRETS_KEY');
    assert.match(none.message, /1 device key is stored and no master key/);
    await new CredentialService({ db, secretsKey: KEY }).remove('dev-1', 'test');
    await checkSecretsKey(db, OTHER); // nothing sealed under the old key: the new one takes over
    await checkSecretsKey(db, OTHER);
  });

  suite('no master key: storing is refused, listing works', async () => {
    const { db } = get();
    await offlineDevice(db, 'dev-1');
    const svc = new CredentialService({ db, secretsKey: undefined });
    await refusedWith(svc.put('dev-1', 'id-1', { generate: true }, 'test'), 'FERRY_CREDENTIALS_NO_SECRETS_KEY');
    await refusedWith(svc.info('dev-1'), 'FERRY_CREDENTIALS_NOT_FOUND');
  });

  suite('rotation keeps the previous key until a handshake with the new one', async () => {
    const { db } = get();
    await offlineDevice(db, 'dev-1');
    const svc = new CredentialService({ db, secretsKey: KEY });
    await svc.put('dev-1', 'id-1', { key: hex(16, 1) }, 'test');
    await svc.rotate('dev-1', 'id-1', { key: hex(16, 2) }, 'test');
    let psk = (await svc.pskFor('id-1'))!;
    assert.equal([psk.current, psk.previous], [Buffer.alloc(16, 2), Buffer.alloc(16, 1)]);
    await svc.handshakeDone('id-1', true);
    psk = (await svc.pskFor('id-1'))!;
    assert.equal(psk.previous, Buffer.alloc(16, 1), 'a handshake with the old key keeps it');
    await svc.confirmNewKey('id-1');
    psk = (await svc.pskFor('id-1'))!;
    assert.equal([psk.current, psk.previous], [Buffer.alloc(16, 2), null]);
    const confirmed = await listEvents(db, { kindPrefix: 'credentials.confirmed' });
    assert.equal(confirmed.map((e) => [e.endpoint, e.actor, e.data]), [['dev-1', 'dtls', { identity: 'id-1', droppedIdentity: 'id-1' }]]);
    await svc.confirmNewKey('id-1');
    assert.is((await listEvents(db, { kindPrefix: 'credentials.confirmed' })).length, 1, 'nothing to drop: no event');
    // A rotation to a new identity: each identity finds its own key.
    await svc.rotate('dev-1', 'id-1b', { key: hex(16, 3) }, 'test');
    assert.equal((await svc.pskFor('id-1'))!.previous, Buffer.alloc(16, 2));
    assert.is((await svc.pskFor('id-1'))!.current, null);
    assert.equal((await svc.pskFor('id-1b'))!.current, Buffer.alloc(16, 3));
    const info = await svc.info('dev-1');
    assert.equal([info.identity, info.previousIdentity], ['id-1b', 'id-1']);
    assert.ok(info.rotatedAt instanceof Date);
    await svc.confirmNewKey('id-1b');
    assert.is(await svc.pskFor('id-1'), undefined);
    assert.ok((await svc.info('dev-1')).lastHandshakeAt instanceof Date);
  });

  suite('one identity given to two devices at once: one wins, the other is refused with its code', async () => {
    const { db } = get();
    await offlineDevice(db, 'dev-1');
    await offlineDevice(db, 'dev-2');
    const a = new CredentialService({ db, secretsKey: KEY });
    const b = new CredentialService({ db, secretsKey: KEY });
    const results = await Promise.allSettled([a.put('dev-1', 'same', { generate: true }, 'a'), b.put('dev-2', 'same', { generate: true }, 'b')]);
    assert.equal(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert.is((refused.reason as FerryError).code, 'FERRY_PSK_IDENTITY_TAKEN', String(refused.reason));
  });

  suite('a device that left long ago is not purged while it holds credentials', async () => {
    const { db } = get();
    await offlineDevice(db, 'kept');
    await offlineDevice(db, 'gone');
    await new CredentialService({ db, secretsKey: KEY }).put('kept', 'id-k', { generate: true }, 'test');
    await db.query("UPDATE devices SET last_seen = now() - interval '2 days'");
    const purged = await purgeLeftDevices(db, { retentionSeconds: 3600 });
    assert.equal(purged.map((d) => d.endpoint), ['gone']);
  });

  suite('an endpoint that never registered: put makes its device, provisioned; rotate does not; a name a Register refuses is refused', async () => {
    const { db } = get();
    const svc = new CredentialService({ db, secretsKey: KEY });
    await refusedWith(svc.rotate('factory-1', 'f-1', { generate: true }, 'test'), 'FERRY_DEVICE_NOT_FOUND');
    await svc.put('factory-1', 'f-1', { key: hex(16, 1) }, 'test');
    const device = (await findByEndpoint(db, 'factory-1'))!;
    assert.is(device.status, 'provisioned');
    assert.equal((await svc.pskFor('f-1'))!.deviceId, device.id);
    await svc.rotate('factory-1', 'f-1', { key: hex(16, 2) }, 'test');
    for (const [name, why] of [['', /must not be empty/], ['x'.repeat(256), /longer than 255 characters/], ['a\u0000b', /control character/], ['a\u009fb', /control character/]] as const) {
      const err = await refusedWith(svc.put(name, 'f-2', { key: hex(16, 3) }, 'test'), 'FERRY_VALIDATION');
      assert.match(err.message, why);
    }
    assert.is(await svc.pskFor('f-2'), undefined);
    assert.is((await db.query('SELECT 1 FROM devices')).rows.length, 1, 'no device made for a refused name');
    // Removing its credentials removes the device made for them; a tag keeps it.
    await svc.put('factory-2', 'f-2', { key: hex(16, 4) }, 'test');
    await setTags(db, 'factory-2', ['line-4']);
    await svc.remove('factory-1', 'test');
    await svc.remove('factory-2', 'test');
    assert.is(await findByEndpoint(db, 'factory-1'), null);
    assert.is((await findByEndpoint(db, 'factory-2'))!.status, 'provisioned');
    assert.equal((await listEvents(db, { kindPrefix: 'device.' })).map((e) => [e.kind, e.endpoint]),
      [['device.provisioned', 'factory-1'], ['device.provisioned', 'factory-2'], ['device.tags', 'factory-2'], ['device.unprovisioned', 'factory-1']]);
  });

  suite('a change through one service is seen by another on the same database', async () => {
    const { db } = get();
    await offlineDevice(db, 'dev-1');
    let now = 1_000_000;
    const a = new CredentialService({ db, secretsKey: KEY });
    const b = new CredentialService({ db, secretsKey: KEY, now: () => now });
    await a.put('dev-1', 'id-1', { key: hex(16, 1) }, 'test');
    assert.equal((await b.pskFor('id-1'))!.current, Buffer.alloc(16, 1));
    await a.rotate('dev-1', 'id-1', { key: hex(16, 2) }, 'test');
    assert.equal((await b.pskFor('id-1'))!.current, Buffer.alloc(16, 1), 'within the second, b trusts its cache');
    now += 1000;
    assert.equal((await b.pskFor('id-1'))!.current, Buffer.alloc(16, 2), 'a second later it has seen the generation move');
    await a.remove('dev-1', 'test');
    now += 1000;
    assert.is(await b.pskFor('id-1'), undefined);
    await a.put('dev-1', 'id-9', { key: hex(16, 9) }, 'test');
    assert.equal((await b.pskFor('id-9'))!.current, Buffer.alloc(16, 9), 'a miss reads the database at once');
  });
});
