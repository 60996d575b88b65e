/**
 * Schema migrations: `migrations/NNNN_name.sql`, each applied once, in numeric order, in its own
 * transaction under an advisory lock, with a checksum so an edited applied migration is caught.
 * A migration must not hold BEGIN/COMMIT or statements that refuse a transaction block
 * (CREATE INDEX CONCURRENTLY, ALTER TYPE … ADD VALUE before PG 12, VACUUM).
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MigrationError } from '../errors.ts';
import { fromRoot } from '../root.ts';
import type { Db, Transaction } from './db.ts';

/** The repository's `migrations/` folder. */
export const MIGRATIONS_DIR = fromRoot('migrations');

export interface MigrateOptions {
  dir: string;
  log?: (msg: string) => void;
}

interface MigrationFile {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

const FILE_NAME = /^\d{4}_[a-z0-9_]+\.sql$/;
/** pg_advisory_xact_lock key: "Ferry" in ASCII. Database-wide, so schemas of one database queue. */
const LOCK_KEY = 0x4665727279;

const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version    integer PRIMARY KEY,
  name       text NOT NULL,
  checksum   text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`;

/** sha256 of the text, line endings normalised (a CRLF checkout is not an edit). */
export function checksum(sql: string): string {
  return createHash('sha256').update(sql.replace(/\r\n/g, '\n')).digest('hex');
}

export async function readMigrations(dir: string, log: (msg: string) => void = () => {}): Promise<MigrationFile[]> {
  const files: MigrationFile[] = [];
  const byVersion = new Map<number, string>();
  for (const name of (await readdir(dir)).sort()) {
    if (!FILE_NAME.test(name)) {
      if (name.endsWith('.sql')) log(`migrate: ignoring ${name}: names are NNNN_lower_case_name.sql`);
      continue;
    }
    const version = Number(name.slice(0, 4));
    const other = byVersion.get(version);
    if (other !== undefined) {
      throw new MigrationError(`migrations ${other} and ${name} share the number ${name.slice(0, 4)}; renumber one`);
    }
    byVersion.set(version, name);
    const sql = await readFile(join(dir, name), 'utf8');
    files.push({ version, name, sql, checksum: checksum(sql) });
  }
  return files.sort((a, b) => a.version - b.version);
}

interface AppliedRow {
  version: number;
  name: string;
  checksum: string;
}

/**
 * Checksums of earlier texts of a migration that differ from today's in SQL comments only: a
 * database that applied the earlier text is up to date, and its row takes today's checksum.
 */
const REWORDED: Readonly<Record<number, readonly string[]>> = {
  6: ['53be5105788761afc62daac48b1894d2c81d2e1a034bfd495b2c8c54a2b2982f'],
};

/** Rows whose checksum is that of an earlier, comment-only wording of their file (REWORDED). */
function reworded(applied: AppliedRow[], files: MigrationFile[]): MigrationFile[] {
  const byVersion = new Map(files.map((f) => [f.version, f]));
  return applied.flatMap((row) => {
    const file = byVersion.get(row.version);
    return file && file.checksum !== row.checksum && REWORDED[row.version]?.includes(row.checksum) ? [file] : [];
  });
}

/** Throws when an applied migration's file is gone or was changed. */
function verify(applied: AppliedRow[], files: MigrationFile[], dir: string, log: (msg: string) => void): void {
  const byVersion = new Map(files.map((f) => [f.version, f]));
  for (const row of applied) {
    const file = byVersion.get(row.version);
    if (file === undefined) {
      throw new MigrationError(
        `migration ${row.name} (version ${row.version}) was applied to this database but is missing from ${dir}; restore the file`,
      );
    }
    if (file.checksum !== row.checksum) {
      throw new MigrationError(
        `migration ${file.name} was changed after it was applied (checksum ${row.checksum.slice(0, 12)}… ≠ ` +
          `${file.checksum.slice(0, 12)}…); restore it and add a new migration instead`,
      );
    }
    if (file.name !== row.name) log(`migrate: ${row.name} was renamed ${file.name} (same content)`);
  }
}

/**
 * Applies the migrations of `dir` that this database lacks. Each runs in its own transaction that
 * first takes the advisory lock, so concurrent callers (several processes) apply each one once.
 */
export async function migrate(db: Db, opts: MigrateOptions): Promise<{ applied: string[] }> {
  const log = opts.log ?? (() => {});
  const files = await readMigrations(opts.dir, log);
  const applied: string[] = [];

  const step = async (tx: Transaction): Promise<MigrationFile | undefined> => {
    await tx.query(`SELECT pg_advisory_xact_lock(${LOCK_KEY})`);
    await tx.exec(CREATE_TABLE);
    const rows = (
      await tx.query<AppliedRow>('SELECT version, name, checksum FROM schema_migrations ORDER BY version')
    ).rows;
    for (const file of reworded(rows, files)) {
      await tx.query('UPDATE schema_migrations SET checksum = $1 WHERE version = $2', [file.checksum, file.version]);
      rows.find((r) => r.version === file.version)!.checksum = file.checksum;
      log(`migrate: ${file.name} was reworded in its comments only; its checksum is updated`);
    }
    verify(rows, files, opts.dir, log);
    const done = new Set(rows.map((r) => r.version));
    const next = files.find((f) => !done.has(f.version));
    if (next === undefined) return undefined;
    try {
      await tx.exec(next.sql);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new MigrationError(`migration ${next.name} failed, nothing of it was applied: ${reason}`, { cause: err });
    }
    await tx.query('INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, now())', [
      next.version,
      next.name,
      next.checksum,
    ]);
    return next;
  };

  for (;;) {
    const started = performance.now();
    const next = await db.transaction(step);
    if (next === undefined) break;
    applied.push(next.name);
    log(`migrate: applied ${next.name} in ${Math.round(performance.now() - started)} ms`);
  }
  return { applied };
}
