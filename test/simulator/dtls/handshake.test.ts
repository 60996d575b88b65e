import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Clock } from '../../../simulator/clock.ts';
import { DtlsError } from '../../../simulator/dtls/errors.ts';
import { HandshakeType, Reader, Reassembler, handshakeMessage } from '../../../simulator/dtls/handshake.ts';
import { decodeRecords, encodeRecord } from '../../../simulator/dtls/record.ts';
import { DtlsSession } from '../../../simulator/dtls/session.ts';

/** A clock that moves only when told. */
class ManualClock implements Clock {
  t = 0;
  #timers = new Map<number, { at: number; fn: () => void }>();
  #next = 1;
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#next++;
    this.#timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.#timers.delete(h as number);
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = [...this.#timers].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (due === undefined) break;
      this.#timers.delete(due[0]);
      this.t = due[1].at;
      due[1].fn();
    }
    this.t = end;
  }
}

/** Splits a handshake message into fragments of `size` bytes (RFC 6347 §4.2.3). */
function fragments(type: number, seq: number, body: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < body.length; off += size) {
    const part = body.subarray(off, off + size);
    const h = Buffer.alloc(12);
    h.writeUInt8(type, 0);
    h.writeUIntBE(body.length, 1, 3);
    h.writeUInt16BE(seq, 4);
    h.writeUIntBE(off, 6, 3);
    h.writeUIntBE(part.length, 9, 3);
    out.push(Buffer.concat([h, part]));
  }
  return out;
}

test('RFC 6347 §4.2.3: fragments reassemble in any order, with repeats and overlaps, once', () => {
  const body = Buffer.from(Array.from({ length: 50 }, (_, i) => i));
  const frags = fragments(HandshakeType.serverHello, 1, body, 8);
  const order = [3, 0, 6, 3, 1, 5, 2, 0];
  const r = new Reassembler();
  const got: Buffer[] = [];
  for (const i of order) for (const m of r.push(frags[i] as Buffer)) got.push(m.body);
  assert.is(got.length, 0, 'fragment 4 still missing');
  for (const m of r.push(Buffer.concat([frags[4] as Buffer, handshakeMessage(HandshakeType.serverHelloDone, 2, Buffer.alloc(0))]))) got.push(m.body);
  assert.is(got.length, 2);
  assert.equal(got[0], body);
  assert.is(got[1]?.length, 0);
  assert.is(r.push(frags[2] as Buffer).length, 0, 'a completed message is not returned again');
});

test('the reader refuses to read past the end', () => {
  assert.throws(() => new Reader(Buffer.from([0, 5, 1])).vec(2), RangeError);
});

const opts = (clock: Clock) => ({ psk: Buffer.from('k'), identity: Buffer.from('id'), clock, initialTimeoutMs: 1000, maxRetransmits: 3 });

test('RFC 6347 §4.2.4: the ClientHello is resent with a doubling timeout, then the handshake times out', async () => {
  const clock = new ManualClock();
  const sent: { at: number; d: Buffer }[] = [];
  const s = new DtlsSession((d) => sent.push({ at: clock.t, d }), opts(clock));
  const ready = s.start().then(() => undefined, (e: unknown) => e);
  clock.advance(20_000);
  assert.equal(sent.map((x) => x.at), [0, 1000, 3000, 7000]);
  const seqs = sent.map((x) => decodeRecords(x.d, 0)[0]?.seq);
  assert.equal(seqs, [0, 1, 2, 3], 'each retransmission is a new record');
  const err = await ready;
  assert.instance(err, DtlsError);
  assert.is((err as DtlsError).kind, 'timeout');
});

