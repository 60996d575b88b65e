import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, generateKeyPairSync, sign as nodeSign, type KeyObject } from 'node:crypto';
import { p256 } from '@noble/curves/nist.js';
import { Decoder, Encoder, Tag } from 'cbor-x';
import { encodeCbor, type CborKey, type CborValue } from '../../protocols/cbor.ts';
import { encodeSign1 } from '../../protocols/cose.ts';
import { DecodeError } from '../../protocols/errors.ts';
import {
  checkPayload, PackageError, parsePackage, readPackageHeader, signPackage, verifyManifestSignature, verifyPackage,
  type PackageErrorCode, type SigningKey, type TrustAnchor,
} from '../../protocols/package.ts';
import { generateSigningKey, parsePublicKeyPem } from '../../protocols/package-keys.ts';
import { seededBytes, throwsDecodeError } from './_helpers.ts';

const PAYLOAD = seededBytes(5)(3000);
const ED = generateSigningKey('ed25519');
const ES = generateSigningKey('es256');
const anchor = (k: SigningKey): TrustAnchor => ({ alg: k.alg, kid: k.kid, publicKey: k.publicKey });
const ANCHORS = [anchor(ED), anchor(ES)];
const opts = { vendorId: 'acme', classId: 'sensor-v2', version: '2.1.0', sequence: 42, created: 1_700_000_000 };
const signed = (key: SigningKey, payload: Uint8Array = PAYLOAD) => Buffer.from(signPackage({ ...opts, payload, key }));

function throwsPackageError(fn: () => unknown, code: PackageErrorCode): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof PackageError)) { assert.unreachable(`expected PackageError ${code}, got ${String(e)}`); return; }
    assert.is(e.code, code, e.reason);
    return;
  }
  assert.unreachable(`expected PackageError ${code}, nothing was thrown`);
}

/** A package around an arbitrary COSE_Sign1. */
const frame = (cose: Uint8Array, payload: Uint8Array): Buffer => {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(cose.length);
  return Buffer.concat([Buffer.from('FRY1'), length, cose, payload]);
};

for (const key of [ED, ES]) {
  test(`sign/verify round trip (${key.alg})`, () => {
    const pkg = signed(key);
    const { header, payload, anchor: used } = verifyPackage(pkg, ANCHORS);
    assert.equal(Buffer.from(payload), PAYLOAD);
    assert.equal(Buffer.from(used.kid), Buffer.from(key.kid));
    assert.equal(header.alg, key.alg === 'ed25519' ? -8 : -7);
    assert.equal(Buffer.from(header.kid!), Buffer.from(key.kid));
    const { payloadDigest, ...rest } = header.manifest;
    assert.equal(rest, { manifestVersion: 1, sequence: 42, vendorId: 'acme', classId: 'sensor-v2', version: '2.1.0', payloadSize: 3000, created: 1_700_000_000 });
    assert.equal(Buffer.from(payloadDigest), createHash('sha256').update(PAYLOAD).digest());
    assert.is(header.headerLength + PAYLOAD.length, pkg.length);
  });

  test(`readPackageHeader with every prefix length (${key.alg})`, () => {
    const pkg = signed(key);
    const full = readPackageHeader(pkg);
    if (!('header' in full)) { assert.unreachable('the whole package must parse'); return; }
    const headerLength = full.header.headerLength;
    for (let n = 0; n <= pkg.length; n += n < headerLength + 8 ? 1 : 97) {
      const r = readPackageHeader(pkg.subarray(0, n));
      if (n < 8) assert.equal(r, { need: 8 }, `prefix ${n}`);
      else if (n < headerLength) assert.equal(r, { need: headerLength }, `prefix ${n}`);
      else assert.equal(r, full, `prefix ${n}`);
    }
  });

  test(`every flipped byte of the header, and a flipped payload byte, is refused (${key.alg})`, () => {
    const pkg = signed(key);
    const { header } = parsePackage(pkg);
    for (let i = 0; i < header.headerLength; i++) {
      const bad = Buffer.from(pkg);
      bad[i]! ^= 0x01;
      assert.throws(() => verifyPackage(bad, ANCHORS), (e: unknown) => e instanceof DecodeError || e instanceof PackageError, `byte ${i}`);
    }
    const bad = Buffer.from(pkg);
    bad[header.headerLength + 1234]! ^= 0x80;
    throwsPackageError(() => verifyPackage(bad, ANCHORS), 'digest');
  });
}

test('a flipped manifest byte (inside the version string) is a bad signature', () => {
  const pkg = signed(ED);
  const at = pkg.indexOf('2.1.0');
  pkg[at]! ^= 0x02; // '2' → '0': still a valid manifest
  assert.is(parsePackage(pkg).header.manifest.version, '0.1.0');
  throwsPackageError(() => verifyPackage(pkg, ANCHORS), 'bad-signature');
});

