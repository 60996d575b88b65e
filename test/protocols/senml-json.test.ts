import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Lwm2mNodes } from '../../protocols/lwm2m-node.ts';
import { parsePath } from '../../protocols/path.ts';
import { resolveSenml } from '../../protocols/senml.ts';
import { decodeSenmlJson, encodeSenmlJson, parseSenmlJson } from '../../protocols/senml-json.ts';
import { tlvToNodes } from '../../protocols/tlv-nodes.ts';
import { hex, returnsOrDecodeError, seededBytes, throwsDecodeError } from './_helpers.ts';

const json = (text: string): Buffer => Buffer.from(text, 'utf8');
const resolved = (text: string) => resolveSenml(parseSenmlJson(json(text)));
const values = (nodes: Lwm2mNodes): Record<string, unknown> =>
  Object.fromEntries(nodes.map((n) => ['/' + [n.path.objectId, n.path.instanceId, n.path.resourceId, n.path.resourceInstanceId].filter((x) => x !== undefined).join('/'), n.value]));

// ---- RFC 8428 §5.1 examples, resolved as §4.6 says.

test('RFC 8428 §5.1.1 single data point', () => {
  assert.equal(resolved('[\n  {"n":"urn:dev:ow:10e2073a01080063","u":"Cel","v":23.1}\n]'), [{ name: 'urn:dev:ow:10e2073a01080063', unit: 'Cel', v: 23.1 }]);
});

test('RFC 8428 §5.1.2 multiple data points: base name; base time, base unit, version 5, relative times', () => {
  assert.equal(resolved('[{"bn":"urn:dev:ow:10e2073a01080063:","n":"voltage","u":"V","v":120.1},{"n":"current","u":"A","v":1.2}]'), [
    { name: 'urn:dev:ow:10e2073a01080063:voltage', unit: 'V', v: 120.1 },
    { name: 'urn:dev:ow:10e2073a01080063:current', unit: 'A', v: 1.2 },
  ]);
  const r = resolved(`[
     {"bn":"urn:dev:ow:10e2073a0108006:","bt":1.276020076001e+09,
      "bu":"A","bver":5,
      "n":"voltage","u":"V","v":120.1},
     {"n":"current","t":-5,"v":1.2},
     {"n":"current","t":-4,"v":1.3},
     {"n":"current","t":-3,"v":1.4},
     {"n":"current","t":-2,"v":1.5},
     {"n":"current","t":-1,"v":1.6},
     {"n":"current","v":1.7}
   ]`);
  assert.is(r.length, 7);
  assert.equal(r[0], { name: 'urn:dev:ow:10e2073a0108006:voltage', unit: 'V', time: 1276020076.001, v: 120.1 });
  assert.equal(r[1], { name: 'urn:dev:ow:10e2073a0108006:current', unit: 'A', time: 1276020076.001 - 5, v: 1.2 });
  assert.equal(r[6], { name: 'urn:dev:ow:10e2073a0108006:current', unit: 'A', time: 1276020076.001, v: 1.7 });
});

test('RFC 8428 §5.1.3 multiple measurements resolve to exactly the records of §5.1.4', () => {
  const pack = `[
     {"bn":"urn:dev:ow:10e2073a01080063","bt":1.320067464e+09,
      "bu":"%RH","v":20},
     {"u":"lon","v":24.30621},
     {"u":"lat","v":60.07965},
     {"t":60,"v":20.3},
     {"u":"lon","t":60,"v":24.30622},
     {"u":"lat","t":60,"v":60.07965},
     {"t":120,"v":20.7},
     {"u":"lon","t":120,"v":24.30623},
     {"u":"lat","t":120,"v":60.07966},
     {"u":"%EL","t":150,"v":98},
     {"t":180,"v":21.2},
     {"u":"lon","t":180,"v":24.30628},
     {"u":"lat","t":180,"v":60.07967}
   ]`;
  const n = 'urn:dev:ow:10e2073a01080063';
  const resolvedPack = `[
     {"n":"${n}","u":"%RH","t":1.320067464e+09,"v":20},
     {"n":"${n}","u":"lon","t":1.320067464e+09,"v":24.30621},
     {"n":"${n}","u":"lat","t":1.320067464e+09,"v":60.07965},
     {"n":"${n}","u":"%RH","t":1.320067524e+09,"v":20.3},
     {"n":"${n}","u":"lon","t":1.320067524e+09,"v":24.30622},
     {"n":"${n}","u":"lat","t":1.320067524e+09,"v":60.07965},
     {"n":"${n}","u":"%RH","t":1.320067584e+09,"v":20.7},
     {"n":"${n}","u":"lon","t":1.320067584e+09,"v":24.30623},
     {"n":"${n}","u":"lat","t":1.320067584e+09,"v":60.07966},
     {"n":"${n}","u":"%EL","t":1.320067614e+09,"v":98},
     {"n":"${n}","u":"%RH","t":1.320067644e+09,"v":21.2},
     {"n":"${n}","u":"lon","t":1.320067644e+09,"v":24.30628},
     {"n":"${n}","u":"lat","t":1.320067644e+09,"v":60.07967}
   ]`;
  assert.equal(resolved(pack), resolved(resolvedPack));
});

