import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { attributesFromLink, formatAttributesQuery, parseAttributesQuery } from '../../protocols/attributes.ts';
import { parseLinkFormat } from '../../protocols/link-format.ts';
import { throwsDecodeError } from './_helpers.ts';

// LwM2M 1.2 Transport, Device Management & Service Enablement Interface: the Write-Attributes
// examples 1–5 (the same as LwM2M 1.0 TS §8.2.5), as Uri-Query options.
test('Transport Write-Attributes examples: /3/0/9?pmin=1, ?pmin (unset), /3/0?pmin=10, ?gt=45&st=10, ?lt=20&gt=85&st=10', () => {
  assert.equal(parseAttributesQuery(['pmin=1']), { pmin: 1 });
  assert.equal(parseAttributesQuery(['pmin']), { pmin: null });
  assert.equal(parseAttributesQuery(['pmin=10']), { pmin: 10 });
  assert.equal(parseAttributesQuery(['gt=45', 'st=10']), { gt: 45, st: 10 });
  assert.equal(parseAttributesQuery(['lt=20', 'gt=85', 'st=10']), { lt: 20, gt: 85, st: 10 });
  assert.equal(formatAttributesQuery({ pmin: 1 }), ['pmin=1']);
  assert.equal(formatAttributesQuery({ pmin: null }), ['pmin']);
  assert.equal(formatAttributesQuery({ st: 10, gt: 85, lt: 20 }), ['gt=85', 'lt=20', 'st=10']);
});

test('all notification attributes, both ways; decimals stay decimal', () => {
  const q = ['pmin=10', 'pmax=60', 'gt=50', 'lt=42.2', 'st=0.5', 'epmin=1', 'epmax=300'];
  const a = parseAttributesQuery(q);
  assert.equal(a, { pmin: 10, pmax: 60, gt: 50, lt: 42.2, st: 0.5, epmin: 1, epmax: 300 });
  assert.equal(formatAttributesQuery(a), q);
  assert.equal(parseAttributesQuery(['lt=-20.5', 'gt=-0']), { lt: -20.5, gt: 0 });
  assert.equal(formatAttributesQuery({ gt: 1.5e-7, lt: -1e19 }), ['gt=0.00000015', 'lt=-10000000000000000000']);
  assert.throws(() => formatAttributesQuery({ gt: 1e21 }), RangeError);
  assert.equal(formatAttributesQuery({}), []);
  assert.equal(parseAttributesQuery([]), {});
});

// LwM2M 1.0 TS §5.1.2 Table 4 rules ("lt" < "gt", "lt" + 2*"st" < "gt"); pmin <= pmax; epmin <= epmax.
test('rules and value syntax: violations are DecodeError attributes.invalid', () => {
  const bad = [
    ['lt=50', 'gt=50'],
    ['lt=60', 'gt=50'],
    ['lt=20', 'gt=40', 'st=10'],
    ['pmin=61', 'pmax=60'],
    ['epmin=10', 'epmax=5'],
    ['pmin=-1'],
    ['pmin=1.5'],
    ['pmin=01'],
    ['pmin='],
    ['pmax=4294967296'],
    ['st=-1'],
    ['gt=1e3'],
    ['gt=.5'],
    ['gt=5.'],
    ['gt=abc'],
    ['pmin=1', 'pmin=2'],
    ['pmin', 'pmin=2'],
    // Found by fuzzing: 20 nines read back as 1e20, which has 21 digits and could not be written again.
    ['gt=99999999999999999999'],
  ];
  for (const q of bad) throwsDecodeError(() => parseAttributesQuery(q), 'attributes.invalid');
  // A rule only applies between attributes that are set in the same request.
  assert.equal(parseAttributesQuery(['lt=60', 'gt']), { lt: 60, gt: null });
  throwsDecodeError(() => parseAttributesQuery(Array.from({ length: 33 }, () => 'pmin=1')), 'attributes.invalid');
  // What is taken can be written again.
  for (const q of [['gt=9999999999999999'], ['lt=-12345678901234567.5'], ['st=0.00000000000000000001']]) {
    assert.equal(parseAttributesQuery(formatAttributesQuery(parseAttributesQuery(q))), parseAttributesQuery(q));
  }
});

