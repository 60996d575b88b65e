// The CoAP message format (RFC 7252 §3) both ways: what encodeMessage writes is read back the same
// by coap-packet (an outside parser) and by decodeCoapMessage, across the option delta and length
// forms (4-bit, 1-byte and 2-byte extended); format errors the RFC names are refused.
import { parse } from 'coap-packet';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeCoapMessage, encodeMessage, type CoapType } from '../../protocols/coap-message.ts';
import { CoapOption, encodeUint } from '../../protocols/coap-option.ts';
import { DecodeError } from '../../protocols/errors.ts';

test('a header of four bytes: version 1, type, token length, code, Message ID (§3)', () => {
  const [head] = encodeMessage({ type: 'ACK', code: '2.05', messageId: 0x1234, token: Buffer.from([0xaa, 0xbb]), options: [] });
  assert.equal([...head!], [0x40 | (2 << 4) | 2, (2 << 5) | 5, 0x12, 0x34, 0xaa, 0xbb]);
});

test('the payload is a second buffer after the marker 0xFF, not copied; none without one', () => {
  const payload = Buffer.from('block');
  const parts = encodeMessage({ type: 'NON', code: '2.05', messageId: 1, token: Buffer.alloc(0), options: [] }, payload);
  assert.is(parts.length, 2);
  assert.is(parts[1], payload);
  assert.is(parts[0]!.at(-1), 0xff);
  assert.is(encodeMessage({ type: 'NON', code: '2.05', messageId: 1, token: Buffer.alloc(0), options: [] }, Buffer.alloc(0)).length, 1);
});

const cases: Array<{ name: string; type: CoapType; code: string; options: Array<[number, Buffer]>; payload?: Buffer }> = [
  { name: 'deltas and lengths under 13', type: 'CON', code: '0.01', options: [[CoapOption.URI_PATH, Buffer.from('fw')], [CoapOption.URI_PATH, Buffer.from('7')]] },
  { name: 'a one-byte extended delta (Block2 23) and length (13..268)', type: 'ACK', code: '2.05', options: [[CoapOption.CONTENT_FORMAT, encodeUint(42)], [CoapOption.BLOCK2, encodeUint(0x1e)], [CoapOption.SIZE2, encodeUint(300_000)]], payload: Buffer.alloc(1024, 7) },
  { name: 'a two-byte extended delta (Echo 252 after Max-Age 14) and length (a 300-byte value)', type: 'ACK', code: '4.01', options: [[CoapOption.MAX_AGE, encodeUint(60)], [CoapOption.ECHO, Buffer.alloc(8, 1)], [1000, Buffer.alloc(300, 2)]] },
  { name: 'an empty option value (Size1 = 0 as a uint)', type: 'NON', code: '4.13', options: [[CoapOption.SIZE1, encodeUint(0)]] },
];

for (const c of cases) {
  test(`round trip: ${c.name}`, () => {
    const token = Buffer.from([1, 2, 3, 4]);
    const bytes = Buffer.concat(encodeMessage({ type: c.type, code: c.code, messageId: 4242, token, options: c.options }, c.payload));
    const ours = decodeCoapMessage(bytes);
    assert.is(ours.type, c.type);
    assert.is(ours.messageId, 4242);
    assert.ok(ours.token.equals(token));
    assert.equal(ours.options.map(([n, v]) => [n, [...v]]), c.options.map(([n, v]) => [n, [...v]]));
    assert.ok(ours.payload.equals(c.payload ?? Buffer.alloc(0)));
    const theirs = parse(bytes);
    assert.is(theirs.code, c.code);
    assert.is(theirs.messageId, 4242);
    assert.is(theirs.options.length, c.options.length);
    assert.ok(theirs.payload.equals(c.payload ?? Buffer.alloc(0)));
  });
}

test('refused: a token over 8 bytes, options out of order', () => {
  assert.throws(() => encodeMessage({ type: 'CON', code: '0.01', messageId: 1, token: Buffer.alloc(9), options: [] }), (e: unknown) => e instanceof RangeError);
  assert.throws(() => encodeMessage({ type: 'CON', code: '0.01', messageId: 1, token: Buffer.alloc(0), options: [[11, Buffer.alloc(0)], [3, Buffer.alloc(0)]] }), (e: unknown) => e instanceof RangeError);
});

test('decoding refuses what §3 forbids: version other than 1, token length 9–15, a payload marker with no payload', () => {
  const ok = Buffer.concat(encodeMessage({ type: 'CON', code: '0.01', messageId: 1, token: Buffer.alloc(0), options: [] }));
  assert.throws(() => decodeCoapMessage(Buffer.from([0x80, ...ok.subarray(1)])), (e: unknown) => e instanceof DecodeError);
  assert.throws(() => decodeCoapMessage(Buffer.from([0x49, 0x01, 0x00, 0x01, ...Buffer.alloc(9)])), (e: unknown) => e instanceof DecodeError);
  assert.throws(() => decodeCoapMessage(Buffer.from([...ok, 0xff])), (e: unknown) => e instanceof DecodeError);
});

test.run();
