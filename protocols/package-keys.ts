/**
 * Package signing keys: generation and PEM. Private keys are PKCS#8 (RFC 5208 / RFC 5958) holding
 * an Ed25519 seed (RFC 8410 §7) or a P-256 ECPrivateKey (RFC 5915); public keys are
 * SubjectPublicKeyInfo (RFC 5280 §4.1; RFC 8410 §4, RFC 5480 §2), the formats openssl and Node's
 * crypto read and write. A SEC1 "EC PRIVATE KEY" (openssl ecparam -genkey) is read too.
 * kid = the first 8 bytes of SHA-256 over the SPKI DER (P-256 points uncompressed).
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { DecodeError } from './errors.ts';
import type { SigningKey, TrustAnchor } from './package.ts';

type Alg = TrustAnchor['alg'];

const OID_ED25519 = Uint8Array.from([0x2b, 0x65, 0x70]); // 1.3.101.112
const OID_EC_PUBLIC_KEY = Uint8Array.from([0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]); // 1.2.840.10045.2.1
const OID_PRIME256V1 = Uint8Array.from([0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]); // 1.2.840.10045.3.1.7
const TAG = { integer: 0x02, bitString: 0x03, octetString: 0x04, oid: 0x06, sequence: 0x30, explicit0: 0xa0, explicit1: 0xa1 } as const;

const fail = (reason: string): never => { throw new DecodeError('key.pem', reason); };

// ── DER, just enough (X.690 §8.1: tag, definite length, contents) ──────────────────────────────

function der(tag: number, ...contents: Uint8Array[]): Uint8Array {
  const length = contents.reduce((n, c) => n + c.length, 0);
  const lengthBytes = length < 0x80 ? [length] : length < 0x100 ? [0x81, length] : [0x82, length >> 8, length & 0xff];
  const out = new Uint8Array(1 + lengthBytes.length + length);
  out[0] = tag;
  out.set(lengthBytes, 1);
  let at = 1 + lengthBytes.length;
  for (const c of contents) { out.set(c, at); at += c.length; }
  return out;
}

interface Tlv { tag: number; value: Uint8Array }

/** The TLVs one after another in `bytes` (the contents of a SEQUENCE, or a whole document). */
function readTlvs(bytes: Uint8Array): Tlv[] {
  const out: Tlv[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    if (pos + 2 > bytes.length) fail('truncated DER');
    const tag = bytes[pos++]!;
    let length = bytes[pos++]!;
    if (length & 0x80) {
      const n = length & 0x7f;
      if (n === 0 || n > 3 || pos + n > bytes.length) fail('bad DER length');
      length = 0;
      for (let i = 0; i < n; i++) length = (length << 8) | bytes[pos++]!;
    }
    if (pos + length > bytes.length) fail('truncated DER');
    out.push({ tag, value: bytes.subarray(pos, pos + length) });
    pos += length;
  }
  return out;
}

function expect(tlv: Tlv | undefined, tag: number, what: string): Uint8Array {
  if (tlv === undefined || tlv.tag !== tag) return fail(`expected ${what}`);
  return tlv.value;
}

const equal = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

// ── key material ─────────────────────────────────────────────────────────────────────────────

function algorithmIdentifier(alg: Alg): Uint8Array {
  return alg === 'ed25519'
    ? der(TAG.sequence, der(TAG.oid, OID_ED25519))
    : der(TAG.sequence, der(TAG.oid, OID_EC_PUBLIC_KEY), der(TAG.oid, OID_PRIME256V1));
}

function spki(alg: Alg, publicKey: Uint8Array): Uint8Array {
  return der(TAG.sequence, algorithmIdentifier(alg), der(TAG.bitString, Uint8Array.of(0), publicKey));
}

function kidOf(alg: Alg, publicKey: Uint8Array): Uint8Array {
  return sha256(spki(alg, publicKey)).slice(0, 8);
}

function publicKeyOf(alg: Alg, privateKey: Uint8Array): Uint8Array {
  try {
    return alg === 'ed25519' ? ed25519.getPublicKey(privateKey) : p256.getPublicKey(privateKey, false);
  } catch {
    return fail(`not a valid ${alg} private key`);
  }
}

function signingKey(alg: Alg, privateKey: Uint8Array): SigningKey {
  const publicKey = publicKeyOf(alg, privateKey);
  return { alg, kid: kidOf(alg, publicKey), publicKey, privateKey };
}

/** A fresh key pair from the platform's CSPRNG (crypto.getRandomValues). */
export function generateSigningKey(alg: Alg): SigningKey {
  return signingKey(alg, alg === 'ed25519' ? ed25519.utils.randomSecretKey() : p256.utils.randomSecretKey());
}

// ── PEM (RFC 7468) ─────────────────────────────────────────────────────────────────────────────

