// The DTLS socket fuzzer at CI size (sockets-dtls.ts; `npm run fuzz -- --only sockets-dtls` runs
// 200,000): 3,000 seeded hostile datagrams from four loopback sources at a DtlsSocket with the
// real PSK look-up and a CoAP server behind it, a genuine handshake and GET from a new port every
// 250; no error event, no uncaught exception, counts within their caps, every check answered 2.05.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { describeDtlsReport, fuzzDtls } from './sockets-dtls.ts';

const SEED = 20_261_202;
const INPUTS = 3_000;

test(`a DtlsSocket takes ${INPUTS} fuzzed datagrams (seed ${SEED}) and still completes genuine handshakes`, async () => {
  const r = await fuzzDtls({ inputs: INPUTS, seed: SEED });
  const report = describeDtlsReport(r).join('\n');
  console.log(report);
  assert.equal(r.failures, [], report);
  assert.ok(r.sent >= INPUTS, 'every datagram sent');
  assert.ok(r.checks >= INPUTS / 250, `a check every 250 datagrams: ${r.checks}`);
  assert.is(r.checksPassed, r.checks, 'every check answered 2.05');
  // The fuzz got deep: cookies fetched for mutated hellos, handshakes completed by the scripts, CoAP answers read back.
  assert.ok(r.scripts.cookie > 0 && r.scripts.flight > 0 && r.scripts.established > 0, `scripted handshakes: ${JSON.stringify(r.scripts)}`);
  assert.ok(r.requests > INPUTS / 20, `${r.requests} CoAP requests reached the server through sealed records`);
  assert.ok(r.maxCounts.halfOpen <= r.caps.halfOpen && r.maxCounts.sessions <= r.caps.sessions, 'counts within their caps');
});

test.run();
