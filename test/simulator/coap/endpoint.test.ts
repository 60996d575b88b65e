import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CoapEndpoint, CoapError, CoapErrorCode } from '../../../simulator/coap/endpoint.ts';
import type { EndpointOptions } from '../../../simulator/coap/endpoint.ts';
import { Observers } from '../../../simulator/coap/observe.ts';
import type { ObserverRemoved } from '../../../simulator/coap/observe.ts';
import { realClock, seededRandom, type Clock } from '../../../simulator/clock.ts';
import { RawPeer, sleep, until, within } from '../helpers.ts';

const FAST: EndpointOptions = { ackTimeoutMs: 40, ackRandomFactor: 1.5, maxRetransmit: 3, requestTimeoutMs: 2000 };

async function pair(a: EndpointOptions = {}, b: EndpointOptions = {}): Promise<[CoapEndpoint, CoapEndpoint]> {
  return [await CoapEndpoint.bind({ ...FAST, ...a }), await CoapEndpoint.bind({ ...FAST, ...b })];
}

test('RFC 7252 §5.2.1: a CON request gets a piggybacked response', async () => {
  const [server, client] = await pair();
  server.onRequest((req, reply) => {
    assert.equal(req.method, 'GET');
    assert.equal(req.pathSegments, ['a', 'b']);
    assert.equal(req.options.uriQuery, ['x=1']);
    assert.equal(req.options.accept, 0);
    reply({ code: '2.05', contentFormat: 0, payload: 'hello' });
  });
  const port = server.address().port;
  const res = await within(client.request({ host: '127.0.0.1', port, method: 'GET', pathSegments: ['a', 'b'], query: ['x=1'], accept: 0 }), 1000);
  assert.is(res.code, '2.05');
  assert.is(res.transport, 'piggybacked');
  assert.is(res.options.contentFormat, 0);
  assert.is(res.payload.toString(), 'hello');
  assert.is(client.stats.packetsSent, 1);
  assert.is(client.stats.packetsReceived, 1);
  assert.ok(client.stats.bytesSent > 0 && client.stats.bytesReceived > 0);
  await Promise.all([server.close(), client.close()]);
});

test('RFC 7252 §5.2.2: empty ACK, then a separate CON response that we ACK', async () => {
  const raw = await RawPeer.open();
  const client = await CoapEndpoint.bind(FAST);
  const pending = client.request({ host: '127.0.0.1', port: raw.port, method: 'GET', pathSegments: ['slow'] });
  const req = await raw.waitFor(1);
  raw.send({ code: '0.00', messageId: req.messageId, ack: true }, client.address().port);
  await sleep(100); // longer than the ACK timeout: no retransmission after the empty ACK
  assert.is(raw.received.length, 1);
  raw.send({ code: '2.05', messageId: 777, token: req.token, confirmable: true, payload: Buffer.from('late') }, client.address().port);
  const res = await within(pending, 1000);
  assert.is(res.code, '2.05');
  assert.is(res.transport, 'con');
  assert.is(res.payload.toString(), 'late');
  const ack = await raw.waitFor(2);
  assert.ok(ack.ack);
  assert.is(ack.code, '0.00');
  assert.is(ack.messageId, 777);
  // A duplicate of the separate response (our ACK was lost) is ACKed again, not delivered twice.
  raw.send({ code: '2.05', messageId: 777, token: req.token, confirmable: true, payload: Buffer.from('late') }, client.address().port);
  const again = await raw.waitFor(3);
  assert.ok(again.ack);
  assert.is(client.stats.duplicates, 1);
  await Promise.all([raw.close(), client.close()]);
});

test('RFC 7252 §4.2: lost datagrams are retransmitted with a doubling timeout', async () => {
  // Real timers, their lengths recorded; random() = 0 puts the first timeout at ACK_TIMEOUT exactly.
  const armed: number[] = [];
  const clock: Clock = { ...realClock, setTimeout: (fn, ms) => { armed.push(ms); return realClock.setTimeout(fn, ms); } };
  const [server, client] = await pair({}, { dropOutgoing: (n) => n < 2, clock, random: () => 0 });
  let handled = 0;
  server.onRequest((_req, reply) => {
    handled += 1;
    reply({ code: '2.04' });
  });
  const res = await within(client.request({ host: '127.0.0.1', port: server.address().port, method: 'POST', pathSegments: ['x'] }), 2000);
  assert.is(res.code, '2.04');
  assert.is(handled, 1);
  assert.is(client.stats.retransmissions, 2);
  assert.is(client.stats.droppedOutgoing, 2);
  assert.equal(armed.filter((ms) => ms < FAST.requestTimeoutMs!), [40, 80, 160], 'ACK_TIMEOUT, then doubled at each retransmission');
  await Promise.all([server.close(), client.close()]);
});

