import { test } from 'uvu';
import * as assert from 'uvu/assert';
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
  tlvResources,
} from '../../protocols/tlv.ts';
import type { Tlv } from '../../protocols/tlv.ts';
import { hex, returnsOrDecodeError, seededBytes, throwsDecodeError } from './_helpers.ts';

// ---- Spec vectors: LwM2M 1.0 TS §6.4.3.1–§6.4.3.3 (1.1 Core §7.4.3), byte for byte. The same
// bytes are in Eclipse Leshan's LwM2mNodeDecoderTest and TlvDecoderTest.

import { ACL, DEVICE, DEVICE_WRAPPED, OBJ65, OBJ66, SERVER } from './tlv-vectors.ts';

const res = (id: number, value: Buffer): Tlv => ({ type: TlvType.RESOURCE, id, value });
const inst = (id: number, value: Buffer): Tlv => ({ type: TlvType.RESOURCE_INSTANCE, id, value });
const multi = (id: number, children: Tlv[]): Tlv => ({ type: TlvType.MULTIPLE_RESOURCE, id, children });
const obj = (id: number, children: Tlv[]): Tlv => ({ type: TlvType.OBJECT_INSTANCE, id, children });
const str = encodeTlvString;
const int = encodeTlvInteger;
/** The value of a decoded RESOURCE or RESOURCE_INSTANCE entry. */
function val(t: Tlv | undefined): Buffer {
  if (t?.value === undefined) throw new Error('expected a TLV entry with a value');
  return t.value;
}

/** The Device instance of §6.4.3.1, built from typed values. */
const DEVICE_TREE: Tlv[] = [
  res(0, str('Open Mobile Alliance')),
  res(1, str('Lightweight M2M Client')),
  res(2, str('345000123')),
  res(3, str('1.0')),
  multi(6, [inst(0, int(1)), inst(1, int(5))]), // Available Power Sources
  multi(7, [inst(0, int(3800)), inst(1, int(5000))]), // Power Source Voltage
  multi(8, [inst(0, int(125)), inst(1, int(900))]), // Power Source Current
  res(9, int(100)), // Battery Level
  res(10, int(15)), // Memory Free
  multi(11, [inst(0, int(0))]), // Error Code
  res(13, int(1367491215)), // Current Time, 0x5182428F
  res(14, str('+02:00')), // UTC Offset
  res(16, str('U')), // Supported Binding and Modes
];

test('§6.4.3.1 Device object instance: 121 bytes, encode and decode byte for byte', () => {
  assert.is(DEVICE.length, 121);
  assert.equal(encodeTlv(DEVICE_TREE), DEVICE);
  assert.equal(decodeTlv(DEVICE), DEVICE_TREE);
});

test('§6.4.3.1 Device values: Manufacturer, Model Number, Serial, Available Power Sources, Current Time', () => {
  const r = tlvResources(DEVICE);
  assert.equal([...r.keys()], [0, 1, 2, 3, 6, 7, 8, 9, 10, 11, 13, 14, 16]);
  const value = (id: number) => val(r.get(id));
  assert.is(decodeTlvString(value(0)), 'Open Mobile Alliance');
  assert.is(decodeTlvString(value(1)), 'Lightweight M2M Client');
  assert.is(decodeTlvString(value(2)), '345000123');
  assert.is(decodeTlvString(value(3)), '1.0');
  const sources = r.get(6)?.children ?? [];
  assert.equal(sources.map((c) => [c.id, decodeTlvInteger(val(c))]), [[0, 1], [1, 5]]);
  const voltage = r.get(7)?.children ?? [];
  assert.equal(voltage.map((c) => decodeTlvInteger(val(c))), [3800, 5000]);
  const current = r.get(8)?.children ?? [];
  assert.equal(current.map((c) => decodeTlvInteger(val(c))), [125, 900]);
  assert.is(decodeTlvInteger(value(9)), 100);
  assert.is(decodeTlvInteger(value(10)), 15);
  assert.is(decodeTlvInteger(value(13)), 1367491215);
  assert.is(decodeTlvString(value(14)), '+02:00');
  assert.is(decodeTlvString(value(16)), 'U');
});

