import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { seededRandom } from '../../simulator/clock.ts';
import type { Clock } from '../../simulator/clock.ts';
import { CoapEndpoint } from '../../simulator/coap/endpoint.ts';
import { emptyLinkStats, faultyLink } from '../../simulator/coap/faulty-link.ts';
import type { LinkFaults } from '../../simulator/coap/faulty-link.ts';
import type { DatagramTransport } from '../../simulator/coap/transport.ts';
import { FaultSpecError, expectedResult, parseFault, planFaults, summarizePlan } from '../../simulator/faults.ts';
import type { FaultSpec } from '../../simulator/faults.ts';

const SPEC: FaultSpec = {
  link: { loss: 0.05 },
  device: {
    'reboot-during-download': { amount: 0.02 },
    'power-loss': { amount: 3 },
    'bit-flip': { amount: 0.01 },
    'crash-before-confirm': { amount: 2 },
    'never-returns': { amount: 0.005 },
  },
};

test('parseFault: probability, count, power-loss step; errors name the problem', () => {
  assert.equal(parseFault('reboot-during-download=0.02'), ['reboot-during-download', { amount: 0.02 }]);
  assert.equal(parseFault('power-loss=3@12'), ['power-loss', { amount: 3, step: 12 }]);
  assert.equal(parseFault('bit-flip=1'), ['bit-flip', { amount: 1 }]);
  assert.throws(() => parseFault('meteor=0.1'), (e: Error) => e instanceof FaultSpecError && /unknown fault/.test(e.message));
  assert.throws(() => parseFault('bit-flip=1.5'), /whole number/);
  assert.throws(() => parseFault('bit-flip=0.1@3'), /only power-loss/);
  assert.throws(() => parseFault('bit-flip'), /bad fault/);
});

test('the same seed gives the same fault plan; another seed another one', () => {
  const a = planFaults(SPEC, 500, 42);
  const b = planFaults(SPEC, 500, 42);
  assert.equal(a, b);
  const c = planFaults(SPEC, 500, 43);
  assert.not.equal(a.faults, c.faults);
});

test('counts are exact, probabilities are per device, one fault per device at most', () => {
  const plan = planFaults(SPEC, 10_000, 7);
  const s = summarizePlan(plan);
  assert.is(s['power-loss'], 3);
  assert.is(s['crash-before-confirm'], 2);
  assert.ok((s['reboot-during-download'] ?? 0) > 150 && (s['reboot-during-download'] ?? 0) < 250, `${s['reboot-during-download']}`);
  assert.ok((s['bit-flip'] ?? 0) > 60 && (s['bit-flip'] ?? 0) < 140);
  assert.is(plan.faults.length, 10_000);
  for (const f of plan.faults) {
    if (f?.kind === 'power-loss') assert.ok(f.at >= 0 && f.at < 1 && f.step === undefined);
    if (f?.kind === 'reboot-during-download') assert.ok(f.at >= 0.1 && f.at < 0.9);
  }
  assert.throws(() => planFaults({ link: {}, device: { 'bit-flip': { amount: 0.7 }, 'flash-full': { amount: 0.5 } } }, 10, 1), /more than 1/);
  assert.throws(() => planFaults({ link: {}, device: { 'bit-flip': { amount: 11 } } }, 10, 1), /10/);
});

test('expected Update Results per fault', () => {
  assert.is(expectedResult('bit-flip'), 5);
  assert.is(expectedResult('flash-full'), 2);
  assert.is(expectedResult('battery-low'), 8);
  assert.is(expectedResult('battery-low', true), 11);
  assert.is(expectedResult('crash-before-confirm'), 8);
  assert.is(expectedResult('reboot-during-download'), 1);
  assert.is(expectedResult('power-loss'), 1);
  assert.is(expectedResult('never-returns'), undefined);
  assert.is(expectedResult(undefined), 1);
});

/** A transport that records what reaches the wire, under a clock the test turns by hand. */
function bench(faults: LinkFaults, seed: number) {
  let now = 0;
  const timers: { at: number; fn: () => void }[] = [];
  const clock: Clock = {
    now: () => now,
    setTimeout: (fn, ms) => { const t = { at: now + ms, fn }; timers.push(t); return t; },
    clearTimeout: (t) => { const i = timers.indexOf(t as never); if (i >= 0) timers.splice(i, 1); },
  };
  const wire: number[] = [];
  const inner: DatagramTransport = { send: (buf) => void wire.push(buf[0]!), onMessage: () => {}, address: () => ({ address: '127.0.0.1', port: 1 }), close: async () => {} };
  const stats = emptyLinkStats();
  const link = faultyLink(faults, clock, seededRandom(seed), stats)(inner);
  const run = (ms: number): void => {
    const end = now + ms;
    for (;;) {
      timers.sort((x, y) => x.at - y.at);
      const t = timers[0];
      if (t === undefined || t.at > end) break;
      timers.shift();
      now = t.at;
      t.fn();
    }
    now = end;
  };
  return { link, wire, stats, run };
}

test('the fault layer: loss, duplication, reordering and jitter, the same each time for a seed', () => {
  const outcomes = [1, 1, 2].map((seed) => {
    const b = bench({ loss: 0.1, duplicate: 0.1, reorder: 0.2, reorderMs: 15, latencyMs: 5, jitterMs: 4 }, seed);
    for (let i = 0; i < 200; i++) {
      b.link.send(Buffer.from([i]), { address: '127.0.0.1', port: 9 });
      b.run(2);
    }
    b.run(100);
    return b;
  });
  const [a, again, other] = outcomes as [ReturnType<typeof bench>, ReturnType<typeof bench>, ReturnType<typeof bench>];
  assert.equal(a.wire, again.wire, 'same seed, same fates');
  assert.equal(a.stats, again.stats);
  assert.not.equal(a.wire, other.wire);
  assert.ok(a.stats.lost > 5 && a.stats.duplicated > 5 && a.stats.reordered > 10, JSON.stringify(a.stats));
  assert.is(a.wire.length, 200 - a.stats.lost + a.stats.duplicated);
  const inOrder = a.wire.every((v, i) => i === 0 || v >= a.wire[i - 1]!);
  assert.not.ok(inOrder, 'later datagrams overtook held-back ones');
});

test('over real UDP, requests get through 20% loss each way by retransmission; a replay loses the same datagrams', async () => {
  const counts = [];
  for (let run = 0; run < 2; run++) {
    const stats = emptyLinkStats();
    const server = await CoapEndpoint.bind({ ackTimeoutMs: 50, maxRetransmit: 6 });
    server.onRequest((_req, reply) => reply({ code: '2.05', payload: 'ok' }));
    const client = await CoapEndpoint.bind({ ackTimeoutMs: 50, maxRetransmit: 6, random: seededRandom(5), layers: [faultyLink({ loss: 0.2 }, { now: Date.now, setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout) }, seededRandom(99), stats)] });
    const port = server.address().port;
    for (let i = 0; i < 15; i++) assert.is((await client.request({ host: '127.0.0.1', port, method: 'GET', pathSegments: ['x'] })).code, '2.05');
    counts.push({ lost: stats.lost, retransmissions: client.stats.retransmissions });
    await Promise.all([client.close(), server.close()]);
  }
  assert.ok(counts[0]!.lost > 0);
  assert.equal(counts[0], counts[1]);
});

test.run();
