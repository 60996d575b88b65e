// The DTLS layer's look-up takes whatever bytes a peer's ClientKeyExchange carried: an identity
// no device can have (a NUL, which no database text takes; a space; too long; empty) is unknown,
// answered without an error, and a stored one is still found.
import { randomBytes } from 'node:crypto';
import * as assert from 'uvu/assert';
import { CredentialService } from '../../../server/credentials/service.ts';
import { SecretsKey } from '../../../server/credentials/secrets-key.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { offlineDevice } from '../../helpers/devices.ts';

forEachDatabase('credentials look-up by a peer\'s identity', ({ suite, get }) => {
  suite('identities no device can have are unknown, not an error', async () => {
    const { db } = get();
    await offlineDevice(db, 'dev-1');
    const svc = new CredentialService({ db, secretsKey: new SecretsKey(randomBytes(32)) });
    await svc.put('dev-1', 'id-1', { key: Buffer.alloc(16, 0xab).toString('hex') }, 'test');
    for (const identity of ['id-1\u0000', '\u0000', 'f\u0000g', 'id 1', '', 'x'.repeat(129), Buffer.from([0xff, 0xfe]).toString('utf8'), "id-1'; --"]) {
      assert.is(await svc.pskFor(identity), undefined, JSON.stringify(identity));
    }
    assert.equal((await svc.pskFor('id-1'))?.current, Buffer.alloc(16, 0xab));
  });
});
