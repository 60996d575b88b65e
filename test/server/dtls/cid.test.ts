// Connection ID (RFC 9146) on the DTLS server, against the simulator's DTLS client (an independent
// peer): the CID negotiated, CoAP both ways in tls12_cid records, the client moving to a new UDP
// port in the same session (one 'rebind' event, no new handshake), a replayed or reordered old
// record from the old address not moving it back, what is sent to the old address forwarded to the new one, unknown CIDs dropped, the CID map emptied with
// its sessions, and a client that offers no CID served as before.
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { generate, parse, type ParsedPacket } from 'coap-packet';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { splitRecords, type DtlsRecord } from '../../../protocols/dtls-record.ts';
import { CID_LENGTH, type RebindEvent } from '../../../server/dtls/socket.ts';
import type { Peer } from '../../../simulator/coap/outbox.ts';
import { bindUdp, type DatagramTransport } from '../../../simulator/coap/transport.ts';
import { DtlsError } from '../../../simulator/dtls/errors.ts';
import { DtlsSession } from '../../../simulator/dtls/session.ts';
import { DtlsTransport } from '../../../simulator/dtls/transport.ts';
import { startServer, type TestServer } from './helpers.ts';

const HELLO = Buffer.from('hello over a CID');
let s: TestServer;
const rebinds: RebindEvent[] = [];
const toClose: Array<() => Promise<void>> = [];

test.before(async () => {
  s = await startServer({ '/hello': HELLO });
  s.dtls.on('rebind', (e: RebindEvent) => rebinds.push(e));
});
test.after(async () => {
  for (const c of toClose.reverse()) await c();
  await s.close();
});

/** Resolves when `cond` holds (polled), rejects after `ms`: a bound on a wait, not a timing check. */
async function until(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what} did not happen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * A UDP socket on 127.0.0.1 that records what goes through it, can hold back outgoing datagrams
 * instead of sending them, and stays open when its user closes it (the test closes it at the end),
 * so a test can later send from its address.
 */
interface Tap extends DatagramTransport {
  sent: Buffer[];
  received: Buffer[];
  held: Buffer[];
  hold: boolean;
  /** Incoming datagrams for which this says true are lost (once each). */
  loseIn?: (datagram: Buffer) => boolean;
  /** Sends bytes from this socket's address, bypassing its user. */
  inject(datagram: Buffer, to: Peer): void;
}

async function tap(): Promise<Tap> {
  const inner = await bindUdp('127.0.0.1');
  const handlers: Array<Parameters<DatagramTransport['onMessage']>[0]> = [];
  inner.onMessage((buf, peer) => {
    if (t.loseIn?.(buf) === true) return;
    t.received.push(buf);
    for (const h of handlers) h(buf, peer);
  });
  const t: Tap = {
    sent: [], received: [], held: [], hold: false,
    send(buf, peer, done) {
      if (t.hold) {
        t.held.push(buf);
        done?.();
        return;
      }
      t.sent.push(buf);
      inner.send(buf, peer, done);
    },
    // Every handler given gets every datagram (two sessions may share the socket), unlike the
    // simulator's own transport, which keeps one.
    onMessage(handler) {
      handlers.push(handler);
    },
    address: () => inner.address(),
    close: async () => {},
    inject: (datagram, to) => inner.send(datagram, to),
  };
  toClose.push(() => inner.close());
  return t;
}

const server = (): Peer => ({ address: '127.0.0.1', port: s.port });

interface ClientExtra {
  useCid?: boolean;
  ownCid?: Buffer;
  identity?: string;
  to?: Peer;
  loseIn?: Tap['loseIn'];
  onClosed?: () => void;
}

async function client(extra: ClientExtra = {}): Promise<{ t: DtlsTransport; socket: Tap }> {
  const socket = await tap();
  const { identity = 'id1', to = server(), loseIn, ...rest } = extra;
  if (loseIn) socket.loseIn = loseIn;
  const t = new DtlsTransport(socket, {
    server: to, psk: Buffer.from(identity === 'id1' ? 'secret1' : 'secret2'), identity: Buffer.from(identity),
    initialTimeoutMs: 250, maxRetransmits: 4, ...rest,
  });
  toClose.push(() => t.close());
  await within(t.ready, 'the handshake');
  return { t, socket };
}