test('RFC 8428 §5.1.5 multiple data types and §5.1.6 a second base name', () => {
  const r = resolved(`[
    {"bn":"urn:dev:ow:10e2073a01080063:","n":"temp","u":"Cel","v":23.1},
    {"n":"label","vs":"Machine Room"},
    {"n":"open","vb":false},
    {"n":"nfv-reader","vd":"aGkgCg"}
  ]`);
  assert.equal(r[1], { name: 'urn:dev:ow:10e2073a01080063:label', vs: 'Machine Room' });
  assert.equal(r[2], { name: 'urn:dev:ow:10e2073a01080063:open', vb: false });
  assert.equal(r[3], { name: 'urn:dev:ow:10e2073a01080063:nfv-reader', vd: Buffer.from('hi \n') });
  const c = resolved(`[
     {"bn":"2001:db8::2/","bt":1.320078429e+09,"n":"temperature","u":"Cel","v":25.2},
     {"n":"humidity","u":"%RH","v":30},
     {"bn":"2001:db8::1/","n":"temperature","u":"Cel","v":12.3},
     {"n":"humidity","u":"%RH","v":67}
   ]`);
  assert.equal(c[3], { name: '2001:db8::1/humidity', unit: '%RH', time: 1320078429, v: 67 }); // base time of the first record
});

test('RFC 8428 §4.4: unknown fields ignored, a "_" field is an error, a newer version is refused', () => {
  assert.equal(resolved('[{"test":"good","n":"a","v":1,"ut":5}]'), [{ name: 'a', v: 1 }]);
  throwsDecodeError(() => parseSenmlJson(json('[{"bn":"/","test_":"fail","n":"34/0/2","v":1}]')), 'senml.unsupported');
  throwsDecodeError(() => resolved('[{"bver":11,"n":"/34/0/2","v":1}]'), 'senml.version');
  assert.equal(resolved('[{"bver":10,"n":"/34/0/2","v":1}]'), [{ name: '/34/0/2', v: 1 }]);
  assert.equal(resolved('[{"bv":1,"n":"/34/0/2","v":1}]'), [{ name: '/34/0/2', v: 2 }]); // §4.5.4 base value
});

// ---- LwM2M 1.1 Core §7.4.4, the SenML JSON examples (Tables 7.4.4-2 to 7.4.4-8).

const DEVICE_JSON =
  '[{"bn":"/3/0/","n":"0","vs":"Open Mobile Alliance"},{"n":"1","vs":"Lightweight M2M Client"},{"n":"2","vs":"345000123"},' +
  '{"n":"3","vs":"1.0"},{"n":"6/0","v":1},{"n":"6/1","v":5},{"n":"7/0","v":3800},{"n":"7/1","v":5000},{"n":"8/0","v":125},' +
  '{"n":"8/1","v":900},{"n":"9","v":100},{"n":"10","v":15},{"n":"11/0","v":0},{"n":"13","v":1367491215},{"n":"14","vs":"+02:00"},' +
  '{"n":"16","vs":"U"}]';
