/** Decoder fuzz targets of what is signed: COSE_Sign1, the FRY1 package (parsed and verified), PEM keys. */
import fc from 'fast-check';
import { algOf, decodeSign1, encodeSign1, schemeOf, sigStructure, verifySign1 } from '../../protocols/cose.ts';
import { checkPayload, PackageError, parsePackage, readPackageHeader, verifyManifestSignature, verifyPackage, type PackageHeader, type TrustAnchor } from '../../protocols/package.ts';
import { encodePrivateKeyPem, encodePublicKeyPem, parsePrivateKeyPem, parsePublicKeyPem } from '../../protocols/package-keys.ts';
import { applyAstOps, array, astOp, bytes as cborBytes, cborArb, encodeAst, mutatedCbor, parseSeeds } from './cbor-ast.ts';
import * as corpus from './corpus.ts';
import type { DecoderTarget } from './engine.ts';
import { applyByteOps, byteOp, mutatedBytes, mutatedText } from './mutate.ts';
import { ANCHORS, ED_KEY, ES_KEY, coseOf, frame, packageFields, packagePool, packageTrees, signFields, type PackageFields } from './packages.ts';
import { utf8, each } from './decoder-kit.ts';
// ---- COSE_Sign1 and FRY1 packages

export const coseTarget = (): DecoderTarget<Uint8Array, { payload: Uint8Array; es: boolean; kid: boolean }> => {
  const seeds = [...corpus.COSE, ...packagePool().map(coseOf)];
  const trees = parseSeeds(seeds);
  return {
    name: 'cose',
    describe: 'decodeSign1 and the Sig_structure of what it returns (cose.ts)',
    input: fc.oneof(
      { arbitrary: mutatedCbor(trees, 3), weight: 5 },
      { arbitrary: mutatedBytes(seeds, 4), weight: 2 },
      { arbitrary: cborArb(3).map((t) => encodeAst(array(cborBytes(encodeAst(t)), t, cborBytes(new Uint8Array(2)), cborBytes(new Uint8Array(64))))), weight: 1 },
    ),
    corpus: () => corpus.COSE,
    decode: (b) => {
      const s = decodeSign1(b);
      sigStructure(s.protectedBytes, s.payload);
      schemeOf(s.alg);
    },
    roundTrip: {
      values: fc.record({ payload: fc.uint8Array({ maxLength: 200 }), es: fc.boolean(), kid: fc.boolean() }),
      check: ({ payload, es, kid }) => {
        const key = es ? ES_KEY : ED_KEY;
        const s = decodeSign1(encodeSign1({ scheme: key.alg, privateKey: key.privateKey, ...(kid ? { kid: key.kid } : {}), payload }));
        if (!Buffer.from(s.payload).equals(Buffer.from(payload)) || s.alg !== algOf(key.alg)) throw new Error('payload or alg came back different');
        if (kid !== (s.kid !== undefined) || (s.kid && !Buffer.from(s.kid).equals(Buffer.from(key.kid)))) throw new Error('kid came back different');
        if (!verifySign1(s, key.alg, key.publicKey)) throw new Error('our own signature does not verify');
      },
    },
    roundTripRuns: 300,
    bytes: (b) => b,
    ciRuns: 4000,
  };
};

