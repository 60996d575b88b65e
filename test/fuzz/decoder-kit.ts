/**
 * What the decoder fuzz targets share: byte and text helpers, running several decoders on one
 * input, LwM2M paths, content-format round trips and their seeds.
 */
import fc from 'fast-check';
import { decodeContent, encodeContent } from '../../protocols/content.ts';
import { DecodeError } from '../../protocols/errors.ts';
import { ContentFormat } from '../../protocols/content-format.ts';
import type { TypeOf } from '../../protocols/lwm2m-node.ts';
import { defaultTypeOf } from '../../protocols/object-model.ts';
import { PackageError } from '../../protocols/package.ts';
import type { Lwm2mPath } from '../../protocols/path.ts';
import { assertSameNodes, fuzzTypeOf, nodesCaseArb, type NodesCase } from './values.ts';

export const u8 = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
export const utf8 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));
export const TYPE_OFS: readonly TypeOf[] = [defaultTypeOf, fuzzTypeOf];
export const SAMPLE_SEED = 0x5eed;

/**
 * Runs several decoders on one input: an error other than the typed ones is thrown at once (a
 * finding); otherwise the first typed error, if any, is thrown after all have run.
 */
export function each(...fns: Array<() => unknown>): void {
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

export const PATH_IDS = fc.oneof(fc.integer({ min: 0, max: 9 }), fc.constantFrom(0, 1, 3, 5, 19, 255, 256, 65534), fc.integer({ min: 0, max: 65534 }));
export const pathArb: fc.Arbitrary<Lwm2mPath> = fc.array(PATH_IDS, { minLength: 1, maxLength: 4 }).map((ids) => {
  const [objectId, instanceId, resourceId, resourceInstanceId] = ids as [number, number?, number?, number?];
  return { objectId, ...(instanceId === undefined ? {} : { instanceId }), ...(resourceId === undefined ? {} : { resourceId }), ...(resourceInstanceId === undefined ? {} : { resourceInstanceId }) };
});

// ---- Round trips through the content formats

/** Nodes → a content format → nodes again; TLV gives opaque bytes back for a resource of unknown type. */
export function roundTripFormat(format: number, c: NodesCase): void {
  const payload = encodeContent(format, c.nodes, c.path, fuzzTypeOf);
  const back = decodeContent(format, payload, c.path, fuzzTypeOf);
  const expected = format === ContentFormat.TLV
    ? c.nodes.map((n) => (fuzzTypeOf(n.path) === undefined ? { ...n, value: Buffer.from(n.value as string, 'utf8') } : n))
    : c.nodes;
  assertSameNodes(expected, back, { timestamps: format === ContentFormat.SENML_JSON || format === ContentFormat.SENML_CBOR });
}

export const tlvCase = nodesCaseArb({ root: false });
export const senmlJsonCase = nodesCaseArb({ bigIntegers: false, timestamps: true });
export const senmlCborCase = nodesCaseArb({ timestamps: true });
export const cborCase = nodesCaseArb();

/** Encoded valid payloads, a fixed sample, as mutation seeds. */
export function encodedSeeds(format: number, arb: fc.Arbitrary<NodesCase>, n = 40): Uint8Array[] {
  return fc.sample(arb, { seed: SAMPLE_SEED, numRuns: n }).flatMap((c) => {
    try { return [new Uint8Array(encodeContent(format, c.nodes, c.path, fuzzTypeOf))]; } catch { return []; }
  });
}
