/**
 * The TLS presentation language's numbers and vectors (RFC 5246 §4.4, §4.3), as the DTLS codecs
 * read and write them: big-endian uint8/16/24/48, and variable-length vectors `opaque x<min..max>`
 * with a length prefix of as many bytes as `max` needs.
 *
 * A Reader never reads past its buffer: every length is checked against what is left before a
 * byte is taken, and a vector is a view (subarray) of the input, never a copy sized by the peer.
 * Running short is the DecodeError `<prefix>.truncated`; a vector outside its bounds is
 * `<prefix>.<field>` (the field's RFC name with '-' for '_'); bytes left over are `<prefix>.trailing`.
 * The writers are for the server's own values: out of range is a RangeError (a bug, not input).
 */
import { DecodeError } from './errors.ts';

export class Reader {
  private p = 0;
  private readonly b: Buffer;
  readonly prefix: string;
  readonly what: string;
  /**
   * @param b the bytes to read (the reader reads b[0..b.length))
   * @param prefix the DecodeError code prefix, e.g. 'dtls.client-hello'
   * @param what the structure's RFC name for reasons, e.g. 'ClientHello'
   */
  constructor(b: Buffer, prefix: string, what: string) {
    this.b = b;
    this.prefix = prefix;
    this.what = what;
  }

  get offset(): number { return this.p; }
  get remaining(): number { return this.b.length - this.p; }

  /** The next n bytes, as a view. */
  bytes(n: number, field: string): Buffer {
    if (n > this.remaining) {
      throw new DecodeError(`${this.prefix}.truncated`, `${this.what}: ${field} needs ${n} bytes, ${this.remaining} left`);
    }
    const out = this.b.subarray(this.p, this.p + n);
    this.p += n;
    return out;
  }

  uint8(field: string): number { return this.bytes(1, field)[0]!; }
  uint16(field: string): number { return this.bytes(2, field).readUInt16BE(0); }
  uint24(field: string): number { return this.bytes(3, field).readUIntBE(0, 3); }
  uint48(field: string): number { return this.bytes(6, field).readUIntBE(0, 6); }

  /** `opaque field<min..max>` with max ≤ 2^8-1: a one-byte length, then the bytes. */
  vector8(field: string, min = 0, max = 0xff): Buffer {
    return this.vector(this.uint8(`${field} length`), field, min, max);
  }

  /** `opaque field<min..max>` with max ≤ 2^16-1: a two-byte length, then the bytes. */
  vector16(field: string, min = 0, max = 0xffff): Buffer {
    return this.vector(this.uint16(`${field} length`), field, min, max);
  }

  private vector(length: number, field: string, min: number, max: number): Buffer {
    if (length < min || length > max) {
      throw new DecodeError(`${this.prefix}.${field.replace(/_/g, '-')}`, `${this.what}: ${field} is ${length} bytes, must be ${min}..${max}`);
    }
    return this.bytes(length, field);
  }

  /** Everything left, as a view. */
  rest(): Buffer { return this.bytes(this.remaining, 'the rest'); }

  /** Throws `<prefix>.trailing` unless every byte was read. */
  end(): void {
    if (this.remaining > 0) {
      throw new DecodeError(`${this.prefix}.trailing`, `${this.what} has ${this.remaining} bytes after its last field`);
    }
  }
}

function uint(n: number, bytes: number, what: string): Buffer {
  if (!Number.isSafeInteger(n) || n < 0 || n >= 2 ** (8 * bytes)) {
    throw new RangeError(`${what} must be an integer in 0..2^${8 * bytes}-1, got ${n}`);
  }
  const out = Buffer.alloc(bytes);
  out.writeUIntBE(n, 0, bytes);
  return out;
}

export const uint8 = (n: number, what = 'uint8'): Buffer => uint(n, 1, what);
export const uint16 = (n: number, what = 'uint16'): Buffer => uint(n, 2, what);
export const uint24 = (n: number, what = 'uint24'): Buffer => uint(n, 3, what);
export const uint48 = (n: number, what = 'uint48'): Buffer => uint(n, 6, what);

/** `opaque<min..max>` with a one-byte length. */
export function vector8(b: Uint8Array, what: string, min = 0, max = 0xff): Buffer {
  if (b.length < min || b.length > max) throw new RangeError(`${what} must be ${min}..${max} bytes, got ${b.length}`);
  return Buffer.concat([uint8(b.length), b]);
}

/** `opaque<min..max>` with a two-byte length. */
export function vector16(b: Uint8Array, what: string, min = 0, max = 0xffff): Buffer {
  if (b.length < min || b.length > max) throw new RangeError(`${what} must be ${min}..${max} bytes, got ${b.length}`);
  return Buffer.concat([uint16(b.length), b]);
}
