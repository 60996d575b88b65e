/**
 * CoAP Block1/Block2 option values and the arithmetic of block-wise transfers (RFC 7959 §2.2).
 *
 * The option value is a 0..3 byte unsigned integer (RFC 7252 §3.2 "uint") holding
 * NUM (block number, up to 20 bits) | M (more flag, 1 bit) | SZX (size exponent, 3 bits).
 */
import { DecodeError } from './errors.ts';

export interface BlockOption {
  num: number;
  more: boolean;
  szx: number;
}

/** Largest SZX in use; 7 is reserved (RFC 7959 §2.2) and means BERT over TCP (RFC 8323). */
const MAX_SZX = 6;
/** Three bytes leave 20 bits for NUM (RFC 7959 §2.2, Figure 1). */
const NUM_LIMIT = 1 << 20;

/** Decodes a Block1/Block2 option value. Leading zero bytes are tolerated (RFC 7252 §3.2). */
export function decodeBlock(value: Buffer): BlockOption {
  if (value.length > 3) {
    throw new DecodeError('block.invalid', `block option is ${value.length} bytes long, at most 3 are allowed`);
  }
  let v = 0;
  for (const byte of value) v = v * 256 + byte;
  const szx = v & 0x7;
  if (szx > MAX_SZX) {
    throw new DecodeError('block.szx', 'block size exponent 7 is reserved (BERT is not supported)');
  }
  return { num: v >>> 4, more: (v & 0x8) !== 0, szx };
}

/** Encodes a Block1/Block2 option value with the fewest bytes (a zero value is zero bytes). */
export function encodeBlock(b: BlockOption): Buffer {
  if (!Number.isInteger(b.num) || b.num < 0 || b.num >= NUM_LIMIT) {
    throw new RangeError(`block number must be an integer in 0..${NUM_LIMIT - 1}, got ${b.num}`);
  }
  checkSzx(b.szx);
  const v = b.num * 16 + (b.more ? 8 : 0) + b.szx;
  if (v === 0) return Buffer.alloc(0);
  if (v < 0x100) return Buffer.from([v]);
  if (v < 0x10000) return Buffer.from([v >>> 8, v & 0xff]);
  return Buffer.from([v >>> 16, (v >>> 8) & 0xff, v & 0xff]);
}

/** Block size in bytes for an SZX: 2**(SZX + 4), i.e. 16 … 1024 for SZX 0 … 6. */
export function blockSize(szx: number): number {
  checkSzx(szx);
  return 1 << (szx + 4);
}

/** The SZX for a block size of 16, 32, …, 1024 bytes. */
export function szxForSize(size: number): number {
  for (let szx = 0; szx <= MAX_SZX; szx++) {
    if (1 << (szx + 4) === size) return szx;
  }
  throw new RangeError(`block size must be a power of two from 16 to 1024, got ${size}`);
}

/**
 * Byte range [start, end) of block `num` in a body of `totalSize` bytes, and whether more blocks
 * follow (the M bit of a Block2 response). Null when the block starts past the end of the body;
 * block 0 of an empty body exists and is empty.
 */
export function blockSlice(
  num: number,
  szx: number,
  totalSize: number,
): { start: number; end: number; more: boolean } | null {
  if (!Number.isInteger(num) || num < 0) throw new RangeError(`block number must be a non-negative integer, got ${num}`);
  checkSize(totalSize);
  const size = blockSize(szx);
  if (num === 0 && totalSize === 0) return { start: 0, end: 0, more: false };
  const start = num * size;
  if (start >= totalSize) return null;
  const end = Math.min(start + size, totalSize);
  return { start, end, more: end < totalSize };
}

/**
 * Number of blocks needed for a body of `totalSize` bytes: the count of block numbers for which
 * blockSlice() is not null (so an empty body is one empty block).
 */
export function blockCount(totalSize: number, szx: number): number {
  checkSize(totalSize);
  const size = blockSize(szx);
  return Math.max(1, Math.ceil(totalSize / size));
}

function checkSzx(szx: number): void {
  if (!Number.isInteger(szx) || szx < 0 || szx > MAX_SZX) {
    throw new RangeError(`block size exponent must be an integer in 0..${MAX_SZX}, got ${szx}`);
  }
}

function checkSize(totalSize: number): void {
  if (!Number.isSafeInteger(totalSize) || totalSize < 0) {
    throw new RangeError(`body size must be a non-negative integer, got ${totalSize}`);
  }
}
