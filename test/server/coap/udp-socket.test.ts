// The socket under both CoAP servers (server/coap/udp-socket.ts): bound on loopback, a dgram.Socket
// to node-coap, the guard in front of every datagram, a bind that fails rejects.
import { createSocket, Socket } from 'node:dgram';
import { generate, parse, type ParsedPacket } from 'coap-packet';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AddressProof } from '../../../server/coap/address-proof.ts';
import { EchoMinter } from '../../../server/coap/echo.ts';
import { BASIC_METHODS, SERVER_OPTIONS, type GuardedListener, type GuardedSocket } from '../../../server/coap/guard.ts';
import { listenUdp } from '../../../server/coap/udp-socket.ts';
import { silentLogger } from '../../../server/log.ts';

const listen = (o: { port?: number; addressesOnly?: boolean } = {}): Promise<GuardedSocket> => listenUdp({
  host: '127.0.0.1', port: o.port ?? 0, ...(o.addressesOnly ? { addressesOnly: true } : {}), name: 'test',
  proof: new AddressProof(), echo: new EchoMinter(), log: silentLogger(), understood: SERVER_OPTIONS, methods: BASIC_METHODS,
});

/** Sends one datagram from a fresh loopback socket; resolves with the first answer, or undefined after `ms`. */
async function exchange(port: number, datagram: Buffer, ms = 1000): Promise<ParsedPacket | undefined> {
  const client = createSocket('udp4');
  await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
  try {
    return await new Promise<ParsedPacket | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), ms);
      client.once('message', (m) => { clearTimeout(timer); resolve(parse(m)); });
      client.send(datagram, port, '127.0.0.1');
    });
  } finally {
    client.close();
  }
}

const close = (g: GuardedSocket): Promise<void> => new Promise((r) => g.close(() => r()));

test('bound on the loopback address asked, a dgram.Socket to the stack on top, its kernel socket beneath', async () => {
  for (const addressesOnly of [false, true]) {
    const guard = await listen({ addressesOnly });
    try {
      assert.ok(guard instanceof Socket, 'node-coap only caches answers and sends errors on an instanceof dgram.Socket');
      assert.ok(guard.socket instanceof Socket);
      assert.is(guard.address().address, '127.0.0.1');
      assert.ok(guard.address().port > 0, 'port 0: a free port');
      assert.is(guard.address().port, guard.socket.address().port);
      // The kernel may cap the buffer (net.core.rmem_max), never below its default of some 200 KiB.
      assert.ok(guard.socket.getRecvBufferSize() >= 200 * 1024, `${guard.socket.getRecvBufferSize()} bytes`);
    } finally {
      await close(guard);
    }
  }
});

test('the guard is in front: a ping gets its Reset there, a request reaches the listener with the message read', async () => {
  const guard = await listen({ addressesOnly: true });
  try {
    const seen: number[] = [];
    guard.on('message', ((_msg, rinfo, m) => {
      seen.push(m.messageId);
      guard.send(generate({ ack: true, code: '2.05', messageId: m.messageId, token: m.token, payload: Buffer.from('ok') }), rinfo.port, rinfo.address);
    }) satisfies GuardedListener);
    const port = guard.address().port;
    const rst = await exchange(port, generate({ confirmable: true, code: '0.00', messageId: 7 }));
    assert.is(rst?.reset, true, 'RFC 7252 §4.3: a CoAP ping is answered with a Reset');
    assert.is(rst?.messageId, 7);
    assert.equal(seen, [], 'the ping never reached the stack');
    assert.is(guard.stats.pings, 1);
    const answer = await exchange(port, generate({ confirmable: true, code: 'GET', messageId: 8, token: Buffer.from([1, 2]) }));
    assert.equal(seen, [8]);
    assert.is(answer?.code, '2.05');
    assert.is(String(answer?.payload), 'ok', 'sent through the guard to an IP address without a resolver');
  } finally {
    await close(guard);
  }
});

test('a port already taken: the bind rejects', async () => {
  const first = await listen();
  try {
    let failed: unknown;
    await listen({ port: first.address().port }).then(close, (err: unknown) => { failed = err; });
    assert.ok(failed instanceof Error && (failed as NodeJS.ErrnoException).code === 'EADDRINUSE', String(failed));
  } finally {
    await close(first);
  }
});

test.run();
