/**
 * The decoder fuzz targets: every decoder in protocols/, its hostile inputs (valid messages made
 * by the project's own encoders and the seed corpus, mutated field by field and byte by byte),
 * the property (only the typed error escapes) and, where there is an encoder, the round trip.
 *
 * decoderTarget(name) builds a target on first use (the package pool signs ~140 packages);
 * DECODER_NAMES lists them in the order `npm run fuzz` runs them.
 */
import fc from 'fast-check';
import { attributesFromLink, formatAttributesQuery, parseAttributesQuery, type Attributes } from '../../protocols/attributes.ts';
import { decodeBase64, encodeBase64, encodeBase64Url } from '../../protocols/base64.ts';
import { blockCount, blockSlice, decodeBlock, encodeBlock } from '../../protocols/block.ts';
import { decodeCborGuarded, encodeCbor as encodeCborX, type CborLimits } from '../../protocols/cbor-guard.ts';
import { CborTag, decodeCbor, encodeCbor, type CborKey, type CborValue } from '../../protocols/cbor.ts';
import { CoapOption, codeText, decodeCoapMessage, firstBadOption, readHeader, uintValue } from '../../protocols/coap-message.ts';
import { decodeContent, encodeContent } from '../../protocols/content.ts';
import { DecodeError } from '../../protocols/errors.ts';
import { ContentFormat } from '../../protocols/content-format.ts';
import { algOf, decodeSign1, encodeSign1, schemeOf, sigStructure, verifySign1 } from '../../protocols/cose.ts';
import { formatLinkFormat, objectsFromLinks, parseLinkFormat, type Link } from '../../protocols/link-format.ts';
import { decodeLwm2mCbor } from '../../protocols/lwm2m-cbor.ts';
import type { Lwm2mNodes, TypeOf } from '../../protocols/lwm2m-node.ts';
import { defaultTypeOf } from '../../protocols/object-model.ts';
import {
  checkPayload, PackageError, parsePackage, readPackageHeader, verifyManifestSignature, verifyPackage, type PackageHeader, type TrustAnchor,
} from '../../protocols/package.ts';
import { encodePrivateKeyPem, encodePublicKeyPem, parsePrivateKeyPem, parsePublicKeyPem } from '../../protocols/package-keys.ts';
import { formatPath, parsePath, pathFromSegments, pathSegments, type Lwm2mPath } from '../../protocols/path.ts';
import { formatRegisterQuery, parseRegisterQuery, parseUpdateQuery, type RegistrationParams } from '../../protocols/registration.ts';
import { resolveSenml } from '../../protocols/senml.ts';
import { decodeSenmlCbor } from '../../protocols/senml-cbor.ts';
import { decodeSenmlJson, parseSenmlJson } from '../../protocols/senml-json.ts';
import { decodeTextInteger, decodeTextString } from '../../protocols/text.ts';
import {
  decodeTlv, decodeTlvBoolean, decodeTlvFloat, decodeTlvInteger, decodeTlvObjlnk, decodeTlvString, encodeTlv, encodeTlvBoolean,
  encodeTlvFloat, encodeTlvInteger, encodeTlvObjlnk, encodeTlvString, tlvResources, type Tlv,
} from '../../protocols/tlv.ts';
import { nodesToTlv, tlvToNodes } from '../../protocols/tlv-nodes.ts';
import { decodeUtf8, encodeUtf8, isWellFormedText } from '../../protocols/utf8.ts';
import { valueFromJson, valueToJson } from '../../protocols/value-json.ts';
import type { Cbor } from './cbor-ast.ts';
import { applyAstOps, array, astOp, bytes as cborBytes, cborArb, encodeAst, int, leafArb, map, mutatedCbor, parseSeeds, text as cborText, uint } from './cbor-ast.ts';
import { applyCoapOps, coapMessageArb, coapOp, encodeCoapAst } from './coap-ast.ts';
import * as corpus from './corpus.ts';
import type { DecoderTarget } from './engine.ts';
import { applyByteOps, byteOp, mutatedBytes, mutatedText, mutatedUtf8 } from './mutate.ts';
import { ANCHORS, ED_KEY, ES_KEY, coseOf, frame, packageFields, packagePool, packageTrees, signFields, type PackageFields } from './packages.ts';
import { applyTlvOps, encodeTlvAst, tlvOp, tlvToAst, tlvTreeArb, type TlvNode } from './tlv-ast.ts';
import { assertSameNodes, assertSameValue, fuzzTypeOf, nodesCaseArb, valueArb, type NodesCase } from './values.ts';

const u8 = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
const utf8 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));
const TYPE_OFS: readonly TypeOf[] = [defaultTypeOf, fuzzTypeOf];
const SAMPLE_SEED = 0x5eed;

/**
 * Runs several decoders on one input: an error other than the typed ones is thrown at once (a
 * finding); otherwise the first typed error, if any, is thrown after all have run.
 */
function each(...fns: Array<() => unknown>): void {
  let first: unknown;
  let failed = false;
  for (const fn of fns) {
    try { fn(); } catch (e) {
      if (!(e instanceof DecodeError) && !(e instanceof PackageError)) throw e;
      if (!failed) { first = e; failed = true; }
    }
  }
  if (failed) throw first;
}

// ---- Paths shared by several targets

const PATH_IDS = fc.oneof(fc.integer({ min: 0, max: 9 }), fc.constantFrom(0, 1, 3, 5, 19, 255, 256, 65534), fc.integer({ min: 0, max: 65534 }));
export const pathArb: fc.Arbitrary<Lwm2mPath> = fc.array(PATH_IDS, { minLength: 1, maxLength: 4 }).map((ids) => {
  const [objectId, instanceId, resourceId, resourceInstanceId] = ids as [number, number?, number?, number?];
  return { objectId, ...(instanceId === undefined ? {} : { instanceId }), ...(resourceId === undefined ? {} : { resourceId }), ...(resourceInstanceId === undefined ? {} : { resourceInstanceId }) };
});

// ---- Round trips through the content formats

/** Nodes → a content format → nodes again; TLV gives opaque bytes back for a resource of unknown type. */
function roundTripFormat(format: number, c: NodesCase): void {
  const payload = encodeContent(format, c.nodes, c.path, fuzzTypeOf);
  const back = decodeContent(format, payload, c.path, fuzzTypeOf);
  const expected = format === ContentFormat.TLV
    ? c.nodes.map((n) => (fuzzTypeOf(n.path) === undefined ? { ...n, value: Buffer.from(n.value as string, 'utf8') } : n))
    : c.nodes;
  assertSameNodes(expected, back, { timestamps: format === ContentFormat.SENML_JSON || format === ContentFormat.SENML_CBOR });
}

