import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Lwm2mNodes, ResourceType, TypeOf } from '../../protocols/lwm2m-node.ts';
import type { Lwm2mPath } from '../../protocols/path.ts';
import { parsePath } from '../../protocols/path.ts';
import { nodesToTlv, tlvToNodes } from '../../protocols/tlv-nodes.ts';
import { hex, returnsOrDecodeError, seededBytes, throwsDecodeError } from './_helpers.ts';

// ---- Spec vectors: LwM2M 1.0 TS §6.4.3.1–§6.4.3.3 = 1.1 Core §7.4.3 TLV examples, byte for byte
// (the same bytes as Leshan's LwM2mNodeDecoderTest).

import { ACL, DEVICE, DEVICE_WRAPPED, OBJ65, OBJ66, SERVER } from './tlv-vectors.ts';

/** Types of the example objects 2, 65 and 66 (LwM2M 1.0 TS §6.4.3.3, Figure 28), else the default model. */
const exampleTypes: TypeOf = (p) => {
  if (p.objectId === 2) return 'integer';
  const table: Record<number, ResourceType[]> = { 65: ['objlnk', 'string', 'integer'], 66: ['string', 'string', 'objlnk'] };
  const types = table[p.objectId];
  if (types && p.resourceId !== undefined) return types[p.resourceId];
  return undefined;
};
const path = (text: string): Lwm2mPath => parsePath(text);
const values = (nodes: Lwm2mNodes): Record<string, unknown> =>
  Object.fromEntries(nodes.map((n) => ['/' + [n.path.objectId, n.path.instanceId, n.path.resourceId, n.path.resourceInstanceId].filter((x) => x !== undefined).join('/'), n.value]));

const DEVICE_VALUES = {
  '/3/0/0': 'Open Mobile Alliance',
  '/3/0/1': 'Lightweight M2M Client',
  '/3/0/2': '345000123',
  '/3/0/3': '1.0',
  '/3/0/6/0': 1,
  '/3/0/6/1': 5,
  '/3/0/7/0': 3800,
  '/3/0/7/1': 5000,
  '/3/0/8/0': 125,
  '/3/0/8/1': 900,
  '/3/0/9': 100,
  '/3/0/10': 15,
  '/3/0/11/0': 0,
  '/3/0/13': new Date(1367491215 * 1000),
  '/3/0/14': '+02:00',
  '/3/0/16': 'U',
};

test('Core §7.4.3 single object instance (GET /3/0): decoded by the Device model, re-encoded byte for byte', () => {
  const nodes = tlvToNodes(DEVICE, path('/3/0'));
  assert.equal(values(nodes), DEVICE_VALUES);
  assert.equal(nodesToTlv(nodes, path('/3/0')), DEVICE);
  assert.equal(values(tlvToNodes(DEVICE_WRAPPED, path('/3/0'))), DEVICE_VALUES); // one wrapping instance is accepted
});

test('Core §7.4.3 single-instance object (GET /3): Object Instance TLV, byte for byte', () => {
  const nodes = tlvToNodes(DEVICE_WRAPPED, path('/3'));
  assert.equal(values(nodes), DEVICE_VALUES);
  assert.equal(nodesToTlv(nodes, path('/3')), DEVICE_WRAPPED);
});

test('Core §7.4.3 multiple-instances object (GET /2): ACL instances 0 and 2, resource instance 310', () => {
  const nodes = tlvToNodes(ACL, path('/2'), exampleTypes);
  assert.equal(values(nodes), {
    '/2/0/0': 1, '/2/0/1': 0, '/2/0/2/127': 7, '/2/0/3': 127,
    '/2/2/0': 3, '/2/2/1': 0, '/2/2/2/127': 7, '/2/2/2/310': 1, '/2/2/3': 127,
  });
  assert.equal(nodesToTlv(nodes, path('/2'), exampleTypes), ACL);
});

test('Core §7.4.3 Server object (GET /1): typed by the built-in model', () => {
  const nodes = tlvToNodes(SERVER, path('/1'));
  assert.equal(values(nodes), { '/1/0/0': 1, '/1/0/1': 86400, '/1/0/6': true, '/1/0/7': 'U' });
  assert.equal(nodesToTlv(nodes, path('/1')), SERVER);
});