/** The same Device instance in TLV (Core §7.4.3 example). */
const DEVICE_TLV = hex(`C8 00 14 4F 70 65 6E 20 4D 6F 62 69 6C 65 20 41 6C 6C 69 61 6E 63 65 C8 01 16 4C 69 67 68 74 77 65 69 67 68 74
  20 4D 32 4D 20 43 6C 69 65 6E 74 C8 02 09 33 34 35 30 30 30 31 32 33 C3 03 31 2E 30 86 06 41 00 01 41 01 05 88 07 08 42 00 0E D8 42 01
  13 88 87 08 41 00 7D 42 01 03 84 C1 09 64 C1 0A 0F 83 0B 41 00 00 C4 0D 51 82 42 8F C6 0E 2B 30 32 3A 30 30 C1 10 55`);

test('Core Table 7.4.4-2, Read /3/0: decodes to the TLV example\'s values; encoded byte for byte', () => {
  const fromTlv = tlvToNodes(DEVICE_TLV, parsePath('/3/0'));
  const fromJson = decodeSenmlJson(json(DEVICE_JSON));
  assert.equal(fromJson, fromTlv);
  assert.is(encodeSenmlJson(fromTlv, parsePath('/3/0')).toString('utf8'), DEVICE_JSON);
});

test('Core Table 7.4.4-3, timestamped values of /72/0/1/2 (bt + t)', () => {
  const nodes = decodeSenmlJson(json('[{"bn":"/72/","bt":25462634,"n":"1/2","v":22.4,"t":-5},{"n":"1/2","v":22.9,"t":-30},{"n":"1/2","v":24.1,"t":-50}]'));
  assert.equal(nodes.map((n) => [n.value, n.timestamp]), [[22.4, 25462629], [22.9, 25462604], [24.1, 25462584]]);
  assert.equal(nodes[0]?.path, { objectId: 72, instanceId: 1, resourceId: 2 });
  assert.is(encodeSenmlJson([{ path: parsePath('/72/1/2'), value: 22.4, timestamp: 25462629 }], parsePath('/72')).toString(), '[{"bn":"/72/","n":"1/2","v":22.4,"t":25462629}]');
});

test('Core Table 7.4.4-4, object links ("vlo") across objects 65, 66, 67', () => {
  const nodes = decodeSenmlJson(json(`[{"bn":"/","n":"65/0/0/0","vlo":"66:0"},{"n":"65/0/0/1","vlo":"66:1"},{"n":"65/0/1","vs":"8613800755500"},
    {"n":"65/0/2","v":1},{"n":"66/0/0","vs":"myService1"},{"n":"66/0/1","vs":"Internet.15.234"},{"n":"66/0/2","vlo":"67:0"},
    {"n":"66/1/0","vs":"myService2"},{"n":"66/1/1","vs":"Internet.15.235"},{"n":"66/1/2","vlo":"65535:65535"},
    {"n":"67/0/0","vs":"85.76.76.84"},{"n":"67/0/1","vs":"85.76.255.255"}]`));
  const v = values(nodes);
  assert.equal(v['/65/0/0/1'], { objlnk: [66, 1] });
  assert.equal(v['/66/1/2'], { objlnk: [65535, 65535] });
  assert.is(v['/67/0/1'], '85.76.255.255');
  assert.is(nodes.length, 12);
  assert.is(encodeSenmlJson([{ path: parsePath('/65/0/0/0'), value: { objlnk: [66, 0] } }], parsePath('/65/0/0')).toString(), '[{"bn":"/65/0/0/","n":"0","vlo":"66:0"}]');
});

test('Core Table 7.4.4-5, single resource /3/0/0, both ways byte for byte', () => {
  const text = '[{"bn":"/3/0/0","vs":"Open Mobile Alliance"}]';
  const nodes = decodeSenmlJson(json(text));
  assert.equal(values(nodes), { '/3/0/0': 'Open Mobile Alliance' });
  assert.is(encodeSenmlJson(nodes, parsePath('/3/0/0')).toString(), text);
});