test('refusals: bad magic, truncation, trailing bytes, manifest length', () => {
  const pkg = signed(ES);
  throwsDecodeError(() => readPackageHeader(Buffer.from('FRX')), 'package.magic');
  throwsDecodeError(() => parsePackage(Buffer.concat([Buffer.from('FRY2'), pkg.subarray(4)])), 'package.magic');
  throwsDecodeError(() => parsePackage(Buffer.from('FRYSIM01 a raw simulator image')), 'package.magic');
  throwsDecodeError(() => parsePackage(pkg.subarray(0, 6)), 'package.truncated');
  throwsDecodeError(() => parsePackage(pkg.subarray(0, 40)), 'package.truncated');
  throwsDecodeError(() => parsePackage(pkg.subarray(0, pkg.length - 1)), 'package.truncated');
  throwsDecodeError(() => parsePackage(Buffer.concat([pkg, Buffer.of(0)])), 'package.trailing');
  throwsDecodeError(() => readPackageHeader(Buffer.from('FRY1\x00\x00\x00\x00', 'latin1')), 'package.length');
  throwsDecodeError(() => readPackageHeader(Buffer.from('FRY1\x00\x01\x00\x01', 'latin1')), 'package.length');
  throwsDecodeError(() => readPackageHeader(frame(Buffer.from('not cbor at all'), Buffer.alloc(0))), 'package.cose');
});

test('refusals: unknown key, bad signature, digest, size, unsupported alg', () => {
  const pkg = signed(ED);
  throwsPackageError(() => verifyPackage(pkg, [anchor(ES)]), 'unknown-key');
  throwsPackageError(() => verifyPackage(pkg, []), 'unknown-key');
  // Same kid, other key: the signature does not verify.
  const impostor = { ...anchor(generateSigningKey('ed25519')), kid: ED.kid };
  throwsPackageError(() => verifyPackage(pkg, [impostor]), 'bad-signature');
  // A manifest signed over the digest of other bytes of the same length.
  const { header } = parsePackage(signed(ED, Buffer.alloc(PAYLOAD.length, 1)));
  throwsPackageError(() => verifyPackage(frame(header.coseBytes, PAYLOAD), ANCHORS), 'digest');
  throwsPackageError(() => checkPayload(header, PAYLOAD.subarray(1)), 'size');
  checkPayload(header, Buffer.alloc(PAYLOAD.length, 1));
  const manifest = parsePackage(pkg).header;
  throwsPackageError(() => verifyManifestSignature({ ...manifest, alg: -35 }, ANCHORS), 'unsupported-alg');
});

/** A manifest map, signed: for the manifest's own refusals. */
const withManifest = (entries: Array<[number, CborValue]>, key: SigningKey = ED, kid: Uint8Array | null = key.kid): Buffer =>
  frame(encodeSign1({ scheme: key.alg, privateKey: key.privateKey, ...(kid ? { kid } : {}), payload: encodeCbor(new Map(entries)) }), PAYLOAD);
const GOOD: Array<[number, CborValue]> = [
  [1, 1], [2, 7], [3, 'acme'], [4, 'c'], [5, '1'], [6, PAYLOAD.length], [7, createHash('sha256').update(PAYLOAD).digest()], [8, 0],
];

test('manifest refusals: version, unknown key, missing key, wrong types, digest length', () => {
  assert.is(verifyPackage(withManifest(GOOD), ANCHORS).header.manifest.sequence, 7);
  const replace = (k: number, v: CborValue) => GOOD.map(([key, old]): [number, CborValue] => [key, key === k ? v : old]);
  throwsDecodeError(() => parsePackage(withManifest(replace(1, 2))), 'package.manifest');
  throwsDecodeError(() => parsePackage(withManifest([...GOOD, [9, 0]])), 'package.manifest');
  throwsDecodeError(() => parsePackage(withManifest(GOOD.filter(([k]) => k !== 2))), 'package.manifest');
  throwsDecodeError(() => parsePackage(withManifest(replace(2, -1))), 'package.manifest');
  throwsDecodeError(() => parsePackage(withManifest(replace(4, ''))), 'package.manifest');
  throwsDecodeError(() => parsePackage(withManifest(replace(5, 5))), 'package.manifest');
  throwsDecodeError(() => parsePackage(withManifest(replace(7, Buffer.alloc(31)))), 'package.manifest');
  throwsDecodeError(() => parsePackage(frame(encodeSign1({ scheme: 'ed25519', privateKey: ED.privateKey, payload: encodeCbor([1, 2]) }), PAYLOAD)), 'package.manifest');
});

test('an unknown text key of 1,000 characters: package.manifest, the key cut in the reason (found by fuzzing)', () => {
  const manifest = new Map<CborKey, CborValue>([...GOOD, ['k'.repeat(1000), 1]]);
  const pkg = frame(encodeSign1({ scheme: 'ed25519', privateKey: ED.privateKey, kid: ED.kid, payload: encodeCbor(manifest) }), PAYLOAD);
  throwsDecodeError(() => parsePackage(pkg), 'package.manifest');
  try {
    parsePackage(pkg);
  } catch (e) {
    assert.is((e as DecodeError).reason, `unknown manifest key "${'k'.repeat(40)}…"`);
  }
});

