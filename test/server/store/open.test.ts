/**
 * openDb: PGlite in memory, PGlite persisted to a directory (data survives close/reopen), pg.
 * Prints how long PGlite takes to open and migrate. Opens PGlite several times, one after another:
 * start-up is what this file is about.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Db } from '../../../server/store/db.ts';
import { openDb } from '../../../server/store/open.ts';
import { createTestSchema, databaseUrl } from '../../helpers/db.ts';

let root = '';
test.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'ferry-pglite-'));
});
test.after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function timed(label: string, open: () => Promise<Db>): Promise<Db> {
  const t0 = performance.now();
  const db = await open();
  console.log(`  ${label}: ${Math.round(performance.now() - t0)} ms`);
  return db;
}

async function tables(db: Db): Promise<string[]> {
  const { rows } = await db.query<{ t: string }>(
    `SELECT tablename AS t FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1`,
  );
  return rows.map((r) => r.t);
}

const SCHEMA = ['alerts', 'api_tokens', 'audit_chain', 'audit_checkpoints', 'campaign_devices', 'campaigns', 'compliance_policies', 'credentials_state', 'device_credentials', 'device_updates', 'devices', 'events', 'events_archive', 'firmware_images', 'schema_migrations', 'testbed_policies', 'trusted_keys', 'users', 'vulnerable_versions'];

test('in memory: open + migrate', async () => {
  const logs: string[] = [];
  const db = await timed('PGlite in memory, open + migrate', () => openDb({ log: (m) => logs.push(m) }));
  try {
    assert.is(db.driver, 'pglite');
    assert.equal(await tables(db), SCHEMA);
    assert.ok(logs.some((l) => l.startsWith('migrate: applied 0001_foundation.sql')), logs.join('\n'));
  } finally {
    await db.close();
  }
});

test('persisted: data survives close and reopen; parents of dataDir are created', async () => {
  const dataDir = join(root, 'nested', 'deeper', 'db');
  const first = await timed('PGlite on disk, first open (initdb) + migrate', () => openDb({ dataDir }));
  try {
    await first.query(`INSERT INTO devices (endpoint, lifetime, expires_at) VALUES ('kept', 60, now())`);
    await first.transaction(async (tx) => {
      await tx.query(`INSERT INTO devices (endpoint, lifetime, expires_at) VALUES ('kept-tx', 60, now())`);
    });
  } finally {
    await first.close();
  }

  const logs: string[] = [];
  const again = await timed('PGlite on disk, reopen + migrate (nothing to apply)', () =>
    openDb({ dataDir, log: (m) => logs.push(m) }),
  );
  try {
    const { rows } = await again.query<{ id: number; endpoint: string }>('SELECT id, endpoint FROM devices ORDER BY id');
    assert.equal(rows, [
      { id: 1, endpoint: 'kept' },
      { id: 2, endpoint: 'kept-tx' },
    ]);
    assert.equal(logs, [], 'nothing applied on reopen');
  } finally {
    await again.close();
  }
});

test('schema is refused for PGlite', async () => {
  try {
    await openDb({ schema: 'x' });
    assert.unreachable('should have thrown');
  } catch (err) {
    assert.match((err as Error).message, 'schema applies to PostgreSQL only');
  }
});

test('pg: open + migrate into a schema (DATABASE_URL)', async () => {
  if (!process.env.DATABASE_URL) return;
  const { schema, drop } = await createTestSchema();
  try {
    const db = await openDb({ databaseUrl: databaseUrl(), schema });
    try {
      assert.is(db.driver, 'pg');
      assert.equal(await tables(db), SCHEMA);
    } finally {
      await db.close();
    }
    // A schema that does not exist is a clear error, not "no schema has been selected to create in".
    try {
      await openDb({ databaseUrl: databaseUrl(), schema: `${schema}_missing` });
      assert.unreachable('should have thrown');
    } catch (err) {
      assert.match((err as Error).message, `schema ${schema}_missing does not exist`);
    }
  } finally {
    await drop();
  }
});

test.run();
