/**
 * CBOR (RFC 8949) as a tree the fuzzers can bend: every head may be written in a longer form
 * than the preferred one, as an indefinite length, or with a length that lies; items may be any
 * major type, tags nest, byte strings may hold a CBOR item of their own (the COSE protected
 * header, a manifest) so mutations reach inside them. `raw` writes bytes as they are (a stray
 * break, a reserved head).
 *
 * parseCbor() turns a well-formed seed into a tree; astOp() and applyAstOps() mutate it node by
 * node (major type, head width, lengths, tags, nesting depth, swapped or duplicated entries).
 */
import fc from 'fast-check';
import { concat, interestingInt } from './mutate.ts';

/** Head width: 0 = in the initial byte (arguments below 24), else 1, 2, 4 or 8 bytes; undefined = preferred. */
export type Width = 0 | 1 | 2 | 4 | 8;

export type Cbor =
  | { t: 'uint' | 'nint'; v: bigint; w?: Width }
  | { t: 'bytes'; v: Uint8Array; inner?: Cbor; w?: Width; lie?: number; chunks?: boolean }
  | { t: 'text'; v: Uint8Array; w?: Width; lie?: number; chunks?: boolean }
  | { t: 'array'; items: Cbor[]; w?: Width; lie?: number; indef?: boolean }
  | { t: 'map'; entries: Array<[Cbor, Cbor]>; w?: Width; lie?: number; indef?: boolean }
  | { t: 'tag'; tag: bigint; item: Cbor; w?: Width }
  | { t: 'simple'; v: number }
  | { t: 'float'; v: number; size: 2 | 4 | 8 }
  | { t: 'raw'; bytes: Uint8Array };

const MAJOR = { uint: 0, nint: 1, bytes: 2, text: 3, array: 4, map: 5, tag: 6 } as const;

// ---- Encoding

function head(major: number, arg: bigint, w?: Width): Uint8Array {
  const m = major << 5;
  const width: Width = w ?? (arg < 24n ? 0 : arg < 0x100n ? 1 : arg < 0x10000n ? 2 : arg < 0x100000000n ? 4 : 8);
  if (width === 0) return Uint8Array.of(m | Number(arg & 0x1fn)); // a lie when arg >= 24, on purpose
  const info = width === 1 ? 24 : width === 2 ? 25 : width === 4 ? 26 : 27;
  const out = new Uint8Array(1 + width);
  out[0] = m | info;
  let v = arg;
  for (let i = width; i >= 1; i--) { out[i] = Number(v & 0xffn); v >>= 8n; }
  return out;
}

const length = (n: number, lie = 0): bigint => BigInt(Math.max(0, n + lie));

/** Encodes a tree; nothing is checked, so the output may be any bytes at all. */
export function encodeAst(node: Cbor): Uint8Array {
  const parts: Uint8Array[] = [];
  write(node, parts);
  return concat(...parts);
}

function write(n: Cbor, parts: Uint8Array[]): void {
  switch (n.t) {
    case 'uint': case 'nint':
      parts.push(head(MAJOR[n.t], n.v, n.w));
      return;
    case 'bytes': case 'text': {
      const v = n.t === 'bytes' && n.inner !== undefined ? encodeAst(n.inner) : n.v;
      if (n.chunks) {
        // Indefinite length: the string in two definite chunks, then a break.
        const half = v.length >> 1;
        parts.push(Uint8Array.of((MAJOR[n.t] << 5) | 31), head(MAJOR[n.t], length(half, n.lie ?? 0), n.w), v.subarray(0, half),
          head(MAJOR[n.t], BigInt(v.length - half)), v.subarray(half), Uint8Array.of(0xff));
        return;
      }
      parts.push(head(MAJOR[n.t], length(v.length, n.lie), n.w), v);
      return;
    }
    case 'array': case 'map': {
      const count = n.t === 'array' ? n.items.length : n.entries.length;
      parts.push(n.indef ? Uint8Array.of((MAJOR[n.t] << 5) | 31) : head(MAJOR[n.t], length(count, n.lie), n.w));
      if (n.t === 'array') for (const item of n.items) write(item, parts);
      else for (const [k, v] of n.entries) { write(k, parts); write(v, parts); }
      if (n.indef) parts.push(Uint8Array.of(0xff));
      return;
    }
    case 'tag':
      parts.push(head(6, n.tag, n.w));
      write(n.item, parts);
      return;
    case 'simple':
      parts.push(n.v < 24 ? Uint8Array.of(0xe0 | n.v) : Uint8Array.of(0xf8, n.v & 0xff));
      return;
    case 'float': {
      const out = new Uint8Array(1 + n.size);
      const view = new DataView(out.buffer);
      out[0] = n.size === 2 ? 0xf9 : n.size === 4 ? 0xfa : 0xfb;
      if (n.size === 2) view.setUint16(1, toHalf(n.v));
      else if (n.size === 4) view.setFloat32(1, n.v);
      else view.setFloat64(1, n.v);
      parts.push(out);
      return;
    }
    case 'raw':
      parts.push(n.bytes);
  }
}

