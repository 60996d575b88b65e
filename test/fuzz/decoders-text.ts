/** Decoder fuzz targets of text and small values: link-format, attributes, registration query, Block option, paths, text, content, JSON values, UTF-8, base64, CoAP messages. */
import fc from 'fast-check';
import { attributesFromLink, formatAttributesQuery, parseAttributesQuery, type Attributes } from '../../protocols/attributes.ts';
import { decodeBase64, encodeBase64, encodeBase64Url } from '../../protocols/base64.ts';
import { blockCount, blockSlice, decodeBlock, encodeBlock } from '../../protocols/block.ts';
import { codeText, decodeCoapMessage, firstBadOption, readHeader } from '../../protocols/coap-message.ts';
import { CoapOption, decodeUint, encodeUint } from '../../protocols/coap-option.ts';
import { decodeContent, encodeContent } from '../../protocols/content.ts';
import { ContentFormat } from '../../protocols/content-format.ts';
import { formatLinkFormat, objectsFromLinks, parseLinkFormat, type Link } from '../../protocols/link-format.ts';
import type { Lwm2mNodes, TypeOf } from '../../protocols/lwm2m-node.ts';
import { formatPath, parsePath, pathFromSegments, pathSegments, type Lwm2mPath } from '../../protocols/path.ts';
import { formatRegisterQuery, parseRegisterQuery, parseUpdateQuery, type RegistrationParams } from '../../protocols/registration.ts';
import { decodeTextInteger, decodeTextString } from '../../protocols/text.ts';
import { decodeUtf8, encodeUtf8, isWellFormedText } from '../../protocols/utf8.ts';
import { valueFromJson, valueToJson } from '../../protocols/value-json.ts';
import { mutatedCbor, parseSeeds } from './cbor-ast.ts';
import { applyCoapOps, coapMessageArb, coapOp, encodeCoapAst } from './coap-ast.ts';
import * as corpus from './corpus.ts';
import type { DecoderTarget } from './engine.ts';
import { applyByteOps, byteOp, mutatedBytes, mutatedText, mutatedUtf8 } from './mutate.ts';
import { assertSameNodes, assertSameValue, fuzzTypeOf, nodesCaseArb, valueArb, type NodesCase } from './values.ts';
import { u8, utf8, TYPE_OFS, SAMPLE_SEED, each, pathArb, roundTripFormat, tlvCase, senmlJsonCase, senmlCborCase, cborCase } from './decoder-kit.ts';
import { JSON_TOKENS, tlvInput, type PayloadAt } from './decoders-content.ts';
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

export const linkFormatTarget = (): DecoderTarget<string, Link[]> => {
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

export const attributesTarget = (): DecoderTarget<string[], Attributes> => ({
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

export const registrationTarget = (): DecoderTarget<string[], RegistrationParams> => ({
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

export const blockTarget = (): DecoderTarget<Uint8Array, { num: number; more: boolean; szx: number }> => ({
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

export const pathTarget = (): DecoderTarget<string, Lwm2mPath> => ({
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

export const textTarget = (): DecoderTarget<PayloadAt, NodesCase> => ({
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

export const contentTarget = (): DecoderTarget<ContentInput, { format: number; c: NodesCase }> => {
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

export const valueJsonTarget = (): DecoderTarget<JsonInput, { path: Lwm2mPath; v: unknown }> => ({
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

export const utf8Target = (): DecoderTarget<Uint8Array, string> => ({
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

export const base64Target = (): DecoderTarget<string, Uint8Array> => ({
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

export const coapMessageTarget = (): DecoderTarget<Uint8Array, never> => {
  const seeds = [...corpus.COAP_MESSAGES, ...fc.sample(coapMessageArb, { seed: SAMPLE_SEED, numRuns: 30 }).map(encodeCoapAst)];
  return {
    name: 'coap-message',
    describe: 'decodeCoapMessage, readHeader, firstBadOption, decodeUint: the CoAP datagram in front of the sockets (coap-message.ts, coap-option.ts)',
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
      for (const [, v] of m.options) {
        const n = decodeUint(v, 6);
        if (n !== undefined && decodeUint(encodeUint(n), 6) !== n) throw new Error(`uint ${n} came back different`);
      }
      // Every byte is accounted for: header, token, options, marker and payload.
      const size = 4 + m.token.length + m.options.reduce((n, [, v]) => n + v.length, 0) + (m.payload.length > 0 ? 1 + m.payload.length : 0);
      if (size > b.length) throw new Error(`decoded ${size} bytes out of ${b.length}`);
    },
    bytes: (b) => b,
    ciRuns: 5000,
  };
};
