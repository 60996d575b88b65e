import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SUPPORTED_CONTENT_FORMATS, decodeContent, encodeContent } from '../../protocols/content.ts';
import { ContentFormat } from '../../protocols/content-format.ts';
import type { Lwm2mNodes, TypeOf } from '../../protocols/lwm2m-node.ts';
import type { Lwm2mPath } from '../../protocols/path.ts';
import { parsePath } from '../../protocols/path.ts';
import { hex, returnsOrDecodeError, seededBytes, throwsDecodeError } from './_helpers.ts';

const p = (text: string): Lwm2mPath => parsePath(text);
const text = (s: string): Buffer => Buffer.from(s, 'utf8');

// LwM2M 1.1 Core §7.4.1 Plain Text: Read /3/0/0 → "Open Mobile Alliance"; numbers in decimal,
// booleans "0"/"1", Time in seconds, Objlnk "3:0", Opaque base64.
test('plain text (0): one resource, typed by the model', () => {
  const one = (path: string, payload: string, typeOf?: TypeOf) => decodeContent(ContentFormat.TEXT, text(payload), p(path), typeOf)[0]?.value;
  assert.is(one('/3/0/0', 'Open Mobile Alliance'), 'Open Mobile Alliance');
  assert.is(one('/3/0/9', '100'), 100);
  assert.is(one('/3/0/7/1', '5000'), 5000);
  assert.equal(one('/3/0/13', '1367491215'), new Date(1367491215000));
  assert.is(one('/1/0/6', '1'), true);
  assert.is(one('/5/0/13', '86400'), 86400);
  assert.equal(one('/5/0/0', 'AQIDBAU='), Buffer.from([1, 2, 3, 4, 5])); // Leshan's text_decode_opaque_from_base64_string
  assert.equal(one('/3/0/22/0', '66:1'), { objlnk: [66, 1] });
  assert.is(one('/9/0/1', '-12.5e2', () => 'float'), -1250);
  assert.is(one('/9/0/1', 'whatever'), 'whatever'); // no model: a string
  const back = (path: string, value: Parameters<typeof encodeContent>[1][0]['value'], typeOf?: TypeOf) =>
    encodeContent(ContentFormat.TEXT, [{ path: p(path), value }], p(path), typeOf).toString('latin1');
  assert.is(back('/3/0/9', 100), '100');
  assert.is(back('/3/0/13', new Date(1367491215000)), '1367491215');
  assert.is(back('/1/0/6', false), '0');
  assert.is(back('/5/0/0', Buffer.from([1, 2, 3, 4, 5])), 'AQIDBAU=');
  assert.is(back('/3/0/22/0', { objlnk: [66, 1] }), '66:1');
  assert.is(back('/5/0/13', 2n ** 64n - 1n), '18446744073709551615');
  assert.is(back('/9/0/1', 0.25, () => 'float'), '0.25');
});

test('plain text: errors', () => {
  throwsDecodeError(() => decodeContent(ContentFormat.TEXT, text('x'), p('/3/0'), undefined), 'content.single');
  throwsDecodeError(() => decodeContent(ContentFormat.TEXT, text('x'), undefined), 'content.single');
  throwsDecodeError(() => decodeContent(ContentFormat.TEXT, text('1.5'), p('/3/0/9')), 'text.integer');
  throwsDecodeError(() => decodeContent(ContentFormat.TEXT, text('-1'), p('/5/0/13')), 'text.integer');
  throwsDecodeError(() => decodeContent(ContentFormat.TEXT, text('true'), p('/1/0/6')), 'text.boolean');
  throwsDecodeError(() => decodeContent(ContentFormat.TEXT, text('1e999'), p('/9/0/1'), () => 'float'), 'text.float');
  throwsDecodeError(() => decodeContent(ContentFormat.TEXT, text('!,-INVALID$_\''), p('/5/0/0')), 'text.base64');
  throwsDecodeError(() => decodeContent(ContentFormat.TEXT, text('66'), p('/3/0/22/0')), 'text.objlnk');
  throwsDecodeError(() => decodeContent(ContentFormat.TEXT, hex('C3 28'), p('/3/0/0')), 'text.utf8');
  assert.throws(() => encodeContent(ContentFormat.TEXT, [{ path: p('/3/0/0'), value: 'a' }, { path: p('/3/0/1'), value: 'b' }], p('/3/0')), RangeError);
  assert.throws(() => encodeContent(ContentFormat.TEXT, [{ path: p('/3/0/0'), value: 'a' }], p('/3/0/1')), RangeError);
});

test('opaque (42): the bytes of one resource', () => {
  const image = seededBytes(3)(64 * 1024);
  assert.equal(decodeContent(ContentFormat.OPAQUE, image, p('/5/0/0')), [{ path: p('/5/0/0'), value: image }]);
  assert.equal(encodeContent(ContentFormat.OPAQUE, [{ path: p('/5/0/0'), value: image }], p('/5/0/0')), image);
  throwsDecodeError(() => decodeContent(ContentFormat.OPAQUE, image, p('/5/0')), 'content.single');
  throwsDecodeError(() => decodeContent(ContentFormat.OPAQUE, text('x'), p('/3/0/0')), 'content.type');
  assert.throws(() => encodeContent(ContentFormat.OPAQUE, [{ path: p('/5/0/1'), value: 'coap://x' }], p('/5/0/1')), RangeError);
});

