/**
 * Typed resource values to and from payloads, through the protocols/ codecs: plain text (0),
 * opaque (42), TLV (11542), SenML-CBOR (112) and SenML-JSON (110). A device has a preferred
 * format for object and instance reads (the `ct` of its registration, Core §6.2.1): TLV as an
 * LwM2M 1.0-style device, SenML-CBOR as a 1.1 one. What cannot be represented is answered with
 * the CoAP code the LwM2M TS gives (4.06 for an Accept we cannot produce, 4.15 for a
 * Content-Format we cannot read, 4.00 for a payload that does not decode).
 */
import { decodeContent, encodeContent } from '../../protocols/content.ts';
import { ContentFormat } from '../../protocols/content-format.ts';
import { DecodeError } from '../../protocols/errors.ts';
import type { Lwm2mNodes, Lwm2mResourceValue, ResourceType, TypeOf } from '../../protocols/lwm2m-node.ts';
import type { Lwm2mPath } from '../../protocols/path.ts';
import { decodeTextInteger, decodeTextString, encodeText } from '../../protocols/text.ts';
import {
  TlvType,
  decodeTlvBoolean,
  decodeTlvInteger,
  decodeTlvString,
  encodeTlv,
  encodeTlvBoolean,
  encodeTlvInteger,
  encodeTlvString,
  tlvResources,
} from '../../protocols/tlv.ts';
import type { Tlv } from '../../protocols/tlv.ts';
import { readable } from './model.ts';
import type { ObjectInstance, ResourceKind, ResourceValue } from './model.ts';

export type Encoded = { ok: true; contentFormat: number; payload: Buffer } | { ok: false; code: string; reason: string };
export type Decoded = { ok: true; value: ResourceValue } | { ok: false; code: string; reason: string };

/** The formats a device may prefer for object and instance reads. */
export type DeviceFormat = typeof ContentFormat.TLV | typeof ContentFormat.SENML_CBOR;

const SENML: ReadonlySet<number> = new Set([ContentFormat.SENML_CBOR, ContentFormat.SENML_JSON]);

const TYPE_OF_KIND: Record<ResourceKind, ResourceType> = { string: 'string', integer: 'integer', boolean: 'boolean', opaque: 'opaque', integers: 'integer' };

/** The resource types our own instances declare, for the SenML codecs. */
function typeOfInstances(instances: readonly ObjectInstance[]): TypeOf {
  return (p) => {
    const inst = instances.find((i) => i.objectId === p.objectId && (p.instanceId === undefined || i.instanceId === p.instanceId));
    const def = inst?.resources.find((r) => r.id === p.resourceId);
    return def === undefined ? undefined : TYPE_OF_KIND[def.kind];
  };
}

/** One resource as SenML-ready nodes: one node, or one per instance of a multiple resource. */
function resourceNodes(objectId: number, instanceId: number, resourceId: number, v: ResourceValue): Lwm2mNodes {
  if (v.kind === 'integers') {
    return v.value.map((value, resourceInstanceId) => ({ path: { objectId, instanceId, resourceId, resourceInstanceId }, value }));
  }
  return [{ path: { objectId, instanceId, resourceId }, value: v.value }];
}

function instanceNodes(inst: ObjectInstance): Lwm2mNodes {
  const out: Lwm2mNodes = [];
  for (const def of inst.resources) {
    if (!readable(def)) continue;
    const v = inst.read(def.id);
    if (v !== undefined) out.push(...resourceNodes(inst.objectId, inst.instanceId, def.id, v));
  }
  return out;
}

function senml(format: number, nodes: readonly Lwm2mResourceValue[], path: Lwm2mPath, instances: readonly ObjectInstance[]): Encoded {
  return { ok: true, contentFormat: format, payload: encodeContent(format, nodes, path, typeOfInstances(instances)) };
}

function tlvValue(v: Exclude<ResourceValue, { kind: 'integers' }>): Buffer {
  switch (v.kind) {
    case 'string':
      return encodeTlvString(v.value);
    case 'integer':
      return encodeTlvInteger(v.value);
    case 'boolean':
      return encodeTlvBoolean(v.value);
    case 'opaque':
      return v.value;
  }
}

/** One resource as a TLV entry (a Multiple Resource for 'integers'). */
export function resourceTlv(id: number, v: ResourceValue): Tlv {
  if (v.kind === 'integers') {
    return {
      type: TlvType.MULTIPLE_RESOURCE,
      id,
      children: v.value.map((n, i) => ({ type: TlvType.RESOURCE_INSTANCE, id: i, value: encodeTlvInteger(n) })),
    };
  }
  return { type: TlvType.RESOURCE, id, value: tlvValue(v) };
}

/** The readable resources of an instance, as TLV entries. */
export function instanceTlv(inst: ObjectInstance): Tlv[] {
  const out: Tlv[] = [];
  for (const def of inst.resources) {
    if (!readable(def)) continue;
    const v = inst.read(def.id);
    if (v !== undefined) out.push(resourceTlv(def.id, v));
  }
  return out;
}

