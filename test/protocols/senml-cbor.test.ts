import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Lwm2mNodes, TypeOf } from '../../protocols/lwm2m-node.ts';
import { parsePath } from '../../protocols/path.ts';
import { resolveSenml } from '../../protocols/senml.ts';
import { decodeSenmlCbor, encodeSenmlCbor, parseSenmlCbor } from '../../protocols/senml-cbor.ts';
import { decodeSenmlJson, parseSenmlJson } from '../../protocols/senml-json.ts';
import { hex, returnsOrDecodeError, seededBytes, throwsDecodeError } from './_helpers.ts';

const values = (nodes: Lwm2mNodes): Record<string, unknown> =>
  Object.fromEntries(nodes.map((n) => ['/' + [n.path.objectId, n.path.instanceId, n.path.resourceId, n.path.resourceInstanceId].filter((x) => x !== undefined).join('/'), n.value]));

/** RFC 8428 §6: "a dump of the CBOR example for the same sensor measurement as in Section 5.1.2", 0xc3 bytes. */
const RFC8428_CBOR = hex(`
  87 a7 21 78 1b 75 72 6e 3a 64 65 76 3a 6f 77 3a 31 30 65 32 30 37 33 61 30 31 30 38 30 30 36 3a
  22 fb 41 d3 03 a1 5b 00 10 62 23 61 41 20 05 00 67 76 6f 6c 74 61 67 65 01 61 56 02 fb 40 5e 06
  66 66 66 66 66 a3 00 67 63 75 72 72 65 6e 74 06 24 02 fb 3f f3 33 33 33 33 33 33 a3 00 67 63 75
  72 72 65 6e 74 06 23 02 fb 3f f4 cc cc cc cc cc cd a3 00 67 63 75 72 72 65 6e 74 06 22 02 fb 3f
  f6 66 66 66 66 66 66 a3 00 67 63 75 72 72 65 6e 74 06 21 02 f9 3e 00 a3 00 67 63 75 72 72 65 6e
  74 06 20 02 fb 3f f9 99 99 99 99 99 9a a3 00 67 63 75 72 72 65 6e 74 06 00 02 fb 3f fb 33 33 33
  33 33 33`);
/** The JSON of RFC 8428 §5.1.2 that the CBOR above encodes. */
const RFC8428_JSON = `[{"bn":"urn:dev:ow:10e2073a0108006:","bt":1.276020076001e+09,"bu":"A","bver":5,"n":"voltage","u":"V","v":120.1},
  {"n":"current","t":-5,"v":1.2},{"n":"current","t":-4,"v":1.3},{"n":"current","t":-3,"v":1.4},
  {"n":"current","t":-2,"v":1.5},{"n":"current","t":-1,"v":1.6},{"n":"current","v":1.7}]`;

test('RFC 8428 §6 CBOR example: 195 bytes, the same records as the JSON of §5.1.2 (a half float among them)', () => {
  assert.is(RFC8428_CBOR.length, 0xc3);
  const records = parseSenmlCbor(RFC8428_CBOR);
  assert.equal(records[0], { bn: 'urn:dev:ow:10e2073a0108006:', bt: 1276020076.001, bu: 'A', bver: 5, n: 'voltage', u: 'V', v: 120.1 });
  assert.equal(records[5], { n: 'current', t: -1, v: 1.6 });
  assert.equal(resolveSenml(records), resolveSenml(parseSenmlJson(Buffer.from(RFC8428_JSON))));
});

/**
 * LwM2M 1.1 Core §7.4.5: Read /3/0 answered in SenML-CBOR, the Device example of Table 7.4.4-2
 * with integer labels (byte for byte the hex of Leshan's AbstractSenMLTest.givenSenMLCborExample).
 */
