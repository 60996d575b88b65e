/**
 * LwM2M-CBOR, content-format 11544 (LwM2M 1.2 Core §7.4.6): nested CBOR maps whose keys are path
 * IDs, or arrays of consecutive path IDs, from the object down: {3: {0: {0: "Open Mobile
 * Alliance", 9: 100}}} or {[3, 0]: {0: "…"}} or {[3, 0, 9]: 100}. Leaves hold the values as plain
 * CBOR does: integers, floats (or decimal fractions, tag 4), text, byte strings (Opaque), booleans,
 * Objlnk as the text "3:0", Time as an integer or a tag 1 epoch time.
 *
 * The gateway prefixes of LwM2M 1.2 (text keys) and null values are not supported.
 */
import type { CborLimits } from './cbor-guard.ts';
import { decodeCborGuarded, encodeCbor } from './cbor-guard.ts';
import { DecodeError } from './errors.ts';
import type { Lwm2mNodes, Lwm2mResourceValue, Lwm2mValue, TypeOf } from './lwm2m-node.ts';
import { formatObjlnk, isObjlnk, isPathWithin, pathFromIds, pathIds, secondsOf, typedValue, valueForType } from './lwm2m-node.ts';
import { defaultTypeOf } from './object-model.ts';
import type { Lwm2mPath } from './path.ts';
import { MAX_ID, formatPath } from './path.ts';

/** Root map, four levels of maps, an array key or a tag 4 below the last: depth 8 is ample. */
const LIMITS: CborLimits = { maxBytes: 1024 * 1024, maxDepth: 8, maxItems: 400_000, tags: [1, 4] };

/** Decodes an LwM2M-CBOR payload; the paths are absolute (from the object ID). */
export function decodeLwm2mCbor(buf: Uint8Array, typeOf: TypeOf = defaultTypeOf): Lwm2mNodes {
  const root = decodeCborGuarded(buf, LIMITS);
  if (!(root instanceof Map)) throw bad('invalid', 'an LwM2M-CBOR payload is a CBOR map');
  const out: Lwm2mNodes = [];
  walk(root, [], out, new Set(), typeOf);
  return out;
}

function walk(map: Map<unknown, unknown>, prefix: readonly number[], out: Lwm2mNodes, seen: Set<string>, typeOf: TypeOf): void {
  for (const [key, value] of map) {
    const ids = [...prefix, ...keyIds(key)];
    // Only the first IDs go in the reason: an array key may hold tens of thousands of them.
    if (ids.length > 4) throw bad('path', `path /${ids.slice(0, 5).join('/')}${ids.length > 5 ? '/…' : ''} is deeper than a resource instance`);
    if (value instanceof Map) {
      walk(value as Map<unknown, unknown>, ids, out, seen, typeOf);
      continue;
    }
    if (ids.length < 3) throw bad('path', `a value at /${ids.join('/')}: values belong to resources or resource instances`);
    const path = pathFromIds(ids, 'lwm2m-cbor.path');
    const name = formatPath(path);
    if (seen.has(name)) throw bad('duplicate', `${name} appears twice`);
    // A resource holds one value or resource instances, not both: "/3/0/7" and "/3/0/7/0" conflict.
    const resource = ids.length === 4 ? `/${ids.slice(0, 3).join('/')}` : name;
    if (ids.length === 4 ? seen.has(resource) : seen.has(`${resource}/*`)) throw bad('duplicate', `${resource} has both a value and resource instances`);
    seen.add(name);
    if (ids.length === 4) seen.add(`${resource}/*`);
    out.push({ path, value: typedValue(leafValue(value, name), typeOf(path), path, 'lwm2m-cbor.type') });
  }
}

function keyIds(key: unknown): number[] {
  const ids = Array.isArray(key) ? (key as unknown[]) : [key];
  if (ids.length === 0) throw bad('path', 'an empty array is not a path');
  return ids.map((id) => {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= MAX_ID) {
      throw bad('path', `map keys are path IDs (0..${MAX_ID - 1}) or arrays of them`);
    }
    return id;
  });
}

function leafValue(v: unknown, name: string): Lwm2mValue {
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'string' || typeof v === 'boolean') return v;
  if (v instanceof Uint8Array) return v;
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) throw bad('value', `${name}: time is out of range`);
    return v;
  }
  throw bad('value', `${name}: ${v === null ? 'null' : Array.isArray(v) ? 'an array' : 'this CBOR item'} is not a resource value`);
}

/**
 * Encodes nodes for a request on `requestPath` (undefined: the root, for composite operations):
 * the request path's IDs form one array key, the rest nest as maps, {[3, 0]: {0: "…", 6: {0: 1}}};
 * a single resource is {[3, 0, 9]: 100}. Time is written as integer seconds, Objlnk as "3:0".
 * Maps are definite-length (cbor-x); a float resource holding a whole number goes out as a CBOR integer.
 */
export function encodeLwm2mCbor(nodes: readonly Lwm2mResourceValue[], requestPath?: Lwm2mPath, typeOf: TypeOf = defaultTypeOf): Buffer {
  const base = pathIds(requestPath);
  const tree = new Map<number, unknown>();
  let whole: unknown;
  for (const node of nodes) {
    const ids = pathIds(node.path);
    if (ids.length < 3 || !isPathWithin(node.path, requestPath)) {
      throw new RangeError(`${formatPath(node.path)} is not a resource (instance) path within ${requestPath ? formatPath(requestPath) : '/'}`);
    }
    const value = cborValue(valueForType(node.value, typeOf(node.path), node.path));
    const rest = ids.slice(base.length);
    if (rest.length === 0) {
      if (whole !== undefined || nodes.length > 1) throw new RangeError(`${formatPath(node.path)} has two values`);
      whole = value;
      continue;
    }
    let level = tree;
    for (const id of rest.slice(0, -1)) {
      let next = level.get(id);
      if (next === undefined) level.set(id, (next = new Map<number, unknown>()));
      if (!(next instanceof Map)) throw new RangeError(`${formatPath(node.path)} lies below a resource that has a value`);
      level = next as Map<number, unknown>;
    }
    const last = rest[rest.length - 1] as number;
    if (level.has(last)) throw new RangeError(`${formatPath(node.path)} has two values`);
    level.set(last, value);
  }
  const body = whole ?? tree;
  return encodeCbor(base.length === 0 ? body : new Map([[base, body]]));
}

function cborValue(v: Lwm2mValue): unknown {
  if (v instanceof Date) return secondsOf(v);
  if (isObjlnk(v)) return formatObjlnk(v);
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return v;
}

function bad(what: string, reason: string): DecodeError {
  return new DecodeError(`lwm2m-cbor.${what}`, reason);
}