const tlvCase = nodesCaseArb({ root: false });
const senmlJsonCase = nodesCaseArb({ bigIntegers: false, timestamps: true });
const senmlCborCase = nodesCaseArb({ timestamps: true });
const cborCase = nodesCaseArb();

/** Encoded valid payloads, a fixed sample, as mutation seeds. */
function encodedSeeds(format: number, arb: fc.Arbitrary<NodesCase>, n = 40): Uint8Array[] {
  return fc.sample(arb, { seed: SAMPLE_SEED, numRuns: n }).flatMap((c) => {
    try { return [new Uint8Array(encodeContent(format, c.nodes, c.path, fuzzTypeOf))]; } catch { return []; }
  });
}

// ---- TLV

let tlvInputs: fc.Arbitrary<Uint8Array> | undefined;

/** TLV payloads: the spec vectors and encoded trees, mutated entry by entry (type bits, widths, lengths, nesting) and byte by byte. */
function tlvInput(): fc.Arbitrary<Uint8Array> {
  if (tlvInputs) return tlvInputs;
  const seeds = [...corpus.TLV, ...corpus.TLV_NODES.map(([b]) => b), ...fc.sample(tlvTreeArb(), { seed: SAMPLE_SEED, numRuns: 30 }).map((t) => encodeTlv(t)),
    ...encodedSeeds(ContentFormat.TLV, tlvCase)];
  const trees: TlvNode[][] = seeds.flatMap((b) => { try { return [tlvToAst(decodeTlv(u8(b)))]; } catch { return []; } });
  const byTree = fc.tuple(fc.nat({ max: trees.length - 1 }), fc.array(tlvOp(), { minLength: 1, maxLength: 4 }), fc.array(byteOp(false), { maxLength: 1 }))
    .map(([i, ops, bops]) => applyByteOps(encodeTlvAst(applyTlvOps(trees[i]!, ops)), bops));
  const fresh = fc.tuple(tlvTreeArb().map((t) => tlvToAst(t)), fc.array(tlvOp(), { maxLength: 3 })).map(([t, ops]) => encodeTlvAst(applyTlvOps(t, ops)));
  tlvInputs = fc.oneof(
    { arbitrary: byTree, weight: 5 },
    { arbitrary: mutatedBytes(seeds, 5), weight: 3 },
    { arbitrary: fresh, weight: 2 },
    { arbitrary: fc.uint8Array({ maxLength: 24 }), weight: 1 },
  );
  return tlvInputs;
}

function tlvLeaves(entries: readonly Tlv[], out: Buffer[] = []): Buffer[] {
  for (const e of entries) {
    if (e.value) out.push(e.value);
    if (e.children) tlvLeaves(e.children, out);
  }
  return out;
}

const tlvTarget = (): DecoderTarget<Uint8Array, Tlv[] | { n: number | bigint; f: number; s: string; l: [number, number]; b: boolean }> => ({
  name: 'tlv',
  describe: 'decodeTlv, tlvResources and the TLV value readers (tlv.ts)',
  input: tlvInput(),
  corpus: () => corpus.TLV,
  decode: (b) => {
    let entries: Tlv[] = [];
    each(() => { entries = decodeTlv(u8(b)); }, () => tlvResources(u8(b)));
    // What decoded is written back (shortest forms) and decodes to the same tree.
    if (entries.length > 0 && JSON.stringify(decodeTlv(encodeTlv(entries))) !== JSON.stringify(entries)) throw new Error('TLV written back decodes differently');
    for (const v of tlvLeaves(entries)) {
      each(() => decodeTlvInteger(v), () => decodeTlvFloat(v), () => decodeTlvBoolean(v), () => decodeTlvString(v), () => decodeTlvObjlnk(v));
    }
  },
  roundTrip: {
    values: fc.oneof(
      tlvTreeArb(),
      fc.record({
        n: fc.oneof(fc.integer(), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })),
        f: fc.double(),
        s: fc.string({ unit: 'grapheme' }),
        l: fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff })),
        b: fc.boolean(),
      }),
    ),
    check: (v) => {
      if (Array.isArray(v)) {
        const back = decodeTlv(encodeTlv(v));
        if (JSON.stringify(back) !== JSON.stringify(v)) throw new Error(`TLV tree came back different: ${JSON.stringify(back).slice(0, 500)}`);
        return;
      }
      assertSameValue(typeof v.n === 'bigint' && v.n >= -(2n ** 53n) + 1n && v.n <= 2n ** 53n - 1n ? Number(v.n) : v.n, decodeTlvInteger(encodeTlvInteger(v.n)), 'integer');
      const f = decodeTlvFloat(encodeTlvFloat(v.f));
      if (!Object.is(f, v.f) && !(Number.isNaN(f) && Number.isNaN(v.f))) throw new Error(`float ${v.f} came back as ${f}`);
      if (decodeTlvString(encodeTlvString(v.s)) !== v.s) throw new Error('string came back different');
      const l = decodeTlvObjlnk(encodeTlvObjlnk(...v.l));
      if (l.objectId !== v.l[0] || l.instanceId !== v.l[1]) throw new Error('objlnk came back different');
      if (decodeTlvBoolean(encodeTlvBoolean(v.b)) !== v.b) throw new Error('boolean came back different');
    },
  },
  bytes: (b) => b,
  ciRuns: 5000,
});

interface PayloadAt { payload: Uint8Array; path: Lwm2mPath }

const tlvNodesTarget = (): DecoderTarget<PayloadAt, NodesCase> => ({
  name: 'tlv-nodes',
  describe: 'tlvToNodes: TLV against the request path and the resource model (tlv-nodes.ts)',
  input: fc.record({
    payload: tlvInput(),
    path: fc.oneof(fc.constantFrom(...corpus.TLV_NODES.map(([, p]) => parsePath(p))), pathArb),
  }),
  corpus: () => corpus.TLV_NODES.map(([payload, p]) => ({ payload, path: parsePath(p) })),
  decode: ({ payload, path }) => each(...TYPE_OFS.map((typeOf) => () => tlvToNodes(u8(payload), path, typeOf))),
  roundTrip: { values: tlvCase, check: (c) => {
    const back = tlvToNodes(nodesToTlv(c.nodes, c.path!, fuzzTypeOf), c.path!, fuzzTypeOf);
    assertSameNodes(c.nodes.map((n) => (fuzzTypeOf(n.path) === undefined ? { ...n, value: Buffer.from(n.value as string, 'utf8') } : n)), back);
  } },
  bytes: (i) => i.payload,
  ciRuns: 4000,
});

// ---- SenML-JSON

