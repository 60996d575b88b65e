/** Campaigns against a real Ferry: fleets started in the background, the campaign API, polls. */
import type { Ferry } from '../../server/main.ts';
import type { Db } from '../../server/store/db.ts';
import type { SimDevice } from '../../simulator/device.ts';
import { runFleet, type FleetOptions, type FleetResult } from '../../simulator/fleet.ts';
import { eventually } from '../helpers/ferry.ts';
import { signedPackage, trustedAnchor } from './kit.ts';

export const FACTORY = signedPackage('1.0.0', 4096, 0, 3);

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
