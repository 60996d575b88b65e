import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Lwm2mNodes, ResourceType, TypeOf } from '../../protocols/lwm2m-node.ts';
import { decodeLwm2mCbor, encodeLwm2mCbor } from '../../protocols/lwm2m-cbor.ts';
import { parsePath } from '../../protocols/path.ts';
import { tlvToNodes } from '../../protocols/tlv-nodes.ts';
import { hex, returnsOrDecodeError, seededBytes, throwsDecodeError } from './_helpers.ts';

const values = (nodes: Lwm2mNodes): Record<string, unknown> =>
  Object.fromEntries(nodes.map((n) => ['/' + [n.path.objectId, n.path.instanceId, n.path.resourceId, n.path.resourceInstanceId].filter((x) => x !== undefined).join('/'), n.value]));

// ---- LwM2M 1.2 Core §7.4.6 LwM2M-CBOR. Vectors from AVSystem Anjay's tests/core/io/lwm2m_cbor_in.c
// (its decoder tests) and lwm2m_cbor_out.c (its encoder writes indefinite-length maps; cbor-x writes
// definite ones, so our encoder is checked against the same items with definite lengths).

test('one resource, every way of writing its path (Anjay lwm2m_cbor_in.c)', () => {
  const want = { '/13/26/1': 42 };
  for (const bytes of [
    'A1 83 0D 18 1A 01 18 2A', // {[13, 26, 1]: 42}
    'BF 9F 0D 18 1A 01 FF 18 2A FF', // {_ [_ 13, 26, 1]: 42}
    'A1 0D A1 18 1A A1 01 18 2A', // {13: {26: {1: 42}}}
    'A1 81 0D A1 81 18 1A A1 81 01 18 2A', // {[13]: {[26]: {[1]: 42}}}
    'BF 9F 0D FF BF 9F 18 1A FF BF 9F 01 FF 18 2A FF FF FF', // all indefinite
  ]) {
    assert.equal(values(decodeLwm2mCbor(hex(bytes))), want, bytes);
  }
  assert.equal(values(decodeLwm2mCbor(hex('A1 83 0D 18 1A 01 F5'))), { '/13/26/1': true });
  // {[13]: {[26]: {[1]: {[2]: 4([-1, 45])}}}}: a resource instance holding a decimal fraction
  assert.equal(values(decodeLwm2mCbor(hex('A1 81 0D A1 81 18 1A A1 81 01 A1 81 02 C4 82 20 18 2D'))), { '/13/26/1/2': 4.5 });
});

test('two resources, four spellings; two objects (composite)', () => {
  const want = { '/13/26/1': 42, '/13/26/2': 21 };
  for (const bytes of [
    'A1 82 0D 18 1A A2 01 18 2A 02 15', // {[13, 26]: {1: 42, 2: 21}}
    'A2 83 0D 18 1A 01 18 2A 83 0D 18 1A 02 15', // {[13, 26, 1]: 42, [13, 26, 2]: 21}
    'A2 82 0D 18 1A A1 01 18 2A 83 0D 18 1A 02 15', // {[13, 26]: {1: 42}, [13, 26, 2]: 21}
    'A2 83 0D 18 1A 01 18 2A 82 0D 18 1A A1 81 02 15', // {[13, 26, 1]: 42, [13, 26]: {[2]: 21}}
  ]) {
    assert.equal(values(decodeLwm2mCbor(hex(bytes))), want, bytes);
  }
  const composite = { '/13/26/1': 1, '/14/27/2': 2 };
  assert.equal(values(decodeLwm2mCbor(hex('A2 0D A1 18 1A A1 01 01 0E A1 18 1B A1 02 02'))), composite);
  assert.equal(values(decodeLwm2mCbor(hex('BF 9F 0D FF BF 9F 18 1A FF BF 9F 01 FF 01 FF FF 9F 0E FF BF 9F 18 1B FF BF 9F 02 FF 02 FF FF FF'))), composite);
});

