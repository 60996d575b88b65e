/**
 * OMA-TLV, content-format 11542 (LwM2M 1.0 TS §6.4.3; 1.1 Core §7.4.3).
 *
 * Each entry: Type byte | Identifier (8 or 16 bits) | Length (0, 8, 16 or 24 bits) | Value.
 * Type byte: bits 7-6 identifier type, bit 5 identifier width (0: 8 bits, 1: 16 bits), bits 4-3
 * length type (00: the length is bits 2-0; 01/10/11: an 8/16/24-bit length field follows and bits
 * 2-0 MUST be ignored). Nesting: Object Instance ⊃ Resource | Multiple Resource ⊃ Resource Instance.
 */
import { DecodeError } from './errors.ts';
import { MAX_ID } from './path.ts';
import { decodeUtf8, encodeUtf8 } from './utf8.ts';

export const TlvType = { OBJECT_INSTANCE: 0, RESOURCE_INSTANCE: 1, MULTIPLE_RESOURCE: 2, RESOURCE: 3 } as const;
export type TlvTypeValue = 0 | 1 | 2 | 3;

/** `value` for RESOURCE and RESOURCE_INSTANCE; `children` for OBJECT_INSTANCE and MULTIPLE_RESOURCE. */
export interface Tlv {
  type: TlvTypeValue;
  id: number;
  value?: Buffer;
  children?: Tlv[];
}

/** The largest single TLV: a 24-bit length (16.7 MB, the spec's maximum) plus a 5-byte header. */
const MAX_INPUT_BYTES = 0xffffff + 5;
const MAX_LENGTH = 0xffffff;
const MAX_ENTRIES = 100_000;
const TYPE_NAMES = ['object instance', 'resource instance', 'multiple resource', 'resource'] as const;
/** Which entry types may appear inside which; the structure bounds the depth at 3. */
const CHILD_TYPES: Readonly<Record<TlvTypeValue, readonly TlvTypeValue[]>> = {
  0: [TlvType.RESOURCE, TlvType.MULTIPLE_RESOURCE],
  1: [],
  2: [TlvType.RESOURCE_INSTANCE],
  3: [],
};
const INT8 = 0x80n;
const INT16 = 0x8000n;
const INT32 = 0x80000000n;
const INT64 = 0x8000000000000000n;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Decodes a TLV payload. Values are views into `buf`, not copies. */
export function decodeTlv(buf: Buffer): Tlv[] {
  if (buf.length > MAX_INPUT_BYTES) throw new DecodeError('tlv.oversized', 'TLV payload is larger than 16 MiB');
  return decodeLevel(buf, 0, buf.length, null, { entries: 0 });
}

function decodeLevel(buf: Buffer, start: number, end: number, parent: TlvTypeValue | null, budget: { entries: number }): Tlv[] {
  const out: Tlv[] = [];
  let pos = start;
  while (pos < end) {
    const typeByte = buf[pos] as number;
    const type = (typeByte >> 6) as TlvTypeValue;
    if (parent !== null && !CHILD_TYPES[parent].includes(type)) {
      throw new DecodeError('tlv.nesting', `${TYPE_NAMES[type]} at offset ${pos} cannot be inside a ${TYPE_NAMES[parent]}`);
    }
    const idBytes = typeByte & 0x20 ? 2 : 1;
    const lengthBytes = (typeByte >> 3) & 0x3;
    const valueStart = pos + 1 + idBytes + lengthBytes;
    if (valueStart > end) throw new DecodeError('tlv.truncated', `TLV header at offset ${pos} runs past the end`);
    const id = readUint(buf, pos + 1, idBytes);
    if (id >= MAX_ID) throw new DecodeError('tlv.id', `identifier ${id} at offset ${pos} is reserved`);
    const length = lengthBytes === 0 ? typeByte & 0x7 : readUint(buf, pos + 1 + idBytes, lengthBytes);
    const valueEnd = valueStart + length;
    if (valueEnd > end) {
      throw new DecodeError('tlv.truncated', `value of ${length} bytes at offset ${valueStart} runs past the end`);
    }
    if (++budget.entries > MAX_ENTRIES) throw new DecodeError('tlv.oversized', `more than ${MAX_ENTRIES} TLV entries`);
    if (type === TlvType.OBJECT_INSTANCE || type === TlvType.MULTIPLE_RESOURCE) {
      out.push({ type, id, children: decodeLevel(buf, valueStart, valueEnd, type, budget) });
    } else {
      out.push({ type, id, value: buf.subarray(valueStart, valueEnd) });
    }
    pos = valueEnd;
  }
  return out;
}

