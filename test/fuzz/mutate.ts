/**
 * Mutations for the decoder fuzzers, as fast-check arbitraries: a mutation is data (so fast-check
 * shrinks it: fewer operations, smaller offsets, shorter insertions), applied to a valid seed.
 *
 * Bytes: flip a bit, set an interesting byte, insert, delete, duplicate or repeat a run, truncate,
 * overwrite an integer field (1–8 bytes, big-endian) with a boundary value, swap two runs, splice
 * in another seed. Text: the same over UTF-16 code units, with each format's own tokens.
 */
import fc from 'fast-check';

/** Bytes that mean something to one of the formats: TLV type bytes, CBOR heads, breaks, text separators. */
export const INTERESTING_BYTES: readonly number[] = [
  0x00, 0x01, 0x07, 0x08, 0x0f, 0x10, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1f, 0x20, 0x22, 0x2c, 0x2f, 0x30, 0x38,
  0x3b, 0x3c, 0x3d, 0x3e, 0x40, 0x41, 0x5c, 0x5f, 0x60, 0x7f, 0x80, 0x81, 0x9f, 0xa0, 0xa1, 0xbf, 0xc0, 0xc1, 0xc2,
  0xc4, 0xc8, 0xd0, 0xd2, 0xd8, 0xe0, 0xe1, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfe, 0xff,
];

/** Boundary values of length and integer fields: 8/16/24/32/53/64-bit edges. */
export const INTERESTING_INTS: readonly bigint[] = [
  0n, 1n, 2n, 7n, 8n, 23n, 24n, 31n, 32n, 127n, 128n, 255n, 256n, 0x7fffn, 0x8000n, 0xfffen, 0xffffn, 0x10000n,
  0xffffffn, 0x1000000n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n, 2n ** 53n - 1n, 2n ** 53n,
  2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n,
];

export type ByteOp =
  | { k: 'flip'; at: number; bit: number }
  | { k: 'set'; at: number; v: number }
  | { k: 'insert'; at: number; bytes: Uint8Array }
  | { k: 'delete'; at: number; n: number }
  | { k: 'dup'; at: number; n: number; to: number }
  | { k: 'repeat'; at: number; n: number; times: number }
  | { k: 'truncate'; at: number }
  | { k: 'int'; at: number; width: 1 | 2 | 3 | 4 | 8; v: bigint }
  | { k: 'swap'; a: number; b: number; n: number }
  | { k: 'splice'; at: number; other: number; from: number; n: number };

const at = fc.nat({ max: 0xffff });
/** How many times a repeated run is written: mostly a few KiB at most, now and then tens of KiB. */
const HUGE_TIMES = fc.oneof({ arbitrary: fc.constantFrom(8, 64, 1000), weight: 9 }, { arbitrary: fc.constant(20_000), weight: 1 });
const HUGE_TEXT_TIMES = fc.oneof({ arbitrary: fc.constantFrom(10, 100, 2000), weight: 9 }, { arbitrary: fc.constant(40_000), weight: 1 });
const interestingByte = fc.oneof(fc.constantFrom(...INTERESTING_BYTES), fc.integer({ min: 0, max: 255 }));
export const interestingInt = fc.oneof(
  { arbitrary: fc.constantFrom(...INTERESTING_INTS), weight: 4 },
  { arbitrary: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), weight: 1 },
);

/**
 * One byte-level mutation. `huge` admits the repeat operation that grows an input to tens of
 * KiB (nesting bombs, long runs); it is rare, since it slows every decoder down.
 */