test('§6.4.3.2 A) the Device instance inside an Object Instance TLV (08 00 79)', () => {
  assert.equal(encodeTlv([obj(0, DEVICE_TREE)]), DEVICE_WRAPPED);
  assert.equal(decodeTlv(DEVICE_WRAPPED), [obj(0, DEVICE_TREE)]);
  assert.equal(tlvResources(DEVICE_WRAPPED), tlvResources(DEVICE));
});

test('§6.4.3.2 B) Access Control instances 0 and 2; ACL[310] uses a 16-bit identifier (61 01 36)', () => {
  const tree = [
    obj(0, [res(0, int(1)), res(1, int(0)), multi(2, [inst(127, int(7))]), res(3, int(127))]),
    obj(2, [res(0, int(3)), res(1, int(0)), multi(2, [inst(127, int(7)), inst(310, int(1))]), res(3, int(127))]),
  ];
  assert.equal(decodeTlv(ACL), tree);
  assert.equal(encodeTlv(tree), ACL);
  throwsDecodeError(() => tlvResources(ACL), 'tlv.instance');
});

test('§6.4.3.2 Server instance: Short Server ID 1, Lifetime 86400 (4 bytes), Notification Storing true, Binding "U"', () => {
  const tree = [obj(0, [res(0, int(1)), res(1, int(86400)), res(6, encodeTlvBoolean(true)), res(7, str('U'))])];
  assert.equal(encodeTlv(tree), SERVER);
  assert.equal(decodeTlv(SERVER), tree);
  const r = tlvResources(SERVER);
  assert.is(decodeTlvInteger(val(r.get(1))), 86400);
  assert.is(decodeTlvBoolean(val(r.get(6))), true);
});

test('§6.4.3.3 example 1: multiple Objlnk resource 66:0, 66:1, then a string and an integer', () => {
  const tree = [
    multi(0, [inst(0, encodeTlvObjlnk(66, 0)), inst(1, encodeTlvObjlnk(66, 1))]),
    res(1, str('8613800755500')),
    res(2, int(0x12345678)),
  ];
  assert.equal(encodeTlv(tree), OBJ65);
  assert.equal(decodeTlv(OBJ65), tree);
  const r = tlvResources(OBJ65);
  const links = (r.get(0)?.children ?? []).map((c) => decodeTlvObjlnk(val(c)));
  assert.equal(links, [{ objectId: 66, instanceId: 0 }, { objectId: 66, instanceId: 1 }]);
  assert.is(decodeTlvInteger(val(r.get(2))), 305419896);
});

test('§6.4.3.3 example 2: two instances with Objlnk 67:0 and the null link 65535:65535', () => {
  const tree = [
    obj(0, [res(0, str('myService 1')), res(1, str('Internet.15.234')), res(2, encodeTlvObjlnk(67, 0))]),
    obj(1, [res(0, str('myService 2')), res(1, str('Internet.15.235')), res(2, encodeTlvObjlnk(0xffff, 0xffff))]),
  ];
  assert.equal(encodeTlv(tree), OBJ66);
  assert.equal(decodeTlv(OBJ66), tree);
  const second = val(decodeTlv(OBJ66)[1]?.children?.[2]);
  assert.equal(decodeTlvObjlnk(second), { objectId: 65535, instanceId: 65535 });
});