test('all value types (Anjay "all_types"): Objlnk as "12:34" when the resource is an Objlnk', () => {
  // {[13, 26]: {1: 1, 2: -1, 3: 2.5, 4: "test", 5: h'11223344', 6: "12:34", 7: 1}}
  const bytes = hex('A1 82 0D 18 1A A7 01 01 02 20 03 F9 41 00 04 64 74 65 73 74 05 44 11 22 33 44 06 65 31 32 3A 33 34 07 01');
  const types: Record<number, ResourceType> = { 1: 'unsignedInteger', 2: 'integer', 3: 'float', 4: 'string', 5: 'opaque', 6: 'objlnk', 7: 'unsignedInteger' };
  const typeOf: TypeOf = (p) => (p.resourceId === undefined ? undefined : types[p.resourceId]);
  assert.equal(values(decodeLwm2mCbor(bytes, typeOf)), {
    '/13/26/1': 1, '/13/26/2': -1, '/13/26/3': 2.5, '/13/26/4': 'test', '/13/26/5': Buffer.from([0x11, 0x22, 0x33, 0x44]),
    '/13/26/6': { objlnk: [12, 34] }, '/13/26/7': 1,
  });
  assert.is(values(decodeLwm2mCbor(bytes))['/13/26/6'], '12:34'); // no model: just a string
  // Time: an integer, or a tag 1 epoch time (RFC 8949 §3.4.2)
  assert.equal(values(decodeLwm2mCbor(hex('A1 83 03 00 0D 1A 51 82 42 8F'))), { '/3/0/13': new Date(1367491215000) });
  assert.equal(values(decodeLwm2mCbor(hex('A1 83 03 00 0D C1 1A 51 82 42 8F'))), { '/3/0/13': new Date(1367491215000) });
});

test('encoder: the items of Anjay lwm2m_cbor_out.c with definite lengths', () => {
  const v = (p: string, value: number | boolean) => ({ path: parsePath(p), value });
  // {[13, 26, 1]: 42}
  assert.equal(encodeLwm2mCbor([v('/13/26/1', 42)], parsePath('/13/26/1')), hex('A1 83 0D 18 1A 01 18 2A'));
  // {[13, 26]: {1: 42, 2: 21}}
  assert.equal(encodeLwm2mCbor([v('/13/26/1', 42), v('/13/26/2', 21)], parsePath('/13/26')), hex('A1 82 0D 18 1A A2 01 18 2A 02 15'));
  // {[13, 26]: {1: 42, 3: {21: 69.68, 37: false}}}
  const floats: TypeOf = (p) => (p.resourceInstanceId === 21 ? 'float' : undefined);
  assert.equal(
    encodeLwm2mCbor([v('/13/26/1', 42), v('/13/26/3/21', 69.68), v('/13/26/3/37', false)], parsePath('/13/26'), floats),
    hex('A1 82 0D 18 1A A2 01 18 2A 03 A2 15 FB 40 51 6B 85 1E B8 51 EC 18 25 F4'),
  );
  // {13: {26: {1: 42, 2: 21}}, 14: {27: {1: 43, 2: 22}}} (a composite read from the root)
  assert.equal(
    encodeLwm2mCbor([v('/13/26/1', 42), v('/13/26/2', 21), v('/14/27/1', 43), v('/14/27/2', 22)]),
    hex('A2 0D A1 18 1A A2 01 18 2A 02 15 0E A1 18 1B A2 01 18 2B 02 16'),
  );
});

