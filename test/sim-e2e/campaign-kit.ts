/** Campaigns against a real Ferry: fleets started in the background, the campaign API, polls. */
import type { Test } from 'uvu';
import type { CampaignAlert } from '../../server/fota/campaigns.ts';
import { silentLogger } from '../../server/log.ts';
import { startFerry, type Ferry } from '../../server/main.ts';
import type { Db } from '../../server/store/db.ts';
import type { SimDevice } from '../../simulator/device.ts';
import { runFleet, type FleetOptions, type FleetResult } from '../../simulator/fleet.ts';
import { eventually, injectAsAdmin, testConfig } from '../helpers/ferry.ts';
import { signedPackage, trustedAnchor } from './kit.ts';

export const FACTORY = signedPackage('1.0.0', 4096, 0, 3);

/** What a campaign suite's tests share: this test's server, the alerts its campaigns raised, the fleets to stop after it. */
export interface CampaignEnv {
  ferry: Ferry;
  alerts: CampaignAlert[];
  fleets: Array<ReturnType<typeof backgroundFleet>>;
}

/**
 * A Ferry per test of `suite` (campaign ticks of 100 ms, short update and request timeouts, the
 * sweep every 500 ms), its campaign alerts collected, the admin token injected; after each test
 * its fleets are stopped and the server closed.
 */
export function campaignFerryPerTest(suite: Test, db: () => Db): CampaignEnv {
  const env = { alerts: [], fleets: [] } as unknown as CampaignEnv;
  suite.before.each(async () => {
    const alerts: CampaignAlert[] = [];
    env.alerts = alerts;
    env.ferry = await startFerry(testConfig({ campaignTick: 100, updateTimeout: 20, requestTimeout: 5 }), {
      log: silentLogger(), db: db(), sweepMs: 500, onAlert: (a) => alerts.push(a),
    });
    injectAsAdmin(env.ferry.api);
  });
  suite.after.each(async () => {
    await Promise.all(env.fleets.map((f) => f.stop()));
    env.fleets = [];
    await env.ferry.close();
  });
  return env;
}

/** A fleet running until `stop()`: flash digest mode, 1024-byte blocks, short lifetimes and CoAP timers. */
export function backgroundFleet(coapPort: number, o: Partial<FleetOptions> & { devices: number; prefix: string }) {
  const ctl = new AbortController();
  let devices: readonly SimDevice[] = [];
  const done: Promise<FleetResult> = runFleet({
    server: `coap://127.0.0.1:${coapPort}`, ramp: 200, seed: 7, trustedKeys: [trustedAnchor()], factoryImage: FACTORY,
    blockSzx: 6, lifetime: 30, rebootDelayMs: 50, flash: { mode: 'digest' }, coap: { ackTimeoutMs: 300, maxRetransmit: 4 },
    signal: ctl.signal, onDevices: (d) => { devices = d; }, ...o,
  });
  return { get devices() { return devices; }, done, stop: async () => { ctl.abort(); return done; } };
}

/** Waits until `n` devices have registered and had /3/0 read (their hardware class known). */
export function inventoried(db: Db, n: number, ms = 40_000): Promise<true> {
  return eventually(async () => {
    const { rows } = await db.query<{ n: number }>(`SELECT count(*)::integer AS n FROM devices WHERE hardware_class = 'sim-1' AND firmware_version IS NOT NULL`);
    return rows[0]!.n >= n || undefined;
  }, ms, `${n} devices inventoried`);
}

export async function api(ferry: Ferry, method: 'GET' | 'POST' | 'PUT', url: string, payload?: object) {
  const res = await ferry.api.inject({ method, url, ...(payload === undefined ? {} : { payload }) });
  return { status: res.statusCode, body: res.json() };
}

export async function createAndStart(ferry: Ferry, body: object): Promise<number> {
  const created = await api(ferry, 'POST', '/api/v1/campaigns', body);
  if (created.status !== 201) throw new Error(`create: ${created.status} ${JSON.stringify(created.body)}`);
  const started = await api(ferry, 'POST', `/api/v1/campaigns/${created.body.id}/start`);
  if (started.status !== 200) throw new Error(`start: ${started.status} ${JSON.stringify(started.body)}`);
  return created.body.id as number;
}

/** GET /api/v1/campaigns/:id until its state is one of `states`. */
export function campaignIn(ferry: Ferry, id: number, states: string[], ms = 45_000) {
  return eventually(async () => {
    const p = (await api(ferry, 'GET', `/api/v1/campaigns/${id}`)).body;
    return states.includes(p.state) ? p : undefined;
  }, ms, `campaign ${id} to be ${states.join(' or ')}`);
}

/** Devices with more than one update row, and with more than one that succeeded. */
export async function doubleUpdates(db: Db): Promise<{ rows: string[]; succeeded: string[] }> {
  const q = async (where: string) => (await db.query<{ endpoint: string; n: number }>(
    `SELECT d.endpoint, count(*)::integer AS n FROM device_updates u JOIN devices d ON d.id = u.device_id ${where}
     GROUP BY d.endpoint HAVING count(*) > 1 ORDER BY 1`)).rows.map((r) => `${r.endpoint} × ${r.n}`);
  return { rows: await q(''), succeeded: await q(`WHERE u.state = 'succeeded'`) };
}
