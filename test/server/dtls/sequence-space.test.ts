// The server's epoch-0 numbers go on from the client's: a cookie'd ClientHello whose record
// sequence number or message_seq leaves the server's own no room is refused with a fatal
// illegal_parameter alert (RFC 6347 §4.1: a sequence number never wraps), not an exception; one
// just inside the room is served; and a handshake whose numbers run out goes quiet instead of
// throwing, however often the peer asks for the flight again.
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AlertDescription, AlertLevel, parseAlert } from '../../../protocols/dtls-alert.ts';
import { HandshakeType, decodeHandshakeFragments, encodeHandshake } from '../../../protocols/dtls-handshake.ts';
import { CipherSuite, encodeClientHello, parseClientHello, parseHelloVerifyRequest } from '../../../protocols/dtls-hello.ts';
import { ContentType, DTLS_1_0, DTLS_1_2, MAX_SEQUENCE_NUMBER, decodeRecord, encodeRecord, splitRecords } from '../../../protocols/dtls-record.ts';
import { EPOCH0_ROOM, HandshakeFailure, ServerHandshake } from '../../../server/dtls/handshake.ts';
import { startServer, type TestServer } from './helpers.ts';

let s: TestServer;
const errors: unknown[] = [];
const sockets: Socket[] = [];

test.before(async () => {
  s = await startServer({});
  s.dtls.on('error', (e: unknown) => errors.push(e));
});
test.after(async () => {
  for (const c of sockets) c.close();
  await s.close();
});

const helloBody = (random: Buffer, cookie: Buffer): Buffer => encodeClientHello({
  clientVersion: DTLS_1_2, random, sessionId: Buffer.alloc(0), cookie, cipherSuites: [CipherSuite.TLS_PSK_WITH_AES_128_CCM_8], compressionMethods: [0], extensions: [],
});

/** The cookie exchange from a port of its own, then the cookie'd hello with these numbers: the server's answer. */
async function cookieHello(recordSeq: number, messageSeq: number): Promise<Buffer | undefined> {
  const c = createSocket('udp4');
  sockets.push(c);
  await new Promise<void>((resolve) => c.bind(0, '127.0.0.1', resolve));
  const random = randomBytes(32);
  const hello = (cookie: Buffer, seq: number, msgSeq: number): Buffer => encodeRecord({ type: ContentType.handshake, version: DTLS_1_0, epoch: 0, sequenceNumber: seq,
    fragment: encodeHandshake({ msgType: HandshakeType.client_hello, messageSeq: msgSeq, body: helloBody(random, cookie) }) });
  const ask = (d: Buffer): Promise<Buffer | undefined> => new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), 1000);
    c.once('message', (m) => { clearTimeout(timer); resolve(m); });
    c.send(d, s.port, '127.0.0.1');
  });
  const hvr = await ask(hello(Buffer.alloc(0), 0, 0));
  const cookie = parseHelloVerifyRequest(decodeHandshakeFragments(decodeRecord(hvr!, 0).record.fragment)[0]!.body).cookie;
  return ask(hello(cookie, recordSeq, messageSeq));
}

function alertIn(d: Buffer | undefined): { level: number; description: number } | undefined {
  const r = d && splitRecords(d).records.find((x) => x.type === ContentType.alert);
  return r ? parseAlert(r.fragment) : undefined;
}

function firstHandshakeType(d: Buffer | undefined): number | undefined {
  const r = d && splitRecords(d).records.find((x) => x.type === ContentType.handshake);
  return r ? decodeHandshakeFragments(r.fragment)[0]?.msgType : undefined;
}

test('a cookie\'d ClientHello at the top of the record sequence space gets illegal_parameter', async () => {
  for (const seq of [MAX_SEQUENCE_NUMBER, MAX_SEQUENCE_NUMBER - 1, MAX_SEQUENCE_NUMBER - EPOCH0_ROOM + 1]) {
    const answer = await cookieHello(seq, 1);
    assert.equal(alertIn(answer), { level: AlertLevel.fatal, description: AlertDescription.illegal_parameter }, `record sequence number ${seq}`);
    assert.is(decodeRecord(answer!, 0).record.sequenceNumber, seq, 'the alert takes the hello\'s number');
  }
  assert.is(firstHandshakeType(await cookieHello(MAX_SEQUENCE_NUMBER - EPOCH0_ROOM, 1)), HandshakeType.server_hello, 'just inside the room: served');
  assert.equal(errors, []);
});

test('a cookie\'d ClientHello whose message_seq leaves no room for the handshake gets illegal_parameter', async () => {
  for (const messageSeq of [0xffff, 0xfffe, 0xfffd]) {
    assert.equal(alertIn(await cookieHello(1, messageSeq)), { level: AlertLevel.fatal, description: AlertDescription.illegal_parameter }, `message_seq ${messageSeq}`);
  }
  assert.is(firstHandshakeType(await cookieHello(1, 0xfffc)), HandshakeType.server_hello, 'message_seq 0xfffc: served');
  assert.equal(errors, []);
});

test('a handshake whose epoch-0 numbers run out sends nothing more, and throws nothing', () => {
  const body = helloBody(randomBytes(32), randomBytes(16));
  const hs = new ServerHandshake({ msgType: HandshakeType.client_hello, messageSeq: 1, body }, parseClientHello(body), MAX_SEQUENCE_NUMBER - EPOCH0_ROOM,
    async () => undefined, Buffer.from('hint'));
  let flights = 0;
  // Each flight takes three numbers (ServerHello, ServerKeyExchange, ServerHelloDone).
  while (hs.flightDatagrams().length > 0) flights++;
  assert.is(flights, Math.floor((EPOCH0_ROOM + 1) / 3));
  assert.equal(hs.flightDatagrams(), [], 'asked again: still nothing');
  const alerts = [hs.alertDatagram(AlertDescription.handshake_failure), hs.alertDatagram(AlertDescription.handshake_failure)];
  assert.is(alerts.flat().length, (EPOCH0_ROOM + 1) % 3, 'the numbers left over');
  assert.equal(hs.alertDatagram(AlertDescription.handshake_failure), []);
  assert.throws(() => new ServerHandshake({ msgType: HandshakeType.client_hello, messageSeq: 1, body }, parseClientHello(body), MAX_SEQUENCE_NUMBER - EPOCH0_ROOM + 1,
    async () => undefined, undefined), (e: unknown) => e instanceof HandshakeFailure && e.alert === AlertDescription.illegal_parameter);
});

test.run();
