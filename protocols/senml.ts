/**
 * The SenML data model (RFC 8428 §4) shared by SenML-JSON (110) and SenML-CBOR (112), and its
 * LwM2M reading (LwM2M 1.1 Core §7.4.4 and §7.4.5): the name (bn + n) is the path of a resource
 * or resource instance, "v" carries numbers and Time, "vs" strings, "vb" booleans, "vd" opaque,
 * "vlo" an object link as "3:0".
 */
import { DecodeError } from './errors.ts';
import type { Lwm2mNodes, Lwm2mResourceValue, TypeOf } from './lwm2m-node.ts';
import { formatObjlnk, isObjlnk, isPathWithin, parseObjlnk, pathIds, samePath, secondsOf, typedValue, valueForType } from './lwm2m-node.ts';
import { defaultTypeOf } from './object-model.ts';
import type { Lwm2mPath } from './path.ts';
import { formatPath, parsePath } from './path.ts';

/** One record as a representation carries it: base fields, regular fields, one value. */
export interface SenmlRecord {
  bn?: string;
  bt?: number;
  bu?: string;
  bv?: number;
  bs?: number;
  bver?: number;
  n?: string;
  u?: string;
  t?: number;
  v?: number | bigint;
  vs?: string;
  vb?: boolean;
  vd?: Uint8Array;
  vlo?: string;
  s?: number;
}

/** A resolved record (RFC 8428 §4.6): the base fields applied, the name complete. */
export interface ResolvedRecord {
  name: string;
  unit?: string;
  time?: number;
  v?: number | bigint;
  vs?: string;
  vb?: boolean;
  vd?: Uint8Array;
  vlo?: string;
  s?: number;
}

/** The SenML version this code implements (RFC 8428 §4.4: a larger one MUST NOT be used). */
const SENML_VERSION = 10;
const VALUE_FIELDS = ['v', 'vs', 'vb', 'vd', 'vlo'] as const;

/** Applies the base fields of RFC 8428 §4.1 and checks each record holds one value (§4.2). */
export function resolveSenml(records: readonly SenmlRecord[]): ResolvedRecord[] {
  let bn = '';
  let bt: number | undefined;
  let bu: string | undefined;
  let bv: number | undefined;
  let bs: number | undefined;
  return records.map((r, i) => {
    if (r.bver !== undefined && (!Number.isInteger(r.bver) || r.bver < 1 || r.bver > SENML_VERSION)) {
      throw new DecodeError('senml.version', `record ${i}: SenML version ${r.bver} is not supported (up to ${SENML_VERSION})`);
    }
    if (r.bn !== undefined) bn = r.bn;
    if (r.bt !== undefined) bt = r.bt;
    if (r.bu !== undefined) bu = r.bu;
    if (r.bv !== undefined) bv = r.bv;
    if (r.bs !== undefined) bs = r.bs;
    const values = VALUE_FIELDS.filter((f) => r[f] !== undefined);
    if (values.length > 1) throw new DecodeError('senml.value', `record ${i} has more than one value (${values.join(', ')})`);
    if (values.length === 0 && r.s === undefined) throw new DecodeError('senml.value', `record ${i} has no value`);
    const name = bn + (r.n ?? '');
    if (name.length === 0) throw new DecodeError('senml.name', `record ${i} has no name`);
    const out: ResolvedRecord = { name };
    const unit = r.u ?? bu;
    if (unit !== undefined) out.unit = unit;
    if (bt !== undefined || r.t !== undefined) out.time = sum(bt, r.t, i, 'time');
    if (r.v !== undefined) out.v = bv === undefined ? r.v : sum(bv, Number(r.v), i, 'value');
    if (r.vs !== undefined) out.vs = r.vs;
    if (r.vb !== undefined) out.vb = r.vb;
    if (r.vd !== undefined) out.vd = r.vd;
    if (r.vlo !== undefined) out.vlo = r.vlo;
    if (r.s !== undefined || bs !== undefined) out.s = sum(bs, r.s, i, 'sum');
    return out;
  });
}

/**
 * A base field plus a record's field (§4.6). Two finite numbers whose sum overflows to ±Infinity
 * are refused: no representation can carry the result, SenML-JSON's numbers least of all.
 */
function sum(base: number | undefined, own: number | undefined, i: number, what: string): number {
  const a = base ?? 0;
  const b = own ?? 0;
  const total = a + b;
  if (!Number.isFinite(total) && Number.isFinite(a) && Number.isFinite(b)) {
    throw new DecodeError('senml.value', `record ${i}: the base ${what} and the ${what} add up past the largest number`);
  }
  return total;
}

/** LwM2M reading of resolved records: each name a resource (instance) path, each value typed. */
export function senmlToNodes(records: readonly ResolvedRecord[], code: string, typeOf: TypeOf = defaultTypeOf): Lwm2mNodes {
  return records.map((r) => {
    let path: Lwm2mPath;
    try {
      path = parsePath(r.name);
    } catch (e) {
      if (e instanceof DecodeError) throw new DecodeError(`${code}.name`, `"${r.name.slice(0, 40)}" is not an LwM2M path: ${e.reason}`);
      throw e;
    }
    if (path.resourceId === undefined) throw new DecodeError(`${code}.name`, `${r.name} is not a resource path`);
    const raw = r.vlo !== undefined ? parseObjlnk(r.vlo, `${code}.objlnk`) : (r.v ?? r.vs ?? r.vb ?? r.vd);
    if (raw === undefined) throw new DecodeError(`${code}.value`, `${r.name} has a sum but no value`);
    const node: Lwm2mResourceValue = { path, value: typedValue(raw, typeOf(path), path, `${code}.type`) };
    if (r.time !== undefined) node.timestamp = r.time;
    return node;
  });
}

/**
 * Records for nodes. With a request path, the first record's bn is that path (followed by "/"
 * when the nodes lie below it) and each n is the rest (Core §7.4.4 examples); without one (a
 * composite operation), each n is the whole path. A node's timestamp becomes "t".
 */
export function nodesToSenml(nodes: readonly Lwm2mResourceValue[], requestPath?: Lwm2mPath, typeOf: TypeOf = defaultTypeOf): SenmlRecord[] {
  let prefix = '';
  if (requestPath !== undefined) {
    prefix = formatPath(requestPath);
    if (!nodes.every((node) => samePath(node.path, requestPath))) prefix += '/';
  }
  return nodes.map((node, i) => {
    if (pathIds(node.path).length < 3 || !isPathWithin(node.path, requestPath)) {
      throw new RangeError(`${formatPath(node.path)} is not a resource (instance) path within ${requestPath ? formatPath(requestPath) : '/'}`);
    }
    const record: SenmlRecord = {};
    if (i === 0 && prefix !== '') record.bn = prefix;
    const name = formatPath(node.path).slice(prefix.length);
    if (name !== '') record.n = name;
    const v = valueForType(node.value, typeOf(node.path), node.path);
    if (typeof v === 'string') record.vs = v;
    else if (typeof v === 'boolean') record.vb = v;
    else if (typeof v === 'number' || typeof v === 'bigint') record.v = v;
    else if (v instanceof Date) record.v = secondsOf(v);
    else if (v instanceof Uint8Array) record.vd = v;
    else if (isObjlnk(v)) record.vlo = formatObjlnk(v);
    if (node.timestamp !== undefined) record.t = node.timestamp;
    return record;
  });
}