/** Package inputs: pool packages mutated in the envelope (magic, length field, truncation, trailing bytes), in the COSE tree, or byte by byte. */
function packageInput(): fc.Arbitrary<Uint8Array> {
  const pool = packagePool();
  const trees = packageTrees();
  const lengthField = fc.tuple(fc.nat({ max: pool.length - 1 }), fc.oneof(fc.constantFrom(0, 1, 7, 0xffff, 0x10000, 0x10001, 0xffffffff), fc.integer({ min: -3, max: 3 })))
    .map(([i, v]) => {
      const pkg = Uint8Array.from(pool[i]!);
      const view = new DataView(pkg.buffer);
      view.setUint32(4, (Math.abs(v) <= 3 ? view.getUint32(4) + v : v) >>> 0);
      return pkg;
    });
  const coseTree = fc.tuple(fc.nat({ max: trees.length - 1 }), fc.array(astOp(), { minLength: 1, maxLength: 3 }), fc.boolean())
    .map(([i, ops, keepLength]) => {
      const { tree, payload } = trees[i]!;
      const cose = encodeAst(applyAstOps(tree, ops));
      return frame(cose, payload, keepLength ? encodeAst(tree).length : cose.length);
    });
  return fc.oneof(
    { arbitrary: fc.nat({ max: pool.length - 1 }).map((i) => pool[i]!), weight: 1 },
    { arbitrary: mutatedBytes(pool, 4, false), weight: 4 },
    { arbitrary: lengthField, weight: 1 },
    { arbitrary: coseTree, weight: 4 },
  );
}

const isPackageError = (e: unknown): boolean => e instanceof PackageError;

export const packageTarget = (): DecoderTarget<Uint8Array, PackageFields> => ({
  name: 'package',
  describe: 'readPackageHeader (every prefix), parsePackage, checkPayload (package.ts)',
  input: packageInput(),
  corpus: () => packagePool(),
  decode: (b) => {
    // A device reads the header block by block: the prefix the first call asks for, then the whole.
    const first = readPackageHeader(b.subarray(0, 8));
    if ('need' in first) readPackageHeader(b.subarray(0, Math.min(b.length, first.need)));
    const { header, payload } = parsePackage(b);
    checkPayload(header, payload);
  },
  allowed: isPackageError,
  roundTrip: { values: packageFields, check: (f) => {
    const { header, payload } = parsePackage(signFields(f));
    const m = header.manifest;
    if (!Buffer.from(payload).equals(Buffer.from(f.payload)) || m.sequence !== f.sequence || m.vendorId !== f.vendorId || m.classId !== f.classId
      || m.version !== f.version || m.created !== f.created || m.payloadSize !== f.payload.length) throw new Error('the manifest came back different');
  } },
  roundTripRuns: 2000,
  bytes: (b) => b,
  ciRuns: 4000,
});

/**
 * verifyPackage is parsePackage → verifyManifestSignature → checkPayload; the middle step depends
 * on the COSE_Sign1 bytes alone, so it is memoised here (a signature check costs ~1–2 ms, and most
 * mutated packages share their COSE_Sign1 with one already seen).
 */
const verified = new Map<string, { anchor?: TrustAnchor; error?: unknown }>();
function verifyCached(header: PackageHeader): TrustAnchor {
  const key = Buffer.from(header.coseBytes).toString('latin1');
  let hit = verified.get(key);
  if (!hit) {
    try { hit = { anchor: verifyManifestSignature(header, ANCHORS) }; } catch (e) { hit = { error: e }; }
    if (verified.size > 20_000) verified.clear();
    verified.set(key, hit);
  }
  if (hit.error !== undefined) throw hit.error;
  return hit.anchor!;
}

export const packageVerifyTarget = (): DecoderTarget<Uint8Array, PackageFields> => ({
  name: 'package-verify',
  describe: 'verifyPackage: parse, the COSE signature against the trust anchors, the payload digest (package.ts, cose.ts)',
  input: packageInput(),
  corpus: () => packagePool(),
  decode: (b) => {
    const { header, payload } = parsePackage(b);
    verifyCached(header);
    checkPayload(header, payload);
  },
  allowed: isPackageError,
  roundTrip: { values: packageFields, check: (f) => {
    const key = f.key === 'ed' ? ED_KEY : ES_KEY;
    const { anchor } = verifyPackage(signFields(f), ANCHORS);
    if (!Buffer.from(anchor.publicKey).equals(Buffer.from(key.publicKey))) throw new Error('verified with the wrong anchor');
  } },
  roundTripRuns: 500,
  bytes: (b) => b,
  ciRuns: 1000,
});

// ---- PEM keys

