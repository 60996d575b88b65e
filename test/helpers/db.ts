/**
 * Databases for tests: always an in-memory PGlite; plus PostgreSQL on a fresh schema when
 * DATABASE_URL is set. Both migrated. One PGlite per test process, loaded from a migrated dump
 * (pglite-template.ts: a fresh one spends seconds in initdb).
 *
 *   forEachDatabase('store/devices', ({ suite, get }) => {
 *     suite('registers', async () => { const { db } = get(); … });
 *   });
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { suite as uvuSuite, type Test } from 'uvu';
import type { Db } from '../../server/store/db.ts';
import { MIGRATIONS_DIR, migrate } from '../../server/store/migrate.ts';
import { openPg } from '../../server/store/pg.ts';
import { openPglite } from '../../server/store/pglite.ts';
import { pgliteTemplate } from './pglite-template.ts';

export type DatabaseName = 'pglite' | 'pg';

export interface TestDb {
  name: DatabaseName;
  db: Db;
  /** Empties every table but schema_migrations and restarts their id sequences. */
  reset(): Promise<void>;
  close(): Promise<void>;
}

/** The databases this run covers: pglite, and pg when DATABASE_URL is set. */
export function databaseNames(): DatabaseName[] {
  return process.env.DATABASE_URL ? ['pglite', 'pg'] : ['pglite'];
}

export function databaseUrl(): string {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL is not set');
  return url;
}

/** Creates a schema `t_<pid>_<random>` in DATABASE_URL's database; returns its name and a dropper. */
export async function createTestSchema(): Promise<{ schema: string; drop(): Promise<void> }> {
  const schema = `t_${process.pid}_${randomBytes(4).toString('hex')}`;
  const run = async (sql: string) => {
    const client = new pg.Client({ connectionString: databaseUrl() });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await run(`CREATE SCHEMA ${schema}`);
  return { schema, drop: () => run(`DROP SCHEMA IF EXISTS ${schema} CASCADE`) };
}

/**
 * Empties the tables; of api_tokens (and users) it keeps the configured admin token a test server
 * started with, and its user (a server stores it once, at start, as after a restart it would find it there).
 */
async function reset(db: Db): Promise<void> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT quote_ident(tablename) AS name FROM pg_tables
      WHERE schemaname = current_schema() AND tablename NOT IN ('schema_migrations', 'api_tokens', 'users')`,
  );
  // A server still ticking on this schema (campaigns, alert deliveries, the sweep) can deadlock
  // with TRUNCATE's locks; PostgreSQL then aborts one side (40P01): try again.
  for (let attempt = 1; rows.length > 0; attempt++) {
    try {
      await db.exec(`TRUNCATE ${rows.map((r) => r.name).join(', ')} RESTART IDENTITY CASCADE`);
      break;
    } catch (err) {
      if ((err as { code?: string }).code !== '40P01' || attempt >= 5) throw err;
      await new Promise((r) => setTimeout(r, 50 * attempt));
    }
  }
  await db.query("DELETE FROM api_tokens WHERE created_by <> 'config' OR revoked_at IS NOT NULL");
  await db.query('DELETE FROM users WHERE id NOT IN (SELECT user_id FROM api_tokens)');
}

export async function openTestDatabase(name: DatabaseName): Promise<TestDb> {
  if (name === 'pglite') {
    const db = await openPglite({ loadDataDir: await pgliteTemplate() });
    await migrate(db, { dir: MIGRATIONS_DIR });
    return { name, db, reset: () => reset(db), close: () => db.close() };
  }
  const { schema, drop } = await createTestSchema();
  let db: Db | undefined;
  const close = async () => {
    try {
      await db?.close();
    } finally {
      await drop();
    }
  };
  try {
    db = await openPg({ url: databaseUrl(), schema, max: 4 });
    await migrate(db, { dir: MIGRATIONS_DIR });
  } catch (err) {
    await close();
    throw err;
  }
  const opened = db;
  return { name, db: opened, reset: () => reset(opened), close };
}

export async function testDatabases(): Promise<TestDb[]> {
  const opened: TestDb[] = [];
  try {
    for (const name of databaseNames()) opened.push(await openTestDatabase(name));
  } catch (err) {
    await Promise.allSettled(opened.map((t) => t.close()));
    throw err;
  }
  return opened;
}

/**
 * One uvu suite per database, named `<name> [pglite]` / `<name> [pg]`: the database opens in
 * `before` (ahead of the file's own hooks), is reset before each test, and closes in `after`
 * (behind the file's own hooks). The suites run when `define` returns: do not call `suite.run()`.
 */
export function forEachDatabase(
  name: string,
  define: (t: { suite: Test; get: () => TestDb; database: DatabaseName }) => void,
  /** The databases to run on, of those this run covers (a file whose subject is not the database may take one). */
  o: { only?: DatabaseName } = {},
): void {
  for (const database of databaseNames().filter((d) => o.only === undefined || d === o.only)) {
    const suite = uvuSuite(`${name} [${database}]`);
    let current: TestDb | undefined;
    suite.before(async () => {
      current = await openTestDatabase(database);
    });
    suite.before.each(async () => {
      await current?.reset();
    });
    const get = () => {
      if (current === undefined) throw new Error(`${database} test database is not open (outside a test?)`);
      return current;
    };
    define({ suite, get, database });
    // Registered last so it runs after the file's own `after` hooks (uvu runs them in order).
    suite.after(async () => {
      await current?.close();
      current = undefined;
    });
    suite.run();
  }
}