const SENML_LABELS = ['bn', 'bt', 'bu', 'bv', 'bs', 'bver', 'n', 'u', 'v', 'vs', 'vb', 'vd', 'vlo', 's', 't', 'ut', 'x_', 'v_', '', '__proto__'];
const NAMES = ['/3/0/0', '/3/0/', '/3/0', '/', '', '/65534/65534/65534/65534', '/3/0/6/0', '3/0/9', '/5/0/1', '0', '9', '/65535/0/0', '/3/0/13', '/1/0/6'];
const JSON_TOKENS = ['[', ']', '{', '}', ',', ':', '"n"', '"bn"', '"v"', '"vs"', '"vd"', '"vlo"', '"bver"', '"t"', '"x_"', 'null', 'true',
  '1e308', '-1e-400', '18446744073709551616', '0.5', '"\\u0000"', '"\\ud800"', '"/3/0/0"', '"66:0"', '"AQID"'];

const jsonValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(...NAMES), pathArb.map(formatPath), fc.double(), fc.integer(), fc.boolean(), fc.constant(null),
  fc.string({ unit: 'binary', maxLength: 10 }), fc.constantFrom('AQIDBAU=', '-_8', '66:0', '65535:65535', 'a b'), fc.array(fc.integer(), { maxLength: 2 }),
);
/** Packs built from labels and values of every JSON type: structure first, then mutation. */
const senmlJsonPack: fc.Arbitrary<string> = fc.array(
  fc.array(fc.tuple(fc.constantFrom(...SENML_LABELS), jsonValue), { maxLength: 5 }).map((entries) => Object.fromEntries(entries) as unknown),
  { maxLength: 5 },
).map((records) => JSON.stringify(records));

const senmlJsonTarget = (): DecoderTarget<Uint8Array, NodesCase> => {
  const seeds = [...corpus.SENML_JSON, ...encodedSeeds(ContentFormat.SENML_JSON, senmlJsonCase).map((b) => Buffer.from(b).toString('utf8'))];
  return {
    name: 'senml-json',
    describe: 'parseSenmlJson, resolveSenml, decodeSenmlJson (senml-json.ts, senml.ts)',
    input: fc.oneof(
      { arbitrary: mutatedUtf8(seeds, JSON_TOKENS), weight: 4 },
      { arbitrary: senmlJsonPack.map(utf8), weight: 2 },
      { arbitrary: fc.tuple(senmlJsonPack, fc.array(fc.constantFrom(...JSON_TOKENS).chain((t) => fc.tuple(fc.constant(t), fc.nat())), { maxLength: 3 }))
        .map(([s, ins]) => utf8(ins.reduce((acc, [t, at]) => acc.slice(0, at % (acc.length + 1)) + t + acc.slice(at % (acc.length + 1)), s))), weight: 1 },
    ),
    corpus: () => corpus.SENML_JSON.map(utf8),
    decode: (b) => each(() => resolveSenml(parseSenmlJson(b)), ...TYPE_OFS.map((typeOf) => () => decodeSenmlJson(b, typeOf))),
    roundTrip: { values: senmlJsonCase, check: (c) => roundTripFormat(ContentFormat.SENML_JSON, c) },
    bytes: (b) => b,
    ciRuns: 3000,
  };
};

// ---- CBOR formats

const SENML_KEYS: Cbor[] = [-1, -2, -3, -4, -5, -6, 0, 1, 2, 3, 4, 5, 6, 7, 8].map(int).concat([cborText('vlo'), cborText('x_'), cborText('n'), cborBytes(new Uint8Array(1))]);
const senmlCborPack: fc.Arbitrary<Cbor> = fc.array(
  fc.array(fc.tuple(fc.constantFrom(...SENML_KEYS), fc.oneof(fc.constantFrom(...NAMES).map(cborText), pathArb.map((p) => cborText(formatPath(p))), leafArb(), cborArb(2))), { maxLength: 5 })
    .map((entries) => map(...entries)),
  { maxLength: 5 },
).map((records): Cbor => array(...records));

/**
 * A content format over the CBOR guard: its seeds (the corpus, and what the encoder writes) parsed
 * into trees and mutated node by node, trees built from the format's own keys, and raw byte
 * mutations; decoded with every way of typing resources; what encodes decodes back.
 */
function cborFormatTarget(o: {
  name: string; describe: string; format: number; seeds: Uint8Array[]; values: fc.Arbitrary<NodesCase>;
  tree: fc.Arbitrary<Cbor>; decode: (b: Uint8Array, typeOf: (typeof TYPE_OFS)[number]) => unknown;
  extra?: Array<fc.WeightedArbitrary<Uint8Array>>;
}): DecoderTarget<Uint8Array, NodesCase> {
  const seeds = [...o.seeds, ...encodedSeeds(o.format, o.values)];
  const trees = parseSeeds(seeds);
  return {
    name: o.name,
    describe: o.describe,
    input: fc.oneof(
      { arbitrary: mutatedCbor(trees, 4), weight: 4 },
      { arbitrary: o.tree.map(encodeAst), weight: 2 },
      { arbitrary: mutatedBytes(seeds, 4), weight: 2 },
      ...(o.extra ?? []),
    ),
    corpus: () => o.seeds,
    decode: (b) => each(...TYPE_OFS.map((typeOf) => () => o.decode(b, typeOf))),
    roundTrip: { values: o.values, check: (c) => roundTripFormat(o.format, c) },
    bytes: (b) => b,
    ciRuns: 3000,
  };
}

const senmlCborTarget = (): DecoderTarget<Uint8Array, NodesCase> => cborFormatTarget({
  name: 'senml-cbor',
  describe: 'parseSenmlCbor, decodeSenmlCbor over the CBOR guard (senml-cbor.ts, cbor-guard.ts)',
  format: ContentFormat.SENML_CBOR, seeds: corpus.SENML_CBOR, values: senmlCborCase, tree: senmlCborPack, decode: decodeSenmlCbor,
  extra: [{ arbitrary: fc.tuple(senmlCborPack, fc.array(astOp(), { maxLength: 2 })).map(([t, ops]) => encodeAst(applyAstOps(t, ops))), weight: 1 }],
});

const lwm2mKey: fc.Arbitrary<Cbor> = fc.oneof(
  { arbitrary: PATH_IDS.map(uint), weight: 4 },
  { arbitrary: fc.array(PATH_IDS.map(uint), { maxLength: 5 }).map((ids) => array(...ids)), weight: 2 },
  { arbitrary: fc.constantFrom(uint(65535), int(-1), cborText('26'), cborText('dev1'), { t: 'float', v: 0.26, size: 8 } as Cbor, uint(2n ** 64n - 1n)), weight: 1 },
);
const lwm2mTree: fc.Arbitrary<Cbor> = fc.letrec<{ node: Cbor }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', maxDepth: 5, depthIdentifier: 'lwm2m' },
    { arbitrary: leafArb(), weight: 2 },
    { arbitrary: fc.array(fc.tuple(lwm2mKey, tie('node')), { maxLength: 4 }).map((entries) => map(...entries)), weight: 3 },
  ),
})).node;