test('RFC 7252 §4.5: a duplicate CON is handled once and answered from the cache', async () => {
  const [server, client] = await pair({ dropOutgoing: (n) => n === 0 });
  let handled = 0;
  server.onRequest((_req, reply) => {
    handled += 1;
    reply({ code: '2.05', payload: `call ${handled}` });
  });
  const res = await within(client.request({ host: '127.0.0.1', port: server.address().port, method: 'GET' }), 2000);
  assert.is(res.payload.toString(), 'call 1');
  assert.is(handled, 1);
  assert.is(server.stats.duplicates, 1);
  assert.is(client.stats.retransmissions, 1);
  await Promise.all([server.close(), client.close()]);
});

test('RFC 7252 §4.2: an RST rejects the request with COAP_RESET', async () => {
  const raw = await RawPeer.open();
  const client = await CoapEndpoint.bind(FAST);
  const pending = client.request({ host: '127.0.0.1', port: raw.port, method: 'GET' });
  const req = await raw.waitFor(1);
  raw.send({ code: '0.00', messageId: req.messageId, reset: true }, client.address().port);
  const err = await within(pending.then(() => undefined, (e: unknown) => e), 1000);
  assert.instance(err, CoapError);
  assert.is((err as CoapError).code, CoapErrorCode.RESET);
  await Promise.all([raw.close(), client.close()]);
});

test('RFC 7252 §4.8: no ACK after MAX_RETRANSMIT gives COAP_TIMEOUT', async () => {
  const raw = await RawPeer.open();
  const client = await CoapEndpoint.bind({ ...FAST, ackTimeoutMs: 20, maxRetransmit: 2 });
  const err = await within(client.request({ host: '127.0.0.1', port: raw.port, method: 'GET' }).then(() => undefined, (e: unknown) => e), 2000);
  assert.instance(err, CoapError);
  assert.is((err as CoapError).code, CoapErrorCode.TIMEOUT);
  assert.match((err as CoapError).reason, /retransmissions/);
  assert.is(raw.received.length, 3);
  assert.is(client.stats.retransmissions, 2);
  await Promise.all([raw.close(), client.close()]);
});

test('the overall bound rejects a request whose separate response never comes', async () => {
  const raw = await RawPeer.open();
  const client = await CoapEndpoint.bind(FAST);
  const pending = client.request({ host: '127.0.0.1', port: raw.port, method: 'GET', timeoutMs: 150 });
  const req = await raw.waitFor(1);
  raw.send({ code: '0.00', messageId: req.messageId, ack: true }, client.address().port);
  const err = await within(pending.then(() => undefined, (e: unknown) => e), 1000);
  assert.instance(err, CoapError);
  assert.is((err as CoapError).code, CoapErrorCode.TIMEOUT);
  assert.match((err as CoapError).reason, /150 ms/);
  await Promise.all([raw.close(), client.close()]);
});

test('NON request gets a NON response; a handler that throws gives 5.00', async () => {
  const [server, client] = await pair();
  server.onRequest((req, reply) => {
    if (req.pathSegments[0] === 'boom') throw new Error('handler bug');
    assert.is(req.confirmable, false);
    reply({ code: '2.05', payload: 'non' });
  });
  const port = server.address().port;
  const res = await within(client.request({ host: '127.0.0.1', port, method: 'GET', confirmable: false }), 1000);
  assert.is(res.transport, 'non');
  assert.is(res.payload.toString(), 'non');
  const boom = await within(client.request({ host: '127.0.0.1', port, method: 'GET', pathSegments: ['boom'] }), 1000);
  assert.is(boom.code, '5.00');
  assert.is(server.stats.handlerErrors, 1);
  await Promise.all([server.close(), client.close()]);
});

test('malformed datagrams are dropped and counted; an empty CON (ping) gets RST', async () => {
  const raw = await RawPeer.open();
  const server = await CoapEndpoint.bind(FAST);
  const port = server.address().port;
  raw.send(Buffer.from([0xff, 0x00]), port);
  raw.send(Buffer.from('hello, not coap'), port);
  raw.send(Buffer.from([0x40, 0x01, 0x00]), port); // truncated header
  raw.send({ code: '0.00', messageId: 42, confirmable: true }, port);
  const rst = await raw.waitFor(1);
  assert.ok(rst.reset);
  assert.is(rst.messageId, 42);
  await until(() => server.stats.malformed === 3, 1000, 'three malformed counted');
  await Promise.all([raw.close(), server.close()]);
});