/** IEEE 754 binary16 bits of x (rounded toward zero; NaN and infinities kept). */
function toHalf(x: number): number {
  const f = new DataView(new ArrayBuffer(4));
  f.setFloat32(0, x);
  const bits = f.getUint32(0);
  const sign = (bits >>> 16) & 0x8000;
  const exp = ((bits >>> 23) & 0xff) - 127 + 15;
  const mant = bits & 0x7fffff;
  if (((bits >>> 23) & 0xff) === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  if (exp >= 0x1f) return sign | 0x7c00;
  if (exp <= 0) return sign | (exp < -10 ? 0 : (mant | 0x800000) >> (14 - exp));
  return sign | (exp << 10) | (mant >> 13);
}

// ---- Parsing a well-formed seed

/**
 * The tree of a well-formed item spanning all of `bytes` (indefinite lengths, floats and simple
 * values included); null when the bytes are not one. Byte strings whose content is itself an
 * array, map or tag item are parsed into `inner` (COSE headers, the manifest).
 */
export function parseCbor(bytes: Uint8Array): Cbor | null {
  try {
    const p = { pos: 0 };
    const node = item(bytes, p, 0);
    return p.pos === bytes.length ? node : null;
  } catch {
    return null;
  }
}

function item(b: Uint8Array, p: { pos: number }, depth: number): Cbor {
  if (depth > 64 || p.pos >= b.length) throw new Error('bad');
  const initial = b[p.pos++]!;
  const major = initial >> 5;
  const info = initial & 0x1f;
  if (major === 7) {
    if (info < 24) return { t: 'simple', v: info };
    if (info === 24) return { t: 'simple', v: b[p.pos++]! };
    const size = info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0;
    if (size === 0 || p.pos + size > b.length) throw new Error('bad');
    const view = new DataView(b.buffer, b.byteOffset + p.pos, size);
    p.pos += size;
    return { t: 'float', v: size === 2 ? fromHalf(view.getUint16(0)) : size === 4 ? view.getFloat32(0) : view.getFloat64(0), size };
  }
  if (info === 31) {
    if (major === 4 || major === 5) {
      const items: Cbor[] = [];
      while (b[p.pos] !== 0xff) { if (p.pos >= b.length) throw new Error('bad'); items.push(item(b, p, depth + 1)); }
      p.pos++;
      if (major === 4) return { t: 'array', items, indef: true };
      if (items.length % 2) throw new Error('bad');
      const entries: Array<[Cbor, Cbor]> = [];
      for (let i = 0; i < items.length; i += 2) entries.push([items[i]!, items[i + 1]!]);
      return { t: 'map', entries, indef: true };
    }
    if (major === 2 || major === 3) {
      const chunks: Uint8Array[] = [];
      while (b[p.pos] !== 0xff) {
        const c = item(b, p, depth + 1);
        if (c.t !== (major === 2 ? 'bytes' : 'text')) throw new Error('bad');
        chunks.push((c as { v: Uint8Array }).v);
      }
      p.pos++;
      return { t: major === 2 ? 'bytes' : 'text', v: concat(...chunks), chunks: true };
    }
    throw new Error('bad');
  }
  const size = info < 24 ? 0 : info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : -1;
  if (size < 0 || p.pos + size > b.length) throw new Error('bad');
  let arg = size === 0 ? BigInt(info) : 0n;
  for (let i = 0; i < size; i++) arg = (arg << 8n) | BigInt(b[p.pos++]!);
  const w: Width | undefined = isPreferred(arg, size) ? undefined : (size as Width);
  const withW = <T extends object>(node: T): T => (w === undefined ? node : { ...node, w });
  switch (major) {
    case 0: return withW({ t: 'uint', v: arg });
    case 1: return withW({ t: 'nint', v: arg });
    case 2: case 3: {
      const n = Number(arg);
      if (p.pos + n > b.length) throw new Error('bad');
      const v = b.slice(p.pos, p.pos + n);
      p.pos += n;
      if (major === 3) return withW({ t: 'text', v });
      const first = v[0];
      const inner = first !== undefined && first >> 5 >= 4 && first >> 5 <= 6 ? parseCbor(v) : null;
      return withW(inner ? { t: 'bytes', v, inner } : { t: 'bytes', v });
    }
    case 4: {
      const items: Cbor[] = [];
      for (let i = 0n; i < arg; i++) items.push(item(b, p, depth + 1));
      return withW({ t: 'array', items });
    }
    case 5: {
      const entries: Array<[Cbor, Cbor]> = [];
      for (let i = 0n; i < arg; i++) entries.push([item(b, p, depth + 1), item(b, p, depth + 1)]);
      return withW({ t: 'map', entries });
    }
    default:
      return withW({ t: 'tag', tag: arg, item: item(b, p, depth + 1) });
  }
}

function isPreferred(arg: bigint, size: number): boolean {
  return size === (arg < 24n ? 0 : arg < 0x100n ? 1 : arg < 0x10000n ? 2 : arg < 0x100000000n ? 4 : 8);
}

function fromHalf(h: number): number {
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  const sign = h & 0x8000 ? -1 : 1;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? Number.NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

// ---- Building trees

export const uint = (v: number | bigint): Cbor => ({ t: 'uint', v: BigInt(v) });
export const int = (v: number | bigint): Cbor => (BigInt(v) >= 0n ? uint(v) : { t: 'nint', v: -1n - BigInt(v) });
export const text = (s: string): Cbor => ({ t: 'text', v: new Uint8Array(Buffer.from(s, 'utf8')) });
export const bytes = (v: Uint8Array): Cbor => ({ t: 'bytes', v });
export const array = (...items: Cbor[]): Cbor => ({ t: 'array', items });
export const map = (...entries: Array<[Cbor, Cbor]>): Cbor => ({ t: 'map', entries });
export const tag = (t: number | bigint, item: Cbor): Cbor => ({ t: 'tag', tag: BigInt(t), item });
export const TRUE: Cbor = { t: 'simple', v: 21 };
export const FALSE: Cbor = { t: 'simple', v: 20 };
export const NULL: Cbor = { t: 'simple', v: 22 };

/** Tags worth trying: epoch times, bignums, decimal fractions, COSE, encoded CBOR, self-described CBOR. */
const TAGS: readonly bigint[] = [0n, 1n, 2n, 3n, 4n, 5n, 16n, 17n, 18n, 24n, 32n, 55799n, 259n, 0xffffffffn, 2n ** 64n - 1n];
const SIMPLE: readonly number[] = [0, 19, 20, 21, 22, 23, 24, 31, 32, 255];
const FLOATS: readonly number[] = [0, -0, 1.5, -1, 0.1, 65504, 1e300, -1e-300, Infinity, -Infinity, Number.NaN, 2 ** 53, 2 ** 64];

const width = fc.option(fc.constantFrom<Width>(0, 1, 2, 4, 8), { nil: undefined, freq: 4 });
const lie = fc.option(fc.constantFrom(-1, 1, 2, 1000, 0x7fffffff), { nil: undefined, freq: 8 });

/** Leaves: integers at every boundary, strings (valid and invalid UTF-8), simple values, floats, raw heads. */
export function leafArb(keys: fc.Arbitrary<Cbor> = fc.constant(uint(0))): fc.Arbitrary<Cbor> {
  return fc.oneof(
    { arbitrary: fc.record({ t: fc.constant('uint' as const), v: interestingInt, w: width }).map(clean), weight: 4 },
    { arbitrary: fc.record({ t: fc.constant('nint' as const), v: interestingInt, w: width }).map(clean), weight: 2 },
    { arbitrary: fc.record({ t: fc.constant('text' as const), v: fc.oneof(fc.string({ maxLength: 12 }).map((s) => new Uint8Array(Buffer.from(s))), fc.uint8Array({ maxLength: 6 })), w: width, lie, chunks: fc.option(fc.constant(true), { nil: undefined, freq: 10 }) }).map(clean), weight: 3 },
    { arbitrary: fc.record({ t: fc.constant('bytes' as const), v: fc.uint8Array({ maxLength: 40 }), w: width, lie, chunks: fc.option(fc.constant(true), { nil: undefined, freq: 10 }) }).map(clean), weight: 3 },
    { arbitrary: fc.constantFrom(...SIMPLE).map((v): Cbor => ({ t: 'simple', v })), weight: 2 },
    { arbitrary: fc.record({ t: fc.constant('float' as const), v: fc.oneof(fc.constantFrom(...FLOATS), fc.double()), size: fc.constantFrom(2 as const, 4 as const, 8 as const) }), weight: 2 },
    { arbitrary: fc.constantFrom(0xff, 0x1c, 0x1d, 0x1e, 0x3f, 0x5c, 0x9f, 0xbf, 0xdf, 0xfc).map((b): Cbor => ({ t: 'raw', bytes: Uint8Array.of(b) })), weight: 1 },
    { arbitrary: keys, weight: 2 },
    // Long strings: a key or value that a reason or a limit might carry whole.
    { arbitrary: fc.constantFrom(300, 1000, 70_000).map((n): Cbor => ({ t: 'text', v: new Uint8Array(n).fill(0x6b) })), weight: 1 },
  );
}

function clean<T extends object>(node: T): T {
  for (const k of Object.keys(node) as Array<keyof T>) if (node[k] === undefined) delete node[k];
  return node;
}

/** Any tree, to `depth` levels: containers (definite or not, lying or not), tags, leaves. */
export function cborArb(depth = 3, keys?: fc.Arbitrary<Cbor>): fc.Arbitrary<Cbor> {
  const leaf = leafArb(keys);
  const { node } = fc.letrec<{ node: Cbor }>((tie) => ({
    node: fc.oneof(
      { depthSize: 'small', maxDepth: depth, depthIdentifier: 'cbor' },
      { arbitrary: leaf, weight: 5 },
      { arbitrary: fc.record({ t: fc.constant('array' as const), items: fc.array(tie('node'), { maxLength: 5 }), w: width, lie, indef: fc.option(fc.constant(true), { nil: undefined, freq: 6 }) }).map(clean), weight: 2 },
      { arbitrary: fc.record({ t: fc.constant('map' as const), entries: fc.array(fc.tuple(tie('node'), tie('node')), { maxLength: 4 }), w: width, lie, indef: fc.option(fc.constant(true), { nil: undefined, freq: 6 }) }).map(clean), weight: 2 },
      { arbitrary: fc.record({ t: fc.constant('tag' as const), tag: fc.oneof(fc.constantFrom(...TAGS), interestingInt), item: tie('node'), w: width }).map(clean), weight: 1 },
    ),
  }));
  return node;
}

// ---- Mutating a tree node by node

type MajorName = 'uint' | 'nint' | 'bytes' | 'text' | 'array' | 'map' | 'tag';

export type AstOp =
  | { k: 'replace'; node: number; with: Cbor }
  | { k: 'width'; node: number; w: Width }
  | { k: 'lie'; node: number; lie: number }
  | { k: 'major'; node: number; to: MajorName }
  | { k: 'indef'; node: number }
  | { k: 'wrap'; node: number; tag: bigint; times: number }
  | { k: 'nest'; node: number; as: 'array' | 'map'; times: number }
  | { k: 'delete'; node: number }
  | { k: 'dup'; node: number }
  | { k: 'swap'; node: number }
  | { k: 'value'; node: number; v: bigint };

export function astOp(replacement: fc.Arbitrary<Cbor> = cborArb(2)): fc.Arbitrary<AstOp> {
  const node = fc.nat({ max: 4095 });
  return fc.oneof(
    { arbitrary: fc.record({ k: fc.constant('replace' as const), node, with: replacement }), weight: 5 },
    { arbitrary: fc.record({ k: fc.constant('width' as const), node, w: fc.constantFrom<Width>(0, 1, 2, 4, 8) }), weight: 2 },
    { arbitrary: fc.record({ k: fc.constant('lie' as const), node, lie: fc.constantFrom(-2, -1, 1, 2, 100, 0x7fffffff) }), weight: 3 },
    { arbitrary: fc.record({ k: fc.constant('major' as const), node, to: fc.constantFrom('uint' as const, 'nint' as const, 'bytes' as const, 'text' as const, 'array' as const, 'map' as const, 'tag' as const) }), weight: 3 },
    { arbitrary: fc.record({ k: fc.constant('indef' as const), node }), weight: 1 },
    { arbitrary: fc.record({ k: fc.constant('wrap' as const), node, tag: fc.constantFrom(...TAGS), times: fc.constantFrom(1, 2, 20) }), weight: 2 },
    { arbitrary: fc.record({ k: fc.constant('nest' as const), node, as: fc.constantFrom('array' as const, 'map' as const), times: fc.constantFrom(1, 3, 10, 5000) }), weight: 1 },
    { arbitrary: fc.record({ k: fc.constant('delete' as const), node }), weight: 3 },
    { arbitrary: fc.record({ k: fc.constant('dup' as const), node }), weight: 3 },
    { arbitrary: fc.record({ k: fc.constant('swap' as const), node }), weight: 2 },
    { arbitrary: fc.record({ k: fc.constant('value' as const), node, v: interestingInt }), weight: 4 },
  );
}

/** Node count, pre-order, descending into byte strings that hold an item. */
function count(n: Cbor): number {
  switch (n.t) {
    case 'array': return 1 + n.items.reduce((s, c) => s + count(c), 0);
    case 'map': return 1 + n.entries.reduce((s, [k, v]) => s + count(k) + count(v), 0);
    case 'tag': return 1 + count(n.item);
    case 'bytes': return 1 + (n.inner ? count(n.inner) : 0);
    default: return 1;
  }
}

/** Rebuilds `root` with pre-order node `target` replaced by f(node) (null deletes it from its container). */
function edit(root: Cbor, target: number, f: (n: Cbor) => Cbor | null): Cbor {
  let index = 0;
  const visit = (n: Cbor): Cbor | null => {
    if (index++ === target) return f(n);
    switch (n.t) {
      case 'array': {
        const items: Cbor[] = [];
        for (const c of n.items) { const r = visit(c); if (r) items.push(r); }
        return { ...n, items };
      }
      case 'map': {
        const entries: Array<[Cbor, Cbor]> = [];
        for (const [k, v] of n.entries) {
          const rk = visit(k);
          const rv = visit(v);
          if (rk && rv) entries.push([rk, rv]);
        }
        return { ...n, entries };
      }
      case 'tag': return { ...n, item: visit(n.item) ?? { t: 'simple', v: 22 } };
      case 'bytes': {
        if (!n.inner) return n;
        const inner = visit(n.inner);
        return inner ? { ...n, inner } : { t: 'bytes', v: new Uint8Array(0) };
      }
      default: return n;
    }
  };
  return visit(root) ?? root;
}

/** Duplicates or swaps the entries of a container node (duplicate map keys, reordered fields). */
function reorder(n: Cbor, how: 'dup' | 'swap'): Cbor {
  if (n.t === 'array' && n.items.length > 0) {
    const items = [...n.items];
    if (how === 'dup') items.push(items[0]!);
    else items.reverse();
    return { ...n, items };
  }
  if (n.t === 'map' && n.entries.length > 0) {
    const entries = [...n.entries];
    if (how === 'dup') entries.push([entries[0]![0], entries[entries.length - 1]![1]]);
    else if (entries.length > 1) entries.reverse();
    else entries[0] = [entries[0]![1], entries[0]![0]];
    return { ...n, entries };
  }
  return n;
}

function changeMajor(n: Cbor, to: MajorName): Cbor {
  const arg = n.t === 'uint' || n.t === 'nint' ? n.v : n.t === 'bytes' || n.t === 'text' ? BigInt(n.v.length)
    : n.t === 'array' ? BigInt(n.items.length) : n.t === 'map' ? BigInt(n.entries.length) : n.t === 'tag' ? n.tag : 1n;
  const body = n.t === 'bytes' || n.t === 'text' ? n.v : encodeAst(n).subarray(1);
  switch (to) {
    case 'uint': case 'nint': return { t: to, v: arg };
    case 'bytes': case 'text': return { t: to, v: body };
    case 'array': return { t: 'array', items: n.t === 'map' ? n.entries.flat() : n.t === 'array' ? n.items : [n] };
    case 'map': {
      const items = n.t === 'array' ? n.items : n.t === 'map' ? n.entries.flat() : [n];
      const entries: Array<[Cbor, Cbor]> = [];
      for (let i = 0; i + 1 < items.length; i += 2) entries.push([items[i]!, items[i + 1]!]);
      return { t: 'map', entries, lie: items.length % 2 };
    }
    case 'tag': return { t: 'tag', tag: arg, item: n };
  }
}

export function applyAstOps(root: Cbor, ops: readonly AstOp[]): Cbor {
  let tree = root;
  for (const op of ops) {
    const target = op.node % count(tree);
    tree = edit(tree, target, (n) => {
      switch (op.k) {
        case 'replace': return op.with;
        case 'width': return 'w' in n || n.t === 'uint' || n.t === 'nint' || n.t === 'bytes' || n.t === 'text' || n.t === 'array' || n.t === 'map' || n.t === 'tag' ? { ...n, w: op.w } as Cbor : n;
        case 'lie': return n.t === 'bytes' || n.t === 'text' || n.t === 'array' || n.t === 'map' ? { ...n, lie: op.lie } : n;
        case 'major': return changeMajor(n, op.to);
        case 'indef':
          if (n.t === 'array' || n.t === 'map') return { ...n, indef: true };
          if (n.t === 'bytes' || n.t === 'text') return { ...n, chunks: true };
          return n;
        case 'wrap': {
          let out = n;
          for (let i = 0; i < op.times; i++) out = { t: 'tag', tag: op.tag, item: out };
          return out;
        }
        case 'nest': {
          // Written out as raw bytes: a tree thousands deep would overflow the tools' own recursion.
          const level = op.as === 'array' ? [0x81] : [0xa1, 0x00];
          const prefix = new Uint8Array(level.length * op.times);
          for (let i = 0; i < op.times; i++) prefix.set(level, i * level.length);
          return { t: 'raw', bytes: concat(prefix, encodeAst(n)) };
        }
        case 'delete': return null;
        case 'dup': return reorder(n, 'dup');
        case 'swap': return reorder(n, 'swap');
        case 'value':
          if (n.t === 'uint' || n.t === 'nint') return { ...n, v: op.v };
          if (n.t === 'tag') return { ...n, tag: op.v };
          return n;
      }
    });
  }
  return tree;
}

/** A seed tree, then 0–`max` node mutations; the encoded bytes. */
export function mutatedCbor(seeds: readonly Cbor[], max = 4, replacement?: fc.Arbitrary<Cbor>): fc.Arbitrary<Uint8Array> {
  if (seeds.length === 0) throw new Error('mutatedCbor needs at least one seed');
  return fc
    .tuple(fc.nat({ max: seeds.length - 1 }), fc.array(astOp(replacement), { maxLength: max }))
    .map(([i, ops]) => encodeAst(applyAstOps(seeds[i]!, ops)));
}

/** Seeds as trees (the bytes that are not well-formed CBOR are left out). */
export function parseSeeds(seeds: readonly Uint8Array[]): Cbor[] {
  return seeds.map(parseCbor).filter((c): c is Cbor => c !== null);
}