test('type byte: every identifier width and length form, shortest on encode', () => {
  const cases: Array<[number, number, string]> = [
    // [id, value length, expected header]
    [0, 0, 'C0 00'],
    [0, 7, 'C7 00'],
    [0, 8, 'C8 00 08'],
    [0, 255, 'C8 00 FF'],
    [0, 256, 'D0 00 01 00'],
    [0, 65535, 'D0 00 FF FF'],
    [0, 65536, 'D8 00 01 00 00'],
    [255, 1, 'C1 FF'],
    [256, 1, 'E1 01 00'],
    [65534, 300, 'F0 FF FE 01 2C'],
  ];
  for (const [id, length, header] of cases) {
    const value = Buffer.alloc(length, 0xab);
    const bytes = encodeTlv([res(id, value)]);
    assert.equal(bytes.subarray(0, bytes.length - length), hex(header), `${id}/${length}`);
    assert.equal(decodeTlv(bytes), [res(id, value)]);
  }
});

test('§7.4.3 type byte: with a length field, bits 2-0 MUST be ignored; longer forms than needed still decode', () => {
  assert.equal(decodeTlv(hex('CF 00 01 41')), [res(0, hex('41'))]);
  assert.equal(decodeTlv(hex('D7 00 00 01 41')), [res(0, hex('41'))]);
  assert.equal(decodeTlv(hex('E1 00 05 07')), [res(5, hex('07'))]);
  assert.equal(decodeTlv(hex('D8 00 00 00 02 41 42')), [res(0, hex('41 42'))]);
  assert.equal(decodeTlv(Buffer.alloc(0)), []);
  assert.equal(decodeTlv(hex('08 00 00 80 01')), [obj(0, []), multi(1, [])]);
});

test('truncated headers and lengths past the end → DecodeError tlv.truncated', () => {
  const bad = [
    'C8', 'C8 00', 'E0 00', 'E8 00 01', 'D0 00 00', 'D8 00 00 00', 'C8 00 C8', 'C3 00 41 42', 'D0 00 FF FF 00',
    'D8 00 FF FF FF', '08 00 03 C3 00 41', '86 06 41 00 01 41 01', '08 00 79',
  ];
  for (const b of bad) throwsDecodeError(() => decodeTlv(hex(b)), 'tlv.truncated');
  for (let n = 1; n < DEVICE_WRAPPED.length; n++) {
    throwsDecodeError(() => decodeTlv(DEVICE_WRAPPED.subarray(0, n)), 'tlv.truncated');
  }
});

test('nesting only as §7.4.3 allows → DecodeError tlv.nesting', () => {
  const bad = [
    '08 00 02 00 00', // object instance in object instance
    '08 00 03 41 00 01', // resource instance directly in object instance
    '83 06 C1 00 01', // resource in multiple resource
    '82 06 00 00', // object instance in multiple resource
    '82 06 80 00', // multiple resource in multiple resource
    '00 11 22 33 44 55 66 77 88 99 00', // Leshan TlvDecoderTest "broken TLV"
  ];
  for (const b of bad) throwsDecodeError(() => decodeTlv(hex(b)), 'tlv.nesting');
  assert.equal(decodeTlv(hex('41 00 01')), [inst(0, hex('01'))]); // Read /3/0/6/0 answers a bare resource instance
});

test('identifier 65535 (MAX_ID) is reserved → DecodeError tlv.id', () => {
  throwsDecodeError(() => decodeTlv(hex('E1 FF FF 00')), 'tlv.id');
  throwsDecodeError(() => decodeTlv(hex('80 00 61 FF FF 01')), 'tlv.id');
});

test('size bounds → DecodeError tlv.oversized', () => {
  throwsDecodeError(() => decodeTlv(Buffer.alloc(0xffffff + 6)), 'tlv.oversized');
  const many = Buffer.alloc(2 * 100_001);
  for (let i = 0; i < many.length; i += 2) many[i] = 0xc0;
  throwsDecodeError(() => decodeTlv(many), 'tlv.oversized');
  assert.is(decodeTlv(many.subarray(0, 2 * 100_000)).length, 100_000);
});

