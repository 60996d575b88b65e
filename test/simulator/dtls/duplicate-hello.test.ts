// The network doubles the simulator client's first ClientHello, and the server (Ferry's DTLS layer,
// the peer here) answers each copy with a HelloVerifyRequest. The client answers the first with
// its cookie'd ClientHello and takes the second for what it is, a repeat: the handshake completes.
// (Answering the repeat with another ClientHello, the next message_seq, left the handshake stuck.)
import { createSocket } from 'node:dgram';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DtlsSession } from '../../../simulator/dtls/session.ts';
import { startServer, type TestServer } from '../../server/dtls/helpers.ts';

let s: TestServer;
test.before(async () => { s = await startServer({}); });
test.after(async () => { await s.close(); });

test('a doubled first ClientHello: two HelloVerifyRequests, one cookie\'d ClientHello, the handshake completes', async () => {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  let sent = 0;
  const session = new DtlsSession((d) => {
    sent++;
    socket.send(d, s.port, '127.0.0.1');
    if (sent === 1) socket.send(d, s.port, '127.0.0.1'); // the network doubles the first datagram
  }, { psk: Buffer.from('secret1'), identity: Buffer.from('id1'), initialTimeoutMs: 1000, maxRetransmits: 2 });
  socket.on('message', (buf) => session.receive(buf));
  const hvr = s.dtls.stats.helloVerifyRequests;
  try {
    void session.start();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([session.ready, new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('the handshake did not complete within 5 s')), 5000); })]);
    clearTimeout(timer);
    assert.is(s.dtls.stats.helloVerifyRequests - hvr, 2, 'both copies were answered');
    assert.is(s.dtls.stats.handshakesCompleted >= 1, true);
  } finally {
    session.close();
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
});

test.run();
