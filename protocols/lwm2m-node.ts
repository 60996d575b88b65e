/**
 * The value model every LwM2M content format decodes to and encodes from: a flat list of
 * (path, value) pairs, one per resource or resource instance (LwM2M 1.1 Core §7.4 "Data Formats
 * for Transferring Resource Information"; data types in Core Appendix C).
 *
 * Decoders check values against the resource type when they know it (DecodeError with the
 * format's code); encoders check them the same way (RangeError: our own value is wrong).
 */
import { DecodeError } from './errors.ts';
import type { Lwm2mPath } from './path.ts';
import { MAX_ID, formatPath } from './path.ts';

/** Objlnk: Object ID and Object Instance ID; 65535:65535 is the null link (Core Appendix C). */
export interface Lwm2mObjlnk {
  objlnk: [number, number];
}

/** Integer / Unsigned Integer (number, or bigint past ±2**53), String, Boolean, Opaque, Objlnk, Time. */
export type Lwm2mValue = number | bigint | string | boolean | Uint8Array | Lwm2mObjlnk | Date;

export interface Lwm2mResourceValue {
  path: Lwm2mPath;
  value: Lwm2mValue;
  /** SenML time of the value, bt + t in seconds (RFC 8428 §4.5.3: below 2**28 it is relative to "now"). */
  timestamp?: number;
}

export type Lwm2mNodes = Lwm2mResourceValue[];

/** LwM2M data types a resource holds (Core Appendix C); Corelnk travels as a string. */
export type ResourceType = 'string' | 'integer' | 'unsignedInteger' | 'float' | 'boolean' | 'opaque' | 'time' | 'objlnk';

/** The type of the resource a path names, or undefined when unknown (or not a resource path). */
export type TypeOf = (path: Lwm2mPath) => ResourceType | undefined;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
/** ECMAScript Date range: ±8.64e15 ms. */
const MAX_TIME_SECONDS = 8.64e12;

// ---- Paths

/** [objectId, instanceId?, resourceId?, resourceInstanceId?], stopping at the first missing ID. */
export function pathIds(p: Lwm2mPath | undefined): number[] {
  if (p === undefined) return [];
  const out: number[] = [];
  for (const id of [p.objectId, p.instanceId, p.resourceId, p.resourceInstanceId]) {
    if (id === undefined) break;
    out.push(id);
  }
  return out;
}

/** A path from 1 to 4 IDs, each 0..65534; anything else is DecodeError(code). */
export function pathFromIds(ids: readonly number[], code: string): Lwm2mPath {
  if (ids.length < 1 || ids.length > 4) throw new DecodeError(code, `a path has 1 to 4 IDs, got ${ids.length}`);
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= MAX_ID) throw new DecodeError(code, `path ID ${String(id)} is out of range (0..${MAX_ID - 1})`);
  }
  const [objectId, instanceId, resourceId, resourceInstanceId] = ids as [number, number?, number?, number?];
  const path: Lwm2mPath = { objectId };
  if (instanceId !== undefined) path.instanceId = instanceId;
  if (resourceId !== undefined) path.resourceId = resourceId;
  if (resourceInstanceId !== undefined) path.resourceInstanceId = resourceInstanceId;
  return path;
}

/** True when `path` is `base` or below it; every path is within the root (base undefined). */
export function isPathWithin(path: Lwm2mPath, base: Lwm2mPath | undefined): boolean {
  const a = pathIds(path);
  const b = pathIds(base);
  return b.length <= a.length && b.every((id, i) => a[i] === id);
}

export function samePath(a: Lwm2mPath, b: Lwm2mPath): boolean {
  const x = pathIds(a);
  const y = pathIds(b);
  return x.length === y.length && x.every((id, i) => y[i] === id);
}

// ---- Values

export function isObjlnk(v: unknown): v is Lwm2mObjlnk {
  if (typeof v !== 'object' || v === null || !('objlnk' in v)) return false;
  const ids = (v as { objlnk: unknown }).objlnk;
  return Array.isArray(ids) && ids.length === 2 && ids.every((id) => Number.isInteger(id) && id >= 0 && id <= 0xffff);
}

/** '3:0' (Core §7.4.5 SenML "vlo"; LwM2M-CBOR and plain text carry Objlnk the same way). */
export function formatObjlnk(v: Lwm2mObjlnk): string {
  return `${v.objlnk[0]}:${v.objlnk[1]}`;
}

