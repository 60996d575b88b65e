/**
 * The signed firmware package:
 *
 *   'FRY1' (4 bytes) | manifest length L (u32 big-endian) | COSE_Sign1 (L bytes) | payload
 *
 * The COSE_Sign1 (RFC 9052 §4.2; tag 18 or untagged) carries the manifest as its payload: a CBOR
 * map with small integer keys, after IETF SUIT's model (draft-ietf-suit-manifest uses 1 and 2 for
 * the same two fields):
 *
 *   1 manifest version (uint, 1)       5 firmware version (tstr)
 *   2 sequence number (uint)           6 payload size in bytes (uint)
 *   3 vendor id (tstr)                 7 SHA-256 of the payload (bstr, 32 bytes)
 *   4 class id (tstr)                  8 creation time (uint, unix seconds)
 *
 * Every key is required, no other key is allowed. `signPackage` writes alg and kid in the
 * protected header (so the key id is signed too) and leaves the unprotected header empty; a
 * reader takes kid from either. Pure: bytes in, values out.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { encodeCbor, decodeCbor, type CborKey, type CborValue } from './cbor.ts';
import { decodeSign1, encodeSign1, schemeOf, verifySign1, type SignatureScheme } from './cose.ts';
import { DecodeError } from './errors.ts';

export const PACKAGE_MAGIC = Uint8Array.from([0x46, 0x52, 0x59, 0x31]); // 'FRY1'
/** Bytes before the COSE_Sign1: magic and the u32 length. */
export const PACKAGE_PREFIX_LENGTH = 8;
/** Largest COSE_Sign1 accepted: a manifest is a few hundred bytes. */
export const MAX_MANIFEST_LENGTH = 64 * 1024;
export const MANIFEST_VERSION = 1;
/** Vendor id written when none is given. */
export const DEFAULT_VENDOR_ID = 'ferry';

/** Manifest map keys. */
export const MANIFEST_KEY = {
  manifestVersion: 1, sequence: 2, vendorId: 3, classId: 4, version: 5, payloadSize: 6, payloadDigest: 7, created: 8,
} as const;

export interface Manifest {
  manifestVersion: number;
  sequence: number;
  vendorId: string;
  classId: string;
  version: string;
  payloadSize: number;
  payloadDigest: Uint8Array;
  created: number;
}

export interface PackageHeader {
  manifest: Manifest;
  /** COSE alg from the protected header. */
  alg: number;
  kid: Uint8Array | undefined;
  /** Bytes before the payload: 8 + the COSE_Sign1's length. */
  headerLength: number;
  /** The COSE_Sign1 (a copy: the caller may reuse its buffer). */
  coseBytes: Uint8Array;
}

export interface TrustAnchor {
  alg: SignatureScheme;
  kid: Uint8Array;
  publicKey: Uint8Array;
}

export interface SigningKey extends TrustAnchor {
  privateKey: Uint8Array;
}

export type PackageErrorCode = 'unknown-key' | 'bad-signature' | 'unsupported-alg' | 'size' | 'digest' | 'class' | 'rollback';

/** A well-formed package that must not be installed; `reason` is safe to show. */
export class PackageError extends Error {
  readonly code: PackageErrorCode;
  readonly reason: string;
  constructor(code: PackageErrorCode, reason: string) {
    super(`${code}: ${reason}`);
    this.name = 'PackageError';
    this.code = code;
    this.reason = reason;
  }
}

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

function startsWithMagic(bytes: Uint8Array): boolean {
  const n = Math.min(bytes.length, PACKAGE_MAGIC.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== PACKAGE_MAGIC[i]) return false;
  return true;
}

/**
 * For a device receiving block by block: `{ need }` = the total prefix length needed before the
 * header can be parsed (call again with at least that many bytes), or the parsed header.
 * Nothing is verified here but the format; call `verifyManifestSignature` next.
 */