test('Core Tables 7.4.4-6/-7/-8: composite requests and answers (names are whole paths)', () => {
  // 7.4.4-6 is a Read-Composite request: names only, which is not content with values.
  throwsDecodeError(() => decodeSenmlJson(json('[{"n":"/3/0/0"},{"n":"/3/0/9"},{"n":"/1/0/1"}]')), 'senml.value');
  const answer = '[{"n":"/3/0/0", "vs":"Open Mobile Alliance"},{"n" :"/3/0/9", "v":95},{"n":"/1/0/1", "v":86400}]';
  const nodes = decodeSenmlJson(json(answer));
  assert.equal(values(nodes), { '/3/0/0': 'Open Mobile Alliance', '/3/0/9': 95, '/1/0/1': 86400 });
  assert.is(encodeSenmlJson(nodes).toString(), answer.replace(/"\s*:/g, '":').replace(/,\s+/g, ','));
  const write = decodeSenmlJson(json('[{"n":"/3311/0/5850", "vb":false},{"n":"/3311/1/5850", "vb":false},{"n":"/3311/2/5851", "v":20},{"n":"/3308/0/5900", "v":18}]'));
  assert.equal(values(write), { '/3311/0/5850': false, '/3311/1/5850': false, '/3311/2/5851': 20, '/3308/0/5900': 18 });
});

test('names: bn + n concatenated (Wakaama\'s cases), opaque in base64url with or without padding', () => {
  assert.equal(values(decodeSenmlJson(json('[{"bn":"/2/3","n":"/0","v":1234}]'))), { '/2/3/0': 1234 });
  assert.equal(values(decodeSenmlJson(json('[{"bn":"/5/0/1","n":"","vs":"http"}]'))), { '/5/0/1': 'http' });
  assert.equal(values(decodeSenmlJson(json('[{"bn":"/5/0/0","vd":"AQIDBAU="}]'))), { '/5/0/0': Buffer.from([1, 2, 3, 4, 5]) });
  assert.equal(values(decodeSenmlJson(json('[{"bn":"/5/0/0","vd":"-_8"}]'))), { '/5/0/0': Buffer.from([0xfb, 0xff]) });
  assert.equal(values(decodeSenmlJson(json('[{"bn":"/5/0/0","vd":"+/8="}]'))), { '/5/0/0': Buffer.from([0xfb, 0xff]) }); // standard alphabet, padded
  assert.is(encodeSenmlJson([{ path: parsePath('/5/0/0'), value: Buffer.from([1, 2, 3, 4, 5]) }], parsePath('/5/0/0')).toString(), '[{"bn":"/5/0/0","vd":"AQIDBAU"}]');
  // JSON string escapes are JSON's (RFC 8259), both ways.
  const s = '\u0000"\\/\n\u001f é 😀';
  const [node] = decodeSenmlJson(encodeSenmlJson([{ path: parsePath('/3/0/0'), value: s }], parsePath('/3/0/0')));
  assert.is(node?.value, s);
});

test('malformed SenML-JSON → typed DecodeError', () => {
  const cases: Array<[string | Buffer, string]> = [
    ['', 'senml.invalid'],
    ['[', 'senml.invalid'],
    ['{"n":"/3/0/0","v":1}', 'senml.invalid'],
    ['[1]', 'senml.invalid'],
    ['[null]', 'senml.invalid'],
    ['[[{"n":"/3/0/9","v":1}]]', 'senml.invalid'],
    ['[{"n":"/3/0/9","v":"100"}]', 'senml.invalid'],
    ['[{"n":"/9/0/1","v":1e309}]', 'senml.invalid'],
    ['[{"n":5,"v":1}]', 'senml.invalid'],
    ['[{"n":"/3/0/9","vb":1}]', 'senml.invalid'],
    ['[{"n":"/5/0/0","vd":"a b"}]', 'senml.base64'],
    ['[{"n":"/5/0/0","vd":"AQID="}]', 'senml.base64'],
    ['[{"n":"/5/0/0","vd":"AR"}]', 'senml.base64'],
    ['[{"n":"/65/0/0","vlo":"66"}]', 'senml.objlnk'],
    ['[{"n":"/3/0/9","v":1,"vs":"1"}]', 'senml.value'],
    ['[{"n":"/3/0/9"}]', 'senml.value'],
    ['[{"n":"/3/0/9","s":1}]', 'senml.value'],
    ['[{"v":1}]', 'senml.name'],
    ['[{"n":"urn:dev:ow:1","v":1}]', 'senml.name'],
    ['[{"n":"/3/0","v":1}]', 'senml.name'],
    ['[{"n":"/3/0/65535","v":1}]', 'senml.name'],
    ['[{"n":"/3/0/9","vs":"100"}]', 'senml.type'],
    ['[{"n":"/3/0/9","v":1.5}]', 'senml.type'],
    ['[{"n":"/3/0/13","v":1e300}]', 'senml.type'],
    ['[{"n":"/3/0/0","vs":"\\ud800"}]', 'senml.utf8'],
    ['\ufeff[{"n":"/3/0/0","vs":"x"}]', 'senml.invalid'],
    [hex('5B 7B 22 6E 22 3A 22 C3 28 22 7D 5D'), 'senml.utf8'],
  ];
  for (const [input, code] of cases) throwsDecodeError(() => decodeSenmlJson(typeof input === 'string' ? json(input) : input), code);
});

test('RFC 8428 §4.6 sums past the largest number: DecodeError senml.value (found by fuzzing: Infinity the encoder could not write)', () => {
  for (const text of ['[{"bv":1e308,"n":"/9/0/3","v":1e308}]', '[{"bt":1e308,"n":"/9/0/3","v":1,"t":1e308}]', '[{"bs":-1e308,"n":"/9/0/3","s":-1e308,"v":1}]']) {
    throwsDecodeError(() => decodeSenmlJson(json(text)), 'senml.value');
  }
  assert.equal(resolved('[{"bv":1e308,"n":"/9/0/3","v":-1e308}]'), [{ name: '/9/0/3', v: 0 }]);
});

test('hostile SenML-JSON: deep nesting, 64 KiB of noise, more than 1 MiB', () => {
  throwsDecodeError(() => decodeSenmlJson(json('['.repeat(64 * 1024) + ']'.repeat(64 * 1024))), 'senml.invalid');
  throwsDecodeError(() => decodeSenmlJson(json('[{"n":' + '['.repeat(30_000) + ']'.repeat(30_000) + '}]')), 'senml.invalid');
  const random = seededBytes(12);
  for (let i = 0; i < 50; i++) returnsOrDecodeError(() => decodeSenmlJson(random(i < 40 ? i * 13 : 64 * 1024)));
  throwsDecodeError(() => decodeSenmlJson(Buffer.alloc(1024 * 1024 + 1, 0x20)), 'senml.oversized');
});

test('a 64 KiB SenML-JSON pack of 2,000 records decodes', () => {
  const records = Array.from({ length: 2000 }, (_, i) => `{"n":"/3/0/7/${i}","v":${i}}`);
  const text = `[${records.join(',')}]`.padEnd(64 * 1024, ' ');
  const nodes = decodeSenmlJson(json(text));
  assert.is(nodes.length, 2000);
  assert.equal(nodes[1999], { path: { objectId: 3, instanceId: 0, resourceId: 7, resourceInstanceId: 1999 }, value: 1999 });
});

test('encoder: RangeError for nodes outside the request path, wrong types, non-finite numbers', () => {
  assert.throws(() => encodeSenmlJson([{ path: parsePath('/3/0/0'), value: 'x' }], parsePath('/5/0')), RangeError);
  assert.throws(() => encodeSenmlJson([{ path: parsePath('/3/0'), value: 'x' }]), RangeError);
  assert.throws(() => encodeSenmlJson([{ path: parsePath('/3/0/9'), value: 'full' }]), RangeError);
  assert.throws(() => encodeSenmlJson([{ path: parsePath('/9/0/1'), value: Number.POSITIVE_INFINITY }]), RangeError);
  assert.is(encodeSenmlJson([{ path: parsePath('/9/0/1'), value: 2n ** 64n - 1n }]).toString(), '[{"n":"/9/0/1","v":18446744073709551615}]');
  assert.is(encodeSenmlJson([]).toString(), '[]');
});

test.run();