test('names other than the writable notification attributes: attributes.unknown', () => {
  for (const q of [['ver=1.1'], ['dim=2'], ['edge=1'], ['foo=1'], [''], ['=5'], ['PMIN=1']]) {
    throwsDecodeError(() => parseAttributesQuery(q), 'attributes.unknown');
  }
});

test('formatAttributesQuery: our own bad attributes are RangeErrors', () => {
  assert.throws(() => formatAttributesQuery({ pmin: 1.5 }), RangeError);
  assert.throws(() => formatAttributesQuery({ pmin: -1 }), RangeError);
  assert.throws(() => formatAttributesQuery({ lt: 5, gt: 1 }), RangeError);
  assert.throws(() => formatAttributesQuery({ gt: Number.NaN }), RangeError);
  assert.throws(() => formatAttributesQuery({ st: -0.1 }), RangeError);
});

// LwM2M 1.0 TS §5.4.2 (1.1 Core, Discover): the answers of the examples, through the link-format parser.
test('TS Discover examples: </3/0>;pmax=60, …, </3/0/7>;dim=8;gt=50;lt=42.2 and the per-server answers', () => {
  const links = parseLinkFormat('</3/0>;pmax=60, </3/0/1>, </3/0/2>, </3/0/3>, </3/0/4>, </3/0/6>;dim=8,</3/0/7>;dim=8;gt=50;lt=42.2,</3/0/8>;dim=8,</3/0/11>,</3/0/16>');
  assert.equal(links.map((l) => [l.uri, attributesFromLink(l)]), [
    ['/3/0', { pmax: 60 }],
    ['/3/0/1', {}],
    ['/3/0/2', {}],
    ['/3/0/3', {}],
    ['/3/0/4', {}],
    ['/3/0/6', { dim: 8 }],
    ['/3/0/7', { gt: 50, lt: 42.2, dim: 8 }],
    ['/3/0/8', { dim: 8 }],
    ['/3/0/11', {}],
    ['/3/0/16', {}],
  ]);
  const [inherited] = parseLinkFormat('</3/0/7>;dim=8;pmin=10;pmax=60;gt=50;lt=42.2');
  assert.equal(attributesFromLink(inherited!), { pmin: 10, pmax: 60, gt: 50, lt: 42.2, dim: 8 });
  const [server2] = parseLinkFormat('</3/0/7>;dim=8;pmax=300;gt=80;lt=75.5');
  assert.equal(attributesFromLink(server2!), { pmax: 300, gt: 80, lt: 75.5, dim: 8 });
  const [object] = parseLinkFormat('</3>;pmin=10');
  assert.equal(attributesFromLink(object!), { pmin: 10 });
});

test('Discover properties: ver, rt, ct (one or several); bad ones are attributes.invalid', () => {
  const [a, b, c] = parseLinkFormat('</5>;ver=1.1,</>;rt="oma.lwm2m";ct="60 110 112 11542",</3442/0>;ct=11544;if=x;obs');
  assert.equal(attributesFromLink(a!), { ver: '1.1' });
  assert.equal(attributesFromLink(b!), { rt: 'oma.lwm2m', ct: [60, 110, 112, 11542] });
  assert.equal(attributesFromLink(c!), { ct: [11544] });
  for (const text of ['</5>;ver=1', '</5>;ver', '</3/0/7>;dim=x', '</3/0/7>;dim=70000', '</>;ct="60 x"', '</>;ct=70000', '</>;ct', '</>;rt', '</3/0/7>;gt=1;lt=2', '</3/0/7>;pmin=x']) {
    const [link] = parseLinkFormat(text);
    throwsDecodeError(() => attributesFromLink(link!), 'attributes.invalid');
  }
});

test.run();
