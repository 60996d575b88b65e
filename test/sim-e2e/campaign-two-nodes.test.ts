// Claim-safe: two `ferry serve` processes on one PostgreSQL schema share a campaign. Each
// fleet half registers with one of them; each node claims only the devices it holds the UDP
// binding of (FOR UPDATE SKIP LOCKED under a lease), no device is claimed by both, each is
// updated once. PostgreSQL only: skipped without DATABASE_URL.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Db } from '../../server/store/db.ts';
import type { SimDeviceEvent } from '../../simulator/device.ts';
import { openDb } from '../../server/store/open.ts';
import { createTestSchema, databaseUrl } from '../helpers/db.ts';
import { eventually } from '../helpers/ferry.ts';
import { apiCall, spawnFerry, uploadTo, type SpawnedFerry } from '../helpers/spawned-ferry.ts';
import { backgroundFleet, doubleUpdates } from './campaign-kit.ts';
import { signedPackage } from './kit.ts';

const HALF = 20;
const enabled = Boolean(process.env['DATABASE_URL']);
const servers: SpawnedFerry[] = [];
const cleanups: Array<() => Promise<void>> = [];

test.after(async () => {
  await Promise.all(servers.map((s) => s.kill('SIGKILL')));
  for (const c of cleanups.reverse()) await c();
});

/** Two `ferry serve` nodes on a fresh schema, and a connection of the test's own to it. */
async function twoNodes(names: [string, string]): Promise<{ a: SpawnedFerry; b: SpawnedFerry; db: Db }> {
  const made = await createTestSchema();
  cleanups.push(made.drop);
  const url = `${databaseUrl()}?options=${encodeURIComponent(`-c search_path=${made.schema}`)}`;
  const args = (node: string) => ['--database-url', url, '--coap-port', '0', '--node-id', node, '--campaign-tick', '200ms', '--update-timeout', '20s', '--request-timeout', '5s'];
  const [a, b] = [await spawnFerry(args(names[0])), await spawnFerry(args(names[1]))];
  servers.push(a, b);
  const db = await openDb({ databaseUrl: databaseUrl(), schema: made.schema });
  cleanups.push(() => db.close());
  return { a, b, db };
}

