/**
 * COSE_Sign1 (RFC 9052 §4.2): decode, the "Signature1" Sig_structure (§4.4), and the two
 * signature schemes Ferry speaks through @noble/curves: Ed25519 (COSE alg -8 EdDSA, -19 Ed25519)
 * and ECDSA P-256 with SHA-256 (-7 ES256, -9 ESP256), the signature being r || s (RFC 9053 §2.1).
 *
 * Policy, stricter than RFC 9052 allows: `alg` must be an integer in the protected header (§3.1
 * recommends it), `crit` is refused (we understand no critical extension), the payload must be
 * attached, and a label must not occur in both buckets (§3).
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { CborTag, decodeCbor, encodeCbor, type CborKey, type CborValue } from './cbor.ts';
import { DecodeError } from './errors.ts';

/** COSE Algorithms registry values (RFC 9053, RFC 9864). */
export const COSE_ALG = { EdDSA: -8, Ed25519: -19, ES256: -7, ESP256: -9 } as const;
/** COSE Header Parameters (RFC 9052 §3.1). */
export const COSE_HEADER = { alg: 1, crit: 2, contentType: 3, kid: 4 } as const;
/** CBOR tag of COSE_Sign1 (RFC 9052 §2). */
export const COSE_SIGN1_TAG = 18;

export type SignatureScheme = 'ed25519' | 'es256';

export interface Sign1 {
  /** The protected header exactly as serialised: the Sig_structure signs these bytes. */
  protectedBytes: Uint8Array;
  protectedHeader: Map<CborKey, CborValue>;
  unprotectedHeader: Map<CborKey, CborValue>;
  payload: Uint8Array;
  signature: Uint8Array;
  alg: number;
  kid: Uint8Array | undefined;
}

const fail = (reason: string): never => { throw new DecodeError('cose', reason); };

function decodeOrFail(bytes: Uint8Array, what: string): CborValue {
  try {
    return decodeCbor(bytes);
  } catch (err) {
    return fail(`${what}: ${err instanceof DecodeError ? err.reason : String(err)}`);
  }
}

/** Decodes a COSE_Sign1, tagged (18) or untagged. Throws DecodeError('cose'). */
export function decodeSign1(bytes: Uint8Array): Sign1 {
  let top = decodeOrFail(bytes, 'COSE_Sign1');
  if (top instanceof CborTag) {
    if (top.tag !== COSE_SIGN1_TAG) fail(`CBOR tag ${top.tag} is not COSE_Sign1 (18)`);
    top = top.value;
  }
  if (!Array.isArray(top) || top.length !== 4) return fail('COSE_Sign1 must be an array of 4 items');
  const [protectedBytes, unprotectedHeader, payload, signature] = top;
  if (!(protectedBytes instanceof Uint8Array)) return fail('protected header must be a byte string');
  if (!(unprotectedHeader instanceof Map)) return fail('unprotected header must be a map');
  if (payload === null) return fail('detached payloads are not supported');
  if (!(payload instanceof Uint8Array)) return fail('payload must be a byte string');
  if (!(signature instanceof Uint8Array)) return fail('signature must be a byte string');
  // RFC 9052 §3: an empty protected header is encoded as a zero-length byte string.
  const protectedHeader = protectedBytes.length === 0 ? new Map<CborKey, CborValue>() : decodeOrFail(protectedBytes, 'protected header');
  if (!(protectedHeader instanceof Map)) return fail('protected header must hold a map');
  for (const label of protectedHeader.keys()) {
    // A text label is quoted by its first 40 characters: it may be as long as the header.
    if (unprotectedHeader.has(label)) fail(`header parameter ${typeof label === 'string' && label.length > 40 ? `${label.slice(0, 40)}…` : label} is both protected and unprotected`);
  }
  if (protectedHeader.has(COSE_HEADER.crit)) fail('critical header parameters (crit) are not supported');
  if (unprotectedHeader.has(COSE_HEADER.alg)) fail('alg must be in the protected header');
  const alg = protectedHeader.get(COSE_HEADER.alg);
  if (alg === undefined) return fail('the protected header has no alg');
  if (typeof alg !== 'number') return fail('alg must be an integer');
  const kid = protectedHeader.get(COSE_HEADER.kid) ?? unprotectedHeader.get(COSE_HEADER.kid);
  if (kid !== undefined && !(kid instanceof Uint8Array)) return fail('kid must be a byte string');
  return { protectedBytes, protectedHeader, unprotectedHeader, payload, signature, alg, kid };
}

