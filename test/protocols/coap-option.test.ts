import { generate, parse } from 'coap-packet';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CoapOption, decodeUint, encodeUint, isCritical, isNoCacheKey, isRepeatable, isUnsafe, optionName, optionNumber,
} from '../../protocols/coap-option.ts';
import { hex, seededBytes } from './_helpers.ts';

// No., C, U, N, R and Name as the RFCs' option tables give them ('x' marked, '-' not applicable).
const TABLES: Array<[number, string, string, string, string, string]> = [
  // RFC 7252 §5.10 Table 4
  [1, 'x', '', '', 'x', 'If-Match'],
  [3, 'x', 'x', '-', '', 'Uri-Host'],
  [4, '', '', '', 'x', 'ETag'],
  [5, 'x', '', '', '', 'If-None-Match'],
  [7, 'x', 'x', '-', '', 'Uri-Port'],
  [8, '', '', '', 'x', 'Location-Path'],
  [11, 'x', 'x', '-', 'x', 'Uri-Path'],
  [12, '', '', '', '', 'Content-Format'],
  [14, '', 'x', '-', '', 'Max-Age'],
  [15, 'x', 'x', '-', 'x', 'Uri-Query'],
  [17, 'x', '', '', '', 'Accept'],
  [20, '', '', '', 'x', 'Location-Query'],
  [35, 'x', 'x', '-', '', 'Proxy-Uri'],
  [39, 'x', 'x', '-', '', 'Proxy-Scheme'],
  [60, '', '', 'x', '', 'Size1'],
  // RFC 7641 §2
  [6, '', 'x', '-', '', 'Observe'],
  // RFC 7959 §2.1, §4
  [23, 'x', 'x', '-', '', 'Block2'],
  [27, 'x', 'x', '-', '', 'Block1'],
  [28, '', '', 'x', '', 'Size2'],
  // RFC 7967 §2
  [258, '', 'x', '-', '', 'No-Response'],
  // RFC 9175 §2.2.1, §3.2.1
  [252, '', '', 'x', '', 'Echo'],
  [292, '', '', '', 'x', 'Request-Tag'],
];

test('RFC 7252 §5.4.6: Critical, UnSafe and NoCacheKey follow from the number, as the option tables mark them', () => {
  for (const [number, c, u, n, r, name] of TABLES) {
    assert.is(isCritical(number), c === 'x', `${name} (${number}) critical`);
    assert.is(isUnsafe(number), u === 'x', `${name} (${number}) unsafe`);
    // '-': NoCacheKey means nothing for an unsafe option; its bits are not 1110 there either.
    assert.is(isNoCacheKey(number), n === 'x', `${name} (${number}) NoCacheKey`);
    assert.is(isRepeatable(number), r === 'x', `${name} (${number}) repeatable`);
    assert.is(optionName(number), name);
    assert.is(optionNumber(name), number);
  }
});

test('RFC 7252 §5.4.6 Figure 11: the bit layout (NoCacheKey = bits 1–4 are 1110, UnSafe = bit 1, Critical = bit 0)', () => {
  // §5.4.6: "Critical = (onum & 1); UnSafe = (onum & 2); NoCacheKey = ((onum & 0x1e) == 0x1c)".
  for (let onum = 0; onum < 0x10000; onum++) {
    assert.is(isCritical(onum), (onum & 1) !== 0);
    assert.is(isUnsafe(onum), (onum & 2) !== 0);
    assert.is(isNoCacheKey(onum), (onum & 0x1e) === 0x1c);
  }
  // The same bits in every block of 32 numbers: Size2 (28) and Size1 (60), 32 apart, are both NoCacheKey; Echo (252) too.
  assert.ok(isNoCacheKey(0x1c) && isNoCacheKey(0x3c) && isNoCacheKey(0xfc));
  assert.ok(isNoCacheKey(0x1d), 'the Critical bit is not among the four');
  assert.ok(!isNoCacheKey(0x1e) && !isNoCacheKey(0x0c) && !isNoCacheKey(0x18));
  // Uri-Host: critical and unsafe; If-Match: critical only; Max-Age: unsafe only; ETag: neither.
  assert.equal([isCritical(3), isUnsafe(3)], [true, true]);
  assert.equal([isCritical(1), isUnsafe(1)], [true, false]);
  assert.equal([isCritical(14), isUnsafe(14)], [false, true]);
  assert.equal([isCritical(4), isUnsafe(4)], [false, false]);
});

test('CoapOption: every number its table row, every key the name in capitals', () => {
  const rows = new Map(TABLES.map(([number, , , , , name]) => [number, name]));
  assert.is(Object.keys(CoapOption).length, TABLES.length);
  for (const [key, number] of Object.entries(CoapOption)) {
    const name = rows.get(number);
    assert.ok(name !== undefined, `${key} = ${number} is in no table`);
    assert.is(key, name!.toUpperCase().replaceAll('-', '_'));
  }
});

