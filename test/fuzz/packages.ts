/**
 * Real signed FRY1 packages for the package fuzzers, made with the project's own signer and fixed
 * test keys (so a counterexample's bytes replay): valid ones, ones whose signed manifest is
 * malformed field by field (a manifest that verifies but lies), and ones whose COSE headers are
 * odd but correctly signed. The pool is the same on every run (a fixed fast-check seed).
 */
import fc from 'fast-check';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { createSignature, encodeSign1, sigStructure } from '../../protocols/cose.ts';
import { parsePrivateKeyPem } from '../../protocols/package-keys.ts';
import { signPackage, type SigningKey, type TrustAnchor } from '../../protocols/package.ts';
import type { Cbor } from './cbor-ast.ts';
import { applyAstOps, array, astOp, bytes, cborArb, encodeAst, int, map, parseCbor, tag, text, uint } from './cbor-ast.ts';
import { ED25519_PRIVATE_PEM, P256_PRIVATE_PEM } from './corpus.ts';
import { concat, interestingInt } from './mutate.ts';

export const ED_KEY: SigningKey = parsePrivateKeyPem(ED25519_PRIVATE_PEM);
export const ES_KEY: SigningKey = parsePrivateKeyPem(P256_PRIVATE_PEM);
const anchor = (k: SigningKey): TrustAnchor => ({ alg: k.alg, kid: k.kid, publicKey: k.publicKey });

/**
 * The trust anchors a package is verified against: an impostor with the Ed25519 key's kid first
 * (so a good signature is tried against a wrong key before the right one), the two real keys,
 * and an ES256 anchor whose point is not on the curve.
 */
export const ANCHORS: readonly TrustAnchor[] = [
  { alg: 'ed25519', kid: ED_KEY.kid, publicKey: ed25519.getPublicKey(new Uint8Array(32).fill(7)) },
  anchor(ED_KEY),
  anchor(ES_KEY),
  { alg: 'es256', kid: ES_KEY.kid, publicKey: Uint8Array.from([4, ...new Uint8Array(64).fill(1)]) },
];

/** 'FRY1' | u32 length | COSE_Sign1 | payload (protocols/package.ts). */
export function frame(cose: Uint8Array, payload: Uint8Array, length = cose.length): Uint8Array {
  const head = new Uint8Array(8);
  head.set([0x46, 0x52, 0x59, 0x31]);
  new DataView(head.buffer).setUint32(4, length >>> 0);
  return concat(head, cose, payload);
}

const keyOf = (k: 'ed' | 'es'): SigningKey => (k === 'ed' ? ED_KEY : ES_KEY);
const short = (min: number) => fc.oneof(
  { arbitrary: fc.string({ unit: 'grapheme', minLength: min, maxLength: 16 }), weight: 6 },
  { arbitrary: fc.constantFrom('x'.repeat(255), 'é'.repeat(255), '😀'.repeat(127)), weight: 1 },
).filter((s) => s.length >= min && s.length <= 255);

const fields = fc.record({
  payload: fc.uint8Array({ maxLength: 64 }),
  key: fc.constantFrom<'ed' | 'es'>('ed', 'es'),
  sequence: fc.oneof(fc.nat(), fc.constantFrom(0, 2 ** 32, Number.MAX_SAFE_INTEGER)),
  vendorId: short(0),
  classId: short(1),
  version: short(1),
  created: fc.oneof(fc.nat(), fc.constantFrom(0, 1_700_000_000, Number.MAX_SAFE_INTEGER)),
});

export type PackageFields = typeof fields extends fc.Arbitrary<infer T> ? T : never;

/** Valid package fields, for the round trips. */
export const packageFields = fields;

export function signFields(f: PackageFields): Uint8Array {
  return signPackage({ ...f, key: keyOf(f.key) });
}

/** The manifest of protocols/package.ts as a tree: keys 1–8 in order. */
function manifestAst(f: PackageFields): Cbor {
  return map(
    [uint(1), uint(1)], [uint(2), uint(f.sequence)], [uint(3), text(f.vendorId)], [uint(4), text(f.classId)],
    [uint(5), text(f.version)], [uint(6), uint(f.payload.length)], [uint(7), bytes(sha256(f.payload))], [uint(8), uint(f.created)],
  );
}