test('hostile input: random, truncated and bit-flipped vectors give a value or a DecodeError', () => {
  const random = seededBytes(11542);
  for (let i = 0; i < 3000; i++) returnsOrDecodeError(() => decodeTlv(random(i % 64)));
  for (const vector of [DEVICE, DEVICE_WRAPPED, ACL, SERVER, OBJ65, OBJ66]) {
    for (let i = 0; i < vector.length; i++) {
      for (const mask of [0x01, 0x08, 0x20, 0x80, 0xff]) {
        const mutated = Buffer.from(vector);
        mutated[i] = (mutated[i] as number) ^ mask;
        returnsOrDecodeError(() => decodeTlv(mutated));
        returnsOrDecodeError(() => tlvResources(mutated));
      }
    }
  }
});

test('encodeTlv refuses malformed trees (RangeError)', () => {
  assert.throws(() => encodeTlv([multi(0, [res(1, hex('01'))])]), RangeError);
  assert.throws(() => encodeTlv([obj(0, [obj(1, [])])]), RangeError);
  assert.throws(() => encodeTlv([obj(0, [inst(1, hex('01'))])]), RangeError);
  assert.throws(() => encodeTlv([{ type: TlvType.RESOURCE, id: 0 }]), RangeError);
  assert.throws(() => encodeTlv([{ type: TlvType.OBJECT_INSTANCE, id: 0, value: hex('01') }]), RangeError);
  assert.throws(() => encodeTlv([{ type: TlvType.RESOURCE, id: 0, value: hex('01'), children: [] }]), RangeError);
  assert.throws(() => encodeTlv([res(65535, hex('01'))]), RangeError);
  assert.throws(() => encodeTlv([res(-1, hex('01'))]), RangeError);
  assert.throws(() => encodeTlv([{ type: 4 as 3, id: 0, value: hex('01') }]), RangeError);
  assert.throws(() => encodeTlv([res(0, Buffer.alloc(0x1000000))]), RangeError);
});

test('tlvResources: bare resources or one object instance; anything else is an error', () => {
  assert.equal(tlvResources(Buffer.alloc(0)), new Map());
  assert.equal(tlvResources(hex('08 00 00')), new Map());
  throwsDecodeError(() => tlvResources(hex('08 00 00 C1 00 01')), 'tlv.instance');
  throwsDecodeError(() => tlvResources(hex('41 00 01')), 'tlv.nesting');
  throwsDecodeError(() => tlvResources(hex('C1 00 01 C1 00 02')), 'tlv.duplicate');
  throwsDecodeError(() => tlvResources(hex('08 00 05 C1 00 01 80 00')), 'tlv.duplicate');
});

// LwM2M 1.1 Core Appendix C, TLV column: Integer is 1, 2, 4 or 8 bytes two's complement;
// Float 4 or 8 bytes IEEE 754; Boolean 1 byte 0/1; Objlnk 2 + 2 bytes; Time is an Integer.
test('integers: shortest two\'s complement form, the widths of the §6.4.3 examples', () => {
  const table: Array<[number | bigint, string]> = [
    [1, '01'], [125, '7D'], [127, '7F'], [128, '00 80'], [-1, 'FF'], [-128, '80'], [-129, 'FF 7F'],
    [900, '03 84'], [3800, '0E D8'], [5000, '13 88'], [32767, '7F FF'], [32768, '00 00 80 00'],
    [86400, '00 01 51 80'], [1367491215, '51 82 42 8F'], [0x12345678, '12 34 56 78'],
    [2147483647, '7F FF FF FF'], [2147483648, '00 00 00 00 80 00 00 00'], [-2147483648, '80 00 00 00'],
    [Number.MAX_SAFE_INTEGER, '00 1F FF FF FF FF FF FF'], [-Number.MAX_SAFE_INTEGER, 'FF E0 00 00 00 00 00 01'],
  ];
  for (const [n, bytes] of table) {
    assert.equal(encodeTlvInteger(n), hex(bytes), String(n));
    assert.is(decodeTlvInteger(hex(bytes)), Number(n));
  }
  assert.equal(encodeTlvInteger(5n), hex('05'));
  assert.is(decodeTlvInteger(hex('7F FF FF FF FF FF FF FF')), 2n ** 63n - 1n);
  assert.is(decodeTlvInteger(hex('80 00 00 00 00 00 00 00')), -(2n ** 63n));
  assert.is(decodeTlvInteger(hex('00 20 00 00 00 00 00 00')), 2n ** 53n);
  assert.equal(encodeTlvInteger(2n ** 63n - 1n), hex('7F FF FF FF FF FF FF FF'));
  assert.throws(() => encodeTlvInteger(2n ** 63n), RangeError);
  assert.throws(() => encodeTlvInteger(2 ** 53), RangeError);
  assert.throws(() => encodeTlvInteger(1.5), RangeError);
  assert.throws(() => encodeTlvInteger(Number.NaN), RangeError);
  for (const length of [0, 3, 5, 6, 7, 9, 16]) throwsDecodeError(() => decodeTlvInteger(Buffer.alloc(length)), 'tlv.integer');
});

