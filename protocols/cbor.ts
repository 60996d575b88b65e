/**
 * The small strict subset of CBOR (RFC 8949) that COSE_Sign1 and the Ferry manifest need:
 * unsigned and negative integers (safe JS integers only), byte and text strings, arrays, maps with
 * integer or text keys, tags, false/true/null. Definite lengths only; floats, undefined and other
 * simple values are refused; a duplicate map key is refused (RFC 8949 §5.6); nesting is bounded.
 * The encoder writes the preferred (shortest) heads of RFC 8949 §4.2.1 and keeps map insertion order.
 * Decoded byte strings are views into the input, not copies.
 */
import { DecodeError } from './errors.ts';

export type CborKey = number | string;
export type CborValue = number | string | boolean | null | Uint8Array | CborValue[] | Map<CborKey, CborValue> | CborTag;

export class CborTag {
  readonly tag: number;
  readonly value: CborValue;
  constructor(tag: number, value: CborValue) {
    this.tag = tag;
    this.value = value;
  }
}

const MAX_DEPTH = 16;
const utf8 = new TextDecoder('utf-8', { fatal: true });
const fail = (reason: string): never => { throw new DecodeError('cbor', reason); };

/** Decodes exactly one data item that spans all of `bytes`. */
export function decodeCbor(bytes: Uint8Array): CborValue {
  const r = new Reader(bytes);
  const value = r.item(0);
  if (r.pos !== bytes.length) fail(`${bytes.length - r.pos} bytes after the data item`);
  return value;
}

class Reader {
  pos = 0;
  readonly #b: Uint8Array;
  readonly #view: DataView;
  constructor(b: Uint8Array) {
    this.#b = b;
    this.#view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

  #need(n: number): void {
    if (this.pos + n > this.#b.length) fail('truncated data item');
  }

  /** The argument of a head (RFC 8949 §3): a safe integer. */
  #argument(info: number): number {
    if (info < 24) return info;
    if (info === 24) { this.#need(1); return this.#b[this.pos++]!; }
    if (info === 25) { this.#need(2); const v = this.#view.getUint16(this.pos); this.pos += 2; return v; }
    if (info === 26) { this.#need(4); const v = this.#view.getUint32(this.pos); this.pos += 4; return v; }
    if (info === 27) {
      this.#need(8);
      const v = this.#view.getBigUint64(this.pos);
      this.pos += 8;
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail('integer or length beyond 2^53 - 1');
      return Number(v);
    }
    return info === 31 ? fail('indefinite-length items are not supported') : fail(`reserved additional information ${info}`);
  }

  item(depth: number): CborValue {
    if (depth > MAX_DEPTH) fail(`nested deeper than ${MAX_DEPTH}`);
    this.#need(1);
    const initial = this.#b[this.pos++]!;
    const major = initial >> 5;
    const info = initial & 0x1f;
    if (major === 7) {
      if (info === 20) return false;
      if (info === 21) return true;
      if (info === 22) return null;
      return fail(info >= 25 && info <= 27 ? 'floating-point values are not supported' : `simple value ${info} is not supported`);
    }
    const arg = this.#argument(info);
    switch (major) {
      case 0: return arg;
      case 1: return -1 - arg;
      case 2: case 3: {
        this.#need(arg);
        const bytes = this.#b.subarray(this.pos, this.pos + arg);
        this.pos += arg;
        if (major === 2) return bytes;
        try { return utf8.decode(bytes); } catch { return fail('text string is not valid UTF-8'); }
      }
      case 4: {
        if (arg > this.#b.length - this.pos) fail('array longer than the data');
        const out: CborValue[] = [];
        for (let i = 0; i < arg; i++) out.push(this.item(depth + 1));
        return out;
      }
      case 5: {
        if (arg * 2 > this.#b.length - this.pos) fail('map longer than the data');
        const out = new Map<CborKey, CborValue>();
        for (let i = 0; i < arg; i++) {
          const key = this.item(depth + 1);
          if (typeof key !== 'number' && typeof key !== 'string') fail('map keys must be integers or text strings');
          if (out.has(key as CborKey)) fail(`duplicate map key ${JSON.stringify(typeof key === 'string' && key.length > 40 ? `${key.slice(0, 40)}…` : key)}`);
          out.set(key as CborKey, this.item(depth + 1));
        }
        return out;
      }
      default: return new CborTag(arg, this.item(depth + 1));
    }
  }
}

/** Encodes one value with preferred serialisation. Integers must be safe integers. */
export function encodeCbor(value: CborValue): Uint8Array {
  const parts: Uint8Array[] = [];
  write(value, parts);
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** The head of a data item: major type and argument, shortest form (RFC 8949 §4.2.1). */
export function cborHead(major: number, arg: number): Uint8Array {
  if (!Number.isSafeInteger(arg) || arg < 0) throw new RangeError(`CBOR argument must be a non-negative safe integer, got ${arg}`);
  const m = major << 5;
  if (arg < 24) return Uint8Array.of(m | arg);
  if (arg < 0x100) return Uint8Array.of(m | 24, arg);
  if (arg < 0x10000) return Uint8Array.of(m | 25, arg >> 8, arg & 0xff);
  const out = new Uint8Array(arg < 0x100000000 ? 5 : 9);
  const view = new DataView(out.buffer);
  if (out.length === 5) { out[0] = m | 26; view.setUint32(1, arg); } else { out[0] = m | 27; view.setBigUint64(1, BigInt(arg)); }
  return out;
}

const utf8Encoder = new TextEncoder();

function write(v: CborValue, parts: Uint8Array[]): void {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new RangeError(`only safe integers are encoded, got ${v}`);
    parts.push(v >= 0 ? cborHead(0, v) : cborHead(1, -1 - v));
  } else if (typeof v === 'string') {
    const b = utf8Encoder.encode(v);
    parts.push(cborHead(3, b.length), b);
  } else if (typeof v === 'boolean') {
    parts.push(Uint8Array.of(v ? 0xf5 : 0xf4));
  } else if (v === null) {
    parts.push(Uint8Array.of(0xf6));
  } else if (v instanceof Uint8Array) {
    parts.push(cborHead(2, v.length), v);
  } else if (Array.isArray(v)) {
    parts.push(cborHead(4, v.length));
    for (const item of v) write(item, parts);
  } else if (v instanceof Map) {
    parts.push(cborHead(5, v.size));
    for (const [k, item] of v) { write(k, parts); write(item, parts); }
  } else {
    parts.push(cborHead(6, v.tag));
    write(v.value, parts);
  }
}
