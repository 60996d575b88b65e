/**
 * CBOR (RFC 8949) from untrusted peers, for SenML-CBOR and LwM2M-CBOR: a bounded walk over the
 * bytes checks them first (well-formed, one item and nothing after it, limited size, depth and
 * item count, only the tags a format allows, strict UTF-8 text, no duplicate map keys, no
 * indefinite-length strings), and only then does cbor-x build the values. Maps decode as Map,
 * byte strings as Buffer copies, integers past 32 bits as bigint (callers narrow them).
 */
import { Decoder, Encoder } from 'cbor-x';
import { DecodeError } from './errors.ts';
import { decodeUtf8 } from './utf8.ts';

export interface CborLimits {
  /** Largest input in bytes. */
  maxBytes: number;
  /** Deepest nesting of arrays, maps and tags; the top item is depth 1. */
  maxDepth: number;
  /** Most data items in all. */
  maxItems: number;
  /** Tags allowed: 1 (epoch time, RFC 8949 §3.4.2) and 4 (decimal fraction, §3.4.4) are checked. */
  tags: readonly number[];
}

const decoder = new Decoder({ mapsAsObjects: false, useRecords: false, copyBuffers: true });
// useTag259ForMaps is documented by cbor-x but missing from its typings; without it Maps get tag 259.
const encoderOptions = { mapsAsObjects: false, useRecords: false, useTag259ForMaps: false, tagUint8Array: false };
const encoder = new Encoder(encoderOptions);