/** Values a manifest field might wrongly hold: boundary integers, strings of every length, digests of the wrong size. */
const manifestValue: fc.Arbitrary<Cbor> = fc.oneof(
  interestingInt.map((v): Cbor => ({ t: 'uint', v })),
  interestingInt.map((v): Cbor => ({ t: 'nint', v })),
  fc.constantFrom(0, 31, 33, 256, 70_000).map((n) => bytes(new Uint8Array(n))),
  fc.constantFrom('', 'x'.repeat(256), '\u0000', '\ud800').map(text),
  cborArb(2),
);

/** A package whose manifest is malformed, signed as it is: the signature verifies, the manifest must not. */
const hostileManifest = fc.tuple(fields, fc.array(astOp(manifestValue), { minLength: 1, maxLength: 3 }), fc.boolean())
  .map(([f, ops, withKid]) => {
    const key = keyOf(f.key);
    const manifest = encodeAst(applyAstOps(manifestAst(f), ops));
    return frame(encodeSign1({ scheme: key.alg, privateKey: key.privateKey, ...(withKid ? { kid: key.kid } : {}), payload: manifest }), f.payload);
  });

/** COSE header parameters (RFC 9052 §3.1) with odd values: alg as text or unknown, kid of the wrong type, crit, labels in both buckets. */
const headerEntry: fc.Arbitrary<[Cbor, Cbor]> = fc.oneof(
  fc.constantFrom(-8, -7, -9, -19, -35, -999, 0, 2 ** 53).map((a): [Cbor, Cbor] => [uint(1), int(a)]),
  fc.constant<[Cbor, Cbor]>([uint(1), text('ES256')]),
  fc.constant<[Cbor, Cbor]>([uint(2), array(uint(4))]),
  fc.constant<[Cbor, Cbor]>([uint(3), uint(0)]),
  fc.constantFrom(new Uint8Array(0), new Uint8Array(8), new Uint8Array(300)).map((k): [Cbor, Cbor] => [uint(4), bytes(k)]),
  fc.constant<[Cbor, Cbor]>([uint(4), text('11')]),
  fc.constant<[Cbor, Cbor]>([text('alg'), int(-8)]),
  fc.tuple(cborArb(1), cborArb(1)),
);

const hostileHeaders = fc.tuple(fields, fc.array(headerEntry, { maxLength: 4 }), fc.array(headerEntry, { maxLength: 3 }), fc.constantFrom<number | null>(18, null, 98, 17))
  .map(([f, prot, unprot, tagNumber]) => {
    const key = keyOf(f.key);
    const protectedBytes = encodeAst(map(...prot));
    const manifest = encodeAst(manifestAst(f));
    const signature = createSignature(key.alg, key.privateKey, sigStructure(protectedBytes, manifest));
    const body = array(bytes(protectedBytes), map(...unprot), bytes(manifest), bytes(signature));
    return frame(encodeAst(tagNumber === null ? body : tag(tagNumber, body)), f.payload);
  });

let pool: Uint8Array[] | undefined;

/** About 140 packages: valid ones (both algorithms), signed malformed manifests, signed odd headers. */
export function packagePool(): Uint8Array[] {
  pool ??= [
    ...fc.sample(fields.map(signFields), { seed: 0x46525931, numRuns: 40 }),
    ...fc.sample(hostileManifest, { seed: 0x46525932, numRuns: 70 }),
    ...fc.sample(hostileHeaders, { seed: 0x46525933, numRuns: 30 }),
  ];
  return pool;
}

/** The COSE_Sign1 of a framed package (the bytes the length field announces, as far as they go). */
export function coseOf(pkg: Uint8Array): Uint8Array {
  const length = new DataView(pkg.buffer, pkg.byteOffset, pkg.byteLength).getUint32(4);
  return pkg.subarray(8, 8 + length);
}

export interface PackageTree { tree: Cbor; payload: Uint8Array }

let trees: PackageTree[] | undefined;

/** Each pool package's COSE_Sign1 as a tree (its protected header and manifest parsed inside). */
export function packageTrees(): PackageTree[] {
  trees ??= packagePool().flatMap((pkg) => {
    const cose = coseOf(pkg);
    const tree = parseCbor(cose);
    return tree ? [{ tree, payload: pkg.subarray(8 + cose.length) }] : [];
  });
  return trees;
}
