/** LwM2M values ⇄ JSON for the API: opaque as { base64 }, time as ISO text, objlnk as "3:0", big integers as text. */
import { formatObjlnk, isObjlnk, type Lwm2mNodes, type Lwm2mValue } from '../../protocols/lwm2m-node.ts';
import { formatPath, type Lwm2mPath } from '../../protocols/path.ts';
import { defaultTypeOf } from '../../protocols/object-model.ts';
import { parseObjlnk } from '../../protocols/lwm2m-node.ts';

export type JsonValue = string | number | boolean | { base64: string };

export function valueToJson(v: Lwm2mValue): JsonValue {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Date) return v.toISOString();
  if (v instanceof Uint8Array) return { base64: Buffer.from(v).toString('base64') };
  if (isObjlnk(v)) return formatObjlnk(v);
  return v;
}

export function nodesToJson(nodes: Lwm2mNodes): Array<{ path: string; value: JsonValue }> {
  return nodes.map((n) => ({ path: formatPath(n.path), value: valueToJson(n.value) }));
}

/** A JSON value for a resource, typed by the object model where it knows the resource. */
export function valueFromJson(v: unknown, path: Lwm2mPath): Lwm2mValue {
  const type = defaultTypeOf(path);
  if (typeof v === 'object' && v !== null) {
    const b64 = (v as { base64?: unknown }).base64;
    if (typeof b64 !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw new RangeError(`${formatPath(path)}: an object value must be { "base64": "…" }`);
    return Buffer.from(b64, 'base64');
  }
  if (typeof v === 'string') {
    if (type === 'time') { const d = new Date(v); if (!Number.isNaN(d.getTime())) return d; }
    if (type === 'objlnk') return parseObjlnk(v, 'api.objlnk');
    if ((type === 'integer' || type === 'unsignedInteger') && /^-?\d+$/.test(v)) return BigInt(v);
    return v;
  }
  if (typeof v === 'number' && type === 'time') return new Date(v * 1000);
  if (typeof v === 'number' || typeof v === 'boolean') return v;
  throw new RangeError(`${formatPath(path)}: unsupported value`);
}
