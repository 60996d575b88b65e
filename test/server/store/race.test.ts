/**
 * Concurrent migrators on one PostgreSQL database (several Ferry processes starting at once):
 * each migration is applied exactly once. pg only: skipped without DATABASE_URL.
 */
import { copyFile, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Db } from '../../../server/store/db.ts';
import { MIGRATIONS_DIR, migrate, readMigrations } from '../../../server/store/migrate.ts';
import { openPg } from '../../../server/store/pg.ts';
import { createTestSchema, databaseUrl } from '../../helpers/db.ts';

const enabled = Boolean(process.env.DATABASE_URL);
let dir = '';
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-race-'));
  for (const name of await readdir(MIGRATIONS_DIR)) await copyFile(join(MIGRATIONS_DIR, name), join(dir, name));
  // Slow, and not idempotent: applied twice, the CREATE TABLE or the unique key fails.
  await writeFile(join(dir, '9001_slow.sql'), 'CREATE TABLE race_log (n integer PRIMARY KEY);\nSELECT pg_sleep(0.2);\nINSERT INTO race_log VALUES (1);');
  await writeFile(join(dir, '9002_more.sql'), 'SELECT pg_sleep(0.1);\nINSERT INTO race_log VALUES (2);');
});
test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

for (const racers of [2, 4]) {
  test(`${racers} pools migrating one fresh schema at once apply each migration once`, async () => {
    if (!enabled) {
      console.log('  (DATABASE_URL not set: skipped)');
      return;
    }
    const { schema, drop } = await createTestSchema();
    const pools: Db[] = [];
    try {
      for (let i = 0; i < racers; i++) pools.push(await openPg({ url: databaseUrl(), schema, max: 2 }));
      const results = await Promise.all(pools.map((db) => migrate(db, { dir })));
      const all = results.flatMap((r) => r.applied).sort();
      const expected = (await readMigrations(dir)).map((f) => f.name).sort();
      assert.equal(all, expected, 'every migration applied once across the racers');
      const db = pools[0]!;
      const { rows } = await db.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
      assert.equal(rows.map((r) => r.version), (await readMigrations(dir)).map((f) => f.version));
      assert.equal((await db.query('SELECT n FROM race_log ORDER BY n')).rows, [{ n: 1 }, { n: 2 }]);
      // And again, all at once: nothing to do.
      const again = await Promise.all(pools.map((p) => migrate(p, { dir })));
      assert.equal(again.flatMap((r) => r.applied), []);
    } finally {
      await Promise.all(pools.map((p) => p.close()));
      await drop();
    }
  });
}

test.run();