/** Sig_structure = ["Signature1", body_protected, external_aad, payload] (RFC 9052 §4.4). */
export function sigStructure(protectedBytes: Uint8Array, payload: Uint8Array, externalAad: Uint8Array = new Uint8Array(0)): Uint8Array {
  return encodeCbor(['Signature1', protectedBytes, externalAad, payload]);
}

/** The scheme behind a COSE alg value, or undefined when Ferry does not support it. */
export function schemeOf(alg: number): SignatureScheme | undefined {
  if (alg === COSE_ALG.EdDSA || alg === COSE_ALG.Ed25519) return 'ed25519';
  if (alg === COSE_ALG.ES256 || alg === COSE_ALG.ESP256) return 'es256';
  return undefined;
}

/** The alg Ferry writes for a scheme: the widely implemented polymorphic values. */
export function algOf(scheme: SignatureScheme): number {
  return scheme === 'ed25519' ? COSE_ALG.EdDSA : COSE_ALG.ES256;
}

/**
 * Verifies a signature over `message` (the Sig_structure bytes). ES256: ECDSA over SHA-256 of
 * the message, so noble hashes it (`prehash: true`); high-S signatures are valid ECDSA and other
 * COSE libraries make them, so `lowS: false`. Ed25519: RFC 8032 §5.1.7 strict (`zip215: false`).
 */
export function verifySignature(scheme: SignatureScheme, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  try {
    if (scheme === 'ed25519') return ed25519.verify(signature, message, publicKey, { zip215: false });
    return p256.verify(signature, message, publicKey, { prehash: true, lowS: false, format: 'compact' });
  } catch {
    return false; // a malformed key or signature is a signature that does not verify
  }
}

/** Signs `message`: Ed25519 (deterministic), or ES256 as r || s with low S and RFC 6979 nonces. */
export function createSignature(scheme: SignatureScheme, privateKey: Uint8Array, message: Uint8Array): Uint8Array {
  if (scheme === 'ed25519') return ed25519.sign(message, privateKey);
  return p256.sign(message, privateKey, { prehash: true, lowS: true, format: 'compact' });
}

/** Verifies a decoded COSE_Sign1 with one public key. */
export function verifySign1(sign1: Sign1, scheme: SignatureScheme, publicKey: Uint8Array, externalAad?: Uint8Array): boolean {
  return verifySignature(scheme, publicKey, sigStructure(sign1.protectedBytes, sign1.payload, externalAad), sign1.signature);
}

/**
 * Builds a tagged COSE_Sign1 whose protected header holds alg and, when given, kid (so the key
 * id is covered by the signature); the unprotected header is empty.
 */
export function encodeSign1(o: { scheme: SignatureScheme; privateKey: Uint8Array; kid?: Uint8Array; payload: Uint8Array }): Uint8Array {
  const header = new Map<CborKey, CborValue>([[COSE_HEADER.alg, algOf(o.scheme)]]);
  if (o.kid !== undefined) header.set(COSE_HEADER.kid, o.kid);
  const protectedBytes = encodeCbor(header);
  const signature = createSignature(o.scheme, o.privateKey, sigStructure(protectedBytes, o.payload));
  return encodeCbor(new CborTag(COSE_SIGN1_TAG, [protectedBytes, new Map(), o.payload, signature]));
}
