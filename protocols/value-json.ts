/**
 * LwM2M values as JSON, for the admin API: numbers as JSON numbers (integers past 2**53 as decimal
 * strings, so nothing is rounded), Opaque as base64, Time as an ISO 8601 string (an expanded year,
 * "+010000-01-01T00:00:00.000Z", outside 0000–9999), Objlnk as "3:0".
 * valueFromJson() reads an operator's JSON back, by the resource type when it is known.
 */
import { decodeBase64, encodeBase64 } from './base64.ts';
import { DecodeError } from './errors.ts';
import type { Lwm2mValue, ResourceType } from './lwm2m-node.ts';
import { formatObjlnk, isObjlnk, typedValue } from './lwm2m-node.ts';
import type { Lwm2mPath } from './path.ts';
import { formatPath } from './path.ts';

export type JsonValue = string | number | boolean;

export function valueToJson(v: Lwm2mValue): JsonValue {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Date) return v.toISOString();
  if (v instanceof Uint8Array) return encodeBase64(v);
  if (isObjlnk(v)) return formatObjlnk(v);
  return v;
}

/** An operator's JSON value for the resource at `path`; anything that does not fit is DecodeError('json.value'). */
export function valueFromJson(json: unknown, type: ResourceType | undefined, path: Lwm2mPath): Lwm2mValue {
  const code = 'json.value';
  let raw: Lwm2mValue | undefined;
  if (typeof json === 'boolean' || typeof json === 'string' || (typeof json === 'number' && Number.isFinite(json))) raw = json;
  if (typeof json === 'string') {
    if ((type === 'integer' || type === 'unsignedInteger') && /^-?[0-9]{1,20}$/.test(json)) raw = BigInt(json);
    else if (type === 'opaque') raw = decodeBase64(json, code);
    else if (type === 'time') {
      // ECMAScript's date-time string: a 4-digit year, or an expanded year (±6 digits) outside 0000–9999, as toISOString() writes it.
      const ms = /^(?:\d{4}|[+-]\d{6})-\d{2}-\d{2}T/.test(json) ? Date.parse(json) : Number.NaN;
      if (Number.isNaN(ms)) throw new DecodeError(code, `${formatPath(path)}: time must be an ISO 8601 date-time or seconds`);
      raw = new Date(ms);
    }
  }
  if (raw === undefined) throw new DecodeError(code, `${formatPath(path)}: a value must be a string, a finite number or a boolean`);
  return typedValue(raw, type, path, code);
}
