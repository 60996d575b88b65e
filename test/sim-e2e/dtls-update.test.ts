// Simulated devices over DTLS-PSK against a real Ferry (security both): the fleet's keys are
// imported through the admin API before the devices start, each registers over coaps, keeps its
// registration in that session, pulls its package from the coaps:// download socket in a second
// session, with 5% loss on every link and nat-rebind faults mid-download; every device updates,
// none is bricked. A device with the wrong key fails the handshake and is not registered. Bounded
// well under a minute, so it runs on one database: PostgreSQL when DATABASE_URL is set, PGlite otherwise.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { newSecretsKeyText } from '../../server/credentials/secrets-key.ts';
import type { Ferry } from '../../server/main.ts';
import * as devices from '../../server/store/devices.ts';
import { SimDevice } from '../../simulator/device.ts';
import type { SimDeviceEvent } from '../../simulator/device.ts';
import { planFaults } from '../../simulator/faults.ts';
import type { FaultSpec } from '../../simulator/faults.ts';
import { fleetPsks, runFleet } from '../../simulator/fleet.ts';
import { formatReport } from '../../simulator/fleet-report.ts';
import { openTestDatabase } from '../helpers/db.ts';
import type { TestDb } from '../helpers/db.ts';
import { eventually, startTestFerry, TEST_ADMIN_TOKEN } from '../helpers/ferry.ts';
import { signedPackage, trustedAnchor, uploadPackage } from './kit.ts';

const DEVICES = 20;
const SEED = 9146;
const FAULTS: FaultSpec = { link: { loss: 0.05 }, device: { 'nat-rebind': { amount: 6 } } };

const dir = mkdtempSync(join(tmpdir(), 'ferry-sim-dtls-'));
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
const keyFile = join(dir, 'secrets.key');
writeFileSync(keyFile, newSecretsKeyText(), { mode: 0o600 });

let db: TestDb;
let ferry: Ferry;
test.before(async () => {
  db = await openTestDatabase(process.env['DATABASE_URL'] ? 'pg' : 'pglite');
  ferry = await startTestFerry(db.db, { secretsKeyFile: keyFile, security: 'both', updateTimeout: 20, requestTimeout: 8 }, 500);
});
test.after(async () => {
  await ferry.close();
  await db.close();
});

const coapsUri = (): string => `coaps://127.0.0.1:${ferry.coapsAddress!.port}`;

test(`${DEVICES} devices over DTLS-PSK, keys imported through the API, 5% loss, nat-rebind mid-download: all update, none bricked`, async () => {
  const plan = planFaults(FAULTS, DEVICES, SEED);
  const rebinding = plan.faults.filter((f) => f?.kind === 'nat-rebind').length;
  const started = Date.now();
  const firmwareId = await uploadPackage(ferry, signedPackage('2.0.0', 16 * 1024, 1, 7));
  const packageUris = new Set<string>();
  /** Every device's events, to show the story of one that did not update. */
  const timeline = new Map<string, string[]>();
  const log = (e: SimDeviceEvent): void => {
    const { endpoint, at, type, ...rest } = e;
    timeline.set(endpoint, [...(timeline.get(endpoint) ?? []), `${((at - started) / 1000).toFixed(1)}s ${type} ${JSON.stringify(rest)}`]);
    if (e.type === 'download-started') packageUris.add(e.uri.replace(/\/fw\/[0-9a-f]+$/, '/fw/…'));
  };
  let fleet: readonly SimDevice[] = [];
  const report = await runFleet({
    server: coapsUri(), devices: DEVICES, prefix: 'dtls', ramp: 50, seed: SEED, faults: FAULTS,
    provision: { api: ferry.apiUrl, token: TEST_ADMIN_TOKEN },
    trustedKeys: [trustedAnchor()], factoryImage: signedPackage('1.0.0', 4096, 0, 3), blockSzx: 6, lifetime: 60, rebootDelayMs: 100,
    flash: { mode: 'digest' }, coap: { ackTimeoutMs: 500, maxRetransmit: 4 }, dtls: { initialTimeoutMs: 500 },
    driver: { api: ferry.apiUrl, token: TEST_ADMIN_TOKEN, updateTo: firmwareId, maxAttempts: 3, retryMs: 500, pollMs: 1000 },
    durationMs: 45_000, until: (s) => s.updated === DEVICES && fleet.every((d) => !d.bootloader.isTrial()),
    onDevices: (d) => { fleet = d; }, log,
  });
  console.log(`  ${db.name}: ${((Date.now() - started) / 1000).toFixed(1)} s\n${formatReport(report).replace(/^/gm, '    ')}`);
  for (const d of fleet.filter((x) => x.firmwareVersion !== '2.0.0')) console.log(`  ${d.endpoint}:\n    ${(timeline.get(d.endpoint) ?? []).join('\n    ')}`);
  assert.is(report.bricked, 0);
  assert.equal(report.invariants, []);
  assert.is(report.registered, DEVICES);
  assert.is(report.updated, DEVICES, report.outcome.summary);
  assert.is(report.outcome.status, 'passed');
  assert.equal([...packageUris], [`coaps://127.0.0.1:${ferry.secureDownloadAddress!.port}/fw/…`], 'every package came over coaps');
  assert.ok(report.sessions.handshakes >= 2 * DEVICES, 'a session for the server and one per download');
  assert.is(report.faults.fired['nat-rebind'], rebinding);
  assert.is(report.sessions.rebinds, rebinding);
  assert.ok(report.link.lost > 0, 'the links lost datagrams');
  for (const d of fleet) {
    const row = await devices.findByEndpoint(db.db, d.endpoint);
    assert.is(row?.securityMode, 'psk', `${d.endpoint} registered over DTLS`);
  }
});