const PEM_TOKENS = ['-----BEGIN PRIVATE KEY-----', '-----END PRIVATE KEY-----', '-----BEGIN PUBLIC KEY-----', '-----END PUBLIC KEY-----',
  '-----BEGIN EC PRIVATE KEY-----', '\n', '=', '==', 'A', '/', '+', '-----BEGIN X-----', 'K'.repeat(1000), ' '.repeat(600)];

function pemOf(label: string, der: Uint8Array): string {
  return `-----BEGIN ${label}-----\n${(Buffer.from(der).toString('base64').match(/.{1,64}/g) ?? []).join('\n')}\n-----END ${label}-----\n`;
}

/** PEM seeds split into label and DER, so the DER can be mutated tag by tag and length by length. */
function pemParts(): Array<[string, Uint8Array]> {
  return corpus.PEM.flatMap((text) => {
    const m = /-----BEGIN ([A-Z ]+)-----([\s\S]*?)-----END/.exec(text);
    return m ? [[m[1]!, new Uint8Array(Buffer.from(m[2]!.replace(/\s+/g, ''), 'base64'))] as [string, Uint8Array]] : [];
  });
}

/** DER-aware mutations: a length byte to a long form, a tag changed, a TLV truncated, as byte operations at DER offsets. */
const derOp = fc.oneof(
  fc.record({ k: fc.constant('set' as const), at: fc.nat({ max: 200 }), v: fc.constantFrom(0x00, 0x01, 0x02, 0x03, 0x04, 0x06, 0x30, 0x7f, 0x80, 0x81, 0x82, 0x83, 0x84, 0xa0, 0xa1, 0xff) }),
  byteOp(false),
);

export const pemTarget = (): DecoderTarget<string, { ed: boolean; seed: Uint8Array }> => {
  const parts = pemParts();
  return {
    name: 'package-keys',
    describe: 'parsePrivateKeyPem, parsePublicKeyPem: PEM, PKCS#8, SEC1, SPKI DER (package-keys.ts)',
    input: fc.oneof(
      { arbitrary: fc.tuple(fc.nat({ max: parts.length - 1 }), fc.array(derOp, { minLength: 1, maxLength: 3 }), fc.constantFrom('PRIVATE KEY', 'PUBLIC KEY', 'EC PRIVATE KEY', ''))
        .map(([i, ops, label]) => pemOf(label || parts[i]![0], applyByteOps(parts[i]![1], ops))), weight: 4 },
      { arbitrary: mutatedText(corpus.PEM, PEM_TOKENS, 3, false), weight: 2 },
    ),
    corpus: () => corpus.PEM,
    decode: (text) => each(() => parsePrivateKeyPem(text), () => parsePublicKeyPem(text)),
    roundTrip: {
      values: fc.record({ ed: fc.boolean(), seed: fc.uint8Array({ minLength: 32, maxLength: 32 }) }),
      check: ({ ed, seed }) => {
        const der = ed
          ? Buffer.concat([corpus.hex('30 2e 02 01 00 30 05 06 03 2b 65 70 04 22 04 20'), seed])
          : Buffer.concat([corpus.hex('30 41 02 01 00 30 13 06 07 2a8648ce3d0201 06 08 2a8648ce3d030107 04 27 30 25 02 01 01 04 20'), seed]);
        let key;
        try { key = parsePrivateKeyPem(pemOf('PRIVATE KEY', der)); } catch (e) { if (!ed && e instanceof Error && e.name === 'DecodeError') return; throw e; } // a scalar ≥ n
        const again = parsePrivateKeyPem(encodePrivateKeyPem(key));
        const anchor = parsePublicKeyPem(encodePublicKeyPem(key));
        for (const [a, b] of [[again.privateKey, key.privateKey], [again.publicKey, key.publicKey], [anchor.publicKey, key.publicKey], [anchor.kid, key.kid]] as const) {
          if (!Buffer.from(a).equals(Buffer.from(b))) throw new Error('the key came back different');
        }
      },
    },
    roundTripRuns: 2000,
    bytes: (t) => utf8(t),
    ciRuns: 2500,
  };
};
