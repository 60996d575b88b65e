// The DTLS socket fuzzer at CI size (sockets-dtls.ts; `npm run fuzz -- --only sockets-dtls` runs
// 200,000): seeded hostile datagrams from four loopback sources at both DTLS sockets of a whole
// Ferry (every 250, over a new DTLS session from a new port, a clean Register must get 2.01 and a
// GET of a firmware name that does not exist the download handler's 4.04), and at
// a DtlsSocket alone with small caps (GET /ping, 2.05, and every half-open handshake expired at the
// end). No error event, no error logged, no uncaught exception, no 5.xx, counts bounded.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { describeDtlsReport, fuzzDtls, type DtlsFuzzReport } from './sockets-dtls.ts';
import type { TargetKind } from './sockets-dtls-target.ts';

const SEED = 20_261_202;
const RUNS: Record<TargetKind, number> = { ferry: 2_500, layer: 1_000 };

function checkReport(r: DtlsFuzzReport, inputs: number): void {
  const report = describeDtlsReport(r).join('\n');
  console.log(report);
  assert.equal(r.failures, [], report);
  assert.ok(r.sent >= inputs, 'every datagram sent');
  assert.ok(r.checks >= inputs / 250, `a check every 250 datagrams: ${r.checks}`);
  assert.is(r.checksPassed, r.checks, 'every check answered as a clean client expects');
  // The fuzz got deep: cookies fetched for mutated hellos, handshakes completed by the scripts, records delivered to CoAP.
  assert.ok(r.scripts.cookie > 0 && r.scripts.flight > 0 && r.scripts.established > 0, `scripted handshakes: ${JSON.stringify(r.scripts)}`);
  assert.ok(r.requests > inputs / 20, `${r.requests} CoAP messages reached the server through sealed records`);
  assert.ok(r.maxCounts.halfOpen <= r.caps.halfOpen && r.maxCounts.sessions <= r.caps.sessions, 'counts within their caps');
}

for (const target of ['ferry', 'layer'] as const) {
  test(`${target}: ${RUNS[target]} fuzzed DTLS datagrams (seed ${SEED}), and genuine handshakes still complete`, async () => {
    checkReport(await fuzzDtls({ target, inputs: RUNS[target], seed: SEED }), RUNS[target]);
  });
}

test.run();