/** Encodes entries with the shortest identifier and length forms. Bad input is a RangeError. */
export function encodeTlv(entries: readonly Tlv[]): Buffer {
  const chunks: Buffer[] = [];
  encodeLevel(entries, null, chunks);
  return Buffer.concat(chunks);
}

function encodeLevel(entries: readonly Tlv[], parent: TlvTypeValue | null, chunks: Buffer[]): number {
  let total = 0;
  for (const entry of entries) {
    const { type, id } = entry;
    if (type !== 0 && type !== 1 && type !== 2 && type !== 3) throw new RangeError(`bad TLV type ${String(type)}`);
    if (!Number.isInteger(id) || id < 0 || id >= MAX_ID) throw new RangeError(`TLV identifier must be in 0..${MAX_ID - 1}, got ${id}`);
    if (parent !== null && !CHILD_TYPES[parent].includes(type)) {
      throw new RangeError(`a ${TYPE_NAMES[type]} cannot be inside a ${TYPE_NAMES[parent]}`);
    }
    const body: Buffer[] = [];
    let length: number;
    if (type === TlvType.OBJECT_INSTANCE || type === TlvType.MULTIPLE_RESOURCE) {
      if (entry.children === undefined || entry.value !== undefined) {
        throw new RangeError(`a ${TYPE_NAMES[type]} has children and no value`);
      }
      length = encodeLevel(entry.children, type, body);
    } else {
      if (!Buffer.isBuffer(entry.value) || entry.children !== undefined) {
        throw new RangeError(`a ${TYPE_NAMES[type]} has a Buffer value and no children`);
      }
      length = entry.value.length;
      body.push(entry.value);
    }
    if (length > MAX_LENGTH) throw new RangeError(`TLV value of ${length} bytes is longer than ${MAX_LENGTH}`);
    const header = encodeHeader(type, id, length);
    chunks.push(header);
    for (const chunk of body) chunks.push(chunk);
    total += header.length + length;
  }
  return total;
}

function encodeHeader(type: TlvTypeValue, id: number, length: number): Buffer {
  const idBytes = id > 0xff ? 2 : 1;
  const lengthBytes = length <= 7 ? 0 : length <= 0xff ? 1 : length <= 0xffff ? 2 : 3;
  const header = Buffer.alloc(1 + idBytes + lengthBytes);
  header[0] = (type << 6) | (idBytes === 2 ? 0x20 : 0) | (lengthBytes << 3) | (lengthBytes === 0 ? length : 0);
  writeUint(header, 1, idBytes, id);
  writeUint(header, 1 + idBytes, lengthBytes, length);
  return header;
}

/**
 * For a Read of one object instance (/3/0): accepts one OBJECT_INSTANCE wrapper or bare resources
 * and returns resource id → RESOURCE or MULTIPLE_RESOURCE entry.
 */
export function tlvResources(buf: Buffer): Map<number, Tlv> {
  const entries = decodeTlv(buf);
  let resources = entries;
  if (entries.some((e) => e.type === TlvType.OBJECT_INSTANCE)) {
    if (entries.length !== 1) throw new DecodeError('tlv.instance', 'expected a single object instance');
    resources = entries[0]?.children ?? [];
  }
  const map = new Map<number, Tlv>();
  for (const entry of resources) {
    if (entry.type !== TlvType.RESOURCE && entry.type !== TlvType.MULTIPLE_RESOURCE) {
      throw new DecodeError('tlv.nesting', `a ${TYPE_NAMES[entry.type]} cannot stand for a resource`);
    }
    if (map.has(entry.id)) throw new DecodeError('tlv.duplicate', `resource ${entry.id} appears twice`);
    map.set(entry.id, entry);
  }
  return map;
}

// Values (LwM2M 1.1 Core, Appendix C data types, TLV column). Time is an Integer of seconds.