const DEVICE_CBOR = hex(
  '90a321652f332f302f00613003744f70656e204d6f62696c6520416c6c69616e6365a200613103764c696768747765696768' +
    '74204d324d20436c69656e74a20061320369333435303030313233a20061330363312e30a20063362f300201a20063362f310205a20063372f' +
    '3002190ed8a20063372f3102191388a20063382f3002187da20063382f3102190384a2006139021864a200623130020fa2006431312f300200' +
    'a200623133021a5182428fa20062313403662b30323a3030a200623136036155',
);
const DEVICE_JSON =
  '[{"bn":"/3/0/","n":"0","vs":"Open Mobile Alliance"},{"n":"1","vs":"Lightweight M2M Client"},{"n":"2","vs":"345000123"},' +
  '{"n":"3","vs":"1.0"},{"n":"6/0","v":1},{"n":"6/1","v":5},{"n":"7/0","v":3800},{"n":"7/1","v":5000},{"n":"8/0","v":125},' +
  '{"n":"8/1","v":900},{"n":"9","v":100},{"n":"10","v":15},{"n":"11/0","v":0},{"n":"13","v":1367491215},{"n":"14","vs":"+02:00"},' +
  '{"n":"16","vs":"U"}]';

test('Core §7.4.5, Read /3/0 in SenML-CBOR: the JSON example\'s values; encoded byte for byte', () => {
  const nodes = decodeSenmlCbor(DEVICE_CBOR);
  assert.equal(nodes, decodeSenmlJson(Buffer.from(DEVICE_JSON)));
  assert.equal(values(nodes)['/3/0/13'], new Date(1367491215000));
  assert.equal(encodeSenmlCbor(nodes, parsePath('/3/0')), DEVICE_CBOR);
});

test('Leshan SenML-CBOR vectors: opaque [{-2: "/0/0/3", 8: h\'ABCDEF\'}], half float [{2: 300.0, -2: "/3442/0/130"}]', () => {
  const opaque = hex('81a221662f302f302f330843abcdef');
  assert.equal(values(decodeSenmlCbor(opaque)), { '/0/0/3': Buffer.from([0xab, 0xcd, 0xef]) });
  assert.equal(encodeSenmlCbor(decodeSenmlCbor(opaque), parsePath('/0/0/3')), opaque);
  assert.equal(values(decodeSenmlCbor(hex('81a202f95cb0216b2f333434322f302f313330'))), { '/3442/0/130': 300 });
});

test('object links under the text label "vlo", decimal fractions (tag 4), 64-bit integers, timestamps', () => {
  const link = encodeSenmlCbor([{ path: parsePath('/65/0/0/0'), value: { objlnk: [66, 0] } }], parsePath('/65/0/0'));
  // [{-2: "/65/0/0/", 0: "0", "vlo": "66:0"}]
  assert.equal(link, hex('81 a3 21 68 2f36352f302f302f 00 61 30 63 766c6f 64 36363a30'));
  assert.equal(values(decodeSenmlCbor(link)), { '/65/0/0/0': { objlnk: [66, 0] } });
  // [{0: "/9/0/1", 2: 4([-1, 45])}] → 4.5
  assert.equal(values(decodeSenmlCbor(hex('81 a2 00 66 2f392f302f31 02 c4 82 20 18 2d'))), { '/9/0/1': 4.5 });
  const unsigned: TypeOf = () => 'unsignedInteger';
  const big = hex('81 a2 00 66 2f392f302f31 02 1b ffffffffffffffff');
  assert.equal(values(decodeSenmlCbor(big, unsigned)), { '/9/0/1': 2n ** 64n - 1n });
  assert.equal(encodeSenmlCbor(decodeSenmlCbor(big, unsigned), undefined, unsigned), big);
  assert.equal(values(decodeSenmlCbor(hex('81 a2 00 66 2f392f302f31 02 1b 0000000000000005'))), { '/9/0/1': 5 });
  const [node] = decodeSenmlCbor(hex('81 a4 21 63 2f372f 22 1a 01848a6a 00 63 312f32 02 01'));
  assert.equal(node, { path: { objectId: 7, instanceId: 1, resourceId: 2 }, value: 1, timestamp: 25463402 });
  // Indefinite-length arrays and maps are read (the RFC asks definite ones of a sender only).
  assert.equal(values(decodeSenmlCbor(hex('9f bf 00 66 2f392f302f31 02 01 ff ff'))), { '/9/0/1': 1 });
});

