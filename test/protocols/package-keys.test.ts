import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSignature, verifySignature } from '../../protocols/cose.ts';
import {
  encodePrivateKeyPem, encodePublicKeyPem, generateSigningKey, parsePrivateKeyPem, parsePublicKeyPem,
} from '../../protocols/package-keys.ts';
import { throwsDecodeError } from './_helpers.ts';

const MESSAGE = Buffer.from('Sig_structure stand-in');
const nodeKeyType = { ed25519: 'ed25519', es256: 'ec' } as const;
const nodeSignWith = (alg: 'ed25519' | 'es256', key: Parameters<typeof nodeSign>[2]) =>
  alg === 'ed25519' ? nodeSign(null, MESSAGE, key) : nodeSign('sha256', MESSAGE, { key: key as never, dsaEncoding: 'ieee-p1363' });

for (const alg of ['ed25519', 'es256'] as const) {
  test(`${alg}: our PEM is read by Node's crypto (PKCS#8, SPKI), and keys agree both ways`, () => {
    const key = generateSigningKey(alg);
    assert.is(key.privateKey.length, 32);
    assert.is(key.publicKey.length, alg === 'ed25519' ? 32 : 65);
    const privateKey = createPrivateKey(encodePrivateKeyPem(key));
    const publicKey = createPublicKey(encodePublicKeyPem(key));
    assert.is(privateKey.asymmetricKeyType, nodeKeyType[alg]);
    assert.is(publicKey.asymmetricKeyType, nodeKeyType[alg]);
    if (alg === 'es256') assert.is(publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    // Node derives the same public key from our private key.
    assert.is(createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }), encodePublicKeyPem(key));
    // Node signs with our private key, we verify; we sign, Node verifies with our public key.
    assert.ok(verifySignature(alg, key.publicKey, MESSAGE, nodeSignWith(alg, privateKey)));
    const ours = createSignature(alg, key.privateKey, MESSAGE);
    assert.ok(nodeVerify(alg === 'ed25519' ? null : 'sha256', MESSAGE, alg === 'ed25519' ? publicKey : { key: publicKey, dsaEncoding: 'ieee-p1363' }, ours));
  });

  test(`${alg}: Node's PEM (PKCS#8, SPKI, and SEC1 for P-256) is read by us; kid = SHA-256(SPKI DER)[0..8]`, () => {
    const pair = alg === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const spkiDer = pair.publicKey.export({ type: 'spki', format: 'der' });
    const kid = createHash('sha256').update(spkiDer).digest().subarray(0, 8);
    const anchor = parsePublicKeyPem(pair.publicKey.export({ type: 'spki', format: 'pem' }) as string);
    const key = parsePrivateKeyPem(pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    assert.is(anchor.alg, alg);
    assert.is(key.alg, alg);
    assert.equal(Buffer.from(anchor.kid), kid);
    assert.equal(Buffer.from(key.kid), kid);
    assert.equal(Buffer.from(key.publicKey), Buffer.from(anchor.publicKey));
    assert.ok(verifySignature(alg, anchor.publicKey, MESSAGE, nodeSignWith(alg, pair.privateKey)));
    if (alg === 'es256') {
      const sec1 = parsePrivateKeyPem(pair.privateKey.export({ type: 'sec1', format: 'pem' }) as string);
      assert.equal(Buffer.from(sec1.privateKey), Buffer.from(key.privateKey));
      // A compressed point in the SPKI is normalised, so the kid does not depend on the encoding.
      const compressed = createPublicKey({ key: pair.publicKey.export({ format: 'jwk' }), format: 'jwk' });
      assert.equal(Buffer.from(parsePublicKeyPem(compressed.export({ type: 'spki', format: 'pem' }) as string).kid), kid);
    }
  });
}

test('openssl reads our PEM and derives the same public key (when openssl is installed)', () => {
  let version = '';
  try { version = execFileSync('openssl', ['version'], { encoding: 'utf8' }); } catch { return; }
  assert.match(version, /SSL/);
  const dir = mkdtempSync(join(tmpdir(), 'ferry-keys-'));
  try {
    for (const alg of ['ed25519', 'es256'] as const) {
      const key = generateSigningKey(alg);
      const file = join(dir, `${alg}.pem`);
      writeFileSync(file, encodePrivateKeyPem(key));
      const pub = execFileSync('openssl', ['pkey', '-in', file, '-pubout'], { encoding: 'utf8' });
      assert.is(pub, encodePublicKeyPem(key), alg);
      const reencoded = execFileSync('openssl', ['pkey', '-in', file], { encoding: 'utf8' });
      assert.equal(Buffer.from(parsePrivateKeyPem(reencoded).privateKey), Buffer.from(key.privateKey), alg);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad PEM is DecodeError key.pem', () => {
  const ed = generateSigningKey('ed25519');
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const priv = encodePrivateKeyPem(ed);
  throwsDecodeError(() => parsePrivateKeyPem(''), 'key.pem');
  throwsDecodeError(() => parsePrivateKeyPem(encodePublicKeyPem(ed)), 'key.pem');
  throwsDecodeError(() => parsePublicKeyPem(priv), 'key.pem');
  throwsDecodeError(() => parsePrivateKeyPem(priv.replace('-----\n', '-----\n!!!!')), 'key.pem');
  throwsDecodeError(() => parsePrivateKeyPem(priv.replace('END PRIVATE', 'END PUBLIC')), 'key.pem');
  throwsDecodeError(() => parsePrivateKeyPem(rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string), 'key.pem');
  throwsDecodeError(() => parsePublicKeyPem(rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string), 'key.pem');
  throwsDecodeError(() => parsePrivateKeyPem(p384.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string), 'key.pem');
  throwsDecodeError(() => parsePublicKeyPem(p384.publicKey.export({ type: 'spki', format: 'pem' }) as string), 'key.pem');
  // Truncated DER inside a well-formed PEM block.
  const der = Buffer.from(priv.split('\n').slice(1, -2).join(''), 'base64');
  const cut = `-----BEGIN PRIVATE KEY-----\n${der.subarray(0, der.length - 5).toString('base64')}\n-----END PRIVATE KEY-----\n`;
  throwsDecodeError(() => parsePrivateKeyPem(cut), 'key.pem');
  // A P-256 point that is not on the curve.
  const es = generateSigningKey('es256');
  const offCurve = { ...es, publicKey: Uint8Array.from(es.publicKey, (b, i) => (i === 64 ? b ^ 1 : b)) };
  throwsDecodeError(() => parsePublicKeyPem(encodePublicKeyPem(offCurve)), 'key.pem');
  // A P-256 private key whose embedded public key belongs to another key.
  throwsDecodeError(() => parsePrivateKeyPem(encodePrivateKeyPem({ ...es, publicKey: generateSigningKey('es256').publicKey })), 'key.pem');
});

test('an END label of 1,000 characters: key.pem, the label cut in the reason (found by fuzzing)', () => {
  const text = `-----BEGIN PRIVATE KEY-----MIACAQAAAA==\n-----END ${'K'.repeat(1000)}-----`;
  throwsDecodeError(() => parsePrivateKeyPem(text), 'key.pem');
  try {
    parsePrivateKeyPem(text);
  } catch (e) {
    assert.is((e as { reason: string }).reason, `BEGIN PRIVATE KEY ends with END ${'K'.repeat(40)}…`);
  }
});

test.run();