const lwm2mCborTarget = (): DecoderTarget<Uint8Array, NodesCase> => cborFormatTarget({
  name: 'lwm2m-cbor',
  describe: 'decodeLwm2mCbor: nested maps and array keys over the CBOR guard (lwm2m-cbor.ts)',
  format: ContentFormat.LWM2M_CBOR, seeds: corpus.LWM2M_CBOR, values: cborCase, tree: lwm2mTree, decode: decodeLwm2mCbor,
});

/** Every CBOR seed the project has: spec examples, COSE, SenML, LwM2M-CBOR, the pool's COSE_Sign1s. */
function allCborSeeds(): Uint8Array[] {
  return [...corpus.CBOR, ...corpus.COSE, ...corpus.SENML_CBOR, ...corpus.LWM2M_CBOR, ...packagePool().slice(0, 40).map(coseOf)];
}

/** Values of the strict CBOR subset (cbor.ts), for its round trip. */
const strictValue: fc.Arbitrary<CborValue> = fc.letrec<{ v: CborValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', maxDepth: 6, depthIdentifier: 'strict' },
    fc.maxSafeInteger(), fc.integer(), fc.string({ unit: 'grapheme', maxLength: 12 }), fc.boolean(), fc.constant(null), fc.uint8Array({ maxLength: 16 }),
    fc.array(tie('v'), { maxLength: 4 }),
    fc.uniqueArray(fc.tuple(fc.oneof(fc.integer(), fc.string({ maxLength: 6 })) as fc.Arbitrary<CborKey>, tie('v')), { selector: ([k]) => k, maxLength: 4 })
      .map((entries) => new Map<CborKey, CborValue>(entries)),
    fc.tuple(fc.maxSafeNat(), tie('v')).map(([t, v]) => new CborTag(t, v)),
  ),
})).v;

function sameCbor(a: CborValue, b: CborValue): boolean {
  if (a instanceof Uint8Array) return b instanceof Uint8Array && Buffer.from(a).equals(Buffer.from(b));
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => sameCbor(x, b[i]!));
  if (a instanceof Map) return b instanceof Map && a.size === b.size && [...a].every(([k, v]) => b.has(k) && sameCbor(v, b.get(k)!));
  if (a instanceof CborTag) return b instanceof CborTag && a.tag === b.tag && sameCbor(a.value, b.value);
  return Object.is(a, b) || (a === 0 && b === 0);
}

const cborTarget = (): DecoderTarget<Uint8Array, CborValue> => {
  const seeds = allCborSeeds();
  const trees = parseSeeds(seeds);
  return {
    name: 'cbor',
    describe: 'decodeCbor, the strict subset COSE and the manifest use (cbor.ts)',
    input: fc.oneof(
      { arbitrary: mutatedCbor(trees, 4), weight: 4 },
      { arbitrary: cborArb(4).map(encodeAst), weight: 3 },
      { arbitrary: mutatedBytes(seeds, 4), weight: 2 },
    ),
    corpus: () => corpus.CBOR,
    decode: (b) => { decodeCbor(b); },
    roundTrip: { values: strictValue, check: (v) => {
      const back = decodeCbor(encodeCbor(v));
      if (!sameCbor(v, back)) throw new Error('the value came back different');
    } },
    bytes: (b) => b,
    ciRuns: 5000,
  };
};

interface GuardedInput { bytes: Uint8Array; limits: CborLimits }

/** Values cbor-x gives back as they went in (numbers within 32 bits; maps as Map). */
const guardValue: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', maxDepth: 5, depthIdentifier: 'guard' },
    fc.integer(), fc.double({ noNaN: true }), fc.string({ unit: 'grapheme', maxLength: 12 }), fc.boolean(), fc.constant(null),
    fc.uint8Array({ maxLength: 16 }).map((b) => Buffer.from(b)),
    fc.array(tie('v'), { maxLength: 4 }),
    fc.uniqueArray(fc.tuple(fc.oneof(fc.integer(), fc.string({ maxLength: 6 })), tie('v')), { selector: ([k]) => k, maxLength: 4 }).map((e) => new Map(e)),
  ),
})).v;

function sameLoose(a: unknown, b: unknown): boolean {
  if (a instanceof Uint8Array) return b instanceof Uint8Array && Buffer.from(a).equals(Buffer.from(b));
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => sameLoose(x, b[i]));
  if (a instanceof Map) return b instanceof Map && a.size === b.size && [...a].every(([k, v]) => b.has(k) && sameLoose(v, b.get(k)));
  if (typeof a === 'number' && typeof b === 'bigint') return Number.isInteger(a) && BigInt(a) === b;
  return Object.is(a, b) || (a === 0 && b === 0);
}

const GENEROUS: CborLimits = { maxBytes: 1024 * 1024, maxDepth: 16, maxItems: 400_000, tags: [1, 4] };

const cborGuardTarget = (): DecoderTarget<GuardedInput, unknown> => {
  const seeds = allCborSeeds();
  const trees = parseSeeds(seeds);
  return {
    name: 'cbor-guard',
    describe: 'decodeCborGuarded: the limit walk in front of cbor-x (cbor-guard.ts)',
    input: fc.record({
      bytes: fc.oneof(
        { arbitrary: mutatedCbor(trees, 4), weight: 4 },
        { arbitrary: cborArb(4).map(encodeAst), weight: 3 },
        { arbitrary: mutatedBytes(seeds, 4), weight: 2 },
      ),
      limits: fc.oneof(fc.constant(GENEROUS), fc.record({
        maxBytes: fc.constantFrom(1, 16, 1024, 1024 * 1024),
        maxDepth: fc.integer({ min: 0, max: 20 }),
        maxItems: fc.constantFrom(1, 20, 400_000),
        tags: fc.subarray([0, 1, 2, 3, 4, 5, 18, 24, 55799]),
      })),
    }),
    corpus: () => allCborSeeds().map((bytes) => ({ bytes, limits: GENEROUS })),
    decode: ({ bytes, limits }) => { decodeCborGuarded(bytes, limits); },
    roundTrip: { values: guardValue, check: (v) => {
      const back = decodeCborGuarded(encodeCborX(v), GENEROUS);
      if (!sameLoose(v, back)) throw new Error(`the value came back different: ${String(back)}`);
    } },
    bytes: (i) => i.bytes,
    ciRuns: 5000,
  };
};

// ---- COSE_Sign1 and FRY1 packages

