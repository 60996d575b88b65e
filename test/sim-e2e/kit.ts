/** Packages and devices for the simulator's runs against a real Ferry server. */
import { signPackage } from '../../protocols/package.ts';
import type { TrustAnchor } from '../../protocols/package.ts';
import type { Test } from 'uvu';
import type { Config } from '../../server/config.ts';
import type { Ferry } from '../../server/main.ts';
import type { Db } from '../../server/store/db.ts';
import type { SimDevice } from '../../simulator/device.ts';
import { makeSimImage } from '../../simulator/image.ts';
import { eventually, startTestFerry, testSigningKey } from '../helpers/ferry.ts';

/** The key test servers trust (and sign raw uploads with): the devices trust it too. */
export function trustedAnchor(): TrustAnchor {
  const { key } = testSigningKey();
  return { alg: key.alg, kid: key.kid, publicKey: key.publicKey };
}

export function signedPackage(version: string, size: number, sequence: number, seed = 1): Buffer {
  return Buffer.from(signPackage({
    payload: makeSimImage({ version, size, seed }), key: testSigningKey().key, sequence, vendorId: 'ferry', classId: 'sim-1', version, created: 1_700_000_000,
  }));
}

export async function uploadPackage(ferry: Ferry, pkg: Buffer): Promise<number> {
  const res = await ferry.api.inject({ method: 'POST', url: '/api/v1/firmware', headers: { 'content-type': 'application/octet-stream' }, payload: pkg });
  if (res.statusCode !== 201) throw new Error(`upload: ${res.statusCode} ${res.body}`);
  return res.json().id as number;
}

export async function requestUpdate(ferry: Ferry, endpoint: string, firmwareId: number): Promise<number> {
  const res = await ferry.api.inject({ method: 'POST', url: `/api/v1/devices/${endpoint}/update`, payload: { firmwareId } });
  if (res.statusCode !== 202) throw new Error(`update ${endpoint}: ${res.statusCode} ${res.body}`);
  return res.json().id as number;
}

/** A test's Ferry and the simulated devices it started. */
export interface SimRun {
  ferry: Ferry;
  sims: SimDevice[];
}

/**
 * A fresh Ferry before each test of `suite` (the database is emptied between tests and ids start
 * again at 1, which a running server's image cache would not expect); after it, every device in
 * `sims` is stopped, then the server.
 */
export function simRun(suite: Test, db: () => Db, overrides: Partial<Config>): SimRun {
  const run: SimRun = { ferry: undefined as unknown as Ferry, sims: [] };
  suite.before.each(async () => { run.ferry = await startTestFerry(db(), overrides); });
  suite.after.each(async () => {
    await Promise.all(run.sims.map((s) => s.stop()));
    run.sims = [];
    await run.ferry.close();
  });
  return run;
}

/** GET /api/v1/updates/:id until the update is final (succeeded, failed, cancelled). */
export function updateOutcome(ferry: Ferry, id: number, ms = 30_000) {
  return eventually(async () => {
    const u = (await ferry.api.inject({ method: 'GET', url: `/api/v1/updates/${id}` })).json();
    return ['succeeded', 'failed', 'cancelled'].includes(u.state) ? u : undefined;
  }, ms, `update ${id} to finish`);
}
