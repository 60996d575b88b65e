// Flight retransmission (RFC 6347 §4.2.4): a relay on 127.0.0.1 loses the server's first
// ServerHello flight; the server sends it again (on its timer, or on the client's repeated
// ClientHello) and coap-client-gnutls's GET still goes through.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HandshakeType } from '../../../protocols/dtls-handshake.ts';
import { ContentType } from '../../../protocols/dtls-record.ts';
import { coapClient, startServer, type TestServer } from './helpers.ts';

let s: TestServer;
let front: Socket;
let back: Socket;
let lost = 0;

test.before(async () => {
  s = await startServer({ '/hello': Buffer.from('again') }, { retransmitMs: 300, tickMs: 100 });
  front = createSocket('udp4');
  back = createSocket('udp4');
  await new Promise<void>((resolve) => front.bind(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => back.bind(0, '127.0.0.1', resolve));
  let peer: RemoteInfo | undefined;
  front.on('message', (msg, rinfo) => {
    peer = rinfo;
    back.send(msg, s.port, '127.0.0.1');
  });
  back.on('message', (msg) => {
    // The first datagram that starts with a ServerHello (epoch 0 handshake, msg_type 2) is lost.
    if (lost === 0 && msg[0] === ContentType.handshake && msg.readUInt16BE(3) === 0 && msg[13] === HandshakeType.server_hello) {
      lost++;
      return;
    }
    if (peer) front.send(msg, peer.port, peer.address);
  });
});
test.after(async () => {
  front.close();
  back.close();
  await s.close();
});

test('a lost ServerHello flight is sent again and the handshake completes', async () => {
  const run = await coapClient('coap-client-gnutls', ['-B', '15', '-u', 'id1', '-k', 'secret1', `coaps://127.0.0.1:${front.address().port}/hello`]);
  assert.ok(run.ok, run.stderr);
  assert.is(lost, 1);
  assert.is(run.stdout.toString('utf8').trim(), 'again');
  assert.ok(s.dtls.stats.retransmissions >= 1);
  assert.is(s.dtls.stats.handshakesCompleted, 1);
});

test.run();
