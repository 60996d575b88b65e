/** The `pg` driver: a node-postgres Pool behind the `Db` interface. */
import pg from 'pg';
import type { Db, QueryResult, Transaction } from './db.ts';
import { OID, mapArray, parseBytea, parseInt8, parseText } from './parsers.ts';

export interface PgOptions {
  /** postgres://user:password@host:port/database */
  url: string;
  /** Every connection uses this schema as its search_path (it must exist). */
  schema?: string;
  /** Pool size; default 10. */
  max?: number;
  /** Where pool errors go; default stderr. */
  log?: (msg: string) => void;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

const builtinParser = pg.types.getTypeParser as (oid: number, format?: string) => (text: string) => unknown;
const textArray = builtinParser(1009); // text[]: nested arrays of strings and nulls
const overrides = new Map<number, (text: string) => unknown>([
  [OID.int8, parseInt8],
  [OID.int8Array, (t) => mapArray(textArray(t), parseInt8)],
  [OID.bytea, parseBytea],
  [OID.byteaArray, (t) => mapArray(textArray(t), parseBytea)],
  [OID.date, parseText],
  [OID.dateArray, (t) => textArray(t)],
  [OID.interval, parseText],
  [OID.intervalArray, (t) => textArray(t)],
]);

/** Per-pool parsers (pg.types.setTypeParser would change every Pool in the process). */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    return (format !== 'binary' && overrides.get(oid)) || builtinParser(oid, format);
  },
} as pg.CustomTypesConfig;

/**
 * Moves an `options` parameter out of the URL: pg lets the URL's `options` replace the config's,
 * and ours (search_path, TimeZone) must survive. Ours go first so the URL's can still override them.
 */
function splitOptions(url: string): { url: string; options: string | undefined } {
  if (!/[?&]options=/.test(url)) return { url, options: undefined };
  const u = new URL(url);
  const options = u.searchParams.get('options') ?? undefined;
  u.searchParams.delete('options');
  return { url: u.toString(), options };
}

function result<R>(r: pg.QueryResult): QueryResult<R> {
  return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
}

export async function openPg(opts: PgOptions): Promise<Db> {
  const log = opts.log ?? ((msg: string) => process.stderr.write(`${msg}\n`));
  if (opts.schema !== undefined && !SCHEMA_NAME.test(opts.schema)) {
    throw new Error(`invalid schema name ${JSON.stringify(opts.schema)}: use lower-case letters, digits and _`);
  }
  const split = splitOptions(opts.url);
  const options = [
    '-c TimeZone=UTC', // as PGlite: the same SQL gives the same text for timestamps
    opts.schema === undefined ? '' : `-c search_path=${opts.schema}`,
    split.options ?? '',
  ].filter(Boolean).join(' ');

  const pool = new pg.Pool({ connectionString: split.url, options, max: opts.max ?? 10, types });
  // An idle client whose connection drops emits 'error' on the pool: without a listener, the process dies.
  pool.on('error', (err) => log(`pg: idle connection error: ${err.message}`));

  try {
    const r = await pool.query<{ schema: string | null }>('SELECT current_schema() AS schema');
    if (opts.schema !== undefined && r.rows[0]?.schema !== opts.schema) {
      throw new Error(`schema ${opts.schema} does not exist in this database`);
    }
  } catch (err) {
    await pool.end().catch(() => {});
    throw err;
  }

  return {
    driver: 'pg',

    async query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]) {
      return result<R>(await pool.query(sql, params as unknown[] | undefined));
    },

    async exec(sql: string) {
      await pool.query(sql);
    },

    async transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      // A checked-out client has no pool listener: one that drops between our queries would crash us.
      let broken: Error | undefined;
      const onError = (err: Error) => {
        broken = err;
        log(`pg: connection error inside a transaction: ${err.message}`);
      };
      client.on('error', onError);
      let open = true;
      const check = () => {
        if (!open) throw new Error('this transaction has finished; its handle can no longer be used');
      };
      const tx: Transaction = {
        async query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]) {
          check();
          return result<R>(await client.query(sql, params as unknown[] | undefined));
        },
        async exec(sql: string) {
          check();
          await client.query(sql);
        },
      };
      try {
        await client.query('BEGIN');
        let value: T;
        try {
          value = await fn(tx);
        } catch (err) {
          open = false;
          await client.query('ROLLBACK').catch((rollbackErr: Error) => {
            broken ??= rollbackErr;
          });
          throw err;
        }
        open = false;
        const commit = await client.query('COMMIT');
        // After an error the callback caught, Postgres answers COMMIT with ROLLBACK (PGlite throws too).
        if (commit.command === 'ROLLBACK') {
          throw new Error('transaction aborted by an earlier error: COMMIT rolled it back');
        }
        return value;
      } finally {
        open = false;
        client.removeListener('error', onError);
        // A client that could not roll back is destroyed, not reused (the pool drops dead ones itself).
        client.release(broken ?? false);
      }
    },

    async close() {
      await pool.end();
    },
  };
}