/** The Device instance of the Core §7.4.3 TLV example, trimmed. */
const DEVICE_TLV = hex(`C8 00 14 4F 70 65 6E 20 4D 6F 62 69 6C 65 20 41 6C 6C 69 61 6E 63 65 86 06 41 00 01 41 01 05 C1 09 64
  C4 0D 51 82 42 8F C6 0E 2B 30 32 3A 30 30 C1 10 55`);

test('every multi-value format carries the Device instance and gives back the same nodes', () => {
  const nodes = decodeContent(ContentFormat.TLV, DEVICE_TLV, p('/3/0'));
  assert.is(nodes.length, 7);
  for (const format of [ContentFormat.TLV, ContentFormat.SENML_JSON, ContentFormat.SENML_CBOR, ContentFormat.LWM2M_CBOR]) {
    const payload = encodeContent(format, nodes, p('/3/0'));
    assert.equal(decodeContent(format, payload, p('/3/0')), nodes, `format ${format}`);
    if (format !== ContentFormat.TLV) assert.equal(decodeContent(format, payload, p('/3')), nodes, `format ${format} under /3`);
  }
  // Composite (root) works for the self-describing formats only.
  for (const format of [ContentFormat.SENML_JSON, ContentFormat.SENML_CBOR, ContentFormat.LWM2M_CBOR]) {
    assert.equal(decodeContent(format, encodeContent(format, nodes, undefined), undefined), nodes);
  }
  throwsDecodeError(() => decodeContent(ContentFormat.TLV, DEVICE_TLV, undefined), 'content.path');
  assert.throws(() => encodeContent(ContentFormat.TLV, nodes, undefined), RangeError);
});

test('self-describing payloads must stay within the request path', () => {
  const senml = text('[{"n":"/3/0/0","vs":"x"}]');
  throwsDecodeError(() => decodeContent(ContentFormat.SENML_JSON, senml, p('/5/0')), 'content.path');
  throwsDecodeError(() => decodeContent(ContentFormat.SENML_JSON, senml, p('/3/0/1')), 'content.path');
  throwsDecodeError(() => decodeContent(ContentFormat.LWM2M_CBOR, hex('A1 83 03 00 00 61 78'), p('/3/1')), 'content.path');
  assert.is(decodeContent(ContentFormat.SENML_JSON, senml, p('/3/0/0')).length, 1);
});

test('unknown content formats: content.unsupported, both ways', () => {
  assert.equal([...SUPPORTED_CONTENT_FORMATS].sort((a, b) => a - b), [0, 42, 110, 112, 11542, 11544]);
  for (const format of [ContentFormat.LWM2M_JSON, ContentFormat.CBOR, ContentFormat.LINK_FORMAT, 50, 65535, -1]) {
    throwsDecodeError(() => decodeContent(format, text('x'), p('/3/0/0')), 'content.unsupported');
    throwsDecodeError(() => encodeContent(format, [{ path: p('/3/0/0'), value: 'x' }], p('/3/0/0')), 'content.unsupported');
  }
});

test('table of malformed inputs × formats × request paths: DecodeError or a value, never another error', () => {
  const random = seededBytes(77);
  const inputs: Buffer[] = [
    Buffer.alloc(0),
    hex('00'),
    hex('FF'),
    Buffer.alloc(64 * 1024, 0xff),
    Buffer.alloc(64 * 1024, 0x5b), // "[[[[…"
    Buffer.alloc(64 * 1024, 0x9f), // indefinite arrays
    Buffer.alloc(64 * 1024, 0xbf), // indefinite maps
    Buffer.alloc(64 * 1024, 0xc8), // TLV headers
    encodeContent(ContentFormat.SENML_CBOR, decodeContent(ContentFormat.TLV, DEVICE_TLV, p('/3/0')), p('/3/0')).subarray(0, 40),
    text('[{"n":"/3/0/0","vs":"x"}'),
    text('[{"n":"/3/0/0","vs":"x"},{"n":"/3/0/0","v":1e309}]'),
    random(64 * 1024),
    ...Array.from({ length: 60 }, (_, i) => random(1 + i)),
  ];
  const paths: Array<Lwm2mPath | undefined> = [undefined, p('/3'), p('/3/0'), p('/3/0/0'), p('/3/0/7/1'), p('/5/0/0')];
  let decoded = 0;
  for (const format of SUPPORTED_CONTENT_FORMATS) {
    for (const input of inputs) {
      for (const path of paths) {
        returnsOrDecodeError(() => {
          const nodes: Lwm2mNodes = decodeContent(format, input, path);
          decoded += nodes.length;
        });
      }
    }
  }
  assert.ok(decoded > 0); // text and opaque accept almost anything for a string or opaque resource
});

test.run();