/** Object (`wrap`) or instance read: TLV or SenML; no Accept means the device's preferred format. */
export function encodeInstances(instances: readonly ObjectInstance[], wrap: boolean, accept: number | undefined, preferred: DeviceFormat = ContentFormat.TLV): Encoded {
  const format = accept ?? preferred;
  const first = instances[0];
  if (SENML.has(format) && first !== undefined) {
    const path = wrap ? { objectId: first.objectId } : { objectId: first.objectId, instanceId: first.instanceId };
    return senml(format, (wrap ? instances : [first]).flatMap(instanceNodes), path, instances);
  }
  if (format !== ContentFormat.TLV) return notAcceptable(format);
  const entries: Tlv[] = wrap || first === undefined
    ? instances.map((i) => ({ type: TlvType.OBJECT_INSTANCE, id: i.instanceId, children: instanceTlv(i) }))
    : instanceTlv(first);
  return { ok: true, contentFormat: ContentFormat.TLV, payload: encodeTlv(entries) };
}

/** A single resource: text (opaque) by default, TLV or SenML on request; a multiple one in the preferred format. */
export function encodeResource(inst: ObjectInstance, id: number, v: ResourceValue, accept: number | undefined, preferred: DeviceFormat = ContentFormat.TLV): Encoded {
  const format = accept ?? (v.kind === 'integers' ? preferred : v.kind === 'opaque' ? ContentFormat.OPAQUE : ContentFormat.TEXT);
  if (SENML.has(format)) return senml(format, resourceNodes(inst.objectId, inst.instanceId, id, v), { objectId: inst.objectId, instanceId: inst.instanceId, resourceId: id }, [inst]);
  if (format === ContentFormat.TLV) return { ok: true, contentFormat: format, payload: encodeTlv([resourceTlv(id, v)]) };
  if (format === ContentFormat.TEXT && v.kind !== 'integers' && v.kind !== 'opaque') {
    return { ok: true, contentFormat: format, payload: encodeText(v.value) };
  }
  if (format === ContentFormat.OPAQUE && v.kind === 'opaque') return { ok: true, contentFormat: format, payload: v.value };
  return notAcceptable(format, v.kind);
}

/** One instance of a multiple resource (/3/0/11/0): text, TLV or SenML. */
export function encodeResourceInstance(inst: ObjectInstance, path: Lwm2mPath, value: number, accept: number | undefined): Encoded {
  const id = path.resourceInstanceId ?? 0;
  const format = accept ?? ContentFormat.TEXT;
  if (format === ContentFormat.TEXT) return { ok: true, contentFormat: format, payload: encodeText(value) };
  if (SENML.has(format)) return senml(format, [{ path, value }], path, [inst]);
  if (format === ContentFormat.TLV) {
    return { ok: true, contentFormat: format, payload: encodeTlv([{ type: TlvType.RESOURCE_INSTANCE, id, value: encodeTlvInteger(value) }]) };
  }
  return notAcceptable(format);
}

/** The payload of a Write to resource `id` of `inst`. */
export function decodeWrite(inst: ObjectInstance, id: number, kind: ResourceKind, contentFormat: number | undefined, payload: Buffer): Decoded {
  try {
    if (contentFormat !== undefined && SENML.has(contentFormat)) {
      const values = fromSenml(inst, contentFormat, payload, { objectId: inst.objectId, instanceId: inst.instanceId, resourceId: id });
      if (!values.ok) return values;
      const value = values.values.get(id);
      return value === undefined ? { ok: false, code: '4.00', reason: `the ${contentFormat === ContentFormat.SENML_CBOR ? 'SenML-CBOR' : 'SenML-JSON'} payload has no value for resource ${id}` } : { ok: true, value };
    }
    switch (contentFormat) {
      case undefined:
        return { ok: false, code: '4.00', reason: 'a Write needs a Content-Format' };
      case ContentFormat.TEXT:
        return fromText(kind, payload);
      case ContentFormat.OPAQUE:
        if (kind === 'opaque') return { ok: true, value: { kind, value: payload } };
        if (kind === 'string') return { ok: true, value: { kind, value: decodeTextString(payload) } };
        return unsupported(contentFormat, kind);
      case ContentFormat.TLV: {
        const entry = tlvResources(payload).get(id);
        if (entry === undefined) return { ok: false, code: '4.00', reason: `TLV payload has no resource ${id}` };
        return fromTlv(kind, entry);
      }
      default:
        return unsupported(contentFormat, kind);
    }
  } catch (err) {
    if (err instanceof DecodeError) return { ok: false, code: '4.00', reason: err.reason };
    throw err;
  }
}

type DecodedValues = { ok: true; values: Map<number, ResourceValue> } | { ok: false; code: string; reason: string };

