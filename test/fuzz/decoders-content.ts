/** Decoder fuzz targets of the LwM2M content formats on bytes: TLV, SenML-JSON, SenML-CBOR, LwM2M-CBOR, and the CBOR reader and guard under them. */
import fc from 'fast-check';
import { decodeCborGuarded, encodeCbor as encodeCborX, type CborLimits } from '../../protocols/cbor-guard.ts';
import { CborTag, decodeCbor, encodeCbor, type CborKey, type CborValue } from '../../protocols/cbor.ts';
import { ContentFormat } from '../../protocols/content-format.ts';
import { decodeLwm2mCbor } from '../../protocols/lwm2m-cbor.ts';
import { formatPath, parsePath, type Lwm2mPath } from '../../protocols/path.ts';
import { resolveSenml } from '../../protocols/senml.ts';
import { decodeSenmlCbor } from '../../protocols/senml-cbor.ts';
import { decodeSenmlJson, parseSenmlJson } from '../../protocols/senml-json.ts';
import { decodeTlv, decodeTlvBoolean, decodeTlvFloat, decodeTlvInteger, decodeTlvObjlnk, decodeTlvString, encodeTlv, encodeTlvBoolean, encodeTlvFloat, encodeTlvInteger, encodeTlvObjlnk, encodeTlvString, tlvResources, type Tlv } from '../../protocols/tlv.ts';
import { nodesToTlv, tlvToNodes } from '../../protocols/tlv-nodes.ts';
import type { Cbor } from './cbor-ast.ts';
import { applyAstOps, array, astOp, bytes as cborBytes, cborArb, encodeAst, int, leafArb, map, mutatedCbor, parseSeeds, text as cborText, uint } from './cbor-ast.ts';
import * as corpus from './corpus.ts';
import type { DecoderTarget } from './engine.ts';
import { applyByteOps, byteOp, mutatedBytes, mutatedUtf8 } from './mutate.ts';
import { coseOf, packagePool } from './packages.ts';
import { applyTlvOps, encodeTlvAst, tlvOp, tlvToAst, tlvTreeArb, type TlvNode } from './tlv-ast.ts';
import { assertSameNodes, assertSameValue, fuzzTypeOf, type NodesCase } from './values.ts';
import { u8, utf8, TYPE_OFS, SAMPLE_SEED, each, PATH_IDS, pathArb, roundTripFormat, tlvCase, senmlJsonCase, senmlCborCase, cborCase, encodedSeeds } from './decoder-kit.ts';
// ---- TLV

let tlvInputs: fc.Arbitrary<Uint8Array> | undefined;

/** TLV payloads: the spec vectors and encoded trees, mutated entry by entry (type bits, widths, lengths, nesting) and byte by byte. */
export function tlvInput(): fc.Arbitrary<Uint8Array> {
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

export const tlvTarget = (): DecoderTarget<Uint8Array, Tlv[] | { n: number | bigint; f: number; s: string; l: [number, number]; b: boolean }> => ({
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

export interface PayloadAt { payload: Uint8Array; path: Lwm2mPath }

export const tlvNodesTarget = (): DecoderTarget<PayloadAt, NodesCase> => ({
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
export const JSON_TOKENS = ['[', ']', '{', '}', ',', ':', '"n"', '"bn"', '"v"', '"vs"', '"vd"', '"vlo"', '"bver"', '"t"', '"x_"', 'null', 'true',
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

export const senmlJsonTarget = (): DecoderTarget<Uint8Array, NodesCase> => {
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

export const senmlCborTarget = (): DecoderTarget<Uint8Array, NodesCase> => cborFormatTarget({
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

export const lwm2mCborTarget = (): DecoderTarget<Uint8Array, NodesCase> => cborFormatTarget({
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

export const cborTarget = (): DecoderTarget<Uint8Array, CborValue> => {
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

export const cborGuardTarget = (): DecoderTarget<GuardedInput, unknown> => {
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