export function parseObjlnk(text: string, code: string): Lwm2mObjlnk {
  const m = /^(0|[1-9][0-9]{0,4}):(0|[1-9][0-9]{0,4})$/.exec(text);
  const objectId = Number(m?.[1]);
  const instanceId = Number(m?.[2]);
  if (!m || objectId > 0xffff || instanceId > 0xffff) {
    throw new DecodeError(code, 'object link must be "objectId:instanceId", each 0..65535');
  }
  return { objlnk: [objectId, instanceId] };
}

/** Seconds since the epoch → Date; out of the Date range is DecodeError(code). */
export function timeFromSeconds(seconds: number | bigint, code: string): Date {
  const s = Number(seconds);
  if (!Number.isFinite(s) || Math.abs(s) > MAX_TIME_SECONDS) throw new DecodeError(code, 'time is out of range');
  return new Date(s * 1000);
}

/** Whole seconds since the epoch (LwM2M Time is an integer of seconds). */
export function secondsOf(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}

/** A bigint that fits ±2**53 becomes a number; anything else is returned as it is. */
export function narrowInteger(v: Lwm2mValue): Lwm2mValue {
  return typeof v === 'bigint' && v >= -MAX_SAFE && v <= MAX_SAFE ? Number(v) : v;
}

/**
 * Decoder side: a self-described value (SenML, CBOR) checked against the resource type, when
 * known, and converted where the format leaves it open (a number for Time, "3:0" for Objlnk).
 */
export function typedValue(raw: Lwm2mValue, type: ResourceType | undefined, path: Lwm2mPath, code: string): Lwm2mValue {
  const v = narrowInteger(raw);
  const out = convert(v, type);
  if (out === undefined) {
    throw new DecodeError(code, `${formatPath(path)} is ${type === undefined ? 'not a valid value' : `a ${type}`}, got ${describe(v)}`);
  }
  if (out instanceof Date && Number.isNaN(out.getTime())) throw new DecodeError(code, `${formatPath(path)}: time is out of range`);
  return out;
}

/** Encoder side: the same checks and conversions; a mismatch is a RangeError naming the path. */
export function valueForType(value: Lwm2mValue, type: ResourceType | undefined, path: Lwm2mPath): Lwm2mValue {
  const out = convert(narrowInteger(value), type);
  if (out === undefined || (out instanceof Date && Number.isNaN(out.getTime()))) {
    throw new RangeError(`${formatPath(path)}: ${describe(value)} is not a valid ${type ?? 'LwM2M'} value`);
  }
  return out;
}

function convert(v: Lwm2mValue, type: ResourceType | undefined): Lwm2mValue | undefined {
  switch (type) {
    case undefined:
      return isValue(v) ? v : undefined;
    case 'string':
      return typeof v === 'string' ? v : undefined;
    case 'integer':
      return isInteger(v) && BigInt(v) >= INT64_MIN && BigInt(v) <= INT64_MAX ? v : undefined;
    case 'unsignedInteger':
      return isInteger(v) && BigInt(v) >= 0n && BigInt(v) <= UINT64_MAX ? v : undefined;
    case 'float':
      if (typeof v === 'bigint') return Number(v);
      return typeof v === 'number' ? v : undefined;
    case 'boolean':
      return typeof v === 'boolean' ? v : undefined;
    case 'opaque':
      return v instanceof Uint8Array ? v : undefined;
    case 'time':
      if (v instanceof Date) return v;
      return isInteger(v) && Math.abs(Number(v)) <= MAX_TIME_SECONDS ? new Date(Number(v) * 1000) : undefined;
    case 'objlnk':
      if (isObjlnk(v)) return v;
      if (typeof v !== 'string') return undefined;
      try {
        return parseObjlnk(v, 'objlnk');
      } catch {
        return undefined;
      }
  }
}

function isInteger(v: Lwm2mValue): v is number | bigint {
  return typeof v === 'bigint' || (typeof v === 'number' && Number.isSafeInteger(v));
}

function isValue(v: unknown): v is Lwm2mValue {
  return (
    typeof v === 'string' ||
    typeof v === 'boolean' ||
    typeof v === 'bigint' ||
    (typeof v === 'number' && !Number.isNaN(v)) ||
    v instanceof Uint8Array ||
    v instanceof Date ||
    isObjlnk(v)
  );
}

function describe(v: unknown): string {
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'boolean') return 'a boolean';
  if (typeof v === 'bigint') return `the integer ${v}`;
  if (typeof v === 'number') return Number.isInteger(v) ? `the integer ${v}` : `the number ${v}`;
  if (v instanceof Uint8Array) return `${v.length} opaque bytes`;
  if (v instanceof Date) return 'a time';
  if (isObjlnk(v)) return 'an object link';
  return v === null ? 'null' : typeof v;
}
