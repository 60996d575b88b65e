import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatLinkFormat, objectsFromLinks, parseLinkFormat } from '../../protocols/link-format.ts';
import type { Link } from '../../protocols/link-format.ts';
import { throwsDecodeError } from './_helpers.ts';

// RFC 6690 §5 examples. "Linefeeds never occur in the actual format, but are shown in these
// examples for readability": the *_WIRE constants are the same payloads without them.
const SENSORS_WIRE = '</sensors/temp>;if="sensor",</sensors/light>;if="sensor"';
const SENSORS_PRINTED = '</sensors/temp>;if="sensor",\n</sensors/light>;if="sensor"';
const ANCHOR_PRINTED = [
  '</sensors>;ct=40;title="Sensor Index",',
  '</sensors/temp>;rt="temperature-c";if="sensor",',
  '</sensors/light>;rt="light-lux";if="sensor",',
  '<http://www.example.com/sensors/t123>;anchor="/sensors/temp"',
  ';rel="describedby",',
  '</t>;anchor="/sensors/temp";rel="alternate"',
].join('\n');
const ANCHOR_WIRE = ANCHOR_PRINTED.replace(/\n/g, '');

test('RFC 6690 §5: two sensors sharing an interface description', () => {
  const expected = [
    { uri: '/sensors/temp', params: { if: 'sensor' } },
    { uri: '/sensors/light', params: { if: 'sensor' } },
  ];
  assert.equal(parseLinkFormat(SENSORS_WIRE), expected);
  assert.equal(parseLinkFormat(SENSORS_PRINTED), expected);
  assert.is(formatLinkFormat(expected), SENSORS_WIRE);
});

test('RFC 6690 §5: hierarchical index </sensors>;ct=40 and GET /sensors', () => {
  assert.equal(parseLinkFormat('</sensors>;ct=40'), [{ uri: '/sensors', params: { ct: '40' } }]);
  const sensors = '</sensors/temp>;rt="temperature-c";if="sensor",</sensors/light>;rt="light-lux";if="sensor"';
  const links = parseLinkFormat(sensors);
  assert.equal(links, [
    { uri: '/sensors/temp', params: { rt: 'temperature-c', if: 'sensor' } },
    { uri: '/sensors/light', params: { rt: 'light-lux', if: 'sensor' } },
  ]);
  assert.is(formatLinkFormat(links), sensors);
  assert.is(formatLinkFormat([{ uri: '/sensors', params: { ct: '40' } }]), '</sensors>;ct=40');
});

test('RFC 6690 §5: anchor, rel and title (printed with linefeeds, and on the wire)', () => {
  const expected: Link[] = [
    { uri: '/sensors', params: { ct: '40', title: 'Sensor Index' } },
    { uri: '/sensors/temp', params: { rt: 'temperature-c', if: 'sensor' } },
    { uri: '/sensors/light', params: { rt: 'light-lux', if: 'sensor' } },
    { uri: 'http://www.example.com/sensors/t123', params: { anchor: '/sensors/temp', rel: 'describedby' } },
    { uri: '/t', params: { anchor: '/sensors/temp', rel: 'alternate' } },
  ];
  assert.equal(parseLinkFormat(ANCHOR_PRINTED), expected);
  assert.equal(parseLinkFormat(ANCHOR_WIRE), expected);
  assert.is(formatLinkFormat(expected), ANCHOR_WIRE);
});

test('RFC 6690 §5: firmware resource with sz', () => {
  const text = '</firmware/v2.1>;rt="firmware";sz=262144';
  assert.equal(parseLinkFormat(text), [{ uri: '/firmware/v2.1', params: { rt: 'firmware', sz: '262144' } }]);
  assert.is(formatLinkFormat(parseLinkFormat(text)), text);
});

test('RFC 6690 §2: quoted strings may hold "," ";" and escaped quotes; valueless params; first of a repeat wins', () => {
  const links = parseLinkFormat('</a>;title="x, y; z";obs;ct=0;title="second";q="say \\"hi\\"",</b>');
  assert.equal(links, [
    { uri: '/a', params: { title: 'x, y; z', obs: true, ct: '0', q: 'say "hi"' } },
    { uri: '/b', params: {} },
  ]);
  assert.is(formatLinkFormat(links), '</a>;title="x, y; z";obs;ct=0;q="say \\"hi\\"",</b>');
});