test('Core §7.4.3 object links: /65/0 (multiple Objlnk) and /66 (single, null link 65535:65535)', () => {
  const n65 = tlvToNodes(OBJ65, path('/65/0'), exampleTypes);
  assert.equal(values(n65), { '/65/0/0/0': { objlnk: [66, 0] }, '/65/0/0/1': { objlnk: [66, 1] }, '/65/0/1': '8613800755500', '/65/0/2': 0x12345678 });
  assert.equal(nodesToTlv(n65, path('/65/0'), exampleTypes), OBJ65);
  const n66 = tlvToNodes(OBJ66, path('/66'), exampleTypes);
  assert.equal(values(n66)['/66/0/2'], { objlnk: [67, 0] });
  assert.equal(values(n66)['/66/1/2'], { objlnk: [65535, 65535] });
  assert.equal(nodesToTlv(n66, path('/66'), exampleTypes), OBJ66);
});

test('resource and resource-instance requests', () => {
  assert.equal(values(tlvToNodes(hex('C8 00 14 4F 70 65 6E 20 4D 6F 62 69 6C 65 20 41 6C 6C 69 61 6E 63 65'), path('/3/0/0'))), { '/3/0/0': 'Open Mobile Alliance' });
  const voltage = hex('88 07 08 42 00 0E D8 42 01 13 88');
  assert.equal(values(tlvToNodes(voltage, path('/3/0/7'))), { '/3/0/7/0': 3800, '/3/0/7/1': 5000 });
  assert.equal(nodesToTlv(tlvToNodes(voltage, path('/3/0/7')), path('/3/0/7')), voltage);
  assert.equal(values(tlvToNodes(hex('42 00 0E D8 42 01 13 88'), path('/3/0/7'))), { '/3/0/7/0': 3800, '/3/0/7/1': 5000 });
  assert.equal(values(tlvToNodes(hex('42 01 13 88'), path('/3/0/7/1'))), { '/3/0/7/1': 5000 });
  assert.equal(nodesToTlv([{ path: path('/3/0/7/1'), value: 5000 }], path('/3/0/7/1')), hex('42 01 13 88'));
  // Write /5/0/1 (Package URI) and /1/0/1 (Lifetime)
  assert.equal(nodesToTlv([{ path: path('/5/0/1'), value: 'coap://h/fw/1' }], path('/5/0/1')), Buffer.concat([hex('C8 01 0D'), Buffer.from('coap://h/fw/1')]));
  assert.equal(nodesToTlv([{ path: path('/1/0/1'), value: 300 }], path('/1/0/1')), hex('C2 01 01 2C'));
});

// Core Appendix C: Unsigned Integer is 1, 2, 4 or 8 bytes, unsigned; Float 4 or 8 bytes.
test('unsigned integers, floats, unknown resources', () => {
  assert.equal(values(tlvToNodes(hex('C4 0D FF FF FF FF'), path('/5/0/13'))), { '/5/0/13': 4294967295 });
  assert.equal(values(tlvToNodes(hex('C8 0D 08 FF FF FF FF FF FF FF FF'), path('/5/0/13'))), { '/5/0/13': 2n ** 64n - 1n });
  assert.equal(nodesToTlv([{ path: path('/5/0/13'), value: 2n ** 64n - 1n }], path('/5/0/13')), hex('C8 0D 08 FF FF FF FF FF FF FF FF'));
  assert.equal(nodesToTlv([{ path: path('/5/0/13'), value: 200 }], path('/5/0/13')), hex('C1 0D C8'));
  const floatType: TypeOf = () => 'float';
  assert.equal(nodesToTlv([{ path: path('/9/0/1'), value: 2 }], path('/9/0/1'), floatType), hex('C4 01 40 00 00 00'));
  assert.equal(nodesToTlv([{ path: path('/9/0/1'), value: 0.1 }], path('/9/0/1'), floatType), hex('C8 01 08 3F B9 99 99 99 99 99 9A'));
  assert.equal(values(tlvToNodes(hex('C4 01 40 00 00 00'), path('/9/0/1'), floatType)), { '/9/0/1': 2 });
  // No model: the bytes as they are (opaque), and an untyped integer value encodes as an integer.
  assert.equal(values(tlvToNodes(hex('C2 01 12 34'), path('/9/0/1'))), { '/9/0/1': Buffer.from([0x12, 0x34]) });
  assert.equal(nodesToTlv([{ path: path('/9/0/1'), value: 0x1234 }], path('/9/0/1')), hex('C2 01 12 34'));
});

