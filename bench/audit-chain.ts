/**
 * The audit chain's cost: `node --import tsx bench/audit-chain.ts` (PGlite in memory; and
 * PostgreSQL too when DATABASE_URL is set, on a schema of its own it drops). Prints JSON:
 * - insertMs: a registration batch's events (1,000, one statement, recordEvents) on the schema
 *   before the chain (migrations to 0012) and after (0013): what the chain adds to the hot path;
 * - sealMs: one sealPending of those 1,000 (a page: one SELECT, one UPDATE, in one transaction);
 * - verifyPerSecond: rows recomputed a second by verifyChain over everything written.
 * Medians of several runs.
 */
import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { sealPending } from '../server/audit/chain.ts';
import { AuditSigner } from '../server/audit/signer.ts';
import { verifyChain } from '../server/audit/verify.ts';
import { SecretsKey } from '../server/credentials/secrets-key.ts';
import type { Db } from '../server/store/db.ts';
import { recordEvents, type EventInput } from '../server/store/events.ts';
import { MIGRATIONS_DIR, migrate } from '../server/store/migrate.ts';
import { openPg } from '../server/store/pg.ts';
import { openPglite } from '../server/store/pglite.ts';

const BATCH = 1000;
const RUNS = 7;
const signer = new AuditSigner(new SecretsKey(randomBytes(32)));
const batch = (run: number): EventInput[] => Array.from({ length: BATCH }, (_, i) => ({
  kind: 'registration.created', actor: 'device', endpoint: `bench-${run}-${i}`,
  data: { registrationId: `r${run}x${i}`, lifetime: 300, lwm2mVersion: '1.1', binding: 'U', address: '127.0.0.1', port: 40000 + i },
}));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const timed = async (fn: () => Promise<unknown>): Promise<number> => { const t = performance.now(); await fn(); return performance.now() - t; };

async function measure(open: (migrations: string) => Promise<{ db: Db; close(): Promise<void> }>, before: string): Promise<Record<string, number>> {
  const insert = async (migrations: string): Promise<number> => {
    const { db, close } = await open(migrations);
    try {
      const ms: number[] = [];
      for (let r = 0; r < RUNS; r++) ms.push(await timed(() => recordEvents(db, batch(r))));
      return median(ms);
    } finally {
      await close();
    }
  };
  const insertBeforeMs = await insert(before);
  const insertAfterMs = await insert(MIGRATIONS_DIR);
  const { db, close } = await open(MIGRATIONS_DIR);
  try {
    const seal: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      await recordEvents(db, batch(r));
      seal.push(await timed(() => sealPending(db, signer)));
    }
    let checked = 0;
    const verifyMs = await timed(async () => { checked = (await verifyChain(db, signer)).checked; });
    return { insertBeforeMs: round(insertBeforeMs), insertAfterMs: round(insertAfterMs), sealMs: round(median(seal)), verifyRows: checked, verifyPerSecond: Math.round(checked / (verifyMs / 1000)) };
  } finally {
    await close();
  }
}

const round = (n: number): number => Math.round(n * 10) / 10;

async function main(): Promise<void> {
  // The schema before the chain: the migrations up to 0012.
  const before = await mkdtemp(join(tmpdir(), 'ferry-bench-migrations-'));
  try {
    for (const f of await readdir(MIGRATIONS_DIR)) if (f.endsWith('.sql') && f < '0013') await cp(join(MIGRATIONS_DIR, f), join(before, f));
    const out: Record<string, Record<string, number>> = {};
    out['pglite'] = await measure(async (dir) => {
      const db = await openPglite({});
      await migrate(db, { dir });
      return { db, close: () => db.close() };
    }, before);
    const url = process.env['DATABASE_URL'];
    if (url) {
      out['pg'] = await measure(async (dir) => {
        const schema = `bench_${randomBytes(4).toString('hex')}`;
        const admin = new pg.Client({ connectionString: url });
        await admin.connect();
        await admin.query(`CREATE SCHEMA ${schema}`);
        await admin.end();
        const db = await openPg({ url, schema, max: 4, log: () => {} });
        await migrate(db, { dir });
        return {
          db, close: async () => {
            await db.close();
            const c = new pg.Client({ connectionString: url });
            await c.connect();
            await c.query(`DROP SCHEMA ${schema} CASCADE`);
            await c.end();
          },
        };
      }, before);
    }
    process.stdout.write(`${JSON.stringify({ batch: BATCH, runs: RUNS, ...out }, null, 2)}\n`);
  } finally {
    await rm(before, { recursive: true, force: true });
  }
}

await main();