test('RFC 6347 §4.2.1: a HelloVerifyRequest makes the ClientHello go again with the cookie, message_seq 1', () => {
  const clock = new ManualClock();
  const sent: Buffer[] = [];
  const s = new DtlsSession((d) => sent.push(d), { ...opts(clock), useCid: true });
  void s.start();
  const cookie = Buffer.from('c00k1e');
  const hvr = handshakeMessage(HandshakeType.helloVerifyRequest, 0, Buffer.concat([Buffer.from([0xfe, 0xff, cookie.length]), cookie]));
  s.receive(encodeRecord({ type: 22, version: 0xfeff, epoch: 0, seq: 0, fragment: hvr }));
  assert.is(sent.length, 2);
  const first = decodeRecords(sent[0] as Buffer, 0)[0]?.fragment as Buffer;
  const second = decodeRecords(sent[1] as Buffer, 0)[0]?.fragment as Buffer;
  assert.is(second.readUInt16BE(4), 1, 'message_seq');
  const r = new Reader(second.subarray(12));
  r.uint(2);
  assert.equal(r.bytes(32), first.subarray(14, 46), 'the same random');
  r.vec(1);
  assert.equal(r.vec(1), cookie);
  assert.equal(r.vec(2), Buffer.from([0xc0, 0xa8, 0xc0, 0xa4]));
  assert.equal(r.vec(1), Buffer.from([0]));
  const ext = new Reader(r.vec(2));
  const types: number[] = [];
  while (ext.left > 0) {
    types.push(ext.uint(2));
    ext.vec(2);
  }
  assert.equal(types, [23, 0xff01, 54]);
  s.close();
});

/** A ServerHello record (epoch 0, message_seq 0) choosing CCM_8 with these extensions. */
function serverHello(extensions: Array<[number, Buffer]>): Buffer {
  const ext = Buffer.concat(extensions.map(([type, data]) => {
    const h = Buffer.alloc(4);
    h.writeUInt16BE(type, 0);
    h.writeUInt16BE(data.length, 2);
    return Buffer.concat([h, data]);
  }));
  const len = Buffer.alloc(2);
  len.writeUInt16BE(ext.length);
  const body = Buffer.concat([Buffer.from([0xfe, 0xfd]), Buffer.alloc(32, 7), Buffer.from([0, 0xc0, 0xa8, 0]), len, ext]);
  return encodeRecord({ type: 22, version: 0xfefd, epoch: 0, seq: 0, fragment: handshakeMessage(HandshakeType.serverHello, 0, body) });
}

test('RFC 9146 §3: a connection_id the client did not offer fails the handshake; an offered one sets the CID for our records', async () => {
  const clock = new ManualClock();
  const plain = new DtlsSession(() => {}, opts(clock));
  const failed = plain.start().then(() => undefined, (e: unknown) => e);
  plain.receive(serverHello([[23, Buffer.alloc(0)], [54, Buffer.from([2, 0xaa, 0xbb])]]));
  const err = (await failed) as DtlsError;
  assert.instance(err, DtlsError);
  assert.match(err.message, /connection_id/);

  const offered = new DtlsSession(() => {}, { ...opts(clock), useCid: true });
  void offered.start();
  offered.receive(serverHello([[23, Buffer.alloc(0)], [54, Buffer.from([2, 0xaa, 0xbb])]]));
  assert.equal(offered.peerCid, Buffer.from([0xaa, 0xbb]));
  offered.close();

  // A connection_id whose length byte does not match its data is malformed.
  const bad = new DtlsSession(() => {}, { ...opts(clock), useCid: true });
  const badEnd = bad.start().then(() => undefined, (e: unknown) => e);
  bad.receive(serverHello([[23, Buffer.alloc(0)], [54, Buffer.from([5, 0xaa])]]));
  assert.instance(await badEnd, DtlsError);
});

test('a fatal alert during the handshake fails it, named', async () => {
  const clock = new ManualClock();
  const s = new DtlsSession(() => {}, opts(clock));
  const ready = s.start().then(() => undefined, (e: unknown) => e);
  s.receive(encodeRecord({ type: 21, version: 0xfefd, epoch: 0, seq: 0, fragment: Buffer.from([2, 115]) }));
  const err = (await ready) as DtlsError;
  assert.is(err.kind, 'alert');
  assert.is(err.alert, 115);
  assert.match(err.message, /unknown_psk_identity/);
});

test.run();