test('malformed and mismatched TLV → typed DecodeError', () => {
  throwsDecodeError(() => tlvToNodes(hex('C8 01 03 61 62 63'), path('/3/0/0')), 'tlv.path');
  throwsDecodeError(() => tlvToNodes(hex('08 01 03 C1 09 64'), path('/3/0')), 'tlv.path');
  throwsDecodeError(() => tlvToNodes(hex('61 01 36 01'), path('/3/0/7/1')), 'tlv.path');
  throwsDecodeError(() => tlvToNodes(hex('C1 09 64'), path('/3')), 'tlv.nesting');
  throwsDecodeError(() => tlvToNodes(hex('C1 09 64 41 00 01'), path('/3/0')), 'tlv.nesting');
  throwsDecodeError(() => tlvToNodes(hex('C1 09 64 C1 0A 0F'), path('/3/0/9')), 'tlv.nesting');
  throwsDecodeError(() => tlvToNodes(hex('C1 09 64 C1 09 65'), path('/3/0')), 'tlv.duplicate');
  throwsDecodeError(() => tlvToNodes(hex('08 00 03 C1 09 64 08 00 03 C1 09 64'), path('/3')), 'tlv.duplicate');
  throwsDecodeError(() => tlvToNodes(hex('86 06 41 00 01 41 00 05'), path('/3/0')), 'tlv.duplicate');
  throwsDecodeError(() => tlvToNodes(hex('C1 06 02'), path('/1/0/6')), 'tlv.boolean');
  throwsDecodeError(() => tlvToNodes(hex('C3 0D 00 00 01'), path('/3/0/13')), 'tlv.integer');
  throwsDecodeError(() => tlvToNodes(hex('C3 0D 00 00 01'), path('/5/0/13')), 'tlv.integer');
  throwsDecodeError(() => tlvToNodes(hex('C2 00 C3 28'), path('/3/0/0')), 'tlv.utf8');
  throwsDecodeError(() => tlvToNodes(hex('C8 00 14 4F 70'), path('/3/0/0')), 'tlv.truncated');
  throwsDecodeError(() => tlvToNodes(hex('C8 0D 08 7F FF FF FF FF FF FF FF'), path('/3/0/13')), 'tlv.time');
  throwsDecodeError(() => tlvToNodes(Buffer.alloc(0), path('/3/0/0')), 'tlv.nesting');
});

test('hostile input: 64 KiB of random bytes at every request depth, never anything but DecodeError', () => {
  const random = seededBytes(4);
  for (const p of ['/3', '/3/0', '/3/0/7', '/3/0/7/1', '/5/0/0']) {
    for (let i = 0; i < 40; i++) returnsOrDecodeError(() => tlvToNodes(random(i < 30 ? 1 + i * 7 : 64 * 1024), path(p)));
  }
});

test('a 64 KiB Package (Write /5/0/0) decodes to its bytes and encodes back', () => {
  const image = seededBytes(9)(64 * 1024);
  const payload = nodesToTlv([{ path: path('/5/0/0'), value: image }], path('/5/0/0'));
  assert.equal(Buffer.from(payload.subarray(0, 5)), hex('D8 00 01 00 00')); // length 0x10000 needs the 24-bit form
  const [node] = tlvToNodes(payload, path('/5/0/0'));
  assert.equal(node?.value, image);
});

test('encoder refuses nodes that do not fit the request: RangeError', () => {
  const bad = (nodes: Lwm2mNodes, p: string): void => assert.throws(() => nodesToTlv(nodes, path(p)), RangeError);
  bad([{ path: path('/3/0/0'), value: 'x' }], '/5/0');
  bad([{ path: path('/3/0'), value: 'x' }], '/3');
  bad([{ path: path('/3/0/0'), value: 'x' }, { path: path('/3/0/0'), value: 'y' }], '/3/0');
  bad([{ path: path('/3/0/7'), value: 1 }, { path: path('/3/0/7/0'), value: 2 }], '/3/0');
  bad([{ path: path('/3/0/9'), value: 'full' }], '/3/0/9');
  bad([{ path: path('/3/0/13'), value: 'today' }], '/3/0');
  bad([], '/3/0/9');
  assert.equal(nodesToTlv([], path('/3/0')), Buffer.alloc(0));
});

test.run();