test('optionNumber: registered names, decimal numbers, nothing else', () => {
  assert.is(optionNumber('OSCORE'), 9);
  assert.is(optionNumber('Hop-Limit'), 16);
  assert.is(optionNumber('Q-Block1'), 19);
  assert.is(optionNumber('Q-Block2'), 31);
  assert.is(optionNumber('2050'), 2050);
  assert.is(optionNumber('70000'), 70000);
  assert.is(optionNumber('uri-path'), undefined, 'names are as registered, case and all');
  assert.is(optionNumber(''), undefined);
  assert.is(optionNumber('12abc'), undefined);
  assert.is(optionNumber('constructor'), undefined);
  assert.is(isRepeatable(9), undefined, 'only named');
  assert.is(isRepeatable(2050), undefined);
  assert.is(optionName(2050), undefined);
});

test('the names another CoAP parser (coap-packet) gives are read back to the number it parsed', () => {
  for (const number of [...Array.from({ length: 2100 }, (_, i) => i + 1), 2560, 65000]) {
    const parsed = parse(generate({ options: [{ name: String(number), value: Buffer.alloc(0) }] }));
    const name = parsed.options[0]!.name;
    assert.is(optionNumber(String(name)), number, `coap-packet's "${name}"`);
    if (name !== String(number)) assert.is(optionName(number), name);
  }
});

// RFC 7252 §3.2: "A sender SHOULD represent the integer with as few bytes as possible, i.e., without
// leading zero bytes. For example, the number 0 is represented with an empty option value".
const UINTS: Array<[number, string]> = [
  [0, ''], [1, '01'], [42, '2a'], [60, '3c'], [255, 'ff'], [256, '0100'], [5683, '1633'], [11542, '2d16'],
  [65535, 'ffff'], [65536, '010000'], [0xffffff, 'ffffff'], [0x1000000, '01000000'], [0xffffffff, 'ffffffff'],
  [0x100000000, '0100000000'], [Number.MAX_SAFE_INTEGER, '1fffffffffffff'],
];

test('RFC 7252 §3.2 uint: encoded in the fewest bytes, 0 as the empty value', () => {
  for (const [value, bytes] of UINTS) {
    assert.equal(encodeUint(value), hex(bytes), `${value}`);
    assert.is(decodeUint(hex(bytes), 7), value);
  }
});

test('RFC 7252 §3.2 uint read: leading zeros accepted, 0–4 bytes unless told, longer refused', () => {
  assert.is(decodeUint(hex('')), 0);
  assert.is(decodeUint(hex('00')), 0);
  assert.is(decodeUint(hex('00 00 00 00')), 0);
  assert.is(decodeUint(hex('00 2a')), 42);
  assert.is(decodeUint(hex('00 00 00 2a')), 42);
  assert.is(decodeUint(hex('ff ff ff ff')), 0xffffffff);
  assert.is(decodeUint(hex('00 00 00 00 2a')), undefined, 'five bytes: outside every uint option of Table 4');
  assert.is(decodeUint(hex('01 00 00 00 00')), undefined);
  assert.is(decodeUint(hex('00 00 00 00 2a'), 6), 42);
  assert.is(decodeUint(hex('ff ff ff ff ff ff'), 6), 2 ** 48 - 1);
  assert.is(decodeUint(hex('ff ff ff ff ff ff ff'), 6), undefined);
  assert.is(decodeUint(hex('2a'), 0), undefined);
  assert.is(decodeUint(new Uint8Array([1, 0])), 256, 'any byte array');
});

test('uint encode: RangeError for what is not a whole number from 0 to 2^53 - 1', () => {
  for (const v of [-1, 0.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, -0.0001]) {
    assert.throws(() => encodeUint(v), RangeError, `${v}`);
  }
});

test('uint: every value comes back, in the fewest bytes (seeded)', () => {
  const bytes = seededBytes(7252);
  for (let i = 0; i < 5000; i++) {
    const b = bytes(1 + (i % 7));
    const value = Number(BigInt(`0x${b.toString('hex')}`) % BigInt(Number.MAX_SAFE_INTEGER));
    const encoded = encodeUint(value);
    assert.ok(encoded.length === 0 || encoded[0] !== 0, `${value}: no leading zero`);
    assert.is(decodeUint(encoded, 7), value);
    assert.is(decodeUint(Buffer.concat([Buffer.alloc(1), encoded]), 8), value, 'a leading zero changes nothing');
  }
});

test.run();
