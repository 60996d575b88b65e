/**
 * Valid LwM2M values and node lists for the round-trip properties, the resource model they are
 * typed by, and a comparison that knows how each decoder hands values back (opaque as Buffer,
 * integers narrowed to numbers within ±2**53, Time as Date).
 */
import fc from 'fast-check';
import type { Lwm2mNodes, Lwm2mResourceValue, Lwm2mValue, ResourceType, TypeOf } from '../../protocols/lwm2m-node.ts';
import { isObjlnk } from '../../protocols/lwm2m-node.ts';
import { defaultTypeOf, resourceModel } from '../../protocols/object-model.ts';
import type { Lwm2mPath } from '../../protocols/path.ts';
import { formatPath } from '../../protocols/path.ts';

export const TYPES: readonly ResourceType[] = ['string', 'integer', 'unsignedInteger', 'float', 'boolean', 'opaque', 'time', 'objlnk'];

/**
 * The built-in model for objects 0, 1, 3, 5 and 19; every other resource typed by its ID (so
 * every type, Float included, is reachable through any object), and every ninth one unknown.
 */
export const fuzzTypeOf: TypeOf = (path: Lwm2mPath) => {
  if (path.resourceId === undefined) return undefined;
  if (resourceModel(path.objectId, 0) !== undefined) return defaultTypeOf(path);
  const slot = path.resourceId % 9;
  return slot === 8 ? undefined : TYPES[slot];
};

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const narrow = (v: bigint): number | bigint => (v >= -MAX_SAFE && v <= MAX_SAFE ? Number(v) : v);
const MAX_TIME_SECONDS = 8.64e12;

/** A valid value of `type`, in the form the decoders return. */
export function valueArb(type: ResourceType | undefined, o: { bigIntegers?: boolean } = {}): fc.Arbitrary<Lwm2mValue> {
  const big = o.bigIntegers ?? true;
  switch (type) {
    case 'string': return fc.string({ unit: 'grapheme', maxLength: 24 });
    case 'integer': return big
      ? fc.oneof(fc.integer(), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(narrow), fc.constantFrom(0, -1, 127, -128, 32768, 2 ** 31, -(2 ** 31) - 1))
      : fc.oneof(fc.integer(), fc.maxSafeInteger());
    case 'unsignedInteger': return big
      ? fc.oneof(fc.nat(), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(narrow), fc.constantFrom(0, 255, 256, 65536, 2 ** 32))
      : fc.oneof(fc.nat(), fc.maxSafeNat());
    case 'float': return fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(0, 1.5, 0.1, -2.25, 1e300, 3.4028234663852886e38, 5e-324));
    case 'boolean': return fc.boolean();
    case 'opaque': return fc.uint8Array({ maxLength: 48 }).map((b) => Buffer.from(b));
    case 'time': return fc.oneof(fc.integer(), fc.integer({ min: -MAX_TIME_SECONDS, max: MAX_TIME_SECONDS }), fc.constantFrom(0, MAX_TIME_SECONDS, -MAX_TIME_SECONDS))
      .map((s) => new Date(s * 1000));
    case 'objlnk': return fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff })).map(([a, b]) => ({ objlnk: [a, b] as [number, number] }));
    case undefined: return fc.string({ unit: 'grapheme', maxLength: 24 }); // every format carries a string
  }
}

const id = fc.oneof(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 65534 }), fc.constant(65534));
const KNOWN_OBJECTS = [0, 1, 3, 5, 19];

/** Resource IDs of a known object that have a type (not executable). */
function typedResources(objectId: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < 30; r++) {
    const m = resourceModel(objectId, r);
    if (m && m.type !== 'none') out.push(r);
  }
  return out;
}

export interface NodesCase {
  /** Request path (undefined: the root, a composite operation). */
  path: Lwm2mPath | undefined;
  nodes: Lwm2mNodes;
}

/**
 * Nodes of one object (one to three instances, resources single or multiple, unique paths, values
 * of each resource's type) and a request path at or above them: /o, /o/i, /o/i/r, /o/i/r/ri or the root.
 */
