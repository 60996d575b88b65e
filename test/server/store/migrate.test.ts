import { copyFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { MigrationError } from '../../../server/errors.ts';
import { MIGRATIONS_DIR, checksum, migrate, readMigrations } from '../../../server/store/migrate.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { rejects } from '../../helpers/assert.ts';

/** A temp dir holding copies of the real migrations plus `extra` files (name → text). */
async function migrationsCopy(extra: Record<string, string> = {}, omit: string[] = []): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-migrations-'));
  for (const name of await readdir(MIGRATIONS_DIR)) {
    if (!omit.includes(name)) await copyFile(join(MIGRATIONS_DIR, name), join(dir, name));
  }
  // Written in reverse so directory order is not numeric order.
  for (const [name, text] of Object.entries(extra).reverse()) await writeFile(join(dir, name), text);
  return dir;
}


forEachDatabase('store/migrate', ({ suite, get }) => {
  const tempDirs: string[] = [];
  const temp = async (extra?: Record<string, string>, omit?: string[]) => {
    const dir = await migrationsCopy(extra, omit);
    tempDirs.push(dir);
    return dir;
  };
  // Test migrations are numbered 9xxx; undo them so the real schema stays as migrated.
  suite.after.each(async () => {
    const { db } = get();
    await db.exec('DROP TABLE IF EXISTS mig_order, mig_fail');
    await db.query('DELETE FROM schema_migrations WHERE version >= 9000');
    for (const dir of tempDirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  suite('the real migrations applied and created the tables', async () => {
    const { db } = get();
    const { rows: tables } = await db.query<{ t: string }>(
      `SELECT tablename AS t FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1`,
    );
    for (const t of ['devices', 'firmware_images', 'device_updates', 'events', 'schema_migrations']) {
      assert.ok(tables.some((r) => r.t === t), `table ${t} exists`);
    }
    const files = await readMigrations(MIGRATIONS_DIR);
    const { rows } = await db.query<{ version: number; name: string; checksum: string; applied_at: Date }>(
      'SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version',
    );
    assert.equal(
      rows.map((r) => [r.version, r.name, r.checksum]),
      files.map((f) => [f.version, f.name, f.checksum]),
    );
    assert.instance(rows[0]?.applied_at, Date);
    const text = await readFile(join(MIGRATIONS_DIR, '0001_foundation.sql'), 'utf8');
    assert.is(rows[0]?.checksum, checksum(text));
  });

  suite('a second migrate applies nothing', async () => {
    const { db } = get();
    const before = await db.query('SELECT * FROM schema_migrations ORDER BY version');
    assert.equal(await migrate(db, { dir: MIGRATIONS_DIR }), { applied: [] });
    assert.equal((await db.query('SELECT * FROM schema_migrations ORDER BY version')).rows, before.rows);
  });

  suite('migrations apply in numeric order, each once; other files are ignored', async () => {
    const { db } = get();
    const dir = await temp({
      '9001_first.sql': 'CREATE TABLE mig_order (seq serial PRIMARY KEY, n integer NOT NULL);\nINSERT INTO mig_order (n) VALUES (1);',
      '9002_second.sql': 'INSERT INTO mig_order (n) VALUES (2);',
      '9010_tenth.sql': 'INSERT INTO mig_order (n) VALUES (10);',
      'README.md': 'not a migration',
      '9003-bad-name.sql': 'SELECT 1/0;',
      '9004_Upper.sql': 'SELECT 1/0;',
    });
    const logs: string[] = [];
    const first = await migrate(db, { dir, log: (m) => logs.push(m) });
    assert.equal(first.applied, ['9001_first.sql', '9002_second.sql', '9010_tenth.sql']);
    const { rows } = await db.query<{ n: number }>('SELECT n FROM mig_order ORDER BY seq');
    assert.equal(rows.map((r) => r.n), [1, 2, 10]);
    assert.ok(logs.some((l) => l.includes('ignoring 9003-bad-name.sql')), logs.join('\n'));
    assert.equal(await migrate(db, { dir }), { applied: [] });
    assert.is((await db.query('SELECT n FROM mig_order')).rows.length, 3);
  });

  suite('a migration added below the latest applied one is still applied', async () => {
    const { db } = get();
    const dir = await temp({ '9001_a.sql': 'CREATE TABLE mig_order (n integer);', '9005_c.sql': 'INSERT INTO mig_order VALUES (5);' });
    assert.equal((await migrate(db, { dir })).applied, ['9001_a.sql', '9005_c.sql']);
    await writeFile(join(dir, '9003_b.sql'), 'INSERT INTO mig_order VALUES (3);');
    assert.equal((await migrate(db, { dir })).applied, ['9003_b.sql']);
  });

  suite('an edited applied migration stops with a clear error, before applying anything', async () => {
    const { db } = get();
    const dir = await temp({ '9001_new.sql': 'CREATE TABLE mig_order (n integer);' });
    await writeFile(join(dir, '0001_foundation.sql'), '-- an edit\n' + (await readFile(join(dir, '0001_foundation.sql'), 'utf8')));
    const err = await rejects(migrate(db, { dir }));
    assert.instance(err, MigrationError);
    assert.match(
      err.message,
      /^migration 0001_foundation\.sql was changed after it was applied \(checksum [0-9a-f]{12}… ≠ [0-9a-f]{12}…\); restore it and add a new migration instead$/,
    );
    const { rows } = await db.query('SELECT 1 FROM schema_migrations WHERE version = 9001');
    assert.is(rows.length, 0, '9001 not applied');
  });

  suite('CRLF line endings are not an edit', async () => {
    const { db } = get();
    const dir = await temp();
    const text = await readFile(join(dir, '0001_foundation.sql'), 'utf8');
    await writeFile(join(dir, '0001_foundation.sql'), text.replace(/\n/g, '\r\n'));
    assert.equal(await migrate(db, { dir }), { applied: [] });
  });

  suite('a database that applied an earlier wording of a migration (comments only) takes the new checksum', async () => {
    const { db } = get();
    const earlier = '53be5105788761afc62daac48b1894d2c81d2e1a034bfd495b2c8c54a2b2982f';
    const today = (await readMigrations(MIGRATIONS_DIR)).find((f) => f.version === 6)!.checksum;
    assert.is.not(today, earlier);
    await db.query('UPDATE schema_migrations SET checksum = $1 WHERE version = 6', [earlier]);
    const lines: string[] = [];
    assert.equal(await migrate(db, { dir: MIGRATIONS_DIR, log: (l) => lines.push(l) }), { applied: [] });
    assert.is((await db.query<{ checksum: string }>('SELECT checksum FROM schema_migrations WHERE version = 6')).rows[0]?.checksum, today);
    assert.equal(lines.filter((l) => l.includes('reworded')), ['migrate: 0006_campaigns.sql was reworded in its comments only; its checksum is updated']);
    // Any other text is still an edit.
    await db.query('UPDATE schema_migrations SET checksum = $1 WHERE version = 6', ['0'.repeat(64)]);
    assert.instance(await rejects(migrate(db, { dir: MIGRATIONS_DIR })), MigrationError);
    await db.query('UPDATE schema_migrations SET checksum = $1 WHERE version = 6', [today]);
  });

  suite('a missing file for an applied migration is an error', async () => {
    const { db } = get();
    const dir = await temp({}, ['0001_foundation.sql']);
    const err = await rejects(migrate(db, { dir }));
    assert.instance(err, MigrationError);
    assert.match(err.message, 'migration 0001_foundation.sql (version 1) was applied to this database but is missing from');
  });

  suite('two files with one number are an error', async () => {
    const { db } = get();
    const dir = await temp({ '9001_a.sql': 'SELECT 1;', '9001_b.sql': 'SELECT 1;' });
    const err = await rejects(migrate(db, { dir }));
    assert.instance(err, MigrationError);
    assert.match(err.message, 'migrations 9001_a.sql and 9001_b.sql share the number 9001');
  });

  suite('a failing migration leaves nothing of itself; the ones before it stay', async () => {
    const { db } = get();
    const dir = await temp({
      '9001_ok.sql': 'CREATE TABLE mig_order (n integer);',
      '9002_fails.sql': 'CREATE TABLE mig_fail (n integer);\nINSERT INTO mig_fail VALUES (1/0);',
      '9003_after.sql': 'INSERT INTO mig_order VALUES (3);',
    });
    const err = await rejects(migrate(db, { dir }));
    assert.instance(err, MigrationError);
    assert.match(err.message, /^migration 9002_fails\.sql failed, nothing of it was applied: division by zero/);
    const { rows } = await db.query<{ version: number }>('SELECT version FROM schema_migrations WHERE version >= 9000');
    assert.equal(rows.map((r) => r.version), [9001]);
    const { rows: t } = await db.query(`SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'mig_fail'`);
    assert.is(t.length, 0, 'mig_fail rolled back');
  });
});