const coseTarget = (): DecoderTarget<Uint8Array, { payload: Uint8Array; es: boolean; kid: boolean }> => {
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

const packageTarget = (): DecoderTarget<Uint8Array, PackageFields> => ({
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

const packageVerifyTarget = (): DecoderTarget<Uint8Array, PackageFields> => ({
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

const pemTarget = (): DecoderTarget<string, { ed: boolean; seed: Uint8Array }> => {
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

// ---- Link format, attributes, registration query

const LINK_TOKENS = ['<', '>', '</', '/>', ';', ',', '=', '"', '\\"', '\\', 'rt="oma.lwm2m"', 'ct=', 'ver=1.1', 'dim=', 'pmin=', 'gt=', 'st=', 'lt=',
  'epmin=', 'ct="110 112"', 'title*=', 'anchor=', '</3/0>', '</>', '</65535>', '</1/0/0>', '\u0085', '\u009f'];

const URI_CHAR = fc.oneof(fc.constantFrom(...'abcxyz0123456789/:.-_~!$&\'()*+,;=%?#[]@'.split('')), fc.constantFrom('é', '😀', '\\', '{', '}', '|', '^', '`'));
const NAME_CHAR = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzAZ0129!#$&+-.^_`|~*'.split(''));
const PTOKEN_CHAR = fc.constantFrom(...'abcxyz0129!#$%&\'()*+-./:<=>?@[]^_`{|}~'.split(''));
const QUOTED_CHAR = fc.oneof(PTOKEN_CHAR, fc.constantFrom(' ', ',', ';', '"', '\\', '\t', 'é', '😀'));

/** Links formatLinkFormat can write: URIs without the characters that end one, names of attr-chars, values quoted or not. */
const linksArb: fc.Arbitrary<Link[]> = fc.array(fc.record({
  uri: fc.oneof(pathArb.map(formatPath), fc.string({ unit: URI_CHAR, maxLength: 16 })),
  params: fc.uniqueArray(fc.tuple(
    fc.oneof(fc.constantFrom('rt', 'ct', 'if', 'ver', 'pmin', 'dim', 'title', 'obs', 'anchor', 'sz'), fc.string({ unit: NAME_CHAR, minLength: 1, maxLength: 6 })),
    fc.oneof(fc.constant(true as const), fc.string({ unit: PTOKEN_CHAR, maxLength: 8 }), fc.string({ unit: QUOTED_CHAR, maxLength: 8 })),
  ), { selector: ([name]) => name, maxLength: 4 }).map((entries) => {
    const params: Record<string, string | true> = {};
    for (const [name, value] of entries) Object.defineProperty(params, name, { value, enumerable: true, writable: true, configurable: true });
    return params;
  }),
}), { maxLength: 5 });

const linkFormatTarget = (): DecoderTarget<string, Link[]> => {
  const seeds = [...corpus.LINK_FORMAT.filter((s) => s.length < 10_000), ...fc.sample(linksArb, { seed: SAMPLE_SEED, numRuns: 30 }).map(formatLinkFormat)];
  return {
    name: 'link-format',
    describe: 'parseLinkFormat, objectsFromLinks, attributesFromLink (link-format.ts, attributes.ts)',
    input: fc.oneof(
      { arbitrary: mutatedText(seeds, LINK_TOKENS), weight: 5 },
      { arbitrary: fc.tuple(linksArb, fc.array(fc.tuple(fc.constantFrom(...LINK_TOKENS), fc.nat()), { maxLength: 2 }))
        .map(([links, ins]) => ins.reduce((s, [t, at]) => s.slice(0, at % (s.length + 1)) + t + s.slice(at % (s.length + 1)), formatLinkFormat(links))), weight: 2 },
    ),
    corpus: () => corpus.LINK_FORMAT,
    decode: (text) => {
      const links = parseLinkFormat(text);
      // What parsed is written back and parses to the same links.
      const flat = (l: Link[]) => JSON.stringify(l.map((x) => [x.uri, Object.entries(x.params)]));
      if (flat(parseLinkFormat(formatLinkFormat(links))) !== flat(links)) throw new Error('links written back parse differently');
      each(() => objectsFromLinks(links), ...links.slice(0, 64).map((link) => () => attributesFromLink(link)));
    },
    roundTrip: { values: linksArb, check: (links) => {
      const back = parseLinkFormat(formatLinkFormat(links));
      const flat = (l: Link[]) => JSON.stringify(l.map((x) => [x.uri, Object.entries(x.params)]));
      if (flat(back) !== flat(links)) throw new Error(`links came back different: ${flat(back)}`);
    } },
    bytes: (t) => utf8(t),
    ciRuns: 4000,
  };
};

const QUERY_TOKENS = ['=', '&', 'Q', 'ep=', 'lt=', 'b=', 'lwm2m=', 'sms=', 'pmin=', 'pmax=', 'gt=', 'lt=', 'st=', 'epmin=', 'epmax=', '.', '-', 'e', '1.1', 'UQ'];

/** Lists of query options: seeds edited option by option, options dropped, repeated, added. */
function queryArb(seeds: readonly string[][]): fc.Arbitrary<string[]> {
  return fc.tuple(fc.nat({ max: seeds.length - 1 }), fc.array(fc.oneof(
    fc.record({ k: fc.constant('edit' as const), at: fc.nat(), text: mutatedText(['x'], QUERY_TOKENS, 3, false) }),
    fc.record({ k: fc.constant('mutate' as const), at: fc.nat(), ops: fc.array(fc.tuple(fc.constantFrom(...QUERY_TOKENS, '', '\u0000', '9'.repeat(30)), fc.nat()), { minLength: 1, maxLength: 2 }) }),
    fc.record({ k: fc.constant('drop' as const), at: fc.nat() }),
    fc.record({ k: fc.constant('repeat' as const), at: fc.nat(), times: fc.constantFrom(1, 2, 70) }),
  ), { maxLength: 4 })).map(([i, ops]) => {
    let q = [...seeds[i]!];
    for (const op of ops) {
      const at = q.length === 0 ? 0 : op.at % q.length;
      if (op.k === 'edit') q.splice(at, 0, op.text);
      else if (op.k === 'drop') q.splice(at, 1);
      else if (op.k === 'repeat') { if (q.length > 0) q = [...q, ...Array.from({ length: op.times }, () => q[at]!)]; }
      else if (q.length > 0) q[at] = op.ops.reduce((s, [t, p]) => s.slice(0, p % (s.length + 1)) + t + s.slice(p % (s.length + 1)), q[at]!);
    }
    return q;
  });
}

const decimal = fc.oneof(fc.integer({ min: -1_000_000, max: 1_000_000 }), fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e15, max: 1e15 }), fc.constantFrom(0.5, -20.5, 1.5e-7));
const period = fc.oneof(fc.nat({ max: 1000 }), fc.constantFrom(0, 2 ** 31 - 1));
const nullable = <T>(a: fc.Arbitrary<T>) => fc.option(fc.option(a, { nil: null, freq: 5 }), { nil: undefined, freq: 2 });
const attributesArb: fc.Arbitrary<Attributes> = fc.record({ pmin: nullable(period), pmax: nullable(period), gt: nullable(decimal), lt: nullable(decimal), st: nullable(decimal.map(Math.abs)), epmin: nullable(period), epmax: nullable(period) })
  .map((a) => Object.fromEntries(Object.entries(a).filter(([, v]) => v !== undefined)) as Attributes)
  .filter((a) => { try { formatAttributesQuery(a); return true; } catch { return false; } });

const attributesTarget = (): DecoderTarget<string[], Attributes> => ({
  name: 'attributes',
  describe: 'parseAttributesQuery: Write-Attributes Uri-Query options (attributes.ts)',
  input: queryArb([...corpus.ATTRIBUTE_QUERIES, ...fc.sample(attributesArb, { seed: SAMPLE_SEED, numRuns: 20 }).map(formatAttributesQuery)]),
  corpus: () => corpus.ATTRIBUTE_QUERIES,
  // What is taken must be writable again (a RangeError from the formatter is a finding) and read the same.
  decode: (q) => {
    const a = parseAttributesQuery(q);
    const back = parseAttributesQuery(formatAttributesQuery(a)) as Record<string, unknown>;
    const same = Object.keys(back).length === Object.keys(a).length && Object.entries(a).every(([k, v]) => Object.is(back[k], v));
    if (!same) throw new Error(`${q.join('&')} did not read back the same`);
  },
  roundTrip: { values: attributesArb, check: (a) => {
    const back = parseAttributesQuery(formatAttributesQuery(a)) as Record<string, unknown>;
    for (const [k, v] of Object.entries(a)) if (back[k] !== v) throw new Error(`${k}=${String(v)} came back as ${String(back[k])}`);
    if (Object.keys(back).length !== Object.keys(a).length) throw new Error('attributes came back with other names');
  } },
  bytes: (q) => utf8(q.join('&')),
  ciRuns: 5000,
});

const registrationArb: fc.Arbitrary<RegistrationParams> = fc.record({
  endpoint: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).filter((s) => !/[\u0000-\u001f\u007f-\u009f]/.test(s) && [...s].length <= 255),
  lifetime: fc.oneof(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.constantFrom(1, 86400, 2 ** 31 - 1)),
  lwm2mVersion: fc.oneof(fc.constantFrom('1.0', '1.1', '1.2'), fc.tuple(fc.nat({ max: 99 }), fc.nat({ max: 99 })).map(([a, b]) => `${a}.${b}`)),
  binding: fc.oneof(fc.constantFrom('U', 'S', 'US', 'T', 'N', 'UT', 'SU'), fc.uniqueArray(fc.constantFrom('U', 'S', 'N', 'T'), { minLength: 1, maxLength: 4 }).map((a) => a.join(''))),
  queueMode: fc.boolean(),
  smsNumber: fc.option(fc.stringMatching(/^[0-9]{1,15}$/), { nil: undefined }),
}).map((p) => { if (p.smsNumber === undefined) delete (p as { smsNumber?: string }).smsNumber; return p; });

const registrationTarget = (): DecoderTarget<string[], RegistrationParams> => ({
  name: 'registration',
  describe: 'parseRegisterQuery, parseUpdateQuery: Register/Update Uri-Query options (registration.ts)',
  input: queryArb([...corpus.REGISTER_QUERIES, ...fc.sample(registrationArb, { seed: SAMPLE_SEED, numRuns: 20 }).map(formatRegisterQuery)]),
  corpus: () => corpus.REGISTER_QUERIES,
  decode: (q) => each(() => parseRegisterQuery(q), () => parseUpdateQuery(q), () => parseRegisterQuery(q, { lifetime: 60 })),
  roundTrip: { values: registrationArb, check: (p) => {
    const back = parseRegisterQuery(formatRegisterQuery(p));
    if (JSON.stringify(back) !== JSON.stringify(p)) throw new Error(`came back as ${JSON.stringify(back)}`);
  } },
  bytes: (q) => utf8(q.join('&')),
  ciRuns: 5000,
});

// ---- Block option, paths, text, content, JSON values, UTF-8, base64

const blockTarget = (): DecoderTarget<Uint8Array, { num: number; more: boolean; szx: number }> => ({
  name: 'block',
  describe: 'decodeBlock, then blockSlice/blockCount on what it returns (block.ts)',
  input: fc.oneof(mutatedBytes(corpus.BLOCK, 3, false), fc.uint8Array({ maxLength: 5 })),
  corpus: () => corpus.BLOCK,
  decode: (v) => {
    const b = decodeBlock(u8(v));
    // A decoded option must be usable as it is: no RangeError from the arithmetic that serves it.
    for (const size of [0, 1, 1000, 2 ** 31, Number.MAX_SAFE_INTEGER]) { blockSlice(b.num, b.szx, size); blockCount(size, b.szx); }
  },
  roundTrip: {
    values: fc.record({ num: fc.integer({ min: 0, max: 2 ** 20 - 1 }), more: fc.boolean(), szx: fc.integer({ min: 0, max: 6 }) }),
    check: (b) => { const back = decodeBlock(encodeBlock(b)); if (back.num !== b.num || back.more !== b.more || back.szx !== b.szx) throw new Error(`came back as ${JSON.stringify(back)}`); },
  },
  bytes: (v) => v,
  ciRuns: 5000,
});

const PATH_TOKENS = ['/', '0', '1', '9', '65535', '65534', '00', '-', '+', ' ', '.', '%2F', '５', '٣'];

const pathTarget = (): DecoderTarget<string, Lwm2mPath> => ({
  name: 'path',
  describe: 'parsePath, pathFromSegments (path.ts)',
  input: fc.oneof(mutatedText([...corpus.PATHS.filter((p) => p.length < 100), '/3/0/0'], PATH_TOKENS, 4, false), pathArb.map(formatPath)),
  corpus: () => corpus.PATHS,
  decode: (text) => {
    let parsed: Lwm2mPath | undefined;
    each(() => { parsed = parsePath(text); }, () => pathFromSegments(text.split('/').slice(1)));
    // parsePath takes only the canonical spelling: it must print back as it came.
    if (parsed && formatPath(parsed) !== text) throw new Error(`${JSON.stringify(text)} parsed to ${formatPath(parsed)}`);
  },
  roundTrip: { values: pathArb, check: (p) => {
    if (formatPath(parsePath(formatPath(p))) !== formatPath(p) || formatPath(pathFromSegments(pathSegments(p))) !== formatPath(p)) throw new Error('came back different');
  } },
  bytes: (t) => utf8(t),
  ciRuns: 5000,
});

const TEXT_TOKENS = ['0', '1', '-', '.', 'e', 'E', '+', ':', '=', '9'.repeat(21), '65535', 'Infinity', 'NaN', '0x', ' '];

/** Resource paths of every type, known objects and the fuzz model's. */
const resourcePathArb: fc.Arbitrary<Lwm2mPath> = fc.oneof(
  fc.constantFrom(...corpus.TEXT_VALUES.map(([p]) => parsePath(p))),
  pathArb.filter((p) => p.resourceId !== undefined),
);

const textTarget = (): DecoderTarget<PayloadAt, NodesCase> => ({
  name: 'text',
  describe: 'plain text values by resource type: decodeContent(0), decodeTextInteger, decodeTextString (text.ts, content.ts)',
  input: fc.record({
    path: resourcePathArb,
    payload: mutatedUtf8(corpus.TEXT_VALUES.map(([, v]) => (typeof v === 'string' ? v : v.toString('latin1'))), TEXT_TOKENS),
  }),
  corpus: () => corpus.TEXT_VALUES.map(([p, v]) => ({ path: parsePath(p), payload: typeof v === 'string' ? utf8(v) : v })),
  decode: ({ path, payload }) => each(
    ...TYPE_OFS.map((typeOf) => () => decodeContent(ContentFormat.TEXT, u8(payload), path, typeOf)),
    () => decodeTextInteger(u8(payload)), () => decodeTextString(u8(payload)),
  ),
  roundTrip: { values: nodesCaseArb({ bigIntegers: false }).filter((c) => c.nodes.length === 1 && c.path?.resourceId !== undefined).map((c) => ({ ...c, path: c.nodes[0]!.path })),
    check: (c) => roundTripFormat(ContentFormat.TEXT, c) },
  bytes: (i) => i.payload,
  ciRuns: 4000,
});

interface ContentInput { format: number; path: Lwm2mPath | undefined; payload: Uint8Array }

/**
 * What a decoder accepted, the encoder of the same format must write, and the decoder read back
 * the same: a value no encoder can write (a non-finite number from SenML base-value arithmetic,
 * say) is a decoder bug. Time is compared in whole seconds (LwM2M Time is integer seconds; an
 * LwM2M-CBOR tag 1 may carry a fraction), and a tag 1 time on a resource of unknown type comes
 * back as its number of seconds.
 */
function rewrite(format: number, nodes: Lwm2mNodes, path: Lwm2mPath | undefined, typeOf: TypeOf): void {
  let payload: Buffer;
  try {
    payload = encodeContent(format, nodes, path, typeOf);
  } catch (e) {
    throw new Error(`decoded nodes the encoder refuses: ${e instanceof Error ? e.message : String(e)}`);
  }
  const back = decodeContent(format, payload, path, typeOf);
  const seconds = (v: unknown): unknown => (v instanceof Date ? Math.floor(v.getTime() / 1000) : v);
  const normal = (list: Lwm2mNodes): Lwm2mNodes => list.map((n) => ({ ...n, value: seconds(n.value) as never }));
  assertSameNodes(normal(nodes), normal(back), { timestamps: true });
}

const contentTarget = (): DecoderTarget<ContentInput, { format: number; c: NodesCase }> => {
  const payloads = fc.oneof(tlvInput(), mutatedUtf8(corpus.SENML_JSON.slice(0, 20), JSON_TOKENS), mutatedCbor(parseSeeds([...corpus.SENML_CBOR, ...corpus.LWM2M_CBOR]), 3),
    mutatedBytes([...corpus.TLV, ...corpus.SENML_CBOR, ...corpus.LWM2M_CBOR, ...corpus.SENML_JSON.map(utf8)], 4));
  const formats = [ContentFormat.TEXT, ContentFormat.OPAQUE, ContentFormat.TLV, ContentFormat.SENML_JSON, ContentFormat.SENML_CBOR, ContentFormat.LWM2M_CBOR];
  return {
    name: 'content',
    describe: 'decodeContent: every content format against any request path (content.ts)',
    input: fc.record({
      format: fc.oneof({ arbitrary: fc.constantFrom(...formats), weight: 6 }, { arbitrary: fc.constantFrom(40, 60, 11543, 1542, 65535, -1, 0.5, 2 ** 32), weight: 1 }),
      path: fc.option(pathArb, { nil: undefined, freq: 5 }),
      payload: payloads,
    }),
    corpus: () => [
      ...corpus.TLV_NODES.map(([payload, p]) => ({ format: ContentFormat.TLV, path: parsePath(p), payload })),
      ...corpus.SENML_JSON.map((s) => ({ format: ContentFormat.SENML_JSON, path: undefined, payload: utf8(s) })),
      ...corpus.SENML_CBOR.map((payload) => ({ format: ContentFormat.SENML_CBOR, path: parsePath('/3/0'), payload })),
      ...corpus.LWM2M_CBOR.map((payload) => ({ format: ContentFormat.LWM2M_CBOR, path: undefined, payload })),
      ...corpus.TEXT_VALUES.map(([p, v]) => ({ format: ContentFormat.OPAQUE, path: parsePath(p), payload: typeof v === 'string' ? utf8(v) : v })),
    ],
    decode: ({ format, path, payload }) => each(...TYPE_OFS.map((typeOf) => () => {
      const nodes = decodeContent(format, u8(payload), path, typeOf);
      if (nodes.length > 0) rewrite(format, nodes, path, typeOf);
    })),
    roundTrip: {
      values: fc.oneof(
        tlvCase.map((c) => ({ format: ContentFormat.TLV, c })),
        senmlJsonCase.map((c) => ({ format: ContentFormat.SENML_JSON, c })),
        senmlCborCase.map((c) => ({ format: ContentFormat.SENML_CBOR, c })),
        cborCase.map((c) => ({ format: ContentFormat.LWM2M_CBOR, c })),
        nodesCaseArb().filter((c) => c.nodes.length === 1 && fuzzTypeOf(c.nodes[0]!.path) === 'opaque').map((c) => ({ format: ContentFormat.OPAQUE, c: { ...c, path: c.nodes[0]!.path } })),
      ),
      check: ({ format, c }) => roundTripFormat(format, c),
    },
    bytes: (i) => i.payload,
    ciRuns: 3000,
  };
};

interface JsonInput { path: Lwm2mPath; json: unknown }

const JSON_STRINGS = ['2013-05-02T10:40:15Z', '2013-05-02T10:40:15.123+02:00', '+275760-09-13T00:00:00.000Z', '-000001-01-01T00:00:00.000Z', '9999-12-31T23:59:59Z',
  '18446744073709551615', '-9223372036854775808', '99999999999999999999', 'AQIDBAU=', '66:1', '65535:65535', '0', '-0', 'true', ''];

const valueJsonTarget = (): DecoderTarget<JsonInput, { path: Lwm2mPath; v: unknown }> => ({
  name: 'value-json',
  describe: 'valueFromJson: an operator\'s JSON value by resource type (value-json.ts, lwm2m-node.ts)',
  input: fc.record({
    path: resourcePathArb,
    json: fc.oneof(fc.jsonValue({ maxDepth: 2 }), mutatedText(JSON_STRINGS, TEXT_TOKENS, 3, false), fc.double(), fc.bigInt().map(String), fc.constantFrom(...corpus.JSON_VALUES.map(([, j]) => j))),
  }),
  corpus: () => corpus.JSON_VALUES.map(([p, json]) => ({ path: parsePath(p), json })),
  decode: ({ path, json }) => each(...TYPE_OFS.map((typeOf) => () => valueFromJson(json, typeOf(path), path))),
  roundTrip: {
    values: resourcePathArb.chain((path) => valueArb(fuzzTypeOf(path)).map((v) => ({ path, v }))),
    check: ({ path, v }) => assertSameValue(v as never, valueFromJson(valueToJson(v as never), fuzzTypeOf(path), path), formatPath(path)),
  },
  bytes: (i) => utf8(JSON.stringify(i.json) ?? ''),
  ciRuns: 5000,
});

const utf8Target = (): DecoderTarget<Uint8Array, string> => ({
  name: 'utf8',
  describe: 'decodeUtf8: strict UTF-8; what it returns is well-formed text (utf8.ts)',
  input: fc.oneof(mutatedBytes(corpus.UTF8, 4, false), fc.string({ unit: 'grapheme', maxLength: 8 }).map(utf8), fc.uint8Array({ maxLength: 8 })),
  corpus: () => corpus.UTF8,
  decode: (b) => {
    const s = decodeUtf8(b, 'utf8', 'fuzz input');
    if (!isWellFormedText(s)) throw new Error('decodeUtf8 returned a lone surrogate');
  },
  roundTrip: { values: fc.string({ unit: 'binary', maxLength: 16 }), check: (s) => {
    let encoded: Buffer;
    try { encoded = encodeUtf8(s); } catch (e) {
      if (e instanceof RangeError && !isWellFormedText(s)) return; // a lone surrogate cannot be UTF-8
      throw e;
    }
    if (decodeUtf8(encoded, 'utf8', 'x') !== s) throw new Error('came back different');
  } },
  bytes: (b) => b,
  ciRuns: 5000,
});

const base64Target = (): DecoderTarget<string, Uint8Array> => ({
  name: 'base64',
  describe: 'decodeBase64: either alphabet, padding optional, canonical (base64.ts)',
  input: fc.oneof(
    mutatedText([...corpus.BASE64, ...fc.sample(fc.uint8Array({ maxLength: 12 }), { seed: SAMPLE_SEED, numRuns: 10 }).map(encodeBase64)], ['=', '==', '-', '_', '+', '/', 'A', ' ', '\n'], 3, false),
    fc.uint8Array({ maxLength: 12 }).map((b) => encodeBase64Url(b)),
  ),
  corpus: () => corpus.BASE64,
  decode: (t) => { decodeBase64(t, 'base64'); },
  roundTrip: { values: fc.uint8Array({ maxLength: 40 }), check: (b) => {
    for (const text of [encodeBase64(b), encodeBase64Url(b)]) if (!decodeBase64(text, 'base64').equals(Buffer.from(b))) throw new Error(`${text} came back different`);
  } },
  bytes: (t) => utf8(t),
  ciRuns: 5000,
});

// ---- CoAP messages

/** Options the guard understands (a sample: firstBadOption's answer depends on the set, not its size). */
const UNDERSTOOD: ReadonlySet<number> = new Set(Object.values(CoapOption));

const coapMessageTarget = (): DecoderTarget<Uint8Array, never> => {
  const seeds = [...corpus.COAP_MESSAGES, ...fc.sample(coapMessageArb, { seed: SAMPLE_SEED, numRuns: 30 }).map(encodeCoapAst)];
  return {
    name: 'coap-message',
    describe: 'decodeCoapMessage, readHeader, firstBadOption, uintValue: the CoAP datagram in front of the sockets (coap-message.ts)',
    input: fc.oneof(
      { arbitrary: fc.tuple(coapMessageArb, fc.array(coapOp, { maxLength: 3 }), fc.array(byteOp(false), { maxLength: 1 })).map(([m, ops, bops]) => applyByteOps(encodeCoapAst(applyCoapOps(m, ops)), bops)), weight: 5 },
      { arbitrary: mutatedBytes(seeds, 4), weight: 3 },
    ),
    corpus: () => corpus.COAP_MESSAGES,
    decode: (b) => {
      readHeader(u8(b));
      const m = decodeCoapMessage(u8(b));
      firstBadOption(m.options, UNDERSTOOD);
      codeText(m.code);
      for (const [, v] of m.options) uintValue(v);
      // Every byte is accounted for: header, token, options, marker and payload.
      const size = 4 + m.token.length + m.options.reduce((n, [, v]) => n + v.length, 0) + (m.payload.length > 0 ? 1 + m.payload.length : 0);
      if (size > b.length) throw new Error(`decoded ${size} bytes out of ${b.length}`);
    },
    bytes: (b) => b,
    ciRuns: 5000,
  };
};

// ---- The table

type AnyTarget = DecoderTarget<unknown, unknown>;

const FACTORIES: Record<string, () => DecoderTarget<never, never>> = {
  'tlv': tlvTarget as never,
  'tlv-nodes': tlvNodesTarget as never,
  'senml-json': senmlJsonTarget as never,
  'senml-cbor': senmlCborTarget as never,
  'lwm2m-cbor': lwm2mCborTarget as never,
  'cbor': cborTarget as never,
  'cbor-guard': cborGuardTarget as never,
  'cose': coseTarget as never,
  'package': packageTarget as never,
  'package-verify': packageVerifyTarget as never,
  'package-keys': pemTarget as never,
  'link-format': linkFormatTarget as never,
  'attributes': attributesTarget as never,
  'registration': registrationTarget as never,
  'block': blockTarget as never,
  'path': pathTarget as never,
  'text': textTarget as never,
  'content': contentTarget as never,
  'value-json': valueJsonTarget as never,
  'utf8': utf8Target as never,
  'base64': base64Target as never,
  'coap-message': coapMessageTarget as never,
};

export const DECODER_NAMES: readonly string[] = Object.keys(FACTORIES);

const built = new Map<string, AnyTarget>();

export function decoderTarget(name: string): AnyTarget {
  let t = built.get(name);
  if (!t) {
    const factory = FACTORIES[name];
    if (!factory) throw new Error(`no decoder target ${name} (${DECODER_NAMES.join(', ')})`);
    t = factory() as unknown as AnyTarget;
    built.set(name, t);
  }
  return t;
}
