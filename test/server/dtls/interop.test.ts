// The DTLS 1.2 PSK server against libcoap's OpenSSL and GnuTLS clients: a GET through the
// handshake, a Block2 download bit-exact, and a wrong key or unknown identity failing at Finished.
import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { coapClient, startServer, type TestServer } from './helpers.ts';

const HELLO = Buffer.from('hello over DTLS');
const BIG = randomBytes(20 * 1024);
let s: TestServer;

test.before(async () => {
  s = await startServer({ '/hello': HELLO, '/big': BIG }, { identityHint: Buffer.from('ferry') });
});
test.after(async () => {
  await s.close();
});

for (const client of ['coap-client-openssl', 'coap-client-gnutls'] as const) {
  test(`${client}: GET /hello over DTLS with the right key`, async () => {
    const before = s.dtls.stats.handshakesCompleted;
    const run = await coapClient(client, ['-B', '10', '-u', 'id1', '-k', 'secret1', `coaps://127.0.0.1:${s.port}/hello`]);
    assert.ok(run.ok, run.stderr);
    assert.is(run.stdout.toString('utf8').trim(), HELLO.toString('utf8'));
    assert.is(s.dtls.stats.handshakesCompleted, before + 1);
    assert.equal(s.requests.at(-1), { url: '/hello', identity: 'id1' });
  });

  test(`${client}: a 20 KiB Block2 download comes out bit-exact`, async () => {
    const run = await coapClient(client, ['-B', '20', '-b', '1024', '-u', 'id2', '-k', 'secret2', `coaps://127.0.0.1:${s.port}/big`]);
    assert.ok(run.ok, run.stderr);
    assert.ok(run.stdout.subarray(0, BIG.length).equals(BIG), `got ${run.stdout.length} bytes`);
  });

  for (const [what, identity, key] of [['a wrong key', 'id1', 'wrong'], ['an unknown identity', 'nobody', 'secret1']] as const) {
    test(`${client}: ${what} fails at the client's Finished, nothing reaches the server`, async () => {
      const requests = s.requests.length;
      const failed = s.dtls.stats.failedAtFinished;
      const completed = s.dtls.stats.handshakesCompleted;
      const run = await coapClient(client, ['-B', '5', '-u', identity, '-k', key, `coaps://127.0.0.1:${s.port}/hello`]);
      // libcoap logs to stdout and exits 0 either way: the alert it read is the failure.
      const out = run.stdout.toString('utf8');
      assert.not.ok(out.includes(HELLO.toString('utf8')));
      assert.match(out, /bad record mac/i);
      assert.is(s.requests.length, requests);
      assert.is(s.dtls.stats.handshakesCompleted, completed);
      assert.is(s.dtls.stats.failedAtFinished, failed + 1);
    });
  }
}

test.run();