test('Ferry restarts: the device\'s session is gone; its next Update gets no answer, goes again in a new session, and it stays registered', async () => {
  const [psk] = fleetPsks('restart', 1, SEED);
  const put = await ferry.api.inject({ method: 'PUT', url: `/api/v1/devices/${psk!.endpoint}/credentials`, payload: { identity: psk!.identity, key: psk!.key.toString('hex') } });
  assert.is(put.statusCode, 200, put.body);
  const events: SimDeviceEvent[] = [];
  const device = new SimDevice({
    endpoint: psk!.endpoint, server: { host: '127.0.0.1', port: ferry.coapsAddress!.port }, psk: { identity: psk!.identity, key: psk!.key }, lifetime: 4,
    dtls: { initialTimeoutMs: 300 }, coap: { ackTimeoutMs: 300, maxRetransmit: 2 }, log: (e) => events.push(e),
  });
  try {
    assert.ok(await device.start());
    const ports = { coapPort: ferry.coapAddress!.port, coapsPort: ferry.coapsAddress!.port, downloadPort: ferry.downloadAddress!.port, downloadCoapsPort: ferry.secureDownloadAddress!.port };
    await ferry.close();
    ferry = await startTestFerry(db.db, { secretsKeyFile: keyFile, security: 'both', updateTimeout: 20, requestTimeout: 8, ...ports }, 500);
    const handshakes = device.sessionCounters.handshakes;
    const mark = events.length;
    const after = () => events.slice(mark).map((e) => e.type);
    await eventually(async () => (device.sessionCounters.handshakes > handshakes && after().includes('updated') ? true : undefined), 20_000, 'an Update answered in a new session');
    assert.ok(device.sessionCounters.rehandshakes >= 1, 'a new handshake with the restarted server');
    assert.not.ok(after().includes('registered'), `the registration was kept: ${after().join(', ')}`);
    assert.ok(device.registered);
    const row = await devices.findByEndpoint(db.db, psk!.endpoint);
    assert.is(row?.status, 'registered');
    assert.is(row?.securityMode, 'psk');
  } finally {
    await device.stop();
  }
});

test('a device with the wrong key fails the handshake and is not registered', async () => {
  const [right] = fleetPsks('wrong', 1, SEED);
  const put = await ferry.api.inject({ method: 'PUT', url: `/api/v1/devices/${right!.endpoint}/credentials`, payload: { identity: right!.identity, key: right!.key.toString('hex') } });
  assert.is(put.statusCode, 200, put.body);
  const events: SimDeviceEvent[] = [];
  const device = new SimDevice({
    endpoint: right!.endpoint, server: { host: '127.0.0.1', port: ferry.coapsAddress!.port }, psk: { identity: right!.identity, key: Buffer.alloc(16, 0x5a) },
    dtls: { initialTimeoutMs: 300, maxRetransmits: 2 }, coap: { ackTimeoutMs: 300, maxRetransmit: 1 }, log: (e) => events.push(e),
  });
  try {
    assert.not.ok(await device.start(), 'the first Register did not get through');
    assert.not.ok(device.registered);
    assert.ok(device.sessionCounters.failures >= 1);
    assert.is(device.sessionCounters.handshakes, 0);
    assert.ok(events.some((e) => e.type === 'dtls-failed'), 'the handshake failure is reported');
    const row = await devices.findByEndpoint(db.db, right!.endpoint);
    assert.is.not(row?.status, 'registered');
  } finally {
    await device.stop();
  }
});

test.run();