/** Two's complement, big-endian, the shortest of 1, 2, 4 or 8 bytes. */
export function encodeTlvInteger(n: number | bigint): Buffer {
  if (typeof n === 'number' && !Number.isSafeInteger(n)) throw new RangeError(`integer must be a safe integer, got ${n}`);
  const v = BigInt(n);
  if (v < -INT64 || v >= INT64) throw new RangeError('integer does not fit in 64 bits');
  if (v >= -INT8 && v < INT8) return Buffer.from([Number(v) & 0xff]);
  if (v >= -INT16 && v < INT16) {
    const b = Buffer.alloc(2);
    b.writeInt16BE(Number(v));
    return b;
  }
  if (v >= -INT32 && v < INT32) {
    const b = Buffer.alloc(4);
    b.writeInt32BE(Number(v));
    return b;
  }
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(v);
  return b;
}

/** 1, 2, 4 or 8 bytes; a number when within ±Number.MAX_SAFE_INTEGER, else a bigint. */
export function decodeTlvInteger(b: Buffer): number | bigint {
  switch (b.length) {
    case 1:
      return b.readInt8(0);
    case 2:
      return b.readInt16BE(0);
    case 4:
      return b.readInt32BE(0);
    case 8: {
      const v = b.readBigInt64BE(0);
      return v >= -MAX_SAFE && v <= MAX_SAFE ? Number(v) : v;
    }
    default:
      throw new DecodeError('tlv.integer', `integer must be 1, 2, 4 or 8 bytes, got ${b.length}`);
  }
}

/** IEEE 754 big-endian: 4 bytes when float32 holds the value exactly, else 8. */
export function encodeTlvFloat(x: number): Buffer {
  if (Number.isNaN(x) || Math.fround(x) === x) {
    const b = Buffer.alloc(4);
    b.writeFloatBE(x);
    return b;
  }
  const b = Buffer.alloc(8);
  b.writeDoubleBE(x);
  return b;
}

export function decodeTlvFloat(b: Buffer): number {
  if (b.length === 4) return b.readFloatBE(0);
  if (b.length === 8) return b.readDoubleBE(0);
  throw new DecodeError('tlv.float', `float must be 4 or 8 bytes, got ${b.length}`);
}

export function encodeTlvBoolean(v: boolean): Buffer {
  return Buffer.from([v ? 1 : 0]);
}

/** One byte, 0 or 1. */
export function decodeTlvBoolean(b: Buffer): boolean {
  if (b.length !== 1 || (b[0] !== 0 && b[0] !== 1)) throw new DecodeError('tlv.boolean', 'boolean must be one byte, 0 or 1');
  return b[0] === 1;
}

export function encodeTlvString(s: string): Buffer {
  return encodeUtf8(s);
}

/** Strict UTF-8: malformed bytes are DecodeError('tlv.utf8'). */
export function decodeTlvString(b: Buffer): string {
  return decodeUtf8(b, 'tlv.utf8', 'TLV string');
}

/** Objlnk: object ID then instance ID, 16 bits each; 65535:65535 is the null link. */
export function encodeTlvObjlnk(objectId: number, instanceId: number): Buffer {
  for (const id of [objectId, instanceId]) {
    if (!Number.isInteger(id) || id < 0 || id > 0xffff) throw new RangeError(`object link ID must be in 0..65535, got ${id}`);
  }
  return Buffer.from([objectId >> 8, objectId & 0xff, instanceId >> 8, instanceId & 0xff]);
}

export function decodeTlvObjlnk(b: Buffer): { objectId: number; instanceId: number } {
  if (b.length !== 4) throw new DecodeError('tlv.objlnk', `object link must be 4 bytes, got ${b.length}`);
  return { objectId: readUint(b, 0, 2), instanceId: readUint(b, 2, 2) };
}

function readUint(buf: Buffer, offset: number, bytes: number): number {
  let v = 0;
  for (let i = 0; i < bytes; i++) v = v * 256 + (buf[offset + i] as number);
  return v;
}

function writeUint(buf: Buffer, offset: number, bytes: number, value: number): void {
  for (let i = bytes - 1; i >= 0; i--) {
    buf[offset + i] = value & 0xff;
    value = Math.floor(value / 256);
  }
}