test('an unknown critical option in a request gives 4.02', async () => {
  const raw = await RawPeer.open();
  const server = await CoapEndpoint.bind(FAST);
  server.onRequest((_req, reply) => reply({ code: '2.05' }));
  raw.send({ code: 'GET', messageId: 5, confirmable: true, token: Buffer.from([1]), options: [{ name: '2049', value: Buffer.from([1]) }] }, server.address().port);
  const res = await raw.waitFor(1);
  assert.is(res.code, '4.02');
  await Promise.all([raw.close(), server.close()]);
});

test('RFC 7641: notifications carry increasing Observe numbers; an RST removes the observer', async () => {
  const [server, client] = await pair();
  const removed: ObserverRemoved[] = [];
  const observers = new Observers(server, { onRemoved: (_o, why) => removed.push(why) });
  let value = 0;
  server.onRequest((req, reply) => {
    if (req.options.observe === 0) {
      const seq = observers.add('/v', req);
      reply({ code: '2.05', observe: seq, payload: String(value) });
    } else reply({ code: '2.05', payload: String(value) });
  });
  const seen: { seq: number | undefined; value: string }[] = [];
  let cancelAfter = 2;
  const first = await within(
    client.request({
      host: '127.0.0.1',
      port: server.address().port,
      method: 'GET',
      observe: 0,
      onNotify: (n) => {
        seen.push({ seq: n.options.observe, value: n.payload.toString() });
        return seen.length < cancelAfter + 1;
      },
    }),
    1000,
  );
  assert.is(first.payload.toString(), '0');
  assert.is(observers.size, 1);
  const firstSeq = first.options.observe ?? -1;
  for (let i = 1; i <= 2; i++) {
    value = i;
    assert.is(observers.notify((k) => k === '/v', () => ({ code: '2.05', payload: String(value) })), 1);
    await until(() => seen.length === i, 1000, `notification ${i}`);
  }
  assert.equal(seen.map((s) => s.value), ['1', '2']);
  assert.ok((seen[0]?.seq ?? 0) > firstSeq && (seen[1]?.seq ?? 0) > (seen[0]?.seq ?? 0));
  cancelAfter = 2; // the third notification is refused: the client answers RST
  value = 3;
  observers.notify(() => true, () => ({ code: '2.05', payload: String(value) }));
  await until(() => observers.size === 0, 1000, 'observer removed');
  assert.equal(removed, ['reset']);
  await Promise.all([server.close(), client.close()]);
});

test('RFC 7641 §4.5.2: a CON notification nobody ACKs removes the observer', async () => {
  const raw = await RawPeer.open();
  const server = await CoapEndpoint.bind({ ...FAST, ackTimeoutMs: 10, maxRetransmit: 1 });
  const observers = new Observers(server);
  server.onRequest((req, reply) => reply({ code: '2.05', observe: observers.add('/v', req) }));
  raw.send({ code: 'GET', messageId: 9, confirmable: true, token: Buffer.from([7, 7]), options: [{ name: 'Observe', value: Buffer.alloc(0) }] }, server.address().port);
  await raw.waitFor(1);
  assert.is(observers.size, 1);
  observers.notify(() => true, () => ({ code: '2.05', payload: 'x' }));
  await until(() => observers.size === 0, 1000, 'observer dropped after timeout');
  assert.is(raw.received.length, 3); // response + notification + one retransmission
  await Promise.all([raw.close(), server.close()]);
});

test('a seeded random gives the same tokens and Message IDs', async () => {
  const raws = [await RawPeer.open(), await RawPeer.open()];
  const eps = [await CoapEndpoint.bind({ ...FAST, random: seededRandom(7) }), await CoapEndpoint.bind({ ...FAST, random: seededRandom(7) })];
  const heads: string[] = [];
  for (const [i, ep] of eps.entries()) {
    const raw = raws[i];
    if (raw === undefined) throw new Error('no raw peer');
    void ep.request({ host: '127.0.0.1', port: raw.port, method: 'GET' }).catch(() => undefined);
    const m = await raw.waitFor(1);
    heads.push(`${m.messageId}/${m.token.toString('hex')}`);
  }
  assert.is(heads[0], heads[1]);
  await Promise.all([...eps.map((e) => e.close()), ...raws.map((r) => r.close())]);
});

test('close() rejects what is pending with COAP_CLOSED', async () => {
  const raw = await RawPeer.open();
  const client = await CoapEndpoint.bind(FAST);
  const pending = client.request({ host: '127.0.0.1', port: raw.port, method: 'GET' }).then(() => undefined, (e: unknown) => e);
  await raw.waitFor(1);
  await client.close();
  const err = await pending;
  assert.is((err as CoapError).code, CoapErrorCode.CLOSED);
  await raw.close();
});

test.run();
