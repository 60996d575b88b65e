/** Opens the configured database and brings its schema up to date. */
import type { Db } from './db.ts';
import { MIGRATIONS_DIR, migrate } from './migrate.ts';
import { openPg } from './pg.ts';
import { openPglite } from './pglite.ts';

export interface OpenDbOptions {
  /** PostgreSQL when set; otherwise embedded PGlite. */
  databaseUrl?: string;
  /** PGlite only: undefined = in memory. */
  dataDir?: string;
  /** PGlite on disk only: the holder's command in the data directory's lock file, e.g. "ferry serve". */
  owner?: string;
  /** PostgreSQL only: the schema to use (it must exist). */
  schema?: string;
  log?: (msg: string) => void;
}

export async function openDb(opts: OpenDbOptions): Promise<Db> {
  let db: Db;
  if (opts.databaseUrl !== undefined) {
    db = await openPg({
      url: opts.databaseUrl,
      ...(opts.schema !== undefined && { schema: opts.schema }),
      ...(opts.log !== undefined && { log: opts.log }),
    });
  } else {
    if (opts.schema !== undefined) throw new Error('schema applies to PostgreSQL only (set databaseUrl)');
    db = await openPglite(opts.dataDir === undefined ? {} : {
      dataDir: opts.dataDir, ...(opts.owner !== undefined && { owner: opts.owner }), ...(opts.log !== undefined && { log: opts.log }),
    });
  }
  try {
    await migrate(db, { dir: MIGRATIONS_DIR, ...(opts.log !== undefined && { log: opts.log }) });
  } catch (err) {
    await db.close().catch(() => {});
    throw err;
  }
  return db;
}