export function readPackageHeader(prefix: Uint8Array): { need: number } | { header: PackageHeader } {
  if (!startsWithMagic(prefix)) throw new DecodeError('package.magic', 'not a Ferry package (it does not start with FRY1)');
  if (prefix.length < PACKAGE_PREFIX_LENGTH) return { need: PACKAGE_PREFIX_LENGTH };
  const length = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength).getUint32(4);
  if (length === 0 || length > MAX_MANIFEST_LENGTH) {
    throw new DecodeError('package.length', `manifest length ${length} is not within 1…${MAX_MANIFEST_LENGTH} bytes`);
  }
  const headerLength = PACKAGE_PREFIX_LENGTH + length;
  if (prefix.length < headerLength) return { need: headerLength };
  const coseBytes = new Uint8Array(prefix.subarray(PACKAGE_PREFIX_LENGTH, headerLength));
  const sign1 = decodeSign1Of(coseBytes);
  return { header: { manifest: decodeManifest(sign1.payload), alg: sign1.alg, kid: sign1.kid, headerLength, coseBytes } };
}

/** decodeSign1, its refusal named as a package's. */
function decodeSign1Of(coseBytes: Uint8Array): ReturnType<typeof decodeSign1> {
  try {
    return decodeSign1(coseBytes);
  } catch (err) {
    if (err instanceof DecodeError) throw new DecodeError('package.cose', err.reason);
    throw err;
  }
}

function decodeManifest(bytes: Uint8Array): Manifest {
  const fail = (reason: string): never => { throw new DecodeError('package.manifest', reason); };
  let map: CborValue;
  try {
    map = decodeCbor(bytes);
  } catch (err) {
    return fail(err instanceof DecodeError ? err.reason : String(err));
  }
  if (!(map instanceof Map)) return fail('the manifest must be a CBOR map');
  const known = new Set<CborKey>(Object.values(MANIFEST_KEY));
  for (const key of map.keys()) {
    // A text key is quoted by its first 40 characters: it may be as long as the manifest.
    if (!known.has(key)) fail(`unknown manifest key ${JSON.stringify(typeof key === 'string' && key.length > 40 ? `${key.slice(0, 40)}…` : key)}`);
  }
  const uint = (name: keyof typeof MANIFEST_KEY): number => {
    const v = map.get(MANIFEST_KEY[name]);
    return typeof v === 'number' && v >= 0 ? v : fail(`${name} (key ${MANIFEST_KEY[name]}) must be an unsigned integer`);
  };
  const text = (name: keyof typeof MANIFEST_KEY, min: number): string => {
    const v = map.get(MANIFEST_KEY[name]);
    if (typeof v !== 'string') return fail(`${name} (key ${MANIFEST_KEY[name]}) must be a text string`);
    return v.length >= min && v.length <= 255 ? v : fail(`${name} must be ${min} to 255 characters`);
  };
  const manifestVersion = uint('manifestVersion');
  if (manifestVersion !== MANIFEST_VERSION) fail(`manifest version ${manifestVersion} is not supported (only ${MANIFEST_VERSION})`);
  const payloadDigest = map.get(MANIFEST_KEY.payloadDigest);
  if (!(payloadDigest instanceof Uint8Array) || payloadDigest.length !== 32) return fail('payloadDigest (key 7) must be a 32-byte SHA-256');
  return {
    manifestVersion, sequence: uint('sequence'), vendorId: text('vendorId', 0), classId: text('classId', 1),
    version: text('version', 1), payloadSize: uint('payloadSize'), payloadDigest: new Uint8Array(payloadDigest), created: uint('created'),
  };
}

/** The manifest a COSE_Sign1 carries (as stored apart from its package); nothing is verified. */
export function readManifest(coseBytes: Uint8Array): Manifest {
  return decodeManifest(decodeSign1Of(coseBytes).payload);
}

/** Splits a whole package; the payload is a view into `bytes`. */
export function parsePackage(bytes: Uint8Array): { header: PackageHeader; payload: Uint8Array } {
  const read = readPackageHeader(bytes);
  if ('need' in read) throw new DecodeError('package.truncated', `the package ends inside its header (${bytes.length} of ${read.need} bytes)`);
  const { header } = read;
  const payload = bytes.subarray(header.headerLength);
  const expected = header.manifest.payloadSize;
  if (payload.length < expected) throw new DecodeError('package.truncated', `the payload has ${payload.length} bytes, the manifest says ${expected}`);
  if (payload.length > expected) throw new DecodeError('package.trailing', `${payload.length - expected} bytes after the ${expected}-byte payload`);
  return { header, payload };
}

const equalBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * Checks the COSE_Sign1 signature (RFC 9052 §4.4, "Signature1", no external AAD) and returns the
 * anchor that made it. With a kid, only anchors of that kid are tried; without one, every anchor
 * of the header's algorithm.
 */
export function verifyManifestSignature(header: PackageHeader, anchors: readonly TrustAnchor[]): TrustAnchor {
  const scheme = schemeOf(header.alg);
  if (scheme === undefined) throw new PackageError('unsupported-alg', `COSE alg ${header.alg} is not supported (EdDSA -8, Ed25519 -19, ES256 -7, ESP256 -9 are)`);
  const kid = header.kid;
  const candidates = anchors.filter((a) => a.alg === scheme && (kid === undefined || equalBytes(a.kid, kid)));
  if (candidates.length === 0) {
    throw new PackageError('unknown-key', kid === undefined
      ? `no trusted ${scheme} key (the manifest names no kid)`
      : `the manifest is signed by key ${hex(kid)} (${scheme}), which is not trusted`);
  }
  const sign1 = decodeSign1(header.coseBytes);
  for (const anchor of candidates) if (verifySign1(sign1, scheme, anchor.publicKey)) return anchor;
  throw new PackageError('bad-signature', kid === undefined
    ? `the manifest signature does not verify with any trusted ${scheme} key`
    : `the manifest signature does not verify with key ${hex(kid)}`);
}

/** The payload against the manifest: its size, then its SHA-256. */
export function checkPayload(header: PackageHeader, payload: Uint8Array): void {
  const m = header.manifest;
  if (payload.length !== m.payloadSize) throw new PackageError('size', `the payload has ${payload.length} bytes, the manifest says ${m.payloadSize}`);
  if (!equalBytes(sha256(payload), m.payloadDigest)) throw new PackageError('digest', 'the payload does not match the SHA-256 digest in the manifest');
}

/** parsePackage, verifyManifestSignature, checkPayload. */
export function verifyPackage(bytes: Uint8Array, anchors: readonly TrustAnchor[]): { header: PackageHeader; payload: Uint8Array; anchor: TrustAnchor } {
  const { header, payload } = parsePackage(bytes);
  const anchor = verifyManifestSignature(header, anchors);
  checkPayload(header, payload);
  return { header, payload, anchor };
}

/** Builds and signs a package around `payload`. `created` defaults to now (unix seconds). */
export function signPackage(o: {
  payload: Uint8Array; key: SigningKey; sequence: number; vendorId: string; classId: string; version: string; created?: number;
}): Uint8Array {
  const created = o.created ?? Math.floor(Date.now() / 1000);
  for (const [name, v] of [['sequence', o.sequence], ['created', created]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${name} must be a non-negative integer, got ${v}`);
  }
  for (const [name, v, min] of [['vendorId', o.vendorId, 0], ['classId', o.classId, 1], ['version', o.version, 1]] as const) {
    if (v.length < min || v.length > 255) throw new RangeError(`${name} must be ${min} to 255 characters`);
  }
  const manifest = encodeCbor(new Map<CborKey, CborValue>([
    [MANIFEST_KEY.manifestVersion, MANIFEST_VERSION],
    [MANIFEST_KEY.sequence, o.sequence],
    [MANIFEST_KEY.vendorId, o.vendorId],
    [MANIFEST_KEY.classId, o.classId],
    [MANIFEST_KEY.version, o.version],
    [MANIFEST_KEY.payloadSize, o.payload.length],
    [MANIFEST_KEY.payloadDigest, sha256(o.payload)],
    [MANIFEST_KEY.created, created],
  ]));
  const cose = encodeSign1({ scheme: o.key.alg, privateKey: o.key.privateKey, kid: o.key.kid, payload: manifest });
  if (cose.length > MAX_MANIFEST_LENGTH) throw new RangeError('the manifest is too long');
  const out = new Uint8Array(PACKAGE_PREFIX_LENGTH + cose.length + o.payload.length);
  out.set(PACKAGE_MAGIC, 0);
  new DataView(out.buffer).setUint32(4, cose.length);
  out.set(cose, PACKAGE_PREFIX_LENGTH);
  out.set(o.payload, PACKAGE_PREFIX_LENGTH + cose.length);
  return out;
}