export function byteOp(huge = true): fc.Arbitrary<ByteOp> {
  return fc.oneof(
    { arbitrary: fc.record({ k: fc.constant('flip' as const), at, bit: fc.integer({ min: 0, max: 7 }) }), weight: 6 },
    { arbitrary: fc.record({ k: fc.constant('set' as const), at, v: interestingByte }), weight: 6 },
    { arbitrary: fc.record({ k: fc.constant('insert' as const), at, bytes: fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 8 }), interestingByte.map((b) => Uint8Array.of(b))) }), weight: 4 },
    { arbitrary: fc.record({ k: fc.constant('delete' as const), at, n: fc.integer({ min: 1, max: 16 }) }), weight: 4 },
    { arbitrary: fc.record({ k: fc.constant('dup' as const), at, n: fc.integer({ min: 1, max: 32 }), to: at }), weight: 2 },
    { arbitrary: fc.record({ k: fc.constant('truncate' as const), at }), weight: 3 },
    { arbitrary: fc.record({ k: fc.constant('int' as const), at, width: fc.constantFrom(1 as const, 2 as const, 3 as const, 4 as const, 8 as const), v: interestingInt }), weight: 4 },
    { arbitrary: fc.record({ k: fc.constant('swap' as const), a: at, b: at, n: fc.integer({ min: 1, max: 16 }) }), weight: 2 },
    { arbitrary: fc.record({ k: fc.constant('splice' as const), at, other: fc.nat(), from: at, n: fc.integer({ min: 1, max: 64 }) }), weight: 1 },
    ...(huge ? [{ arbitrary: fc.record({ k: fc.constant('repeat' as const), at, n: fc.integer({ min: 1, max: 4 }), times: HUGE_TIMES }), weight: 1 }] : []),
  );
}

/** Applies mutations to a copy of `seed`; `others` are the seeds a splice may take bytes from. */
export function applyByteOps(seed: Uint8Array, ops: readonly ByteOp[], others: readonly Uint8Array[] = []): Uint8Array {
  let b: Uint8Array = Uint8Array.from(seed);
  for (const op of ops) b = applyByteOp(b, op, others);
  return b;
}

function applyByteOp(b: Uint8Array, op: ByteOp, others: readonly Uint8Array[]): Uint8Array {
  const pos = (n: number): number => (b.length === 0 ? 0 : n % (b.length + 1));
  const inside = (n: number): number => n % b.length;
  switch (op.k) {
    case 'flip':
      if (b.length > 0) b[inside(op.at)]! ^= 1 << op.bit;
      return b;
    case 'set':
      if (b.length > 0) b[inside(op.at)] = op.v;
      return b;
    case 'insert':
      return concat(b.subarray(0, pos(op.at)), op.bytes, b.subarray(pos(op.at)));
    case 'delete': {
      const p = pos(op.at);
      return concat(b.subarray(0, p), b.subarray(p + op.n));
    }
    case 'dup': {
      const p = pos(op.at);
      return concat(b.subarray(0, pos(op.to)), b.subarray(p, p + op.n), b.subarray(pos(op.to)));
    }
    case 'repeat': {
      const p = pos(op.at);
      const run = b.subarray(p, p + op.n);
      if (run.length === 0) return b;
      const out = new Uint8Array(b.length + run.length * op.times);
      out.set(b.subarray(0, p), 0);
      for (let i = 0; i < op.times; i++) out.set(run, p + i * run.length);
      out.set(b.subarray(p), p + run.length * op.times);
      return out;
    }
    case 'truncate':
      return b.subarray(0, pos(op.at));
    case 'int': {
      if (b.length === 0) return b;
      const p = inside(op.at);
      let v = op.v;
      for (let i = op.width - 1; i >= 0; i--) {
        if (p + i < b.length) b[p + i] = Number(v & 0xffn);
        v >>= 8n;
      }
      return b;
    }
    case 'swap': {
      if (b.length === 0) return b;
      const a = inside(op.a);
      const c = inside(op.b);
      const n = Math.min(op.n, b.length - Math.max(a, c));
      const tmp = b.slice(a, a + n);
      b.copyWithin(a, c, c + n);
      b.set(tmp, c);
      return b;
    }
    case 'splice': {
      const other = others.length > 0 ? others[op.other % others.length]! : b;
      const from = other.length === 0 ? 0 : op.from % other.length;
      return concat(b.subarray(0, pos(op.at)), other.subarray(from, from + op.n));
    }
  }
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) { out.set(p, offset); offset += p.length; }
  return out;
}

/** A seed from `seeds`, then 0–`max` byte mutations (0 keeps the seed itself in play). */
export function mutatedBytes(seeds: readonly Uint8Array[], max = 6, huge = true): fc.Arbitrary<Uint8Array> {
  if (seeds.length === 0) throw new Error('mutatedBytes needs at least one seed');
  return fc
    .tuple(fc.nat({ max: seeds.length - 1 }), fc.array(byteOp(huge), { maxLength: max }))
    .map(([i, ops]) => applyByteOps(seeds[i]!, ops, seeds));
}