test('Device object: TLV example → LwM2M-CBOR → the same nodes', () => {
  const device = hex(`C8 00 14 4F 70 65 6E 20 4D 6F 62 69 6C 65 20 41 6C 6C 69 61 6E 63 65 86 06 41 00 01 41 01 05 C1 09 64
    C4 0D 51 82 42 8F C6 0E 2B 30 32 3A 30 30`);
  const nodes = tlvToNodes(device, parsePath('/3/0'));
  const cbor = encodeLwm2mCbor(nodes, parsePath('/3/0'));
  // {[3, 0]: {0: "Open Mobile Alliance", 6: {0: 1, 1: 5}, 9: 100, 13: 1367491215, 14: "+02:00"}}
  assert.equal(cbor.subarray(0, 5), hex('A1 82 03 00 A5'));
  assert.equal(decodeLwm2mCbor(cbor), nodes);
  assert.equal(encodeLwm2mCbor([{ path: parsePath('/65/0/0/1'), value: { objlnk: [66, 1] } }], parsePath('/65/0/0/1')), hex('A1 84 18 41 00 00 01 64 36 36 3A 31'));
});

test('malformed LwM2M-CBOR → typed DecodeError (Anjay\'s failure cases and more)', () => {
  const cases: Array<[string, string]> = [
    ['A1 82 0D 18 1A A1 1A 00 01 00 00 05', 'lwm2m-cbor.path'], // {[13, 26]: {65536: 5}}
    ['A1 83 0D 18 1A 1A 00 01 00 00 05', 'lwm2m-cbor.path'], // {[13, 26, 65536]: 5}
    ['A1 83 0D 18 1A 19 FF FF 05', 'lwm2m-cbor.path'], // 65535 is reserved
    ['A1 85 0D 18 1A 03 04 05 05', 'lwm2m-cbor.path'], // five IDs
    ['A1 83 0D 18 1A 01 A2 02 05 82 03 04 05', 'lwm2m-cbor.path'], // {[13, 26, 1]: {2: 5, [3, 4]: 6}}
    ['A1 0D A1 18 1A A1 01 A1 02 A1 03 04', 'lwm2m-cbor.path'], // {13: {26: {1: {2: {3: 4}}}}}
    ['A2 0D A1 80 18 1A A1 80 01 18 2A', 'lwm2m-cbor.path'], // empty array keys
    ['A1 83 0D FB 3F D0 A3 D7 0A 3D 70 A4 01 18 2A', 'lwm2m-cbor.path'], // {[13, 0.26, 1]: 42}
    ['A1 0D A1 62 32 36 A1 01 18 2A', 'lwm2m-cbor.path'], // {13: {"26": {1: 42}}}
    ['A1 20 A1 00 A1 00 01', 'lwm2m-cbor.path'], // negative ID
    ['A1 82 0D 18 1A 05', 'lwm2m-cbor.path'], // a value at an instance path
    ['00', 'lwm2m-cbor.invalid'],
    ['84 01 02 03 04', 'lwm2m-cbor.invalid'],
    ['A1 0D A1 18 1A 81 A1 01 18 2A', 'lwm2m-cbor.path'], // {13: {26: [{1: 42}]}}: an array is not a value at /13/26
    ['A1 83 0D 18 1A 01 81 01', 'lwm2m-cbor.value'], // {[13, 26, 1]: [1]}
    ['A1 83 0D 18 1A 01 F6', 'lwm2m-cbor.value'], // null
    ['A2 83 0D 18 1A 01 01 0D A1 18 1A A1 01 02', 'lwm2m-cbor.duplicate'],
    ['A1 83 03 00 09 63 31 30 30', 'lwm2m-cbor.type'], // Battery Level as text
    ['A1 83 03 00 0D C1 FB 7F F0 00 00 00 00 00 00', 'lwm2m-cbor.value'], // time +infinity
    ['A1 83 0D 18 1A 01 C2 41 01', 'cbor.tag'],
    ['A1 82 0D 18 1A A1', 'cbor.truncated'],
    ['A1 84 64 64 65 76 31 0D 18 1A 01 18 2A', 'lwm2m-cbor.path'], // gateway prefix "dev1": not supported
  ];
  for (const [input, code] of cases) throwsDecodeError(() => decodeLwm2mCbor(hex(input)), code);
});

