// DTLS handshake framing (RFC 6347 §4.2.2): the 12-byte header written out by hand, several
// fragments in one record, every truncation, fragments past the message; a message cut to fit a
// record (§4.2.3) and the bytes it puts into the handshake hash (§4.2.6).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HANDSHAKE_HEADER_LENGTH, HandshakeType, decodeHandshakeFragments, encodeHandshake, encodeHandshakeHeader, fragmentHandshake, handshakeHashInput, type HandshakeMessage } from '../../protocols/dtls-handshake.ts';
import { hexLayout, returnsOrDecodeError, seededBytes, throwsDecodeError } from './_helpers.ts';

// Handshake (§4.2.2): msg_type, length uint24, message_seq, fragment_offset uint24, fragment_length uint24, body.
const FRAGMENT = hexLayout(`
  10          // msg_type client_key_exchange(16)
  00 00 08    // length 8: the whole body
  00 04       // message_seq 4
  00 00 03    // fragment_offset 3
  00 00 04    // fragment_length 4
  03 04 05 06 // body[3..7)`);

test('a handshake fragment header byte by byte (RFC 6347 §4.2.2), read and written', () => {
  const [f, ...more] = decodeHandshakeFragments(FRAGMENT);
  assert.is(more.length, 0);
  assert.equal({ ...f!, body: [...f!.body] }, {
    msgType: HandshakeType.client_key_exchange, length: 8, messageSeq: 4, fragmentOffset: 3, fragmentLength: 4, body: [3, 4, 5, 6],
  });
  assert.ok(Buffer.concat([encodeHandshakeHeader(f!), f!.body]).equals(FRAGMENT));
});

test('a whole message is one fragment: offset 0, fragment_length = length (ServerHelloDone, empty body)', () => {
  const done = encodeHandshake({ msgType: HandshakeType.server_hello_done, messageSeq: 3, body: Buffer.alloc(0) });
  assert.is(done.toString('hex'), hexLayout(`
    0e          // server_hello_done(14)
    00 00 00    // length 0
    00 03       // message_seq 3
    00 00 00    // fragment_offset 0
    00 00 00    // fragment_length 0`).toString('hex'));
  const [f] = decodeHandshakeFragments(done);
  assert.equal([f!.msgType, f!.length, f!.messageSeq, f!.fragmentLength, f!.body.length], [14, 0, 3, 0, 0]);
});

test('several handshake messages in one record (§4.2.3) come out in order', () => {
  const a = encodeHandshake({ msgType: HandshakeType.server_hello, messageSeq: 1, body: Buffer.alloc(40, 1) });
  const b = encodeHandshake({ msgType: HandshakeType.server_key_exchange, messageSeq: 2, body: Buffer.from([0, 2, 0x68, 0x69]) });
  const c = encodeHandshake({ msgType: HandshakeType.server_hello_done, messageSeq: 3, body: Buffer.alloc(0) });
  const frags = decodeHandshakeFragments(Buffer.concat([a, b, c]));
  assert.equal(frags.map((f) => [f.msgType, f.messageSeq, f.body.length]), [[2, 1, 40], [12, 2, 4], [14, 3, 0]]);
});

test('every truncation of a record of two fragments is a DecodeError; an empty record too', () => {
  const two = Buffer.concat([FRAGMENT, encodeHandshake({ msgType: HandshakeType.finished, messageSeq: 5, body: Buffer.alloc(12, 7) })]);
  throwsDecodeError(() => decodeHandshakeFragments(Buffer.alloc(0)), 'dtls.handshake.empty');
  for (let n = 1; n < two.length; n++) {
    if (n === FRAGMENT.length) {
      assert.is(decodeHandshakeFragments(two.subarray(0, n)).length, 1);
      continue;
    }
    throwsDecodeError(() => decodeHandshakeFragments(two.subarray(0, n)), 'dtls.handshake.truncated');
  }
});

