// Flight retransmission (RFC 6347 §4.2.4): a relay on 127.0.0.1 loses the server's first
// ServerHello flight; the server sends it again (on its timer, or on the client's repeated
// ClientHello) and coap-client-gnutls's GET still goes through.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HandshakeType } from '../../../protocols/dtls-handshake.ts';
import { ContentType } from '../../../protocols/dtls-record.ts';
import { coapClient, startRelay, startServer, type Relay, type TestServer } from './helpers.ts';

let s: TestServer;
let relay: Relay;
let lost = 0;

test.before(async () => {
  s = await startServer({ '/hello': Buffer.from('again') }, { retransmitMs: 300, tickMs: 100 });
  relay = await startRelay(s.port, {
    // The first datagram that starts with a ServerHello (epoch 0 handshake, msg_type 2) is lost.
    toClient: (msg) => {
      if (lost === 0 && msg[0] === ContentType.handshake && msg.readUInt16BE(3) === 0 && msg[13] === HandshakeType.server_hello) {
        lost++;
        return false;
      }
      return true;
    },
  });
});
test.after(async () => {
  relay.close();
  await s.close();
});

test('a lost ServerHello flight is sent again and the handshake completes', async () => {
  const run = await coapClient('coap-client-gnutls', ['-B', '15', '-u', 'id1', '-k', 'secret1', `coaps://127.0.0.1:${relay.port}/hello`]);
  assert.ok(run.ok, run.stderr);
  assert.is(lost, 1);
  assert.is(run.stdout.toString('utf8').trim(), 'again');
  assert.ok(s.dtls.stats.retransmissions >= 1);
  assert.is(s.dtls.stats.handshakesCompleted, 1);
});

test.run();