// ---- Text

export type TextOp =
  | { k: 'insert'; at: number; token: string }
  | { k: 'delete'; at: number; n: number }
  | { k: 'dup'; at: number; n: number; to: number }
  | { k: 'replace'; at: number; n: number; token: string }
  | { k: 'truncate'; at: number }
  | { k: 'repeat'; at: number; n: number; times: number };

/** Tokens every text format gets: quotes, escapes, controls, lone surrogates, non-ASCII, long digits. */
export const COMMON_TOKENS: readonly string[] = [
  '"', '\\', '\\"', '\u0000', '\t', '\r\n', ' ', '\u007f', '\u0085', '\ud800', '\udc00', '\ufeff', '\uffff', 'é', '😀',
  '0', '-', '-0', '1', '9'.repeat(25), '1e999', '0x1', '%00', '%', '=', '&', '/', '//', '.', '..',
];

export function textOp(tokens: readonly string[], huge = true): fc.Arbitrary<TextOp> {
  const token = fc.oneof(
    { arbitrary: fc.constantFrom(...tokens, ...COMMON_TOKENS), weight: 5 },
    { arbitrary: fc.string({ unit: 'binary', maxLength: 4 }), weight: 1 },
  );
  return fc.oneof(
    { arbitrary: fc.record({ k: fc.constant('insert' as const), at, token }), weight: 5 },
    { arbitrary: fc.record({ k: fc.constant('replace' as const), at, n: fc.integer({ min: 1, max: 6 }), token }), weight: 5 },
    { arbitrary: fc.record({ k: fc.constant('delete' as const), at, n: fc.integer({ min: 1, max: 8 }) }), weight: 3 },
    { arbitrary: fc.record({ k: fc.constant('dup' as const), at, n: fc.integer({ min: 1, max: 24 }), to: at }), weight: 2 },
    { arbitrary: fc.record({ k: fc.constant('truncate' as const), at }), weight: 2 },
    ...(huge ? [{ arbitrary: fc.record({ k: fc.constant('repeat' as const), at, n: fc.integer({ min: 1, max: 4 }), times: HUGE_TEXT_TIMES }), weight: 1 }] : []),
  );
}

export function applyTextOps(seed: string, ops: readonly TextOp[]): string {
  let s = seed;
  for (const op of ops) {
    const pos = (n: number): number => n % (s.length + 1);
    switch (op.k) {
      case 'insert': s = s.slice(0, pos(op.at)) + op.token + s.slice(pos(op.at)); break;
      case 'replace': { const p = pos(op.at); s = s.slice(0, p) + op.token + s.slice(p + op.n); break; }
      case 'delete': { const p = pos(op.at); s = s.slice(0, p) + s.slice(p + op.n); break; }
      case 'dup': { const p = pos(op.at); const t = pos(op.to); s = s.slice(0, t) + s.slice(p, p + op.n) + s.slice(t); break; }
      case 'truncate': s = s.slice(0, pos(op.at)); break;
      case 'repeat': { const p = pos(op.at); s = s.slice(0, p) + s.slice(p, p + op.n).repeat(op.times) + s.slice(p); break; }
    }
  }
  return s;
}

/** A seed string, then 0–`max` token-level edits. */
export function mutatedText(seeds: readonly string[], tokens: readonly string[], max = 5, huge = true): fc.Arbitrary<string> {
  if (seeds.length === 0) throw new Error('mutatedText needs at least one seed');
  return fc
    .tuple(fc.nat({ max: seeds.length - 1 }), fc.array(textOp(tokens, huge), { maxLength: max }))
    .map(([i, ops]) => applyTextOps(seeds[i]!, ops));
}

/** A text seed as bytes, mutated at the text level or at the byte level (UTF-8 broken on purpose). */
export function mutatedUtf8(seeds: readonly string[], tokens: readonly string[]): fc.Arbitrary<Uint8Array> {
  const bytes = seeds.map((s) => new Uint8Array(Buffer.from(s, 'utf8')));
  return fc.oneof(
    { arbitrary: mutatedText(seeds, tokens).map((s) => new Uint8Array(Buffer.from(s, 'utf8'))), weight: 3 },
    { arbitrary: mutatedBytes(bytes, 4), weight: 1 },
  );
}
