/**
 * TLV (content-format 11542, LwM2M 1.1 Core §7.4.3) ⇄ the flat value model. TLV values are
 * untyped bytes, so both directions take the resource types from a TypeOf (the built-in model of
 * objects 0, 1, 3 and 5 by default); a resource of unknown type decodes to its opaque bytes.
 *
 * Shape by request path (Core §7.4.3.2 examples): /o → Object Instance TLVs; /o/i → Resource and
 * Multiple Resource TLVs (one wrapping Object Instance TLV of the same ID is accepted too);
 * /o/i/r → one Resource or Multiple Resource TLV; /o/i/r/ri → one Resource Instance TLV.
 */
import { DecodeError } from './errors.ts';
import type { Lwm2mNodes, Lwm2mResourceValue, Lwm2mValue, ResourceType, TypeOf } from './lwm2m-node.ts';
import { isObjlnk, isPathWithin, pathFromIds, pathIds, secondsOf, timeFromSeconds, valueForType } from './lwm2m-node.ts';
import { defaultTypeOf } from './object-model.ts';
import type { Lwm2mPath } from './path.ts';
import { formatPath } from './path.ts';
import type { Tlv } from './tlv.ts';
import {
  TlvType,
  decodeTlv,
  decodeTlvBoolean,
  decodeTlvFloat,
  decodeTlvInteger,
  decodeTlvObjlnk,
  decodeTlvString,
  encodeTlv,
  encodeTlvBoolean,
  encodeTlvFloat,
  encodeTlvInteger,
  encodeTlvObjlnk,
  encodeTlvString,
} from './tlv.ts';

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Decodes a TLV payload answering a request on `requestPath`. */
export function tlvToNodes(buf: Buffer, requestPath: Lwm2mPath, typeOf: TypeOf = defaultTypeOf): Lwm2mNodes {
  const base = pathIds(requestPath);
  const entries = decodeTlv(buf);
  const out: Lwm2mNodes = [];
  const leaf = (ids: number[], value: Buffer): void => {
    const path = pathFromIds(ids, 'tlv.id');
    out.push({ path, value: decodeValue(value, typeOf(path)) });
  };
  const [objectId, instanceId, resourceId, resourceInstanceId] = base as [number, number?, number?, number?];
  if (instanceId === undefined) {
    const seen = new Set<number>();
    for (const e of entries) {
      if (e.type !== TlvType.OBJECT_INSTANCE) throw nesting(e, 'object instances');
      unique(seen, e, 'object instance');
      resources(e.children ?? [], [objectId, e.id], leaf);
    }
  } else if (resourceId === undefined) {
    const only = entries.length === 1 ? entries[0] : undefined;
    if (only?.type === TlvType.OBJECT_INSTANCE) {
      if (only.id !== instanceId) throw mismatch(only, requestPath);
      resources(only.children ?? [], [objectId, instanceId], leaf);
    } else {
      resources(entries, [objectId, instanceId], leaf);
    }
  } else if (resourceInstanceId === undefined) {
    if (entries.length > 0 && entries.every((e) => e.type === TlvType.RESOURCE_INSTANCE)) {
      instances(entries, [objectId, instanceId, resourceId], leaf);
    } else {
      if (entries.length !== 1) throw new DecodeError('tlv.nesting', `expected one resource TLV for ${formatPath(requestPath)}`);
      const e = entries[0] as Tlv;
      if (e.id !== resourceId) throw mismatch(e, requestPath);
      resources(entries, [objectId, instanceId], leaf);
    }
  } else {
    const e = entries[0];
    if (entries.length !== 1 || e?.type !== TlvType.RESOURCE_INSTANCE) {
      throw new DecodeError('tlv.nesting', `expected one resource instance TLV for ${formatPath(requestPath)}`);
    }
    if (e.id !== resourceInstanceId) throw mismatch(e, requestPath);
    leaf([objectId, instanceId, resourceId, e.id], e.value ?? Buffer.alloc(0));
  }
  return out;
}

type Leaf = (ids: number[], value: Buffer) => void;

function resources(entries: readonly Tlv[], prefix: number[], leaf: Leaf): void {
  const seen = new Set<number>();
  for (const e of entries) {
    if (e.type === TlvType.RESOURCE) {
      unique(seen, e, 'resource');
      leaf([...prefix, e.id], e.value ?? Buffer.alloc(0));
    } else if (e.type === TlvType.MULTIPLE_RESOURCE) {
      unique(seen, e, 'resource');
      instances(e.children ?? [], [...prefix, e.id], leaf);
    } else {
      throw nesting(e, 'resources');
    }
  }
}

function instances(entries: readonly Tlv[], prefix: number[], leaf: Leaf): void {
  const seen = new Set<number>();
  for (const e of entries) {
    if (e.type !== TlvType.RESOURCE_INSTANCE) throw nesting(e, 'resource instances');
    unique(seen, e, 'resource instance');
    leaf([...prefix, e.id], e.value ?? Buffer.alloc(0));
  }
}

function unique(seen: Set<number>, e: Tlv, what: string): void {
  if (seen.has(e.id)) throw new DecodeError('tlv.duplicate', `${what} ${e.id} appears twice`);
  seen.add(e.id);
}

function nesting(e: Tlv, expected: string): DecodeError {
  return new DecodeError('tlv.nesting', `TLV of type ${e.type} (ID ${e.id}) where ${expected} were expected`);
}

function mismatch(e: Tlv, requestPath: Lwm2mPath): DecodeError {
  return new DecodeError('tlv.path', `TLV ID ${e.id} does not match the request path ${formatPath(requestPath)}`);
}

