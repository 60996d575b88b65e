/**
 * Typed resource values to and from payloads, through the protocols/ codecs: plain text (0),
 * opaque (42) and TLV (11542). What cannot be represented is answered with the CoAP code the
 * LwM2M TS gives (4.06 for an Accept we cannot produce, 4.15 for a Content-Format we cannot
 * read, 4.00 for a payload that does not decode).
 */
import { ContentFormat } from '../../protocols/content-format.ts';
import { DecodeError } from '../../protocols/errors.ts';
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

/** Object or instance read: TLV only (no Accept means TLV). */
export function encodeInstances(instances: readonly ObjectInstance[], wrap: boolean, accept: number | undefined): Encoded {
  if (accept !== undefined && accept !== ContentFormat.TLV) return notAcceptable(accept);
  const first = instances[0];
  const entries: Tlv[] = wrap || first === undefined
    ? instances.map((i) => ({ type: TlvType.OBJECT_INSTANCE, id: i.instanceId, children: instanceTlv(i) }))
    : instanceTlv(first);
  return { ok: true, contentFormat: ContentFormat.TLV, payload: encodeTlv(entries) };
}

/** A single resource: text by default, TLV or opaque on request. */
export function encodeResource(id: number, v: ResourceValue, accept: number | undefined): Encoded {
  const format = accept ?? (v.kind === 'integers' ? ContentFormat.TLV : v.kind === 'opaque' ? ContentFormat.OPAQUE : ContentFormat.TEXT);
  if (format === ContentFormat.TLV) return { ok: true, contentFormat: format, payload: encodeTlv([resourceTlv(id, v)]) };
  if (format === ContentFormat.TEXT && v.kind !== 'integers' && v.kind !== 'opaque') {
    return { ok: true, contentFormat: format, payload: encodeText(v.value) };
  }
  if (format === ContentFormat.OPAQUE && v.kind === 'opaque') return { ok: true, contentFormat: format, payload: v.value };
  return notAcceptable(format, v.kind);
}

/** One instance of a multiple resource (/3/0/11/0): text or TLV. */
export function encodeResourceInstance(id: number, value: number, accept: number | undefined): Encoded {
  const format = accept ?? ContentFormat.TEXT;
  if (format === ContentFormat.TEXT) return { ok: true, contentFormat: format, payload: encodeText(value) };
  if (format === ContentFormat.TLV) {
    return { ok: true, contentFormat: format, payload: encodeTlv([{ type: TlvType.RESOURCE_INSTANCE, id, value: encodeTlvInteger(value) }]) };
  }
  return notAcceptable(format);
}

/** The payload of a Write to resource `id` of kind `kind`. */
export function decodeWrite(id: number, kind: ResourceKind, contentFormat: number | undefined, payload: Buffer): Decoded {
  try {
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

/** Instance-level Write (TLV): each resource entry, decoded by the kind we know it has. */
export function decodeInstanceWrite(inst: ObjectInstance, contentFormat: number | undefined, payload: Buffer): { ok: true; values: Map<number, ResourceValue> } | { ok: false; code: string; reason: string } {
  if (contentFormat !== ContentFormat.TLV) {
    return { ok: false, code: contentFormat === undefined ? '4.00' : '4.15', reason: 'an instance Write takes TLV (11542) here' };
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
