/**
 * Content-format dispatch for LwM2M payloads (LwM2M 1.1 Core §7.4): plain text (0) and opaque
 * (42) for a single resource (instance), TLV (11542), SenML-JSON (110), SenML-CBOR (112) and
 * LwM2M-CBOR (11544). An unknown format is DecodeError('content.unsupported'), which a server
 * answers with 4.15 Unsupported Content-Format (or 4.06 for an Accept it cannot meet).
 *
 * `requestPath` is the path of the request the payload belongs to; undefined means the root (a
 * composite operation), which only the self-describing formats can carry. Decoded paths must lie
 * at or below it (DecodeError('content.path')).
 */
import { decodeBase64, encodeBase64 } from './base64.ts';
import { ContentFormat } from './content-format.ts';
import { DecodeError } from './errors.ts';
import { decodeLwm2mCbor, encodeLwm2mCbor } from './lwm2m-cbor.ts';
import type { Lwm2mNodes, Lwm2mResourceValue, Lwm2mValue, ResourceType, TypeOf } from './lwm2m-node.ts';
import { formatObjlnk, isObjlnk, isPathWithin, parseObjlnk, samePath, secondsOf, timeFromSeconds, valueForType } from './lwm2m-node.ts';
import { defaultTypeOf } from './object-model.ts';
import type { Lwm2mPath } from './path.ts';
import { formatPath } from './path.ts';
import { decodeSenmlCbor, encodeSenmlCbor } from './senml-cbor.ts';
import { decodeSenmlJson, encodeSenmlJson } from './senml-json.ts';
import { decodeTextInteger, decodeTextString, encodeText } from './text.ts';
import { nodesToTlv, tlvToNodes } from './tlv-nodes.ts';

/** The content formats decodeContent() and encodeContent() handle. */
export const SUPPORTED_CONTENT_FORMATS: readonly number[] = [
  ContentFormat.TEXT,
  ContentFormat.OPAQUE,
  ContentFormat.TLV,
  ContentFormat.SENML_JSON,
  ContentFormat.SENML_CBOR,
  ContentFormat.LWM2M_CBOR,
];

const FLOAT = /^-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?$/;

export function decodeContent(format: number, payload: Buffer, requestPath: Lwm2mPath | undefined, typeOf: TypeOf = defaultTypeOf): Lwm2mNodes {
  let nodes: Lwm2mNodes;
  switch (format) {
    case ContentFormat.TEXT: {
      const path = singlePath(requestPath, 'plain text');
      return [{ path, value: decodeTextValue(payload, typeOf(path)) }];
    }
    case ContentFormat.OPAQUE: {
      const path = singlePath(requestPath, 'opaque');
      const type = typeOf(path);
      if (type !== undefined && type !== 'opaque') throw new DecodeError('content.type', `${formatPath(path)} is a ${type}, not opaque`);
      return [{ path, value: Buffer.from(payload) }];
    }
    case ContentFormat.TLV:
      if (requestPath === undefined) throw new DecodeError('content.path', 'TLV needs an object, instance or resource path');
      return tlvToNodes(payload, requestPath, typeOf);
    case ContentFormat.SENML_JSON:
      nodes = decodeSenmlJson(payload, typeOf);
      break;
    case ContentFormat.SENML_CBOR:
      nodes = decodeSenmlCbor(payload, typeOf);
      break;
    case ContentFormat.LWM2M_CBOR:
      nodes = decodeLwm2mCbor(payload, typeOf);
      break;
    default:
      throw new DecodeError('content.unsupported', `content-format ${format} is not supported`);
  }
  for (const node of nodes) {
    if (!isPathWithin(node.path, requestPath)) {
      throw new DecodeError('content.path', `${formatPath(node.path)} is outside the request path ${requestPath ? formatPath(requestPath) : '/'}`);
    }
  }
  return nodes;
}