test('floats: 4 bytes when float32 is exact, else 8', () => {
  assert.equal(encodeTlvFloat(1.5), hex('3F C0 00 00'));
  assert.equal(encodeTlvFloat(-0), hex('80 00 00 00'));
  assert.equal(encodeTlvFloat(Number.POSITIVE_INFINITY), hex('7F 80 00 00'));
  assert.equal(encodeTlvFloat(0.1), hex('3F B9 99 99 99 99 99 9A'));
  assert.is(encodeTlvFloat(Number.NaN).length, 4);
  assert.ok(Number.isNaN(decodeTlvFloat(encodeTlvFloat(Number.NaN))));
  for (const x of [0, 1.5, -2.25, 0.1, 1e300, -1e-300, 22.4, 3.4028234663852886e38]) assert.is(decodeTlvFloat(encodeTlvFloat(x)), x);
  for (const length of [0, 1, 2, 3, 5, 16]) throwsDecodeError(() => decodeTlvFloat(Buffer.alloc(length)), 'tlv.float');
});

test('booleans: one byte, 0 or 1 only', () => {
  assert.equal(encodeTlvBoolean(true), hex('01'));
  assert.equal(encodeTlvBoolean(false), hex('00'));
  assert.is(decodeTlvBoolean(hex('00')), false);
  assert.is(decodeTlvBoolean(hex('01')), true);
  for (const b of ['', '02', 'FF', '00 01', '01 00']) throwsDecodeError(() => decodeTlvBoolean(hex(b)), 'tlv.boolean');
});

test('strings: strict UTF-8 → DecodeError tlv.utf8', () => {
  assert.is(decodeTlvString(hex('')), '');
  assert.is(decodeTlvString(hex('E2 82 AC F0 9F 98 80')), '€😀');
  for (const bad of ['C0 AF', 'E0 80 AF', 'ED A0 80', 'ED BF BF', 'F4 90 80 80', 'F8 88 80 80 80', 'E2 82', 'FE', '80 41']) {
    throwsDecodeError(() => decodeTlvString(hex(bad)), 'tlv.utf8');
  }
  assert.throws(() => encodeTlvString('\uDC00x'), RangeError);
});

test('object links: 16-bit object ID then 16-bit instance ID (Leshan TlvDecoderTest: 12345678)', () => {
  assert.equal(decodeTlvObjlnk(hex('12 34 56 78')), { objectId: 0x1234, instanceId: 0x5678 });
  assert.equal(encodeTlvObjlnk(0x1234, 0x5678), hex('12 34 56 78'));
  assert.equal(encodeTlvObjlnk(65535, 65535), hex('FF FF FF FF'));
  for (const length of [0, 3, 5, 8]) throwsDecodeError(() => decodeTlvObjlnk(Buffer.alloc(length)), 'tlv.objlnk');
  assert.throws(() => encodeTlvObjlnk(65536, 0), RangeError);
  assert.throws(() => encodeTlvObjlnk(0, -1), RangeError);
});

test.run();