test('malformed SenML-CBOR → typed DecodeError', () => {
  const cases: Array<[string, string]> = [
    ['', 'cbor.truncated'],
    ['a1 00 01', 'senml.invalid'], // a map, not an array
    ['81 01', 'senml.invalid'], // a record that is not a map
    ['81 a2 00 05 02 01', 'senml.invalid'], // n is not text
    ['81 a2 00 66 2f392f302f31 02 63 313030', 'senml.invalid'], // v is text
    ['81 a2 00 66 2f392f302f31 08 63 313030', 'senml.invalid'], // vd is text
    ['81 a2 00 66 2f392f302f31 64 785f5f5f 01', 'senml.unsupported'], // "x___" must-understand label
    ['81 a2 00 66 2f392f302f31 02 c1 01', 'cbor.tag'], // tag 1 has no place in SenML
    ['81 a2 00 66 2f392f302f31 02 c2 41 01', 'cbor.tag'], // bignum
    ['81 a2 00 66 2f392f302f31 02 c4 82 20 63 616263', 'cbor.tag'], // decimal fraction of text
    ['81 a2 00 66 2f392f302f31 02 c4 82 3b ffffffffffffffff 01', 'cbor.tag'], // 64-bit exponent
    ['81 a2 00 7f 61 2f ff 02 01', 'cbor.indefinite'],
    ['81 a2 00 66 2f392f', 'cbor.truncated'],
    ['9b ffffffffffffffff', 'cbor.truncated'],
    ['9a ffffffff 00', 'cbor.truncated'],
    ['81 a2 00 66 2f392f302f31 02 01 00', 'cbor.trailing'],
    ['81 a3 00 66 2f392f302f31 02 01 02 02', 'cbor.duplicate'],
    ['81 a2 00 62 c328 02 01', 'cbor.utf8'],
    ['81 a2 00 66 2f392f302f31 02 f7', 'cbor.simple'],
    ['81 a2 00 66 2f392f302f31 02 f0', 'cbor.simple'],
    ['81 a2 00 66 2f392f302f31 02 1c', 'cbor.invalid'],
    ['81 ff', 'cbor.invalid'],
    ['bf 00 ff', 'cbor.invalid'], // map ends between a key and its value
    ['81 a2 00 66 2f332f302f39 02 fb 3ff8000000000000', 'senml.type'], // Battery Level 1.5
    ['81 a2 00 64 2f332f30 02 01', 'senml.name'],
  ];
  for (const [input, code] of cases) throwsDecodeError(() => decodeSenmlCbor(hex(input)), code);
});

test('hostile SenML-CBOR: 64 KiB of nesting, of noise, of huge lengths; more than 1 MiB', () => {
  throwsDecodeError(() => decodeSenmlCbor(Buffer.alloc(64 * 1024, 0x81)), 'cbor.depth');
  throwsDecodeError(() => decodeSenmlCbor(Buffer.alloc(64 * 1024, 0x9f)), 'cbor.depth');
  throwsDecodeError(() => decodeSenmlCbor(Buffer.alloc(64 * 1024, 0xc4)), 'cbor.tag');
  throwsDecodeError(() => decodeSenmlCbor(Buffer.concat([hex('9f'), Buffer.alloc(64 * 1024, 0x00)])), 'cbor.truncated');
  throwsDecodeError(() => decodeSenmlCbor(Buffer.alloc(1024 * 1024 + 1)), 'cbor.oversized');
  const random = seededBytes(7);
  for (let i = 0; i < 300; i++) {
    const noise = random(i < 250 ? 1 + (i % 60) : 64 * 1024);
    returnsOrDecodeError(() => decodeSenmlCbor(noise));
    returnsOrDecodeError(() => decodeSenmlCbor(Buffer.concat([hex('81 a2'), noise])));
  }
});

test('a 64 KiB SenML-CBOR pack decodes', () => {
  const nodes = Array.from({ length: 4000 }, (_, i) => ({ path: { objectId: 3, instanceId: 0, resourceId: 7, resourceInstanceId: i }, value: i }));
  const payload = encodeSenmlCbor(nodes, parsePath('/3/0'));
  assert.ok(payload.length > 40_000 && payload.length < 64 * 1024);
  assert.equal(decodeSenmlCbor(payload), nodes);
});

test.run();