/** Core Appendix C, TLV column; a resource of unknown type is its opaque bytes (copied). */
function decodeValue(b: Buffer, type: ResourceType | undefined): Lwm2mValue {
  switch (type) {
    case 'string':
      return decodeTlvString(b);
    case 'integer':
      return decodeTlvInteger(b);
    case 'unsignedInteger':
      return decodeUnsigned(b);
    case 'float':
      return decodeTlvFloat(b);
    case 'boolean':
      return decodeTlvBoolean(b);
    case 'time':
      return timeFromSeconds(decodeTlvInteger(b), 'tlv.time');
    case 'objlnk': {
      const { objectId, instanceId } = decodeTlvObjlnk(b);
      return { objlnk: [objectId, instanceId] };
    }
    default:
      return Buffer.from(b);
  }
}

/** Unsigned Integer: 1, 2, 4 or 8 bytes, big-endian (Core Appendix C). */
function decodeUnsigned(b: Buffer): number | bigint {
  if (b.length !== 1 && b.length !== 2 && b.length !== 4 && b.length !== 8) {
    throw new DecodeError('tlv.integer', `unsigned integer must be 1, 2, 4 or 8 bytes, got ${b.length}`);
  }
  if (b.length < 8) return b.readUIntBE(0, b.length);
  const v = b.readBigUInt64BE(0);
  return v <= MAX_SAFE ? Number(v) : v;
}

function encodeUnsigned(v: number | bigint): Buffer {
  const n = BigInt(v);
  const bytes = n < 0x100n ? 1 : n < 0x10000n ? 2 : n < 0x100000000n ? 4 : 8;
  const out = Buffer.alloc(bytes);
  if (bytes === 8) out.writeBigUInt64BE(n);
  else out.writeUIntBE(Number(n), 0, bytes);
  return out;
}

/**
 * Encodes nodes as the TLV payload of a request on `requestPath` (Write, Create) or of a Read
 * answer. Every node must be a resource or resource instance at or below `requestPath`.
 * Bad input (a path outside, a value of the wrong type, a duplicate) is a RangeError.
 */
export function nodesToTlv(nodes: readonly Lwm2mResourceValue[], requestPath: Lwm2mPath, typeOf: TypeOf = defaultTypeOf): Buffer {
  const base = pathIds(requestPath);
  // instance → resource → { value } or { instances }
  const tree = new Map<number, Map<number, { value?: Buffer; instances?: Map<number, Buffer> }>>();
  for (const node of nodes) {
    const ids = pathIds(node.path);
    if (!isPathWithin(node.path, requestPath) || ids.length < 3) {
      throw new RangeError(`${formatPath(node.path)} is not a resource (instance) path within ${formatPath(requestPath)}`);
    }
    const [, instanceId, resourceId, resourceInstanceId] = ids as [number, number, number, number?];
    const bytes = encodeValue(node.value, typeOf(node.path), node.path);
    let resources = tree.get(instanceId);
    if (!resources) tree.set(instanceId, (resources = new Map()));
    let entry = resources.get(resourceId);
    if (!entry) resources.set(resourceId, (entry = {}));
    if (resourceInstanceId === undefined) {
      if (entry.value !== undefined || entry.instances !== undefined) throw duplicate(node.path);
      entry.value = bytes;
    } else {
      if (entry.value !== undefined || entry.instances?.has(resourceInstanceId)) throw duplicate(node.path);
      (entry.instances ??= new Map()).set(resourceInstanceId, bytes);
    }
  }
  const resourceTlvs = (resources: Map<number, { value?: Buffer; instances?: Map<number, Buffer> }>): Tlv[] =>
    [...resources].map(([id, entry]) =>
      entry.instances === undefined
        ? { type: TlvType.RESOURCE, id, value: entry.value ?? Buffer.alloc(0) }
        : {
            type: TlvType.MULTIPLE_RESOURCE,
            id,
            children: [...entry.instances].map(([ri, value]) => ({ type: TlvType.RESOURCE_INSTANCE, id: ri, value })),
          },
    );
  if (base.length === 1) {
    return encodeTlv([...tree].map(([id, resources]) => ({ type: TlvType.OBJECT_INSTANCE, id, children: resourceTlvs(resources) })));
  }
  const resources = tree.get(base[1] as number) ?? new Map();
  if (base.length === 2) return encodeTlv(resourceTlvs(resources));
  if (nodes.length === 0) throw new RangeError(`no value to encode for ${formatPath(requestPath)}`);
  const tlvs = resourceTlvs(resources);
  if (base.length === 3) return encodeTlv(tlvs);
  const instance = tlvs[0]?.children?.[0];
  if (instance === undefined) throw new RangeError(`${formatPath(requestPath)} needs a resource instance value`);
  return encodeTlv([instance]);
}

function duplicate(path: Lwm2mPath): RangeError {
  return new RangeError(`${formatPath(path)} has two values`);
}

function encodeValue(value: Lwm2mValue, type: ResourceType | undefined, path: Lwm2mPath): Buffer {
  const v = valueForType(value, type, path);
  if (typeof v === 'string') return encodeTlvString(v);
  if (typeof v === 'boolean') return encodeTlvBoolean(v);
  if (v instanceof Date) return encodeTlvInteger(secondsOf(v));
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (isObjlnk(v)) return encodeTlvObjlnk(v.objlnk[0], v.objlnk[1]);
  if (type === 'unsignedInteger') return encodeUnsigned(v);
  if (typeof v === 'bigint') return encodeTlvInteger(v);
  if (type !== 'float' && Number.isSafeInteger(v)) return encodeTlvInteger(v);
  return encodeTlvFloat(v);
}
