// Reassembly of one handshake message (RFC 6347 §4.2.3): fragments in any order, overlapping,
// repeated; complete when every byte is covered; headers that disagree, bytes that change and
// messages over the cap refused, and a refused fragment changes nothing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeHandshakeFragments, encodeHandshake, fragmentHandshake, handshakeHashInput, type HandshakeFragment, type HandshakeMessage } from '../../protocols/dtls-handshake.ts';
import { HandshakeReassembly, MAX_REASSEMBLED_LENGTH } from '../../protocols/dtls-reassembly.ts';
import { DecodeError } from '../../protocols/errors.ts';
import { seededBytes, throwsDecodeError } from './_helpers.ts';

const BODY = seededBytes(0x7e)(200);
const MESSAGE: HandshakeMessage = { msgType: 1, messageSeq: 2, body: BODY };

/** A fragment of MESSAGE: body[offset, offset + n). */
const piece = (offset: number, n: number, over: Partial<HandshakeFragment> = {}): HandshakeFragment => ({
  msgType: 1, length: BODY.length, messageSeq: 2, fragmentOffset: offset, fragmentLength: n, body: BODY.subarray(offset, offset + n), ...over,
});

function assemble(frags: HandshakeFragment[]): { r: HandshakeReassembly; completeAt: number } {
  const r = new HandshakeReassembly(frags[0]!);
  let completeAt = r.complete ? 0 : -1;
  frags.slice(1).forEach((f, i) => { if (r.add(f) && completeAt < 0) completeAt = i + 1; });
  return { r, completeAt };
}

test('in order: complete with the last fragment, the body as sent', () => {
  const frags = fragmentHandshake(MESSAGE, 62).flatMap((f) => decodeHandshakeFragments(f));
  assert.is(frags.length, 4);
  const { r, completeAt } = assemble(frags);
  assert.is(completeAt, 3);
  assert.ok(r.message().body.equals(BODY));
  assert.equal([r.message().msgType, r.message().messageSeq], [1, 2]);
});

test('out of order: last first, middle, first; complete only when every byte is covered', () => {
  const { r, completeAt } = assemble([piece(150, 50), piece(50, 100), piece(0, 50)]);
  assert.is(completeAt, 2);
  assert.ok(r.message().body.equals(BODY));
  // A gap of one byte keeps it incomplete.
  const gap = assemble([piece(0, 99), piece(100, 100)]).r;
  assert.not.ok(gap.complete);
  assert.throws(() => gap.message(), /misses 1 of 200/);
  assert.ok(gap.add(piece(99, 1)));
});

test('overlaps and repeats are taken in when they agree; the hash input is the unfragmented message', () => {
  const { r, completeAt } = assemble([piece(0, 120), piece(0, 120), piece(60, 100), piece(100, 100), piece(150, 50)]);
  assert.is(completeAt, 3);
  assert.ok(r.message().body.equals(BODY));
  assert.ok(handshakeHashInput(r.message()).equals(encodeHandshake(MESSAGE)));
  // A retransmission after completion is harmless.
  assert.ok(r.add(piece(10, 10)));
});

test('a zero-length message (ServerHelloDone) is complete with its one fragment', () => {
  const r = new HandshakeReassembly({ msgType: 14, length: 0, messageSeq: 3, fragmentOffset: 0, fragmentLength: 0, body: Buffer.alloc(0) });
  assert.ok(r.complete);
  assert.is(r.message().body.length, 0);
});

test('a fragment whose msg_type, length or message_seq differ from the first is refused and changes nothing', () => {
  const r = new HandshakeReassembly(piece(0, 100));
  throwsDecodeError(() => r.add(piece(100, 100, { msgType: 2 })), 'dtls.reassembly.header');
  throwsDecodeError(() => r.add({ ...piece(100, 100), length: 201 }), 'dtls.reassembly.header');
  throwsDecodeError(() => r.add(piece(100, 100, { messageSeq: 3 })), 'dtls.reassembly.header');
  assert.not.ok(r.complete);
  assert.ok(r.add(piece(100, 100)));
  assert.ok(r.message().body.equals(BODY));
});

test('a fragment that changes a byte already received is refused whole: none of its bytes are taken', () => {
  const r = new HandshakeReassembly(piece(50, 50));
  const changed = Buffer.from(BODY.subarray(0, 100));
  changed[99] = changed[99]! ^ 0xff; // the overlap's last byte differs; bytes 0..49 are new
  throwsDecodeError(() => r.add({ ...piece(0, 100), body: changed }), 'dtls.reassembly.inconsistent');
  r.add(piece(100, 100));
  assert.not.ok(r.complete, 'bytes 0..49 of the refused fragment were kept');
  assert.ok(r.add(piece(0, 50)));
  assert.ok(r.message().body.equals(BODY));
});

test('a fragment that does not fit its own header is refused (for callers that build fragments themselves)', () => {
  const r = new HandshakeReassembly(piece(0, 10));
  throwsDecodeError(() => r.add({ ...piece(190, 10), fragmentOffset: 195 }), 'dtls.reassembly.fragment-range');
  throwsDecodeError(() => r.add({ ...piece(190, 10), fragmentLength: 9 }), 'dtls.reassembly.fragment-range');
  throwsDecodeError(() => new HandshakeReassembly({ ...piece(0, 10), length: 5 }), 'dtls.reassembly.fragment-range');
});

test('over the cap: refused from the first fragment\'s header, before a buffer of that size is made', () => {
  const header = { msgType: 1, length: MAX_REASSEMBLED_LENGTH + 1, messageSeq: 0, fragmentOffset: 0, fragmentLength: 4, body: Buffer.alloc(4) };
  throwsDecodeError(() => new HandshakeReassembly(header), 'dtls.reassembly.too-long');
  throwsDecodeError(() => new HandshakeReassembly({ ...header, length: 2 ** 24 - 1 }), 'dtls.reassembly.too-long');
  throwsDecodeError(() => new HandshakeReassembly({ ...header, length: 101 }, 100), 'dtls.reassembly.too-long');
  assert.not.ok(new HandshakeReassembly({ ...header, length: MAX_REASSEMBLED_LENGTH }).complete);
  assert.ok(new HandshakeReassembly({ ...header, length: 100, fragmentLength: 100, body: Buffer.alloc(100) }, 100).complete);
});

test('random fragments of one message, in random order with repeats: complete exactly when covered, body intact', () => {
  const random = seededBytes(0x5a3);
  for (let round = 0; round < 300; round++) {
    const covered = new Uint8Array(BODY.length);
    const first = piece(random(1)[0]! % 200, 1);
    const r = new HandshakeReassembly(first);
    covered[first.fragmentOffset] = 1;
    for (let i = 0; i < 400 && !r.complete; i++) {
      const [a, b] = [random(1)[0]! % 200, random(1)[0]! % 40];
      const n = Math.min(b, 200 - a);
      try {
        r.add(piece(a, n));
      } catch (e) {
        assert.unreachable(`agreeing fragment refused: ${e instanceof DecodeError ? e.code : String(e)}`);
      }
      covered.fill(1, a, a + n);
      assert.is(r.complete, covered.every((c) => c === 1));
    }
    if (!r.complete) r.add(piece(0, 200));
    assert.ok(r.message().body.equals(BODY));
  }
});

test.run();