test('hostile LwM2M-CBOR: deep maps, 64 KiB of noise', () => {
  throwsDecodeError(() => decodeLwm2mCbor(Buffer.alloc(32 * 1024, 0xa1)), 'cbor.depth');
  const nested = Buffer.alloc(64 * 1024);
  for (let i = 0; i < nested.length; i += 2) nested.set([0xa1, 0x01], i);
  throwsDecodeError(() => decodeLwm2mCbor(nested), 'cbor.depth');
  const random = seededBytes(21);
  for (let i = 0; i < 300; i++) {
    const noise = random(i < 250 ? 1 + (i % 50) : 64 * 1024);
    returnsOrDecodeError(() => decodeLwm2mCbor(noise));
    returnsOrDecodeError(() => decodeLwm2mCbor(Buffer.concat([hex('A1 83 03 00'), noise])));
  }
});

test('a path key of 10,000 IDs: DecodeError lwm2m-cbor.path with a short reason (found by fuzzing: the reason held every ID)', () => {
  // {[1, 1, …, 1]: 1}: A1 99 2710 then 10,000 × 01, then the value 01.
  const input = Buffer.concat([hex('A1 99 27 10'), Buffer.alloc(10_000, 0x01), hex('01')]);
  throwsDecodeError(() => decodeLwm2mCbor(input), 'lwm2m-cbor.path');
  try {
    decodeLwm2mCbor(input);
  } catch (e) {
    assert.ok(e instanceof Error && 'reason' in e && String(e.reason).length < 100, String(e).slice(0, 200));
    assert.is((e as { reason: string }).reason, 'path /1/1/1/1/1/… is deeper than a resource instance');
  }
});

test('a resource with a value and resource instances: DecodeError lwm2m-cbor.duplicate (found by fuzzing: the encoder could not write it back)', () => {
  // {[13, 26, 1, 13]: 1, 13: {26: {1: 2}}}: /13/26/1/13 and /13/26/1 both, either order.
  throwsDecodeError(() => decodeLwm2mCbor(hex('a2840d181a010d010da1181aa10102')), 'lwm2m-cbor.duplicate');
  throwsDecodeError(() => decodeLwm2mCbor(hex('a2 83 0d 18 1a 01 02 84 0d 18 1a 01 0d 01')), 'lwm2m-cbor.duplicate');
  // Instances alone, and single resources beside them, are fine.
  assert.equal(values(decodeLwm2mCbor(hex('a2 84 0d 18 1a 01 00 01 84 0d 18 1a 01 01 02'))), { '/13/26/1/0': 1, '/13/26/1/1': 2 });
  assert.equal(values(decodeLwm2mCbor(hex('a2 84 0d 18 1a 01 00 01 83 0d 18 1a 02 02'))), { '/13/26/1/0': 1, '/13/26/2': 2 });
});

test('encoder refuses what does not fit: RangeError', () => {
  assert.throws(() => encodeLwm2mCbor([{ path: parsePath('/3/0/9'), value: 1 }], parsePath('/5')), RangeError);
  assert.throws(() => encodeLwm2mCbor([{ path: parsePath('/3/0'), value: 1 }]), RangeError);
  assert.throws(() => encodeLwm2mCbor([{ path: parsePath('/3/0/7'), value: 1 }, { path: parsePath('/3/0/7/0'), value: 1 }]), RangeError);
  assert.throws(() => encodeLwm2mCbor([{ path: parsePath('/3/0/7/0'), value: 1 }, { path: parsePath('/3/0/7'), value: 1 }]), RangeError);
  assert.throws(() => encodeLwm2mCbor([{ path: parsePath('/3/0/9'), value: 1 }, { path: parsePath('/3/0/9'), value: 2 }]), RangeError);
  assert.throws(() => encodeLwm2mCbor([{ path: parsePath('/3/0/9'), value: 'x' }]), RangeError);
});

test.run();
