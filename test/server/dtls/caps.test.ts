// Caps on half-open handshakes: past maxHalfOpen, or past maxHalfOpenPerAddress from one IP, a
// cookie'd ClientHello starts nothing; a handshake not complete within handshakeMs is dropped by
// the layer's timer.
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HandshakeType, decodeHandshakeFragments, encodeHandshake } from '../../../protocols/dtls-handshake.ts';
import { CipherSuite, encodeClientHello, parseHelloVerifyRequest } from '../../../protocols/dtls-hello.ts';
import { ContentType, DTLS_1_0, DTLS_1_2, decodeRecord, encodeRecord } from '../../../protocols/dtls-record.ts';
import { startServer, type TestServer } from './helpers.ts';

let s: TestServer;
const sockets: Socket[] = [];

test.before(async () => {
  s = await startServer({}, { maxHalfOpen: 1, handshakeMs: 400, tickMs: 50 });
});
test.after(async () => {
  for (const c of sockets) c.close();
  await s.close();
});

/** A client on its own port that goes through the cookie exchange; resolves with the answer to its second ClientHello. */
async function helloWithCookie(server: TestServer = s, from = '127.0.0.1'): Promise<Buffer | undefined> {
  const c = createSocket('udp4');
  sockets.push(c);
  await new Promise<void>((resolve) => c.bind(0, from, resolve));
  const random = randomBytes(32);
  const hello = (cookie: Buffer, seq: number): Buffer => encodeRecord({ type: ContentType.handshake, version: DTLS_1_0, epoch: 0, sequenceNumber: seq,
    fragment: encodeHandshake({ msgType: HandshakeType.client_hello, messageSeq: seq, body: encodeClientHello({
      clientVersion: DTLS_1_2, random, sessionId: Buffer.alloc(0), cookie, cipherSuites: [CipherSuite.TLS_PSK_WITH_AES_128_CCM_8], compressionMethods: [0], extensions: [] }) }) });
  const ask = (d: Buffer): Promise<Buffer | undefined> => new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), 300);
    c.once('message', (m) => { clearTimeout(timer); resolve(m); });
    c.send(d, server.port, '127.0.0.1');
  });
  const hvr = await ask(hello(Buffer.alloc(0), 0));
  const cookie = parseHelloVerifyRequest(decodeHandshakeFragments(decodeRecord(hvr!, 0).record.fragment)[0]!.body).cookie;
  return ask(hello(cookie, 1));
}

test('past maxHalfOpen a valid ClientHello starts no handshake; an unfinished one expires', async () => {
  const first = await helloWithCookie();
  assert.ok(first, 'the first client got no ServerHello');
  assert.is(s.dtls.counts.halfOpen, 1);
  const second = await helloWithCookie();
  assert.is(second, undefined);
  assert.is(s.dtls.counts.halfOpen, 1);
  assert.is(s.dtls.stats.handshakesStarted, 1);
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(s.dtls.counts, { sessions: 0, halfOpen: 0 });
});

test('one IP address holds at most maxHalfOpenPerAddress half-open handshakes; another address still gets in', async () => {
  const t = await startServer({}, { maxHalfOpen: 10, maxHalfOpenPerAddress: 2, handshakeMs: 400, tickMs: 50 });
  try {
    assert.ok(await helloWithCookie(t, '127.0.0.1'));
    assert.ok(await helloWithCookie(t, '127.0.0.1'));
    assert.is(await helloWithCookie(t, '127.0.0.1'), undefined, 'a third from the same address starts nothing');
    assert.ok(await helloWithCookie(t, '127.0.0.2'), 'another address is served');
    assert.is(t.dtls.counts.halfOpen, 3);
    await new Promise((r) => setTimeout(r, 600));
    assert.is(t.dtls.counts.halfOpen, 0);
    assert.ok(await helloWithCookie(t, '127.0.0.1'), 'once they expired, the address gets in again');
  } finally {
    await t.close();
  }
});

test.run();
