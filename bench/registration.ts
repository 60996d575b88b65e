/**
 * Registration: N simulated devices register at once; measured until each has its 2.01 and the
 * server has read and stored its /3/0 (the registration's follow-up).
 */
import { SimDevice } from '../simulator/device.ts';
import type { Db } from '../server/store/db.ts';

export interface RegistrationResult {
  devices: number;
  seconds: number;
  perSecond: number;
  p95Ms: number;
}

export async function benchRegistration(o: { port: number; devices: number; db: Db; limitMs: number }): Promise<RegistrationResult> {
  const sims = Array.from({ length: o.devices }, (_, i) => new SimDevice({
    endpoint: `bench-${i}`, server: { host: '127.0.0.1', port: o.port }, lifetime: 300,
  }));
  const started = performance.now();
  try {
    const times = await Promise.all(sims.map(async (s) => {
      const t0 = performance.now();
      if (!(await s.start())) throw new Error(`${s.endpoint} did not register`);
      return performance.now() - t0;
    }));
    for (const deadline = Date.now() + o.limitMs; ;) {
      const { rows } = await o.db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM devices WHERE endpoint LIKE 'bench-%' AND firmware_version IS NOT NULL");
      if ((rows[0]?.n ?? 0) >= o.devices) break;
      if (Date.now() > deadline) throw new Error('registration benchmark ran past its time limit');
      await new Promise((r) => setTimeout(r, 20));
    }
    const seconds = (performance.now() - started) / 1000;
    times.sort((a, b) => a - b);
    return {
      devices: o.devices, seconds: Math.round(seconds * 100) / 100, perSecond: Math.round(o.devices / seconds),
      p95Ms: Math.round(times[Math.floor(times.length * 0.95)] ?? 0),
    };
  } finally {
    await Promise.all(sims.map((s) => s.stop()));
  }
}
