/** The embedded driver: PGlite (Postgres in WASM) behind the `Db` interface. */
import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { PGlite, type Results } from '@electric-sql/pglite';
import type { Db, QueryResult, Transaction } from './db.ts';
import { pgliteParsers } from './parsers.ts';
import { type DataDirLock, lockDataDir } from './pglite-lock.ts';

export interface PgliteOptions {
  /** undefined = in memory; a directory = persisted there (created, with its parents, if missing). */
  dataDir?: string;
  /** Start from this dump (`dumpDataDir()`) instead of an empty cluster: no initdb, seconds saved. */
  loadDataDir?: Blob;
  /** On disk: the holder's command in the directory's lock file, e.g. "ferry serve" (pglite-lock.ts). */
  owner?: string;
  /** On disk: told when a stale lock is taken over. */
  log?: (msg: string) => void;
}

/** The embedded database, which can also be dumped whole (a tarball of its data directory). */
export interface PgliteDb extends Db {
  dumpDataDir(): Promise<Blob>;
}

function result<R>(r: Results<unknown>): QueryResult<R> {
  return { rows: r.rows as R[], rowCount: r.rowCount ?? r.affectedRows ?? 0 };
}

export async function openPglite(opts: PgliteOptions): Promise<PgliteDb> {
  let dataDir: string | undefined;
  let lock: DataDirLock | undefined;
  if (opts.dataDir !== undefined) {
    dataDir = resolve(opts.dataDir);
    await mkdir(dataDir, { recursive: true });
    // Before PGlite reads a byte: a second process on one directory corrupts it. In memory needs none.
    lock = await lockDataDir(dataDir, { ...(opts.owner !== undefined && { owner: opts.owner }), ...(opts.log !== undefined && { log: opts.log }) });
  }
  let lite: PGlite;
  try {
    // One options object: `new PGlite(undefined, options)` ignores `options`.
    lite = new PGlite({
      ...(dataDir !== undefined && { dataDir }), ...(opts.loadDataDir !== undefined && { loadDataDir: opts.loadDataDir }), parsers: pgliteParsers,
    });
    await lite.waitReady;
  } catch (err) {
    await lock?.release().catch(() => {});
    throw err;
  }

  // PGlite is one connection: a query from another caller must wait for a running transaction,
  // not land inside it. PGlite 0.5 queues query()/exec() behind transaction() itself; this queue
  // keeps the guarantee whatever the PGlite version (test/server/store/db.test.ts checks it).
  let tail: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = tail.then(fn);
    tail = run.then(noop, noop);
    return run;
  };

  // A db.query() awaited inside db.transaction() would wait for the transaction, which waits for it.
  const inTransaction = new AsyncLocalStorage<{ open: boolean }>();
  const refuseInsideTransaction = (what: string) => {
    if (inTransaction.getStore()?.open) {
      throw new Error(
        `${what} called inside db.transaction() on PGlite: use the transaction's handle (tx.query / tx.exec); ` +
          'PGlite has one connection, so this call would wait for the transaction that is waiting for it',
      );
    }
  };

  return {
    driver: 'pglite',

    async query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]) {
      refuseInsideTransaction('db.query()');
      return result<R>(await exclusive(() => lite.query(sql, params ? [...params] : undefined)));
    },

    async exec(sql: string) {
      refuseInsideTransaction('db.exec()');
      await exclusive(() => lite.exec(sql));
    },

    async transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
      refuseInsideTransaction('db.transaction()');
      return exclusive(() =>
        lite.transaction(async (ltx) => {
          const state = { open: true };
          const tx: Transaction = {
            async query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]) {
              return result<R>(await ltx.query(sql, params ? [...params] : undefined));
            },
            async exec(sql: string) {
              await ltx.exec(sql);
            },
          };
          try {
            return await inTransaction.run(state, () => fn(tx));
          } finally {
            state.open = false;
          }
        }),
      );
    },

    async dumpDataDir() {
      refuseInsideTransaction('db.dumpDataDir()');
      return exclusive(() => lite.dumpDataDir('none'));
    },

    async close() {
      try {
        await exclusive(() => lite.close());
      } finally {
        await lock?.release(); // this process writes no more to the directory either way
      }
    },
  };
}

function noop(): void {}
