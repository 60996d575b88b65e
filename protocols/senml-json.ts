/**
 * SenML-JSON, content-format 110 (RFC 8428 §5; LwM2M 1.1 Core §7.4.4). The payload is strict
 * UTF-8 JSON: an array of record objects. Unknown fields are ignored unless their label ends in
 * "_" (RFC 8428 §4.4, an error); "vd" is base64url (RFC 8428 §5).
 */
import { decodeBase64, encodeBase64Url } from './base64.ts';
import { DecodeError } from './errors.ts';
import type { Lwm2mNodes, Lwm2mResourceValue, TypeOf } from './lwm2m-node.ts';
import { defaultTypeOf } from './object-model.ts';
import type { Lwm2mPath } from './path.ts';
import type { SenmlRecord } from './senml.ts';
import { nodesToSenml, resolveSenml, senmlToNodes } from './senml.ts';
import { decodeUtf8, isWellFormedText } from './utf8.ts';

const MAX_INPUT_BYTES = 1024 * 1024;
const MAX_RECORDS = 100_000;
const STRING_FIELDS = ['bn', 'bu', 'n', 'u', 'vs', 'vlo'] as const;
const NUMBER_FIELDS = ['bt', 'bv', 'bs', 'bver', 't', 'v', 's'] as const;

/** Decodes a SenML-JSON payload to LwM2M nodes (names must be resource or resource instance paths). */
export function decodeSenmlJson(buf: Uint8Array, typeOf: TypeOf = defaultTypeOf): Lwm2mNodes {
  return senmlToNodes(resolveSenml(parseSenmlJson(buf)), 'senml', typeOf);
}

/** Encodes nodes as SenML-JSON; see nodesToSenml() for bn and n. */
export function encodeSenmlJson(nodes: readonly Lwm2mResourceValue[], requestPath?: Lwm2mPath, typeOf: TypeOf = defaultTypeOf): Buffer {
  return formatSenmlJson(nodesToSenml(nodes, requestPath, typeOf));
}

/** Parses a SenML-JSON pack into records as they are written (not resolved). */
export function parseSenmlJson(buf: Uint8Array): SenmlRecord[] {
  if (buf.length > MAX_INPUT_BYTES) throw invalid('oversized', `SenML-JSON payload is larger than ${MAX_INPUT_BYTES} bytes`);
  const text = decodeUtf8(buf, 'senml.utf8', 'SenML-JSON payload');
  let pack: unknown;
  try {
    pack = JSON.parse(text);
  } catch {
    throw invalid('invalid', 'payload is not JSON');
  }
  if (!Array.isArray(pack)) throw invalid('invalid', 'a SenML pack is a JSON array of records');
  if (pack.length > MAX_RECORDS) throw invalid('oversized', `more than ${MAX_RECORDS} records`);
  return pack.map((item: unknown, i) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw invalid('invalid', `record ${i} is not a JSON object`);
    const obj = item as Record<string, unknown>;
    const record: SenmlRecord = {};
    for (const key of Object.keys(obj)) {
      if (key.endsWith('_')) throw invalid('unsupported', `record ${i} has the must-understand field "${key.slice(0, 40)}"`);
    }
    for (const key of STRING_FIELDS) {
      const value = field(obj, key);
      if (value === undefined) continue;
      if (typeof value !== 'string') throw wrongType(i, key, 'a string');
      if (!isWellFormedText(value)) throw invalid('utf8', `record ${i}: "${key}" holds a lone surrogate`);
      record[key] = value;
    }
    for (const key of NUMBER_FIELDS) {
      const value = field(obj, key);
      if (value === undefined) continue;
      if (typeof value !== 'number' || !Number.isFinite(value)) throw wrongType(i, key, 'a finite number');
      record[key] = value;
    }
    const vb = field(obj, 'vb');
    if (vb !== undefined) {
      if (typeof vb !== 'boolean') throw wrongType(i, 'vb', 'a boolean');
      record.vb = vb;
    }
    const vd = field(obj, 'vd');
    if (vd !== undefined) {
      if (typeof vd !== 'string') throw wrongType(i, 'vd', 'a base64url string');
      record.vd = decodeBase64(vd, 'senml.base64');
    }
    return record;
  });
}

/** Writes records in the field order of the LwM2M examples: bn, bt, n, value, t. */
export function formatSenmlJson(records: readonly SenmlRecord[]): Buffer {
  const parts = records.map((r) => {
    const fields: string[] = [];
    const add = (key: string, json: string): void => {
      fields.push(`"${key}":${json}`);
    };
    if (r.bn !== undefined) add('bn', str(r.bn));
    if (r.bt !== undefined) add('bt', num(r.bt));
    if (r.n !== undefined) add('n', str(r.n));
    if (r.v !== undefined) add('v', num(r.v));
    if (r.vs !== undefined) add('vs', str(r.vs));
    if (r.vb !== undefined) add('vb', r.vb ? 'true' : 'false');
    if (r.vd !== undefined) add('vd', str(encodeBase64Url(r.vd)));
    if (r.vlo !== undefined) add('vlo', str(r.vlo));
    if (r.t !== undefined) add('t', num(r.t));
    return `{${fields.join(',')}}`;
  });
  return Buffer.from(`[${parts.join(',')}]`, 'utf8');
}

function field(obj: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

function str(s: string): string {
  if (!isWellFormedText(s)) throw new RangeError('string contains a lone surrogate');
  return JSON.stringify(s);
}

/** RFC 8428 §5: a JSON number; an exponent has a lower-case "e" (JavaScript's own form). */
function num(n: number | bigint): string {
  if (typeof n === 'bigint') return n.toString();
  if (!Number.isFinite(n)) throw new RangeError(`${n} cannot be written as a JSON number`);
  return JSON.stringify(n);
}

function wrongType(i: number, key: string, expected: string): DecodeError {
  return invalid('invalid', `record ${i}: "${key}" must be ${expected}`);
}

function invalid(what: string, reason: string): DecodeError {
  return new DecodeError(`senml.${what}`, reason);
}