test('a fragment reaching past its message length is refused, at any size the fields allow', () => {
  const past = Buffer.from(FRAGMENT);
  past.writeUIntBE(5, 6, 3); // fragment_offset 5 + 4 > 8
  throwsDecodeError(() => decodeHandshakeFragments(past), 'dtls.handshake.fragment-range');
  const huge = Buffer.from(FRAGMENT);
  huge.writeUIntBE(0xffffff, 6, 3);
  huge.writeUIntBE(0xffffff, 9, 3);
  throwsDecodeError(() => decodeHandshakeFragments(huge), 'dtls.handshake.fragment-range');
  // A message announced as 16 MiB long whose fragment is within it: framing is fine, the bytes are not there.
  const big = Buffer.from(FRAGMENT);
  big.writeUIntBE(0xffffff, 1, 3);
  big.writeUIntBE(0xfffff0, 9, 3);
  throwsDecodeError(() => decodeHandshakeFragments(big), 'dtls.handshake.truncated');
});

const MESSAGE: HandshakeMessage = { msgType: HandshakeType.client_hello, messageSeq: 1, body: Buffer.from(Array.from({ length: 100 }, (_, i) => i)) };

test('a message cut to fit records (§4.2.3): each fragment within the maximum, the pieces cover the body in order', () => {
  for (const max of [13, 20, 50, 111, 112, 113, 1000]) {
    const frags = fragmentHandshake(MESSAGE, max);
    assert.ok(frags.every((f) => f.length <= max), `max ${max}`);
    const parsed = frags.flatMap((f) => decodeHandshakeFragments(f));
    assert.is(parsed.length, Math.ceil(100 / (max - HANDSHAKE_HEADER_LENGTH)));
    let offset = 0;
    for (const p of parsed) {
      assert.equal([p.msgType, p.length, p.messageSeq, p.fragmentOffset], [1, 100, 1, offset]);
      offset += p.fragmentLength;
    }
    assert.ok(Buffer.concat(parsed.map((p) => p.body)).equals(MESSAGE.body));
  }
  assert.is(fragmentHandshake({ ...MESSAGE, body: Buffer.alloc(0) }, 13).length, 1);
  for (const max of [0, 12, 12.5]) assert.throws(() => fragmentHandshake(MESSAGE, max), (e: unknown) => e instanceof RangeError);
});

test('the handshake hash takes a message as if sent unfragmented (§4.2.6), whatever fragments it came in', () => {
  const expected = Buffer.concat([hexLayout(`
    01          // client_hello(1)
    00 00 64    // length 100
    00 01       // message_seq 1
    00 00 00    // fragment_offset 0
    00 00 64    // fragment_length 100`), MESSAGE.body]);
  assert.ok(handshakeHashInput(MESSAGE).equals(expected));
  // Sent in four fragments, the header each carried is not what is hashed.
  const frags = fragmentHandshake(MESSAGE, 40).flatMap((f) => decodeHandshakeFragments(f));
  assert.is(frags.length, 4);
  assert.ok(handshakeHashInput({ msgType: frags[0]!.msgType, messageSeq: frags[0]!.messageSeq, body: Buffer.concat(frags.map((f) => f.body)) }).equals(expected));
});

test('the header encoder refuses values its fields cannot hold', () => {
  const base = { msgType: 1, length: 10, messageSeq: 0, fragmentOffset: 0, fragmentLength: 10 };
  for (const bad of [{ msgType: 256 }, { length: 2 ** 24, fragmentLength: 0 }, { messageSeq: 0x10000 }, { fragmentOffset: 1 }, { fragmentLength: -1 }]) {
    assert.throws(() => encodeHandshakeHeader({ ...base, ...bad }), (e: unknown) => e instanceof RangeError);
  }
});

test('hostile bytes: random and mutated records give fragments or a DecodeError', () => {
  const random = seededBytes(0x4a5);
  const seed = Buffer.concat([FRAGMENT, encodeHandshake(MESSAGE)]);
  for (let i = 0; i < 5000; i++) {
    const b = i % 2 === 0 ? random(i % 40) : Buffer.from(seed);
    if (i % 2 === 1) b[i % b.length] = random(1)[0]!;
    returnsOrDecodeError(() => decodeHandshakeFragments(b));
  }
});

test.run();
