// 200 simulated devices against a real Ferry server, 5% loss on every link and a mix of
// device faults from a seeded plan. Every healthy device updates, each faulty one ends the way its
// fault says, none is bricked and every invariant holds. Bounded to about a minute, so it runs on
// one database: PostgreSQL when DATABASE_URL is set, PGlite otherwise.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Ferry } from '../../server/main.ts';
import type { SimDevice, SimDeviceEvent } from '../../simulator/device.ts';
import { expectedResult, planFaults } from '../../simulator/faults.ts';
import type { FaultSpec } from '../../simulator/faults.ts';
import { runFleet } from '../../simulator/fleet.ts';
import { formatReport } from '../../simulator/fleet-report.ts';
import { openTestDatabase } from '../helpers/db.ts';
import type { TestDb } from '../helpers/db.ts';
import { startTestFerry, TEST_ADMIN_TOKEN } from '../helpers/ferry.ts';
import { signedPackage, trustedAnchor, uploadPackage } from './kit.ts';

const DEVICES = 200;
const SEED = 20_240_601;
const FAULTS: FaultSpec = {
  link: { loss: 0.05 },
  device: {
    'reboot-during-download': { amount: 8 },
    'power-loss': { amount: 8 },
    'bit-flip': { amount: 4 },
    'flash-full': { amount: 3 },
    'battery-low': { amount: 3 },
    'crash-before-confirm': { amount: 4 },
    'never-returns': { amount: 2 },
  },
};

let db: TestDb;
let ferry: Ferry;
test.before(async () => {
  db = await openTestDatabase(process.env['DATABASE_URL'] ? 'pg' : 'pglite');
  ferry = await startTestFerry(db.db, { updateTimeout: 20, requestTimeout: 40 }, 500);
});
test.after(async () => {
  await ferry.close();
  await db.close();
});

test(`${DEVICES} devices, 5% loss, a mix of faults: the healthy ones update, none is bricked`, async () => {
  const plan = planFaults(FAULTS, DEVICES, SEED);
  assert.equal(planFaults(FAULTS, DEVICES, SEED), plan, 'the same seed gives the same fault plan');
  const firmwareId = await uploadPackage(ferry, signedPackage('2.0.0', 16 * 1024, 1, 7));
  let fleet: readonly SimDevice[] = [];
  const failures = new Map<string, number[]>();
  const succeeded = new Set<string>();
  const started = Date.now();
  /** Every device's events, to show the story of one that did not settle. */
  const timeline = new Map<string, string[]>();
  const log = (e: SimDeviceEvent): void => {
    const line = `${((e.at - started) / 1000).toFixed(1)}s ${e.type}${'path' in e ? ` ${e.method} ${e.path} ${e.code}` : ''}${'result' in e ? ` result ${e.result}` : ''}`;
    timeline.set(e.endpoint, [...(timeline.get(e.endpoint) ?? []), line]);
    if (e.type === 'download-failed' || e.type === 'update-failed') failures.set(e.endpoint, [...(failures.get(e.endpoint) ?? []), e.result]);
    if (e.type === 'update-succeeded') succeeded.add(e.endpoint);
  };
  const healthy = (i: number): boolean => expectedResult(plan.faults[i]?.kind) === 1;
  /** Where each device should end: updated, or failed with its fault's Update Result, or dark. */
  const settled = (d: SimDevice, i: number): boolean => {
    const fault = plan.faults[i];
    if (fault?.kind === 'never-returns') return d.off;
    // Never in the middle of a trial boot: a faulty device the driver asked again may be installing.
    if (d.bootloader.isTrial()) return false;
    if (healthy(i)) return succeeded.has(d.endpoint);
    return (failures.get(d.endpoint) ?? []).includes(expectedResult(fault?.kind) ?? -1);
  };
  const report = await runFleet({
    server: `coap://127.0.0.1:${ferry.coapAddress!.port}`, devices: DEVICES, prefix: 'fleet', ramp: 100, seed: SEED, faults: FAULTS,
    trustedKeys: [trustedAnchor()], factoryImage: signedPackage('1.0.0', 4096, 0, 3), blockSzx: 6, lifetime: 120, rebootDelayMs: 100,
    flash: { mode: 'digest' }, coap: { ackTimeoutMs: 500, maxRetransmit: 4 },
    driver: { api: ferry.apiUrl, token: TEST_ADMIN_TOKEN, updateTo: firmwareId, maxAttempts: 3, retryMs: 500, pollMs: 1000 },
    durationMs: 75_000, until: () => fleet.length === DEVICES && fleet.every(settled),
    onDevices: (d) => { fleet = d; }, log,
  });
  console.log(`  ${db.name}: ${((Date.now() - started) / 1000).toFixed(1)} s\n${formatReport(report).replace(/^/gm, '    ')}`);

  assert.is(report.bricked, 0);
  assert.equal(report.invariants, []);
  assert.is(report.registered, DEVICES);
  const unsettled = fleet.flatMap((d, i) => (settled(d, i) ? [] : [`${d.endpoint} (${plan.faults[i]?.kind ?? 'healthy'}, State ${d.state}, result ${d.updateResult})`]));
  for (const d of fleet.filter((x, i) => !settled(x, i))) console.log(`  ${d.endpoint}:\n    ${(timeline.get(d.endpoint) ?? []).join('\n    ')}`);
  assert.equal(unsettled, [], 'every device ended the way its fault says');
  for (const [i, d] of fleet.entries()) {
    if (plan.faults[i]?.kind === 'crash-before-confirm') assert.ok(d.counters.reverts >= 1, `${d.endpoint} reverted`);
    if (plan.faults[i]?.kind === 'crash-before-confirm' || plan.faults[i]?.kind === 'bit-flip') assert.is(d.bricked, undefined);
  }
  // Every healthy device updated: a lost CON is retransmitted (test/server/coap/retransmit.test.ts)
  // and a device left in Downloaded by a failed try is reset before the retry's Package URI.
  const healthyCount = plan.faults.filter((_, i) => healthy(i)).length;
  const stuck = fleet.filter((d, i) => healthy(i) && !succeeded.has(d.endpoint));
  assert.equal(stuck.map((d) => `${d.endpoint} (State ${d.state})`), [], 'healthy devices not updated');
  assert.ok(report.updated >= healthyCount);
  assert.ok(report.link.lost > 0, 'the links lost datagrams');
  assert.ok(report.timeToUpdateMs.count >= healthyCount);
});

test.run();
