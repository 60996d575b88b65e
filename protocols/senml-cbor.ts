/**
 * SenML-CBOR, content-format 112 (RFC 8428 §6; LwM2M 1.1 Core §7.4.5): an array of maps keyed by
 * the integer labels of RFC 8428 Table 4 (bver -1, bn -2, bt -3, bu -4, bv -5, bs -6, n 0, u 1,
 * v 2, vs 3, vb 4, s 5, t 6, ut 7, vd 8) and the text label "vlo" for object links.
 * Numbers may be integers, floats or decimal fractions (tag 4); no other tag is accepted.
 */
import type { CborLimits } from './cbor-guard.ts';
import { decodeCborGuarded, encodeCbor } from './cbor-guard.ts';
import { DecodeError } from './errors.ts';
import type { Lwm2mNodes, Lwm2mResourceValue, TypeOf } from './lwm2m-node.ts';
import { defaultTypeOf } from './object-model.ts';
import type { Lwm2mPath } from './path.ts';
import type { SenmlRecord } from './senml.ts';
import { nodesToSenml, resolveSenml, senmlToNodes } from './senml.ts';
import { isWellFormedText } from './utf8.ts';

/** Array → map → tag 4 → [exponent, mantissa]: depth 4 at most. */
const LIMITS: CborLimits = { maxBytes: 1024 * 1024, maxDepth: 4, maxItems: 400_000, tags: [4] };

type Kind = 'string' | 'number' | 'boolean' | 'bytes';
const LABELS: ReadonlyMap<number | string, [keyof SenmlRecord | 'ut', Kind]> = new Map<number | string, [keyof SenmlRecord | 'ut', Kind]>([
  [-1, ['bver', 'number']],
  [-2, ['bn', 'string']],
  [-3, ['bt', 'number']],
  [-4, ['bu', 'string']],
  [-5, ['bv', 'number']],
  [-6, ['bs', 'number']],
  [0, ['n', 'string']],
  [1, ['u', 'string']],
  [2, ['v', 'number']],
  [3, ['vs', 'string']],
  [4, ['vb', 'boolean']],
  [5, ['s', 'number']],
  [6, ['t', 'number']],
  [7, ['ut', 'number']],
  [8, ['vd', 'bytes']],
  ['vlo', ['vlo', 'string']],
]);

/** Decodes a SenML-CBOR payload to LwM2M nodes. */
export function decodeSenmlCbor(buf: Uint8Array, typeOf: TypeOf = defaultTypeOf): Lwm2mNodes {
  return senmlToNodes(resolveSenml(parseSenmlCbor(buf)), 'senml', typeOf);
}

/** Encodes nodes as SenML-CBOR; see nodesToSenml() for bn and n. */
export function encodeSenmlCbor(nodes: readonly Lwm2mResourceValue[], requestPath?: Lwm2mPath, typeOf: TypeOf = defaultTypeOf): Buffer {
  return formatSenmlCbor(nodesToSenml(nodes, requestPath, typeOf));
}

/** Parses a SenML-CBOR pack into records as they are written (not resolved). */
export function parseSenmlCbor(buf: Uint8Array): SenmlRecord[] {
  const pack = decodeCborGuarded(buf, LIMITS);
  if (!Array.isArray(pack)) throw invalid('a SenML pack is a CBOR array of records');
  return pack.map((item: unknown, i) => {
    if (!(item instanceof Map)) throw invalid(`record ${i} is not a CBOR map`);
    const record: Record<string, unknown> = {};
    for (const [key, value] of item as Map<unknown, unknown>) {
      if (typeof key === 'string' && key.endsWith('_')) {
        throw new DecodeError('senml.unsupported', `record ${i} has the must-understand field "${key.slice(0, 40)}"`);
      }
      const label = typeof key === 'number' || typeof key === 'string' ? LABELS.get(key) : undefined;
      if (label === undefined) continue; // RFC 8428 §4.4: unknown fields are ignored
      const [name, kind] = label;
      const checked = check(value, kind, i, name);
      if (name !== 'ut') record[name] = checked;
    }
    return record as SenmlRecord;
  });
}

function check(value: unknown, kind: Kind, i: number, name: string): unknown {
  switch (kind) {
    case 'string':
      if (typeof value === 'string' && isWellFormedText(value)) return value;
      break;
    case 'number':
      // Integers past 2**53 arrive as bigint: kept for "v", read as numbers elsewhere.
      if (typeof value === 'bigint') return name === 'v' ? value : Number(value);
      if (typeof value === 'number') return value;
      break;
    case 'boolean':
      if (typeof value === 'boolean') return value;
      break;
    case 'bytes':
      if (value instanceof Uint8Array) return value;
      break;
  }
  throw invalid(`record ${i}: ${name} must be a ${kind === 'bytes' ? 'byte string' : kind}`);
}

/** Writes records as maps in the order bn, bt, n, value, t (the LwM2M examples' order). */
export function formatSenmlCbor(records: readonly SenmlRecord[]): Buffer {
  return encodeCbor(
    records.map((r) => {
      const m = new Map<number | string, unknown>();
      if (r.bn !== undefined) m.set(-2, r.bn);
      if (r.bt !== undefined) m.set(-3, r.bt);
      if (r.n !== undefined) m.set(0, r.n);
      if (r.v !== undefined) m.set(2, r.v);
      if (r.vs !== undefined) m.set(3, r.vs);
      if (r.vb !== undefined) m.set(4, r.vb);
      if (r.vd !== undefined) m.set(8, Buffer.from(r.vd.buffer, r.vd.byteOffset, r.vd.byteLength));
      if (r.vlo !== undefined) m.set('vlo', r.vlo);
      if (r.t !== undefined) m.set(6, r.t);
      return m;
    }),
  );
}

function invalid(reason: string): DecodeError {
  return new DecodeError('senml.invalid', reason);
}
