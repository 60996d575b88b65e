// Records that fail authentication are dropped silently (RFC 6347 §4.1.2.7) and move no replay
// window (§4.1.2.6): a relay on 127.0.0.1 between coap-client-openssl and the server sends, ahead
// of each of the client's protected application records, a copy with a flipped ciphertext byte
// and a copy claiming a sequence number far ahead; the Block2 download still comes out whole.
import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ContentType } from '../../../protocols/dtls-record.ts';
import { coapClient, startRelay, startServer, type Relay, type TestServer } from './helpers.ts';

const BIG = randomBytes(8 * 1024);
let s: TestServer;
let relay: Relay;
let injected = 0;

test.before(async () => {
  s = await startServer({ '/big': BIG });
  relay = await startRelay(s.port, {
    toServer: (msg, inject) => {
      // One record per datagram from libcoap once the handshake is done: an epoch-1 application record.
      if (msg[0] !== ContentType.application_data || msg.readUInt16BE(3) !== 1) return;
      const flipped = Buffer.from(msg);
      flipped[flipped.length - 3]! ^= 0x40;
      const ahead = Buffer.from(msg);
      ahead.writeUIntBE(msg.readUIntBE(5, 6) + 1000, 5, 6);
      inject(flipped);
      inject(ahead);
      injected += 2;
    },
  });
});
test.after(async () => {
  relay.close();
  await s.close();
});

test('garbled records after the handshake are dropped, the session goes on', async () => {
  const run = await coapClient('coap-client-openssl', ['-B', '20', '-b', '1024', '-u', 'id1', '-k', 'secret1', `coaps://127.0.0.1:${relay.port}/big`]);
  assert.ok(run.ok, run.stderr);
  assert.ok(run.stdout.subarray(0, BIG.length).equals(BIG), `got ${run.stdout.length} bytes: ${run.stdout.subarray(0, 300).toString()}`);
  assert.ok(injected >= 16, `only ${injected} garbled records sent`);
  assert.is(s.dtls.stats.recordsDropped, injected);
  assert.is(s.dtls.stats.handshakesCompleted, 1);
});

test.run();