test('no kid in the header: every anchor of the algorithm is tried', () => {
  const other = generateSigningKey('ed25519');
  const pkg = withManifest(GOOD, ED, null);
  assert.is(parsePackage(pkg).header.kid, undefined);
  const used = verifyPackage(pkg, [anchor(ES), anchor(other), anchor(ED)]).anchor;
  assert.equal(Buffer.from(used.publicKey), Buffer.from(ED.publicKey));
  throwsPackageError(() => verifyPackage(pkg, [anchor(other)]), 'bad-signature');
  throwsPackageError(() => verifyPackage(pkg, [anchor(ES)]), 'unknown-key');
});

// ---- Signatures made by another COSE producer: Node's crypto (OpenSSL) signs, cbor-x encodes.

const cborx = new Encoder({ useRecords: false, mapsAsObjects: false, tagUint8Array: false } as ConstructorParameters<typeof Encoder>[0]);
const P256_N = p256.Point.CURVE().n;

function nodePackage(o: { keyType: 'ed25519' | 'ec'; alg: number; highS?: boolean }): { pkg: Buffer; anchor: TrustAnchor } {
  const pair = o.keyType === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const anchor = parsePublicKeyPem(pair.publicKey.export({ type: 'spki', format: 'pem' }) as string);
  const manifest = cborx.encode(new Map<number, unknown>([
    [1, 1], [2, 9], [3, 'node'], [4, 'c'], [5, '3.0'], [6, PAYLOAD.length], [7, createHash('sha256').update(PAYLOAD).digest()], [8, 1_700_000_000],
  ]));
  const protectedBytes = cborx.encode(new Map<number, unknown>([[1, o.alg]]));
  const toBeSigned = cborx.encode(['Signature1', protectedBytes, Buffer.alloc(0), manifest]);
  let signature = signWith(pair.privateKey, toBeSigned, o.keyType);
  if (o.highS) {
    const s = BigInt(`0x${signature.subarray(32).toString('hex')}`);
    const high = s > P256_N / 2n ? s : P256_N - s; // (r, n - s) is the same ECDSA signature's twin
    signature = Buffer.concat([signature.subarray(0, 32), Buffer.from(high.toString(16).padStart(64, '0'), 'hex')]);
    assert.not.ok(p256.verify(signature, toBeSigned, anchor.publicKey), 'noble by default refuses high S: the case is exercised');
  }
  const cose = cborx.encode(new Tag([protectedBytes, new Map([[4, Buffer.from(anchor.kid)]]), manifest, signature], 18));
  return { pkg: frame(cose, PAYLOAD), anchor };
}

function signWith(key: KeyObject, data: Buffer, keyType: 'ed25519' | 'ec'): Buffer {
  return keyType === 'ed25519' ? nodeSign(null, data, key) : nodeSign('sha256', data, { key, dsaEncoding: 'ieee-p1363' });
}

test('Node crypto signatures verify: Ed25519 (alg -8 and -19), ES256 (-7 and -9), ES256 with high S', () => {
  for (const c of [
    { keyType: 'ed25519', alg: -8 }, { keyType: 'ed25519', alg: -19 },
    { keyType: 'ec', alg: -7 }, { keyType: 'ec', alg: -9 }, { keyType: 'ec', alg: -7, highS: true },
  ] as const) {
    const { pkg, anchor: a } = nodePackage(c);
    const r = verifyPackage(pkg, [anchor(ED), a]);
    assert.is(r.header.alg, c.alg);
    assert.is(r.header.manifest.vendorId, 'node');
    assert.equal(Buffer.from(r.payload), PAYLOAD);
  }
});

test('cbor-x, another decoder, reads our COSE_Sign1 and manifest as RFC 9052 and the format describe them', () => {
  const { header } = parsePackage(signed(ES));
  const decoder = new Decoder({ mapsAsObjects: false, useRecords: false } as ConstructorParameters<typeof Decoder>[0]);
  const cose = decoder.decode(header.coseBytes) as Tag;
  assert.is(cose.tag, 18);
  const [protectedBytes, unprotected, manifest, signature] = cose.value as [Buffer, Map<number, unknown>, Buffer, Buffer];
  /** Map entries, byte strings as hex, for a deep comparison. */
  const entries = (m: Map<number, unknown>) => [...m].map(([k, v]) => [k, v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v]);
  assert.equal(entries(decoder.decode(protectedBytes)), [[1, -7], [4, Buffer.from(ES.kid).toString('hex')]]);
  assert.is(unprotected.size, 0);
  assert.is(signature.length, 64);
  assert.equal(entries(decoder.decode(manifest)), [
    [1, 1], [2, 42], [3, 'acme'], [4, 'sensor-v2'], [5, '2.1.0'], [6, 3000], [7, createHash('sha256').update(PAYLOAD).digest('hex')], [8, 1_700_000_000],
  ]);
});

test.run();