/** Instance-level Write (TLV or SenML): each resource, decoded by the kind we know it has. */
export function decodeInstanceWrite(inst: ObjectInstance, contentFormat: number | undefined, payload: Buffer): DecodedValues {
  if (contentFormat !== undefined && SENML.has(contentFormat)) {
    try {
      return fromSenml(inst, contentFormat, payload, { objectId: inst.objectId, instanceId: inst.instanceId });
    } catch (err) {
      if (err instanceof DecodeError) return { ok: false, code: '4.00', reason: err.reason };
      throw err;
    }
  }
  if (contentFormat !== ContentFormat.TLV) {
    return { ok: false, code: contentFormat === undefined ? '4.00' : '4.15', reason: 'an instance Write takes TLV (11542), SenML-CBOR (112) or SenML-JSON (110)' };
  }
  const values = new Map<number, ResourceValue>();
  try {
    for (const [id, entry] of tlvResources(payload)) {
      const def = inst.resources.find((r) => r.id === id);
      if (def === undefined) return { ok: false, code: '4.04', reason: `no resource ${id}` };
      const d = fromTlv(def.kind, entry);
      if (!d.ok) return d;
      values.set(id, d.value);
    }
  } catch (err) {
    if (err instanceof DecodeError) return { ok: false, code: '4.00', reason: err.reason };
    throw err;
  }
  return { ok: true, values };
}

/** SenML records at or below `path` → values by resource id (DecodeError for what does not decode). */
function fromSenml(inst: ObjectInstance, format: number, payload: Buffer, path: Lwm2mPath): DecodedValues {
  const values = new Map<number, ResourceValue>();
  const items = new Map<number, number[]>();
  for (const node of decodeContent(format, payload, path, typeOfInstances([inst]))) {
    const id = node.path.resourceId;
    const def = inst.resources.find((r) => r.id === id);
    if (id === undefined || def === undefined) return { ok: false, code: '4.04', reason: `no resource ${id ?? '(none)'} in /${inst.objectId}/${inst.instanceId}` };
    const v = node.value;
    if (def.kind === 'integers') {
      if (node.path.resourceInstanceId === undefined || typeof v !== 'number') return { ok: false, code: '4.00', reason: `resource ${id} takes integer resource instances` };
      const list = items.get(id) ?? [];
      list[node.path.resourceInstanceId] = v;
      items.set(id, list);
      continue;
    }
    if (node.path.resourceInstanceId !== undefined) return { ok: false, code: '4.00', reason: `resource ${id} is a single resource` };
    const value: ResourceValue | undefined = def.kind === 'string' && typeof v === 'string' ? { kind: 'string', value: v }
      : def.kind === 'integer' && typeof v === 'number' && Number.isSafeInteger(v) ? { kind: 'integer', value: v }
      : def.kind === 'boolean' && typeof v === 'boolean' ? { kind: 'boolean', value: v }
      : def.kind === 'opaque' && v instanceof Uint8Array ? { kind: 'opaque', value: Buffer.from(v) }
      : undefined;
    if (value === undefined) return { ok: false, code: '4.00', reason: `resource ${id} takes a ${def.kind}` };
    values.set(id, value);
  }
  for (const [id, list] of items) values.set(id, { kind: 'integers', value: Array.from(list, (n) => n ?? 0) });
  return { ok: true, values };
}

function fromText(kind: ResourceKind, payload: Buffer): Decoded {
  switch (kind) {
    case 'string':
      return { ok: true, value: { kind, value: decodeTextString(payload) } };
    case 'integer':
      return { ok: true, value: { kind, value: decodeTextInteger(payload) } };
    case 'boolean': {
      const t = payload.toString('latin1');
      if (t !== '0' && t !== '1') return { ok: false, code: '4.00', reason: 'a boolean is "0" or "1"' };
      return { ok: true, value: { kind, value: t === '1' } };
    }
    default:
      return unsupported(ContentFormat.TEXT, kind);
  }
}

function fromTlv(kind: ResourceKind, entry: Tlv): Decoded {
  const v = entry.value;
  if (entry.type !== TlvType.RESOURCE || v === undefined) return { ok: false, code: '4.00', reason: `resource ${entry.id} must be a single TLV resource` };
  switch (kind) {
    case 'string':
      return { ok: true, value: { kind, value: decodeTlvString(v) } };
    case 'integer': {
      const n = decodeTlvInteger(v);
      if (typeof n !== 'number') return { ok: false, code: '4.00', reason: 'integer out of range' };
      return { ok: true, value: { kind, value: n } };
    }
    case 'boolean':
      return { ok: true, value: { kind, value: decodeTlvBoolean(v) } };
    case 'opaque':
      return { ok: true, value: { kind, value: v } };
    default:
      return { ok: false, code: '4.05', reason: `resource ${entry.id} cannot be written` };
  }
}

function notAcceptable(format: number, kind?: ResourceKind): Encoded {
  return { ok: false, code: '4.06', reason: `cannot produce content-format ${format}${kind === undefined ? '' : ` for a ${kind} resource`}` };
}

function unsupported(format: number, kind: ResourceKind): Decoded {
  return { ok: false, code: '4.15', reason: `content-format ${format} is not supported for a ${kind} resource` };
}
