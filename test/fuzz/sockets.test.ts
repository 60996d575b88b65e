// The socket fuzzers at CI size (sockets.ts; `npm run fuzz -- --only sockets` runs 200,000 a socket):
// a real `ferry serve` child process, 5,000 seeded hostile datagrams at each of its UDP sockets
// from 127.0.0.1 (half before that address proves itself, half after), a clean Register and a
// clean block GET from other loopback addresses every 250; no 5.xx to anyone, no error in its
// log, every check answered, the process alive, its memory within the bound.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { describeReport, fuzzSockets } from './sockets.ts';

const SEED = 20_251_201;
const PER_SOCKET = 5_000;
/** Resident memory may grow this much during the run (MB): measured, under 25 MB at this size. */
const RSS_GROWTH_MB = 100;

test(`both UDP sockets of ferry serve take ${PER_SOCKET} fuzzed datagrams each (seed ${SEED}) and still answer`, async () => {
  const r = await fuzzSockets({ sockets: ['coap', 'download'], perSocket: PER_SOCKET, seed: SEED, rssGrowthMb: RSS_GROWTH_MB });
  const report = describeReport(r).join('\n');
  console.log(report);
  assert.equal(r.fiveXx, [], `no 5.xx was sent:\n${report}`);
  assert.ok(r.alive, `the server is alive:\n${report}`);
  assert.ok(r.rss.maxMb <= r.rss.boundMb, `RSS ${r.rss.maxMb} MB within ${r.rss.boundMb} MB`);
  assert.equal(r.errorLogs.map((e) => e.first), [], 'no error in the server log');
  assert.ok(r.unproven.sent > 0 && r.unproven.received <= 3 * r.unproven.sent, `unproven: ${r.unproven.received} bytes answered for ${r.unproven.sent} (RFC 9175 §2.4)`);
  for (const s of r.sockets) {
    assert.is(s.sent, PER_SOCKET, `${s.socket}: every datagram sent`);
    assert.is(s.checks, PER_SOCKET / 250, `${s.socket}: a check every 250 datagrams`);
    assert.is(s.checksPassed, s.checks, `${s.socket}: every check answered as a clean client expects:\n${report}`);
    // The fuzz got past the guard: the handlers behind it answered, not only the guard's Resets.
    const answered = Object.entries(s.responses).filter(([code]) => /^[24]\./.test(code)).reduce((n, [, v]) => n + v, 0);
    assert.ok(answered > PER_SOCKET / 10, `${s.socket}: ${answered} answers from the handlers`);
    assert.is(s.guard['handlerErrors'] ?? 0, 0, `${s.socket}: nothing threw behind the guard`);
  }
  assert.equal(r.failures, [], report);
});

test.run();