test('whitespace around separators; empty payload is no links', () => {
  assert.equal(parseLinkFormat(''), []);
  assert.equal(parseLinkFormat('  \r\n '), []);
  assert.equal(parseLinkFormat(' </1/0> ; ver=1.1 ,\t</3/0>\n'), [
    { uri: '/1/0', params: { ver: '1.1' } },
    { uri: '/3/0', params: {} },
  ]);
});

test('a parameter named __proto__ is only a name', () => {
  const [link] = parseLinkFormat('</x>;__proto__=1');
  assert.ok(link);
  assert.is(Object.getPrototypeOf(link.params), Object.prototype);
  assert.equal(Object.keys(link.params), ['__proto__']);
});

test('malformed link-format → DecodeError link.invalid', () => {
  const bad = [
    'sensors', '/1/0', '</1/0', '<', '</1/0>;', '</1/0>;=1', '</1/0>;ct=', '</1/0>;title="open', '</1/0>;title="x\\',
    '</1/0>,', '</1/0>,,</3/0>', '</1/0></3/0>', '</1/0> x', '</1/0>;c t=1', '</1/0>;ct=1 2', '</1 /0>', '</a"b>',
    '</1/0>;a=b,c', '</1/0>;ver=1.1;', '</1/0>;(x)=1',
  ];
  for (const text of bad) throwsDecodeError(() => parseLinkFormat(text), 'link.invalid');
});

test('a 40,000-character parameter name without a value: link.invalid, the name cut in the reason (found by fuzzing)', () => {
  const text = `</firmware/v2.1>;${'r'.repeat(40_000)}=`;
  throwsDecodeError(() => parseLinkFormat(text), 'link.invalid');
  try {
    parseLinkFormat(text);
  } catch (e) {
    assert.is((e as { reason: string }).reason, `missing value for parameter "${'r'.repeat(40)}…" at offset 40018`);
  }
});

test('size caps: 64 KiB of input, 10,000 links', () => {
  throwsDecodeError(() => parseLinkFormat('</' + 'a'.repeat(64 * 1024) + '>'), 'link.invalid');
  throwsDecodeError(() => parseLinkFormat('</x>;t="' + 'é'.repeat(33_000) + '"'), 'link.invalid');
  const many = Array.from({ length: 10_001 }, () => '<>').join(',');
  assert.ok(many.length < 64 * 1024);
  throwsDecodeError(() => parseLinkFormat(many), 'link.invalid');
  assert.is(parseLinkFormat(Array.from({ length: 10_000 }, () => '<>').join(',')).length, 10_000);
});

test('formatLinkFormat refuses what cannot be written (RangeError)', () => {
  assert.throws(() => formatLinkFormat([{ uri: '/a>b', params: {} }]), RangeError);
  assert.throws(() => formatLinkFormat([{ uri: '/a b', params: {} }]), RangeError);
  assert.throws(() => formatLinkFormat([{ uri: '/a', params: { 'b c': true } }]), RangeError);
  assert.throws(() => formatLinkFormat([{ uri: '/a', params: { '': '1' } }]), RangeError);
});

// LwM2M 1.0 TS §5.3.1 / 1.1 Core, Register: the example client's registration payload.
test('LwM2M Register payload: </1/0>,</1/1>,</2/0>,…,</5>', () => {
  const text = '</1/0>,</1/1>,</2/0>,</2/1>,</2/2>,</2/3>,</2/4>,</3/0>,</4/0>,</5>';
  assert.equal(objectsFromLinks(parseLinkFormat(text)), {
    rootPath: '/',
    contentFormats: [],
    objects: [
      { objectId: 1, instances: [0, 1] },
      { objectId: 2, instances: [0, 1, 2, 3, 4] },
      { objectId: 3, instances: [0] },
      { objectId: 4, instances: [0] },
      { objectId: 5, instances: [] },
    ],
  });
});

// LwM2M 1.1 Transport, "Alternate Path" example (printed there with a stray space in each link,
// "</lwm2m /1/0>", which is not a valid URI reference; the payload below leaves it out).
test('LwM2M Transport, Alternate Path: </lwm2m>;rt="oma.lwm2m",</lwm2m/1/0>,…', () => {
  const text = [
    '</lwm2m>;rt="oma.lwm2m",',
    '</lwm2m/1/0>,</lwm2m/1/1>,',
    '</lwm2m/2/0>,</lwm2m/2/1>,</lwm2m/2/2>,</lwm2m/2/3>,</lwm2m/2/4>,',
    '</lwm2m/3/0>,',
    '</lwm2m/4/0>,',
    '</lwm2m/5>',
  ].join('\n');
  assert.equal(objectsFromLinks(parseLinkFormat(text)), {
    rootPath: '/lwm2m',
    contentFormats: [],
    objects: [
      { objectId: 1, instances: [0, 1] },
      { objectId: 2, instances: [0, 1, 2, 3, 4] },
      { objectId: 3, instances: [0] },
      { objectId: 4, instances: [0] },
      { objectId: 5, instances: [] },
    ],
  });
  throwsDecodeError(() => parseLinkFormat('</lwm2m>;rt="oma.lwm2m",</lwm2m /1/0>'), 'link.invalid');
});