export function nodesCaseArb(o: { bigIntegers?: boolean; timestamps?: boolean; root?: boolean } = {}): fc.Arbitrary<NodesCase> {
  const object = fc.oneof(fc.constantFrom(...KNOWN_OBJECTS), id.filter((n) => !KNOWN_OBJECTS.includes(n)));
  return object.chain((objectId) => {
    const known = typedResources(objectId);
    const resourceId = known.length > 0 ? fc.constantFrom(...known) : id;
    const resource = fc.record({
      resourceId,
      instances: fc.option(fc.uniqueArray(id, { minLength: 1, maxLength: 3 }), { nil: undefined }),
    });
    const instance = fc.record({ instanceId: id, resources: fc.uniqueArray(resource, { selector: (r) => r.resourceId, minLength: 1, maxLength: 4 }) });
    return fc.tuple(
      fc.uniqueArray(instance, { selector: (i) => i.instanceId, minLength: 1, maxLength: 3 }),
      fc.integer({ min: o.root === false ? 1 : 0, max: 4 }),
    ).chain(([instances, depth]) => {
      // The node paths in encoding order: instance, resource, resource instance.
      const paths: Lwm2mPath[] = [];
      for (const inst of instances) {
        for (const r of inst.resources) {
          if (r.instances === undefined) paths.push({ objectId, instanceId: inst.instanceId, resourceId: r.resourceId });
          else for (const ri of r.instances) paths.push({ objectId, instanceId: inst.instanceId, resourceId: r.resourceId, resourceInstanceId: ri });
        }
      }
      const first = paths[0]!;
      let path: Lwm2mPath | undefined;
      let chosen = paths;
      if (depth === 1) path = { objectId };
      if (depth === 2) { path = { objectId, instanceId: first.instanceId! }; chosen = paths.filter((p) => p.instanceId === first.instanceId); }
      if (depth >= 3) {
        path = { objectId, instanceId: first.instanceId!, resourceId: first.resourceId! };
        chosen = paths.filter((p) => p.instanceId === first.instanceId && p.resourceId === first.resourceId);
        if (depth === 4 && first.resourceInstanceId !== undefined) { path = first; chosen = [first]; }
      }
      const typeOf = fuzzTypeOf;
      return fc.tuple(...chosen.map((p) => fc.record({
        value: valueArb(typeOf(p), o),
        timestamp: o.timestamps ? fc.option(fc.oneof(fc.integer({ min: -(2 ** 31), max: 2 ** 31 }), fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e12, max: 1e12 })), { nil: undefined }) : fc.constant(undefined),
      }))).map((vals): NodesCase => ({
        path,
        nodes: chosen.map((p, i) => {
          const node: Lwm2mResourceValue = { path: p, value: vals[i]!.value };
          if (vals[i]!.timestamp !== undefined) node.timestamp = vals[i]!.timestamp;
          return node;
        }),
      }));
    });
  });
}

/** Throws when two values differ as a decoder's output goes (numbers and bigints by value, bytes by content). */
export function assertSameValue(a: Lwm2mValue, b: Lwm2mValue, where: string): void {
  const fail = (): never => { throw new Error(`${where}: ${show(a)} came back as ${show(b)}`); };
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    if (!(a instanceof Uint8Array && b instanceof Uint8Array) || !Buffer.from(a).equals(Buffer.from(b))) fail();
    return;
  }
  if (a instanceof Date || b instanceof Date) {
    if (!(a instanceof Date && b instanceof Date) || a.getTime() !== b.getTime()) fail();
    return;
  }
  if (isObjlnk(a) || isObjlnk(b)) {
    if (!(isObjlnk(a) && isObjlnk(b)) || a.objlnk[0] !== b.objlnk[0] || a.objlnk[1] !== b.objlnk[1]) fail();
    return;
  }
  if ((typeof a === 'number' || typeof a === 'bigint') && (typeof b === 'number' || typeof b === 'bigint')) {
    if (typeof a === 'number' && typeof b === 'number') { if (a !== b && !(Number.isNaN(a) && Number.isNaN(b))) fail(); return; }
    if (typeof a !== typeof b) fail(); // a bigint within ±2**53 must come back narrowed
    if (a !== b) fail();
    return;
  }
  if (a !== b) fail();
}

export function assertSameNodes(expected: Lwm2mNodes, got: Lwm2mNodes, o: { timestamps?: boolean } = {}): void {
  if (expected.length !== got.length) throw new Error(`${expected.length} nodes went in, ${got.length} came back: ${got.map((n) => formatPath(n.path)).join(' ')}`);
  expected.forEach((e, i) => {
    const g = got[i]!;
    const where = formatPath(e.path);
    if (formatPath(g.path) !== where) throw new Error(`node ${i}: ${where} came back as ${formatPath(g.path)}`);
    assertSameValue(e.value, g.value, where);
    if (o.timestamps && e.timestamp !== g.timestamp) throw new Error(`${where}: timestamp ${e.timestamp} came back as ${g.timestamp}`);
  });
}

function show(v: unknown): string {
  if (v instanceof Uint8Array) return `bytes ${Buffer.from(v).toString('hex')}`;
  if (v instanceof Date) return `date ${v.getTime()}`;
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'number' && Object.is(v, -0)) return '-0';
  return JSON.stringify(v);
}
