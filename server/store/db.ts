/**
 * The one database interface the rest of Ferry sees. Two drivers implement it:
 * `pg` (a Pool, when DATABASE_URL is set) and PGlite (embedded, the default).
 * The same SQL runs on both: use $1, $2 … placeholders, no driver-specific features.
 */
export interface QueryResult<R> {
  rows: R[];
  /** Rows inserted, updated or deleted; 0 for a SELECT on drivers that do not report it. */
  rowCount: number;
}

export interface Queryable {
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
}

/** The handle `transaction` passes to its callback: the same connection for every call. */
export interface Transaction extends Queryable {
  /** Several statements, no parameters, inside the transaction (migrations need it: on PGlite `query` takes one statement). */
  exec(sql: string): Promise<void>;
}

export interface Db extends Queryable {
  /**
   * Runs `fn` inside BEGIN … COMMIT on one connection; ROLLBACK and rethrow when it throws.
   * Inside `fn` use `tx`, never `db`: on PGlite (one connection) `db.query` there is refused.
   */
  transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T>;
  /** Runs SQL text that may hold several statements and no parameters (migrations). */
  exec(sql: string): Promise<void>;
  /** `pg` or `pglite`. */
  readonly driver: 'pg' | 'pglite';
  close(): Promise<void>;
}