/** Encodes nodes in a content format; bad nodes (wrong type, outside the path) are a RangeError. */
export function encodeContent(format: number, nodes: readonly Lwm2mResourceValue[], requestPath: Lwm2mPath | undefined, typeOf: TypeOf = defaultTypeOf): Buffer {
  switch (format) {
    case ContentFormat.TEXT:
      return encodeTextValue(single(nodes, requestPath, 'plain text'), typeOf);
    case ContentFormat.OPAQUE: {
      const node = single(nodes, requestPath, 'opaque');
      if (!(node.value instanceof Uint8Array)) throw new RangeError(`${formatPath(node.path)}: opaque content needs bytes`);
      return Buffer.from(node.value.buffer, node.value.byteOffset, node.value.byteLength);
    }
    case ContentFormat.TLV:
      if (requestPath === undefined) throw new RangeError('TLV needs an object, instance or resource path');
      return nodesToTlv(nodes, requestPath, typeOf);
    case ContentFormat.SENML_JSON:
      return encodeSenmlJson(nodes, requestPath, typeOf);
    case ContentFormat.SENML_CBOR:
      return encodeSenmlCbor(nodes, requestPath, typeOf);
    case ContentFormat.LWM2M_CBOR:
      return encodeLwm2mCbor(nodes, requestPath, typeOf);
    default:
      throw new DecodeError('content.unsupported', `content-format ${format} is not supported`);
  }
}

function singlePath(requestPath: Lwm2mPath | undefined, what: string): Lwm2mPath {
  if (requestPath?.resourceId === undefined) {
    throw new DecodeError('content.single', `${what} content carries one resource or resource instance, not ${requestPath ? formatPath(requestPath) : '/'}`);
  }
  return requestPath;
}

function single(nodes: readonly Lwm2mResourceValue[], requestPath: Lwm2mPath | undefined, what: string): Lwm2mResourceValue {
  const node = nodes[0];
  if (nodes.length !== 1 || node === undefined || requestPath?.resourceId === undefined || !samePath(node.path, requestPath)) {
    throw new RangeError(`${what} content carries exactly one value, at the request path (a resource or resource instance)`);
  }
  return node;
}

/** Plain text (Core §7.4.1): decimal numbers, "0"/"1", Time as seconds, Objlnk "3:0", Opaque in base64. */
function decodeTextValue(b: Buffer, type: ResourceType | undefined): Lwm2mValue {
  switch (type) {
    case 'integer':
      return decodeTextInteger(b);
    case 'unsignedInteger': {
      const n = decodeTextInteger(b);
      if (n < 0) throw new DecodeError('text.integer', 'unsigned integer must not be negative');
      return n;
    }
    case 'float': {
      const text = b.length <= 64 ? b.toString('latin1') : '';
      if (!FLOAT.test(text) || !Number.isFinite(Number(text))) throw new DecodeError('text.float', 'float must be a decimal number');
      return Number(text);
    }
    case 'boolean': {
      if (b.length !== 1 || (b[0] !== 0x30 && b[0] !== 0x31)) throw new DecodeError('text.boolean', 'boolean must be "0" or "1"');
      return b[0] === 0x31;
    }
    case 'time':
      return timeFromSeconds(decodeTextInteger(b), 'text.time');
    case 'objlnk':
      return parseObjlnk(decodeTextString(b), 'text.objlnk');
    case 'opaque':
      return decodeBase64(decodeTextString(b), 'text.base64');
    default:
      return decodeTextString(b);
  }
}

function encodeTextValue(node: Lwm2mResourceValue, typeOf: TypeOf): Buffer {
  const v = valueForType(node.value, typeOf(node.path), node.path);
  if (typeof v === 'bigint') return Buffer.from(v.toString(), 'latin1');
  if (v instanceof Date) return encodeText(secondsOf(v));
  if (v instanceof Uint8Array) return Buffer.from(encodeBase64(v), 'latin1');
  if (isObjlnk(v)) return Buffer.from(formatObjlnk(v), 'latin1');
  return encodeText(v);
}