function pem(label: string, body: Uint8Array): string {
  const b64 = Buffer.from(body).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** The DER inside the first block with one of `labels`. */
function unpem(text: string, labels: readonly string[]): { label: string; der: Uint8Array } {
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;
  for (const m of text.matchAll(re)) {
    const label = m[1]!;
    if (!labels.includes(label)) continue;
    if (m[3] !== label) fail(`BEGIN ${label} ends with END ${m[3]!.length > 40 ? `${m[3]!.slice(0, 40)}…` : m[3]}`);
    const b64 = m[2]!.replace(/\s+/g, '');
    if (b64.length === 0 || b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) fail(`the ${label} block is not valid base64`);
    return { label, der: new Uint8Array(Buffer.from(b64, 'base64')) };
  }
  return fail(`no ${labels.map((l) => `"${l}"`).join(' or ')} PEM block`);
}

export function encodePrivateKeyPem(k: SigningKey): string {
  const inner = k.alg === 'ed25519'
    ? der(TAG.octetString, k.privateKey) // CurvePrivateKey (RFC 8410 §7)
    : der(TAG.sequence, der(TAG.integer, Uint8Array.of(1)), der(TAG.octetString, k.privateKey),
      der(TAG.explicit1, der(TAG.bitString, Uint8Array.of(0), k.publicKey))); // ECPrivateKey (RFC 5915 §3)
  return pem('PRIVATE KEY', der(TAG.sequence, der(TAG.integer, Uint8Array.of(0)), algorithmIdentifier(k.alg), der(TAG.octetString, inner)));
}

export function encodePublicKeyPem(a: TrustAnchor): string {
  return pem('PUBLIC KEY', spki(a.alg, a.publicKey));
}

/** Which algorithm an AlgorithmIdentifier names (Ed25519, or id-ecPublicKey on P-256). */
function algOfIdentifier(value: Uint8Array): Alg {
  const [oid, params] = readTlvs(value);
  const id = expect(oid, TAG.oid, 'an algorithm OID');
  if (equal(id, OID_ED25519)) return 'ed25519';
  if (equal(id, OID_EC_PUBLIC_KEY)) {
    if (params?.tag === TAG.oid && equal(params.value, OID_PRIME256V1)) return 'es256';
    return fail('only the P-256 (prime256v1) curve is supported');
  }
  return fail('only Ed25519 and ECDSA P-256 keys are supported');
}

/** ECPrivateKey (RFC 5915 §3) → the 32-byte scalar, checked against its public key if present. */
function ecPrivateKey(value: Uint8Array): Uint8Array {
  const [version, d, ...rest] = readTlvs(expect(readTlvs(value)[0], TAG.sequence, 'an ECPrivateKey'));
  if (!equal(expect(version, TAG.integer, 'the ECPrivateKey version'), Uint8Array.of(1))) fail('ECPrivateKey version must be 1');
  const scalar = expect(d, TAG.octetString, 'the private key octets');
  if (scalar.length === 0 || scalar.length > 32) fail('the P-256 private key must be 32 bytes');
  const privateKey = new Uint8Array(32);
  privateKey.set(scalar, 32 - scalar.length);
  for (const field of rest) {
    if (field.tag === TAG.explicit0) {
      const [curve] = readTlvs(field.value);
      if (!equal(expect(curve, TAG.oid, 'a named curve'), OID_PRIME256V1)) fail('only the P-256 (prime256v1) curve is supported');
    } else if (field.tag === TAG.explicit1) {
      const bits = expect(readTlvs(field.value)[0], TAG.bitString, 'the public key');
      if (!equal(bits.subarray(1), publicKeyOf('es256', privateKey))) fail('the public key in the file does not match its private key');
    }
  }
  return privateKey;
}

export function parsePrivateKeyPem(text: string): SigningKey {
  const block = unpem(text, ['PRIVATE KEY', 'EC PRIVATE KEY']);
  if (block.label === 'EC PRIVATE KEY') return signingKey('es256', ecPrivateKey(block.der)); // SEC1
  const [version, algorithm, privateKey] = readTlvs(expect(readTlvs(block.der)[0], TAG.sequence, 'a PKCS#8 PrivateKeyInfo'));
  const v = expect(version, TAG.integer, 'the PKCS#8 version');
  if (!equal(v, Uint8Array.of(0)) && !equal(v, Uint8Array.of(1))) fail('PKCS#8 version must be 0 or 1');
  const alg = algOfIdentifier(expect(algorithm, TAG.sequence, 'an AlgorithmIdentifier'));
  const octets = expect(privateKey, TAG.octetString, 'the private key octets');
  if (alg === 'es256') return signingKey(alg, ecPrivateKey(octets));
  const seed = expect(readTlvs(octets)[0], TAG.octetString, 'an Ed25519 CurvePrivateKey');
  if (seed.length !== 32) fail('the Ed25519 private key must be 32 bytes');
  return signingKey(alg, new Uint8Array(seed));
}

export function parsePublicKeyPem(text: string): TrustAnchor {
  const { der: body } = unpem(text, ['PUBLIC KEY']);
  const [algorithm, key] = readTlvs(expect(readTlvs(body)[0], TAG.sequence, 'a SubjectPublicKeyInfo'));
  const alg = algOfIdentifier(expect(algorithm, TAG.sequence, 'an AlgorithmIdentifier'));
  const bits = expect(key, TAG.bitString, 'the public key bits');
  if (bits[0] !== 0) fail('the public key bit string has unused bits');
  let publicKey = new Uint8Array(bits.subarray(1));
  try {
    if (alg === 'ed25519') {
      if (publicKey.length !== 32) fail('an Ed25519 public key is 32 bytes');
      ed25519.Point.fromBytes(publicKey);
    } else {
      publicKey = p256.Point.fromBytes(publicKey).toBytes(false); // compressed points are normalised
    }
  } catch (err) {
    if (err instanceof DecodeError) throw err;
    fail(`not a valid ${alg} public key`);
  }
  return { alg, kid: kidOf(alg, publicKey), publicKey };
}