/** Checks `buf` against the limits, then decodes it with cbor-x. Every failure is a DecodeError cbor.*. */
export function decodeCborGuarded(buf: Uint8Array, limits: CborLimits): unknown {
  if (buf.length > limits.maxBytes) throw fail('oversized', `CBOR payload is larger than ${limits.maxBytes} bytes`);
  if (buf.length === 0) throw fail('truncated', 'CBOR payload is empty');
  const walker = new Walker(buf, limits);
  walker.item(1);
  if (walker.pos !== buf.length) throw fail('trailing', `${buf.length - walker.pos} bytes after the CBOR data item`);
  try {
    return decoder.decode(buf);
  } catch (e) {
    throw fail('invalid', `CBOR decoder refused the payload: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** cbor-x with plain maps, no records, no tags for byte strings: standard CBOR any peer reads. */
export function encodeCbor(value: unknown): Buffer {
  return encoder.encode(value);
}

const BREAK = Symbol('break');

class Walker {
  pos = 0;
  items = 0;
  readonly #b: Uint8Array;
  readonly #limits: CborLimits;
  constructor(b: Uint8Array, limits: CborLimits) {
    this.#b = b;
    this.#limits = limits;
  }

  #byte(): number {
    if (this.pos >= this.#b.length) throw fail('truncated', 'CBOR data item runs past the end');
    return this.#b[this.pos++] as number;
  }

  /** The argument of a head (RFC 8949 §3.1); 8-byte arguments are bigint. */
  #argument(info: number): number | bigint {
    if (info < 24) return info;
    const size = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0;
    if (size === 0) throw fail('invalid', `reserved additional information ${info} at offset ${this.pos - 1}`);
    if (this.pos + size > this.#b.length) throw fail('truncated', 'CBOR head runs past the end');
    if (size === 8) {
      let v = 0n;
      for (let i = 0; i < 8; i++) v = (v << 8n) | BigInt(this.#b[this.pos++] as number);
      return v;
    }
    let v = 0;
    for (let i = 0; i < size; i++) v = v * 256 + (this.#b[this.pos++] as number);
    return v;
  }

  /** Walks one item; for a map key (asKey) returns a canonical form of an int or text key. */
  item(depth: number, inIndefinite = false, asKey = false): string | undefined | typeof BREAK {
    if (++this.items > this.#limits.maxItems) throw fail('oversized', `more than ${this.#limits.maxItems} CBOR data items`);
    const start = this.pos;
    const initial = this.#byte();
    const major = initial >> 5;
    const info = initial & 0x1f;
    if (initial === 0xff) {
      if (inIndefinite) return BREAK;
      throw fail('invalid', `unexpected break at offset ${start}`);
    }
    if (major === 7) return this.#simple(info, start);
    if (info === 31 && (major === 2 || major === 3)) throw fail('indefinite', 'indefinite-length strings are not supported');
    if (info === 31 && (major === 0 || major === 1 || major === 6)) throw fail('invalid', `bad head 0x${initial.toString(16)} at offset ${start}`);
    if ((major === 4 || major === 5 || major === 6) && depth > this.#limits.maxDepth) {
      throw fail('depth', `CBOR nested deeper than ${this.#limits.maxDepth}`);
    }
    if (info === 31) return this.#indefinite(major, depth);
    const arg = this.#argument(info);
    switch (major) {
      case 0:
        return asKey ? `i${arg}` : undefined;
      case 1:
        return asKey ? `i${-1n - BigInt(arg)}` : undefined;
      case 2:
      case 3: {
        const length = Number(arg);
        if (typeof arg === 'bigint' || this.pos + length > this.#b.length) throw fail('truncated', 'CBOR string runs past the end');
        const bytes = this.#b.subarray(this.pos, this.pos + length);
        this.pos += length;
        if (major === 2) return undefined;
        const text = decodeUtf8(bytes, 'cbor.utf8', 'CBOR text string');
        return asKey ? `s${text}` : undefined;
      }
      case 4:
      case 5: {
        const count = Number(arg) * (major === 5 ? 2 : 1);
        // Each item takes at least one byte: a count past the bytes left is truncated, not allocated.
        if (typeof arg === 'bigint' || count > this.#b.length - this.pos) throw fail('truncated', 'CBOR container runs past the end');
        if (major === 4) for (let i = 0; i < count; i++) this.item(depth + 1);
        else this.#mapEntries(count / 2, depth);
        return undefined;
      }
      default:
        this.#tag(arg, depth);
        return undefined;
    }
  }

  #indefinite(major: number, depth: number): undefined {
    if (major === 4) {
      while (this.item(depth + 1, true) !== BREAK);
      return undefined;
    }
    this.#mapEntries(Infinity, depth);
    return undefined;
  }

  #mapEntries(count: number, depth: number): void {
    const keys = new Set<string>();
    for (let i = 0; i < count; i++) {
      const keyStart = this.pos;
      const key = this.item(depth + 1, count === Infinity, true);
      if (key === BREAK) return;
      const canonical = key ?? `b${Buffer.from(this.#b.subarray(keyStart, this.pos)).toString('latin1')}`;
      if (keys.has(canonical)) throw fail('duplicate', `duplicate map key at offset ${keyStart}`);
      keys.add(canonical);
      if (this.item(depth + 1) === BREAK) throw fail('invalid', 'map ends between a key and its value');
    }
  }

  #tag(tag: number | bigint, depth: number): void {
    const n = Number(tag);
    if (!this.#limits.tags.includes(n)) throw fail('tag', `CBOR tag ${tag} is not allowed here`);
    const initial = this.#b[this.pos];
    if (n === 1) {
      // Epoch time: an integer or a float, within a 4-byte argument or a float (no bigint seconds).
      const ok = initial !== undefined && ((initial >> 5 <= 1 && (initial & 0x1f) <= 26) || initial === 0xf9 || initial === 0xfa || initial === 0xfb);
      if (!ok) throw fail('tag', 'tag 1 (epoch time) must hold an integer or a float');
      this.item(depth + 1);
      return;
    }
    if (n === 4) {
      // Decimal fraction [exponent, mantissa], both integers within 4-byte arguments.
      if (initial !== 0x82) throw fail('tag', 'tag 4 (decimal fraction) must hold [exponent, mantissa]');
      this.pos++;
      for (let i = 0; i < 2; i++) {
        const head = this.#b[this.pos];
        if (head === undefined || head >> 5 > 1 || (head & 0x1f) > 26) throw fail('tag', 'decimal fraction parts must be integers below 2**32');
        this.item(depth + 2);
      }
      return;
    }
    this.item(depth + 1);
  }

  #simple(info: number, start: number): undefined {
    if (info === 20 || info === 21 || info === 22) return undefined; // false, true, null
    if (info === 25 || info === 26 || info === 27) {
      const size = info === 25 ? 2 : info === 26 ? 4 : 8;
      if (this.pos + size > this.#b.length) throw fail('truncated', 'CBOR float runs past the end');
      this.pos += size;
      return undefined;
    }
    throw fail('simple', `CBOR simple value ${info} at offset ${start} is not allowed`);
  }
}

function fail(what: string, reason: string): DecodeError {
  return new DecodeError(`cbor.${what}`, reason);
}
