// The stateless cookie exchange (RFC 6347 §4.2.1) over real UDP: a ClientHello without a cookie,
// or with a forged one, gets a HelloVerifyRequest no larger than itself and leaves no state.
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ExtensionType, extendedMasterSecretExtension } from '../../../protocols/dtls-extensions.ts';
import { HandshakeType, decodeHandshakeFragments, encodeHandshake } from '../../../protocols/dtls-handshake.ts';
import { CipherSuite, encodeClientHello, parseHelloVerifyRequest } from '../../../protocols/dtls-hello.ts';
import { ContentType, DTLS_1_0, DTLS_1_2, decodeRecord, encodeRecord } from '../../../protocols/dtls-record.ts';
import { startServer, type TestServer } from './helpers.ts';

let s: TestServer;
let client: Socket;

test.before(async () => {
  s = await startServer({});
  client = createSocket('udp4');
  await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
});
test.after(async () => {
  client.close();
  await s.close();
});

function clientHello(cookie: Buffer, messageSeq: number): Buffer {
  const body = encodeClientHello({
    clientVersion: DTLS_1_2, random: randomBytes(32), sessionId: Buffer.alloc(0), cookie,
    cipherSuites: [CipherSuite.TLS_PSK_WITH_AES_128_CCM_8, CipherSuite.TLS_EMPTY_RENEGOTIATION_INFO_SCSV],
    compressionMethods: [0], extensions: [extendedMasterSecretExtension(), { type: ExtensionType.renegotiation_info, data: Buffer.from([0]) }],
  });
  return encodeRecord({ type: ContentType.handshake, version: DTLS_1_0, epoch: 0, sequenceNumber: messageSeq,
    fragment: encodeHandshake({ msgType: HandshakeType.client_hello, messageSeq, body }) });
}

function exchange(datagram: Buffer): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => { client.off('message', on); resolve(undefined); }, 1000);
    const on = (msg: Buffer): void => { clearTimeout(timer); client.off('message', on); resolve(msg); };
    client.on('message', on);
    client.send(datagram, s.port, '127.0.0.1');
  });
}

test('a ClientHello without a cookie gets a HelloVerifyRequest no larger than itself, and no state', async () => {
  const hello = clientHello(Buffer.alloc(0), 0);
  const answer = await exchange(hello);
  assert.ok(answer, 'no HelloVerifyRequest');
  assert.ok(answer.length <= hello.length, `HelloVerifyRequest of ${answer.length} bytes for a ${hello.length}-byte ClientHello`);
  const { record } = decodeRecord(answer, 0);
  assert.is(record.sequenceNumber, 0);
  const [f] = decodeHandshakeFragments(record.fragment);
  assert.is(f?.msgType, HandshakeType.hello_verify_request);
  assert.is(parseHelloVerifyRequest(f!.body).cookie.length, 16);
  assert.equal(s.dtls.counts, { sessions: 0, halfOpen: 0 });
  assert.is(s.dtls.stats.handshakesStarted, 0);
});

test('a forged cookie gets another HelloVerifyRequest, still no state', async () => {
  const answer = await exchange(clientHello(randomBytes(16), 1));
  assert.ok(answer);
  const [f] = decodeHandshakeFragments(decodeRecord(answer, 0).record.fragment);
  assert.is(f?.msgType, HandshakeType.hello_verify_request);
  assert.equal(s.dtls.counts, { sessions: 0, halfOpen: 0 });
  assert.is(s.dtls.stats.handshakesStarted, 0);
});

test('the cookie echoed in a repeated ClientHello opens the handshake: a ServerHello flight', async () => {
  const random = randomBytes(32);
  const make = (cookie: Buffer, seq: number): Buffer => encodeRecord({ type: ContentType.handshake, version: DTLS_1_0, epoch: 0, sequenceNumber: seq,
    fragment: encodeHandshake({ msgType: HandshakeType.client_hello, messageSeq: seq, body: encodeClientHello({
      clientVersion: DTLS_1_2, random, sessionId: Buffer.alloc(0), cookie, cipherSuites: [CipherSuite.TLS_PSK_WITH_AES_128_CCM], compressionMethods: [0], extensions: [] }) }) });
  const hvr = await exchange(make(Buffer.alloc(0), 0));
  const cookie = parseHelloVerifyRequest(decodeHandshakeFragments(decodeRecord(hvr!, 0).record.fragment)[0]!.body).cookie;
  const flight = await exchange(make(cookie, 1));
  assert.ok(flight);
  const [sh] = decodeHandshakeFragments(decodeRecord(flight, 0).record.fragment);
  assert.is(sh?.msgType, HandshakeType.server_hello);
  assert.is(sh?.messageSeq, 1);
  assert.equal(s.dtls.counts, { sessions: 0, halfOpen: 1 });
});

test.run();
