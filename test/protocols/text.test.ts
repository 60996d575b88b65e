import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeTextInteger, decodeTextString, encodeText } from '../../protocols/text.ts';
import { hex, throwsDecodeError } from './_helpers.ts';

// LwM2M TS, Plain Text format example: Read /3/0/0 → 2.05 Content, payload "Open Mobile Alliance".
test('Plain Text example: GET /3/0/0 → "Open Mobile Alliance"', () => {
  const payload = hex('4F 70 65 6E 20 4D 6F 62 69 6C 65 20 41 6C 6C 69 61 6E 63 65');
  assert.is(decodeTextString(payload), 'Open Mobile Alliance');
  assert.equal(encodeText('Open Mobile Alliance'), payload);
});

// The Device example values of the TLV examples, in plain text: Battery Level 100, Current Time.
test('integers: decimal with optional "-"', () => {
  assert.is(decodeTextInteger(Buffer.from('100')), 100);
  assert.is(decodeTextInteger(Buffer.from('1367491215')), 1367491215);
  assert.is(decodeTextInteger(Buffer.from('0')), 0);
  assert.is(decodeTextInteger(Buffer.from('-5')), -5);
  assert.ok(Object.is(decodeTextInteger(Buffer.from('-0')), 0));
  assert.is(decodeTextInteger(Buffer.from('9007199254740991')), Number.MAX_SAFE_INTEGER);
  assert.is(decodeTextInteger(Buffer.from('-9007199254740991')), -Number.MAX_SAFE_INTEGER);
});

test('integers: anything else → DecodeError text.integer', () => {
  for (const text of ['', '-', '+5', ' 5', '5 ', '1.0', '1e3', '0x10', 'abc', '5\n', '١٢', '9007199254740992', '-'.padEnd(22, '9')]) {
    throwsDecodeError(() => decodeTextInteger(Buffer.from(text)), 'text.integer');
  }
  throwsDecodeError(() => decodeTextInteger(Buffer.alloc(10_000, 0x31)), 'text.integer');
  throwsDecodeError(() => decodeTextInteger(hex('FF')), 'text.integer');
});

test('strings: strict UTF-8 (overlong, surrogate, truncated, past U+10FFFF) → DecodeError text.utf8', () => {
  assert.is(decodeTextString(hex('E2 82 AC')), '€');
  assert.is(decodeTextString(Buffer.alloc(0)), '');
  for (const bad of ['C0 AF', 'E0 80 AF', 'ED A0 80', 'E2 82', 'F4 90 80 80', 'FF', '80', 'C3']) {
    throwsDecodeError(() => decodeTextString(hex(bad)), 'text.utf8');
  }
  assert.is(decodeTextString(hex('41 C3 A9')), 'Aé'); // the decoder is fine after an error
});

test('encodeText: booleans as "1"/"0", numbers in decimal', () => {
  assert.equal(encodeText(true), Buffer.from('1'));
  assert.equal(encodeText(false), Buffer.from('0'));
  assert.equal(encodeText(86400), Buffer.from('86400'));
  assert.equal(encodeText(-3), Buffer.from('-3'));
  assert.equal(encodeText(22.5), Buffer.from('22.5'));
  assert.equal(encodeText('coap://example.org/fw/1'), Buffer.from('coap://example.org/fw/1'));
  assert.throws(() => encodeText(Number.NaN), RangeError);
  assert.throws(() => encodeText(Number.POSITIVE_INFINITY), RangeError);
  assert.throws(() => encodeText('\uD800'), RangeError);
});

test.run();