if (!enabled) console.log('  skipped: needs DATABASE_URL (two server processes on one PostgreSQL)');
(enabled ? test : test.skip)(`two nodes, one campaign over ${2 * HALF} devices: no device claimed by both, each updated once`, async () => {
  const { a, b, db } = await twoNodes(['node-a', 'node-b']);
  const fleets = [backgroundFleet(a.coapPort, { devices: HALF, prefix: 'on-a' }), backgroundFleet(b.coapPort, { devices: HALF, prefix: 'on-b' })];
  try {
    const firmwareId = await uploadTo(a.apiUrl, signedPackage('2.0.0', 8 * 1024, 1, 5));
    await eventually(async () => {
      const { rows } = await db.query<{ n: number }>(`SELECT count(*)::integer AS n FROM devices WHERE hardware_class = 'sim-1' AND firmware_version = '1.0.0'`);
      return rows[0]!.n === 2 * HALF || undefined;
    }, 30_000, 'both halves inventoried');
    // Created on one node, started on the other: the campaign lives in the database.
    const created = await apiCall(a.apiUrl, 'POST', '/api/v1/campaigns', {
      name: 'shared', firmwareId, target: { firmwareVersions: ['1.0.0'] },
      policy: { waves: ['25%', '100%'], concurrency: 10, failureThreshold: 0.2, retries: { max: 2, backoffSeconds: 1 } },
    });
    assert.is(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id as number;
    assert.is((await apiCall(b.apiUrl, 'POST', `/api/v1/campaigns/${id}/start`)).status, 200);
    const done = await eventually(async () => {
      const p = (await apiCall(b.apiUrl, 'GET', `/api/v1/campaigns/${id}`)).body;
      return ['completed', 'paused', 'aborted'].includes(p.state) ? p : undefined;
    }, 60_000, 'the shared campaign to finish');
    assert.is(done.state, 'completed', `${done.pauseReason} ${JSON.stringify(done.counts)}`);
    assert.is(done.counts.succeeded, 2 * HALF);

    const claims = await db.query<{ endpoint: string; owner: string; nodes: string[] }>(
      `SELECT d.endpoint, d.owner_node AS owner, array_agg(DISTINCT e.data->>'node') AS nodes FROM events e JOIN devices d ON d.id = e.device_id
       WHERE e.kind = 'campaign.device-claimed' GROUP BY d.endpoint, d.owner_node ORDER BY 1`);
    assert.is(claims.rows.length, 2 * HALF, 'every device claimed');
    assert.equal(claims.rows.filter((r) => r.nodes.length !== 1).map((r) => r.endpoint), [], 'no device claimed by both nodes');
    assert.equal(claims.rows.filter((r) => r.nodes[0] !== r.owner).map((r) => r.endpoint), [], 'each claimed by the node holding its binding');
    const byNode = new Set(claims.rows.map((r) => r.nodes[0]));
    assert.equal([...byNode].sort(), ['node-a', 'node-b'], 'both nodes took part');
    assert.equal(await doubleUpdates(db), { rows: [], succeeded: [] }, 'one update row a device');
  } finally {
    for (const f of fleets) await f.stop();
  }
  for (const d of fleets.flatMap((f) => f.devices)) assert.is(d.counters.updates, 1, `${d.endpoint} updated once`);
});

// Abort taken by one node while both have downloads under way: each in-flight device gets its
// Cancel (/5/0/10) from the node it registered with, the one whose address it talks to.
(enabled ? test : test.skip)('abort on one node: each node cancels the downloads of its own devices', async () => {
  const { a, b, db: check } = await twoNodes(['abort-a', 'abort-b']);
  const cancels: Array<{ endpoint: string; from: string; code: string }> = [];
  const log = (e: SimDeviceEvent) => { if (e.type === 'dm' && e.path === '/5/0/10') cancels.push({ endpoint: e.endpoint, from: e.from, code: e.code }); };
  // 20 ms each way and 256-byte blocks: a 64 KiB download takes seconds, time to abort it.
  const slow = { devices: 3, blockSzx: 4, faults: { link: { latencyMs: 20 }, device: {} }, log };
  const fleets = [backgroundFleet(a.coapPort, { ...slow, prefix: 'ab-a' }), backgroundFleet(b.coapPort, { ...slow, prefix: 'ab-b' })];
  try {
    const firmwareId = await uploadTo(a.apiUrl, signedPackage('2.0.0', 64 * 1024, 1, 6));
    await eventually(async () => {
      const { rows } = await check.query<{ n: number }>(`SELECT count(*)::integer AS n FROM devices WHERE hardware_class = 'sim-1' AND firmware_version = '1.0.0'`);
      return rows[0]!.n === 6 || undefined;
    }, 30_000, 'both fleets inventoried');
    const created = await apiCall(a.apiUrl, 'POST', '/api/v1/campaigns', {
      name: 'abort on a', firmwareId, target: {}, policy: { waves: ['100%'], concurrency: 4, delivery: 'pull' },
    });
    const id = created.body.id as number;
    assert.is((await apiCall(a.apiUrl, 'POST', `/api/v1/campaigns/${id}/start`)).status, 200);
    await eventually(async () => {
      const { rows } = await check.query<{ owner: string }>(
        `SELECT DISTINCT d.owner_node AS owner FROM device_updates u JOIN devices d ON d.id = u.device_id WHERE u.campaign_id = $1 AND u.state = 'downloading'`, [id]);
      return rows.length === 2 || undefined;
    }, 20_000, 'downloads under way on both nodes');
    assert.is((await apiCall(a.apiUrl, 'POST', `/api/v1/campaigns/${id}/abort`)).body.state, 'aborted');
    const p = await eventually(async () => {
      const q = (await apiCall(b.apiUrl, 'GET', `/api/v1/campaigns/${id}`)).body;
      return q.counts.in_progress === 0 ? q : undefined;
    }, 20_000, 'nothing in flight');
    assert.is(p.counts.succeeded, 0, JSON.stringify(p.counts));
    assert.is(p.counts.cancelled, 6, JSON.stringify(p.counts));
    const portOf = (endpoint: string) => String(endpoint.startsWith('ab-a') ? a.coapPort : b.coapPort);
    const cancelled = cancels.filter((c) => c.code === '2.04');
    assert.ok(cancelled.some((c) => c.endpoint.startsWith('ab-a')) && cancelled.some((c) => c.endpoint.startsWith('ab-b')), JSON.stringify(cancels));
    for (const c of cancels) assert.is(c.from.split(':').pop(), portOf(c.endpoint), `${c.endpoint}'s Cancel from its own node`);
  } finally {
    for (const f of fleets) await f.stop();
  }
});

test.run();