// LwM2M 1.1 Core, Register: the root link carries ct; object links carry ver (here the payload of
// Leshan's LwM2mNodeDecoderTest core-link vector, with a quoted ct list).
test('LwM2M 1.1 Register: </>;rt="oma.lwm2m";ct="…", ver on object links', () => {
  const text =
    '</>;rt="oma.lwm2m";ct="60 110 112 1542 1543 11542 11543",</1>;ver=1.1,</1/0>,</2>,</3>;ver=1.1,</3/0>,</3442/0>';
  assert.equal(objectsFromLinks(parseLinkFormat(text)), {
    rootPath: '/',
    contentFormats: [60, 110, 112, 1542, 1543, 11542, 11543],
    objects: [
      { objectId: 1, version: '1.1', instances: [0] },
      { objectId: 2, instances: [] },
      { objectId: 3, version: '1.1', instances: [0] },
      { objectId: 3442, instances: [0] },
    ],
  });
});

test('objectsFromLinks: single ct, unsorted and repeated links', () => {
  const text = '</5/0>,</>;rt="oma.lwm2m";ct=110,</3/0>,</3/0>,</1/1>,</1/0>,</5>;ver=1.0';
  assert.equal(objectsFromLinks(parseLinkFormat(text)), {
    rootPath: '/',
    contentFormats: [110],
    objects: [
      { objectId: 1, instances: [0, 1] },
      { objectId: 3, instances: [0] },
      { objectId: 5, version: '1.0', instances: [0] },
    ],
  });
});

test('objectsFromLinks: a link that is not an LwM2M object or instance (Core §6.2.1) → DecodeError link.path', () => {
  for (const link of ['</x/y>', '</3/0/1>', '</rd>', '<coap://x/1/0>', '</5/01>', '</65535/0>', '</alt/3/0>']) {
    throwsDecodeError(() => objectsFromLinks(parseLinkFormat(`</>;rt="oma.lwm2m";ct=110,</3/0>,${link}`)), 'link.path');
  }
});

test('RFC 2616 §2.2: a control character in a quoted value (raw or as a quoted-pair) → DecodeError link.control', () => {
  for (const text of ['</1/0>;title="a\u0000b"', '</5>;ver="1\u0000"', '</1/0>;title="a\\\u0000"', '</1/0>;rt="\u001b[31m"', '</1/0>;title="\u007f"', '</1/0>;title="\u0085"']) {
    throwsDecodeError(() => parseLinkFormat(text), 'link.control');
  }
  assert.equal(parseLinkFormat('</1/0>;title="a\tb"'), [{ uri: '/1/0', params: { title: 'a\tb' } }], 'HT is linear white space, allowed');
});

test('objectsFromLinks: a plain </> without rt is the root; an alternate root accepts unprefixed object links', () => {
  assert.equal(objectsFromLinks(parseLinkFormat('</>;ct=11543,</3/0>')), {
    rootPath: '/',
    contentFormats: [11543],
    objects: [{ objectId: 3, instances: [0] }],
  });
  assert.equal(objectsFromLinks(parseLinkFormat('</alt/>;rt="oma.lwm2m";ct=110,</3/0>,</alt/5/0>')), {
    rootPath: '/alt',
    contentFormats: [110],
    objects: [
      { objectId: 3, instances: [0] },
      { objectId: 5, instances: [0] },
    ],
  });
  assert.equal(objectsFromLinks([]), { rootPath: '/', contentFormats: [], objects: [] });
});

test('objectsFromLinks: a bad ct on the root link → DecodeError link.invalid', () => {
  for (const ct of ['ct', 'ct=abc', 'ct="110 x"', 'ct=65536', 'ct=-1', 'ct=011']) {
    throwsDecodeError(() => objectsFromLinks(parseLinkFormat(`</>;rt="oma.lwm2m";${ct},</3/0>`)), 'link.invalid');
  }
});

test.run();