let mid = 0x100;
/** A confirmable GET sent over the transport; resolves with the answer carrying its token. */
function getRequest(path: string): { datagram: Buffer; token: Buffer } {
  const token = randomBytes(4);
  return { datagram: generate({ messageId: mid++, token, code: 'GET', confirmable: true, options: [{ name: 'Uri-Path', value: Buffer.from(path) }] }), token };
}

function answerTo(t: DtlsTransport, token: Buffer): Promise<ParsedPacket> {
  return new Promise((resolve) => t.onMessage((buf) => {
    const p = parse(buf);
    if (p.token.equals(token)) resolve(p);
  }));
}

/** Rejects if `p` does not settle within `ms`: a bound on a wait, not a timing check. */
async function within<T>(p: Promise<T>, what: string, ms = 3000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not come within ${ms} ms`)), ms)));
  try {
    return await Promise.race([p, limit]);
  } finally {
    clearTimeout(timer);
  }
}

async function get(t: DtlsTransport, path: string): Promise<ParsedPacket> {
  const { datagram, token } = getRequest(path);
  const answer = answerTo(t, token);
  t.send(datagram, server());
  return within(answer, `the answer to GET /${path}`);
}

/** The epoch-1 records of these datagrams, split with the receiver's CID length. */
function protectedRecords(datagrams: Buffer[], cidLength: number): DtlsRecord[] {
  return datagrams.flatMap((d) => splitRecords(d, cidLength).records).filter((r) => r.epoch === 1);
}

const peerOf = (socket: Tap): { address: string; port: number } => ({ address: '127.0.0.1', port: socket.address().port });

test('a client offering connection_id gets a fresh CID; its protected records are tls12_cid records with it', async () => {
  const cids = s.dtls.connectionIds;
  const { t, socket } = await client({ useCid: true });
  const cid = t.session.peerCid;
  assert.ok(cid, 'the ServerHello carried no connection_id');
  assert.is(cid.length, CID_LENGTH);
  assert.is(s.dtls.connectionIds, cids + 1);
  const res = await get(t, 'hello');
  assert.is(res.code, '2.05');
  assert.equal(res.payload, HELLO);
  assert.equal(s.requests.at(-1), { url: '/hello', identity: 'id1' });
  // Its Finished and its GET went as tls12_cid records (RFC 9146 §3) with the server's CID.
  const sent = protectedRecords(socket.sent, CID_LENGTH);
  assert.ok(sent.length >= 2, 'its Finished and its GET');
  for (const r of sent) {
    assert.is(r.type, 25);
    assert.equal(r.cid, cid);
  }
  // It asked for no CID of its own (zero-length): the server's records to it are plain.
  const received = protectedRecords(socket.received, 0);
  assert.ok(received.length >= 2, 'the server\'s Finished and its answer');
  assert.ok(received.every((r) => r.type !== 25 && r.cid === undefined));
  // Another client gets another CID.
  const other = await client({ useCid: true, identity: 'id2' });
  assert.not.equal(other.t.session.peerCid, cid);
});

test('a client with a CID of its own gets the server\'s records as tls12_cid records carrying it', async () => {
  const ownCid = Buffer.from('c1d2e3', 'hex');
  const { t, socket } = await client({ useCid: true, ownCid });
  const res = await get(t, 'hello');
  assert.equal(res.payload, HELLO);
  const fromServer = protectedRecords(socket.received, ownCid.length);
  assert.ok(fromServer.length >= 2, 'the server\'s Finished and its answer');
  for (const r of fromServer) {
    assert.is(r.type, 25);
    assert.equal(r.cid, ownCid);
  }
});

test('the client moves to a new port in the same session: the exchange goes on, one rebind, replays do not move it back, sends to the old address reach the new one', async () => {
  const { t, socket: before } = await client({ useCid: true });
  const completed = s.dtls.stats.handshakesCompleted;
  const seen = rebinds.length;
  assert.is((await get(t, 'hello')).code, '2.05');
  // Captured before the move: a record that arrived (to replay), and one held back (reordered, never seen).
  const delivered = before.sent.at(-1)!;
  before.hold = true;
  const late = getRequest('hello');
  t.send(late.datagram, server());
  assert.is(before.held.length, 1);
  const reordered = before.held[0]!;

  const after = await tap();
  await t.rebind(after);
  const res = await get(t, 'hello');
  assert.equal(res.payload, HELLO);
  assert.is(s.dtls.stats.handshakesCompleted, completed, 'no new handshake');
  assert.is(rebinds.length, seen + 1);
  const e = rebinds.at(-1)!;
  assert.equal(e.from, peerOf(before));
  assert.equal(e.to, peerOf(after));
  assert.equal(e.identity, Buffer.from('id1'));
  assert.is(s.dtls.identityOf('127.0.0.1', peerOf(after).port)?.toString(), 'id1');
  assert.is(s.dtls.identityOf('127.0.0.1', peerOf(before).port), undefined);
  assert.equal(s.requests.at(-1), { url: '/hello', identity: 'id1' });

  // The replayed record from the old address is dropped; the session stays where it is.
  const dropped = s.dtls.stats.recordsDropped;
  before.inject(delivered, server());
  await until(() => s.dtls.stats.recordsDropped === dropped + 1, 'the replay being dropped');
  // The reordered record authenticates (never seen, inside the window) but is older than the newest:
  // it is delivered, and answered at the session's address, which does not move back.
  const lateAnswer = answerTo(t, late.token);
  before.inject(reordered, server());
  assert.equal((await within(lateAnswer, 'the answer to the reordered GET, at the new address')).payload, HELLO);
  assert.is(rebinds.length, seen + 1);
  assert.is(s.dtls.identityOf('127.0.0.1', peerOf(after).port)?.toString(), 'id1');
  assert.is(s.dtls.identityOf('127.0.0.1', peerOf(before).port), undefined);
  assert.is((await get(t, 'hello')).code, '2.05');
  assert.is(rebinds.length, seen + 1);

  // send() to the old address (a retransmission node-coap aimed there before the move) reaches the
  // session at its new address, sealed with its keys; nothing goes to the old address.
  const forwarded = answerTo(t, late.token);
  const oldSocketGot = before.received.length;
  const answer = generate({ messageId: mid++, token: late.token, code: '2.05', confirmable: false, payload: HELLO });
  const sentBytes = await new Promise<number | undefined>((resolve) => s.dtls.send(answer, peerOf(before).port, '127.0.0.1', (_err: Error | null, n?: number) => resolve(n)));
  assert.ok((sentBytes ?? 0) > 0, 'forwarded to the new address');
  assert.ok((await within(forwarded, 'the forwarded datagram at the new address')) !== undefined);
  assert.is(before.received.length, oldSocketGot, 'nothing to the old address');

  // Moving again works the same way.
  const third = await tap();
  await t.rebind(third);
  assert.is((await get(t, 'hello')).code, '2.05');
  assert.is(rebinds.length, seen + 2);
  assert.equal(rebinds.at(-1)!.from, peerOf(after));
  assert.equal(rebinds.at(-1)!.to, peerOf(third));
});

test('a session moving onto an address where another session lives replaces it there (that one is stale)', async () => {
  const stale = await client({ useCid: false, identity: 'id2' });
  const mover = await client({ useCid: true });
  const sessions = s.dtls.counts.sessions;
  const seen = rebinds.length;
  await mover.t.rebind(stale.socket);
  assert.is((await get(mover.t, 'hello')).code, '2.05');
  assert.is(rebinds.length, seen + 1);
  assert.equal(rebinds.at(-1)!.to, peerOf(stale.socket));
  assert.is(s.dtls.identityOf('127.0.0.1', peerOf(stale.socket).port)?.toString(), 'id1');
  assert.is(s.dtls.counts.sessions, sessions - 1);
});

test('a tls12_cid record with an unknown CID, or with a known CID that does not authenticate, is dropped silently', async () => {
  const { t } = await client({ useCid: true });
  const cid = t.session.peerCid!;
  const raw: Socket = createSocket('udp4');
  await new Promise<void>((resolve) => raw.bind(0, '127.0.0.1', resolve));
  toClose.push(() => new Promise((resolve) => raw.close(() => resolve())));
  const answers: Buffer[] = [];
  raw.on('message', (m) => answers.push(m));
  const record = (c: Buffer): Buffer => Buffer.concat([Buffer.from('19fefd0001000000000100', 'hex'), c, Buffer.from([0, 24]), randomBytes(24)]);
  const seen = rebinds.length;
  const dropped = s.dtls.stats.recordsDropped;
  const sessions = s.dtls.counts.sessions;
  let unknown = randomBytes(CID_LENGTH);
  while (unknown.equals(cid)) unknown = randomBytes(CID_LENGTH);
  raw.send(record(unknown), s.port, '127.0.0.1');
  await until(() => s.dtls.stats.recordsDropped === dropped + 1, 'the unknown CID being dropped');
  raw.send(record(cid), s.port, '127.0.0.1');
  await until(() => s.dtls.stats.recordsDropped === dropped + 2, 'the forged record being dropped');
  assert.is(rebinds.length, seen, 'a record that does not authenticate moves nothing');
  assert.is(s.dtls.counts.sessions, sessions);
  // The session is untouched, and the server answered the raw socket nothing (no alert) while it served this GET.
  assert.is((await get(t, 'hello')).code, '2.05');
  assert.is(answers.length, 0);
});

test('mangled copies of a tls12_cid record from another address: no error, no move, the session goes on', async () => {
  const { t, socket } = await client({ useCid: true });
  assert.is((await get(t, 'hello')).code, '2.05');
  const original = socket.sent.at(-1)!;
  const errors: unknown[] = [];
  const onError = (e: unknown): void => void errors.push(e);
  s.dtls.on('error', onError);
  const raw: Socket = createSocket('udp4');
  await new Promise<void>((resolve) => raw.bind(0, '127.0.0.1', resolve));
  toClose.push(() => new Promise((resolve) => raw.close(() => resolve())));
  const seen = rebinds.length;
  // In batches, each followed by a GET: the session answers throughout (and the socket's buffer never overflows).
  for (let batch = 0; batch < 15; batch++) {
    const sends: Promise<void>[] = [];
    for (let i = batch * 20; i < (batch + 1) * 20; i++) {
      let m = Buffer.from(original);
      const at = i % m.length;
      if (i % 3 === 0) m[at]! ^= 1 << (i % 8);
      else if (i % 3 === 1) m = m.subarray(0, at);
      else m = Buffer.concat([m, randomBytes(i % 20)]);
      if (m.length === 0) continue;
      sends.push(new Promise((resolve) => raw.send(m, s.port, '127.0.0.1', () => resolve())));
    }
    await Promise.all(sends);
    assert.is((await get(t, 'hello')).code, '2.05');
  }
  s.dtls.off('error', onError);
  assert.equal(errors, []);
  assert.is(rebinds.length, seen);
  assert.is(s.dtls.identityOf('127.0.0.1', socket.address().port)?.toString(), 'id1');
});

test('a client that offers no CID gets no connection_id and is served as before', async () => {
  const cids = s.dtls.connectionIds;
  const { t, socket } = await client({ useCid: false });
  assert.is(t.session.peerCid, undefined);
  assert.is(s.dtls.connectionIds, cids);
  assert.is((await get(t, 'hello')).code, '2.05');
  const records = [...protectedRecords(socket.sent, 0), ...protectedRecords(socket.received, 0)];
  assert.ok(records.length >= 4);
  assert.ok(records.every((r) => r.type !== 25));
  try {
    await t.rebind(await tap());
    assert.unreachable('rebinding without a CID must be refused');
  } catch (err) {
    assert.instance(err, DtlsError);
  }
});

test('a new handshake from the address of a session with a CID replaces it only when it completes; the old CID goes with it', async () => {
  const { t, socket } = await client({ useCid: true });
  const oldCid = t.session.peerCid!;
  const sessions = s.dtls.counts.sessions;
  const cids = s.dtls.connectionIds;
  // A second client on the same socket (a reboot, or a spoofer's ClientHello): its last flight is held back.
  let hold = true;
  const held: Buffer[] = [];
  const again = new DtlsSession((d) => {
    if (hold && d.readUInt16BE(3) === 0 && d[0] === 22 && d[13] === 16) held.push(d); // the flight starting with ClientKeyExchange
    else socket.inject(d, server());
  }, { psk: Buffer.from('secret2'), identity: Buffer.from('id2'), useCid: true, initialTimeoutMs: 250, maxRetransmits: 4 });
  socket.onMessage((buf) => again.receive(buf));
  void again.start();
  await until(() => held.length > 0, 'the second handshake reaching its last flight');
  assert.is(s.dtls.counts.halfOpen, 1);
  // Half-open, it has replaced nothing: the old session and its CID serve.
  assert.is((await get(t, 'hello')).code, '2.05');
  assert.equal(s.requests.at(-1), { url: '/hello', identity: 'id1' });
  assert.equal([s.dtls.counts.sessions, s.dtls.connectionIds], [sessions, cids]);
  hold = false;
  socket.inject(held[0]!, server());
  await within(again.ready, 'the second handshake');
  const newCid = again.peerCid!;
  assert.ok(newCid && !newCid.equals(oldCid));
  assert.equal([s.dtls.counts.sessions, s.dtls.connectionIds], [sessions, cids]);
  assert.is(s.dtls.identityOf('127.0.0.1', socket.address().port)?.toString(), 'id2');
  // The old session's records carry a CID no session has now: dropped.
  const dropped = s.dtls.stats.recordsDropped;
  t.send(getRequest('hello').datagram, server());
  await until(() => s.dtls.stats.recordsDropped === dropped + 1, 'the old CID being dropped');
  // The new session is served under its own CID.
  const { datagram, token } = getRequest('hello');
  const answer = new Promise<ParsedPacket>((resolve) => (again.onData = (d) => {
    const p = parse(d);
    if (p.token.equals(token)) resolve(p);
  }));
  again.sendApplicationData(datagram);
  assert.equal((await within(answer, 'the answer to the new session')).payload, HELLO);
  assert.equal(s.requests.at(-1), { url: '/hello', identity: 'id2' });
  again.close();
});

test('close_notify from a client with a CID removes its session and its CID', async () => {
  const { t } = await client({ useCid: true });
  const sessions = s.dtls.counts.sessions;
  const cids = s.dtls.connectionIds;
  await t.close();
  await until(() => s.dtls.counts.sessions === sessions - 1, 'the session ending');
  assert.is(s.dtls.connectionIds, cids - 1);
});

test('the server\'s final flight lost: the client\'s repeated Finished, a tls12_cid record, finds the session and gets it again', async () => {
  let lost = 0;
  const retransmissions = s.dtls.stats.retransmissions;
  const completed = s.dtls.stats.handshakesCompleted;
  // The first datagram with the server's ChangeCipherSpec (epoch 0, type 20) and Finished is lost.
  const { t } = await client({ useCid: true, loseIn: (d) => d[0] === 20 && lost++ === 0 });
  assert.ok(lost >= 2, 'the final flight lost once, then sent again');
  assert.is(s.dtls.stats.handshakesCompleted, completed + 1);
  assert.ok(s.dtls.stats.retransmissions > retransmissions);
  assert.is((await get(t, 'hello')).code, '2.05');
});

test('maxSessions holds with CIDs; the server\'s close_notify reaches a client in the tls12_cid format', async () => {
  const capped = await startServer({ '/hello': HELLO }, { maxSessions: 1 });
  let open = true;
  try {
    const to = { address: '127.0.0.1', port: capped.port };
    let closed = false;
    const first = await client({ useCid: true, ownCid: Buffer.from('0f0e'), to, onClosed: () => (closed = true) });
    assert.is(capped.dtls.connectionIds, 1);
    // The second handshake completes on the wire but takes no session, so no CID.
    const second = await client({ useCid: true, identity: 'id2', to });
    assert.equal([capped.dtls.counts.sessions, capped.dtls.connectionIds], [1, 1]);
    const dropped = capped.dtls.stats.recordsDropped;
    second.t.send(getRequest('hello').datagram, to);
    await until(() => capped.dtls.stats.recordsDropped === dropped + 1, 'the record of the session-less CID being dropped');
    open = false;
    await capped.close();
    await until(() => closed, 'the close_notify');
    assert.not.ok(first.t.session.established);
  } finally {
    if (open) await capped.close();
  }
});

test('idle sessions with CIDs expire, their CIDs with them', async () => {
  const idle = await startServer({ '/hello': HELLO }, { idleMs: 150, tickMs: 25 });
  try {
    const socket = await tap();
    const t = new DtlsTransport(socket, { server: { address: '127.0.0.1', port: idle.port }, psk: Buffer.from('secret1'), identity: Buffer.from('id1'), useCid: true, initialTimeoutMs: 250 });
    await within(t.ready, 'the handshake');
    assert.is(idle.dtls.connectionIds, 1);
    await until(() => idle.dtls.counts.sessions === 0, 'the idle session expiring');
    assert.is(idle.dtls.connectionIds, 0);
    await t.close();
  } finally {
    await idle.close();
  }
});

test.run();
