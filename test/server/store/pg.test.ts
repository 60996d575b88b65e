/** The pg driver's own behaviour: dropped connections, connection options. Skipped without DATABASE_URL. */
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Db } from '../../../server/store/db.ts';
import { openPg } from '../../../server/store/pg.ts';
import { databaseUrl } from '../../helpers/db.ts';

const enabled = Boolean(process.env.DATABASE_URL);
let db: Db | undefined;
let admin: Db | undefined;
const logs: string[] = [];

test.before(async () => {
  if (!enabled) return;
  db = await openPg({ url: databaseUrl(), max: 2, log: (m) => logs.push(m) });
  admin = await openPg({ url: databaseUrl(), max: 1 });
});
test.after(async () => {
  await db?.close();
  await admin?.close();
});

const killOthers = (appName: string) =>
  admin!.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()`, [
    appName,
  ]);

test('an idle connection killed by the server is logged, not fatal, and replaced', async () => {
  if (!db) return console.log('  (DATABASE_URL not set: skipped)');
  await db.query(`SET application_name = 'ferry_idle_kill'`);
  await killOthers('ferry_idle_kill');
  await sleep(100);
  assert.ok(logs.some((l) => l.startsWith('pg: idle connection error:')), logs.join('\n'));
  assert.equal((await db.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
});

test('a connection killed inside a transaction fails that transaction only', async () => {
  if (!db) return;
  logs.length = 0;
  let failed: unknown;
  try {
    await db.transaction(async (tx) => {
      await tx.query(`SET LOCAL application_name = 'ferry_tx_kill'`);
      await killOthers('ferry_tx_kill');
      await sleep(100); // the client emits 'error' while no query runs on it
      await tx.query('SELECT 1');
    });
  } catch (err) {
    failed = err;
  }
  assert.instance(failed, Error);
  assert.ok(logs.some((l) => l.startsWith('pg: connection error inside a transaction:')), logs.join('\n'));
  assert.equal((await db.query('SELECT 2 AS two')).rows, [{ two: 2 }]);
});

test('connections use UTC, the schema given, and keep options from the URL', async () => {
  if (!db) return;
  const url = new URL(databaseUrl());
  url.searchParams.set('options', '-c statement_timeout=1234');
  const scoped = await openPg({ url: url.toString(), schema: 'public', max: 1 });
  try {
    const { rows } = await scoped.query(
      `SELECT current_setting('TimeZone') AS tz, current_schema() AS schema, current_setting('statement_timeout') AS st`,
    );
    assert.equal(rows, [{ tz: 'UTC', schema: 'public', st: '1234ms' }]);
  } finally {
    await scoped.close();
  }
});

test.run();
