// `ferry serve` as a user runs it (node server/bin/ferry.js serve …): start-up errors a user causes
// are one line naming the setting, exit 1, no stack; a SIGINT while the database opens closes it;
// a second server on one PGlite directory stops at once, a killed one's lock is taken over.
import { createSocket, type Socket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configWith } from '../../server/config.ts';
import { startupErrorLine } from '../../server/startup-errors.ts';
import type { Db } from '../../server/store/db.ts';
import { openDb } from '../../server/store/open.ts';
import { createTestSchema, databaseUrl } from '../helpers/db.ts';
import { oneLine, runFerry, type Run } from '../helpers/ferry-cli.ts';
import { apiCall, spawnFerry } from '../helpers/spawned-ferry.ts';

const dir = mkdtempSync(join(tmpdir(), 'ferry-serve-'));
const dbDir = join(dir, 'db');


/** `ferry serve` with free ports on the test's --db-dir unless told otherwise. */
const serve = (args: string[], env: Record<string, string> = {}, onOutput?: (stdout: string, kill: (s: NodeJS.Signals) => void) => void): Promise<Run> =>
  runFerry(['serve', '--coap-port', '0', '--api-port', '0', '--db-dir', dbDir, ...args], { cwd: dir, env, ...(onOutput ? { onOutput } : {}) });

/** A user error: exit 1 and exactly this one line on stderr, no stack frames. */
const refused = (run: Run, line: RegExp): void => oneLine(run, 1, line);

const udpBlocker = (): Promise<Socket> => new Promise((r) => { const s = createSocket('udp4'); s.bind(0, '127.0.0.1', () => r(s)); });
const tcpBlocker = (): Promise<Server> => new Promise((r) => { const s = createServer(); s.listen(0, '127.0.0.1', () => r(s)); });
const portOf = (s: Socket | Server): number => (s.address() as { port: number }).port;

/** Marks migration 0001 as applied with another checksum: what an edited migration file looks like. */
async function tamper(db: Db, checksum: string): Promise<string> {
  const { rows } = await db.query<{ checksum: string }>('SELECT checksum FROM schema_migrations WHERE version = 1');
  await db.query('UPDATE schema_migrations SET checksum = $1 WHERE version = 1', [checksum]);
  return rows[0]!.checksum;
}

test.before(async () => {
  // A migrated data directory, so each run opens rather than creates it.
  await (await openDb({ dataDir: dbDir })).close();
});

test('the CoAP port in use: one line naming --coap-port, exit 1', async () => {
  const blocker = await udpBlocker();
  try {
    const port = portOf(blocker);
    refused(await serve(['--coap-port', String(port), '--log-level', 'warn']),
      new RegExp(`^ferry: cannot listen on udp 127\\.0\\.0\\.1:${port}: address in use \\(--coap-port / FERRY_COAP_PORT\\)$`));
  } finally { blocker.close(); }
});

test('the download port and the API port in use: each names its own setting', async () => {
  const [udp, tcp] = await Promise.all([udpBlocker(), tcpBlocker()]);
  try {
    refused(await serve(['--download-port', String(portOf(udp)), '--log-level', 'warn']),
      new RegExp(`^ferry: cannot listen on udp 127\\.0\\.0\\.1:${portOf(udp)}: address in use \\(--download-port / FERRY_DOWNLOAD_PORT\\)$`));
    refused(await serve(['--api-port', String(portOf(tcp)), '--log-level', 'warn']),
      new RegExp(`^ferry: cannot listen on tcp 127\\.0\\.0\\.1:${portOf(tcp)}: address in use \\(--api-port / FERRY_API_PORT\\)$`));
  } finally { udp.close(); tcp.close(); }
});

test('a missing key file: one line naming the file and its flag, before any database is made or migrated', async () => {
  const fresh = join(dir, 'never-made');
  const run = await runFerry(['serve', '--coap-port', '0', '--api-port', '0', '--db-dir', fresh, '--signing-key', 'missing.pem'], { cwd: dir, env: {} });
  refused(run, /^ferry: cannot read private key missing\.pem \(--signing-key \/ FERRY_SIGNING_KEY\): no such file$/);
  assert.not.ok(existsSync(fresh), 'no database directory was made');
  const trusted = await runFerry(['serve', '--coap-port', '0', '--api-port', '0', '--db-dir', fresh], { cwd: dir, env: { FERRY_TRUSTED_KEYS: 'nope.pub' } });
  refused(trusted, /^ferry: cannot read public key nope\.pub \(--trusted-keys \/ FERRY_TRUSTED_KEYS\): no such file$/);
  assert.not.ok(existsSync(fresh), 'no database directory was made');
});

test('an edited migration: its message alone, exit 1', async () => {
  const db = await openDb({ dataDir: dbDir });
  const original = await tamper(db, 'f'.repeat(64));
  await db.close();
  try {
    refused(await serve(['--log-level', 'warn']), /^ferry: migration 0001_\w+\.sql was changed after it was applied .*add a new migration instead$/);
  } finally {
    const again = await openDb({ dataDir: dbDir }).catch(async () => {
      // openDb refuses the tampered database: restore the row through a plain PGlite.
      const { openPglite } = await import('../../server/store/pglite.ts');
      return openPglite({ dataDir: dbDir });
    });
    await tamper(again, original);
    await again.close();
  }
});

test('SIGINT while the database opens: Ferry stops once it is open, closes it, exits 0', async () => {
  let sent = false;
  const run = await serve([], {}, (stdout, kill) => {
    if (!sent && stdout.includes('opening the database')) { sent = true; kill('SIGINT'); }
  });
  assert.ok(sent, 'the signal was sent');
  assert.is(run.code, 0, run.stderr);
  assert.match(run.stdout, /"signal":"SIGINT"/);
  assert.match(run.stdout, /stopped during start-up, database closed/);
  assert.not.match(run.stdout, /ferry serving/);
  assert.not.ok(existsSync(`${dbDir}.lock`), 'the directory\'s lock went with the database');
  // Closed cleanly: it opens again, migrated.
  const db = await openDb({ dataDir: dbDir });
  assert.is((await db.query<{ n: number }>('SELECT count(*)::int AS n FROM schema_migrations')).rows[0]!.n > 0, true);
  await db.close();
});

const escaped = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('two servers on one --db-dir: the second stops at once naming the directory and the first; the first serves on; killed, its lock is taken over', async () => {
  const first = await spawnFerry(['--db-dir', dbDir, '--coap-port', '0', '--download-port', '0']);
  let killed = false;
  try {
    const pid = first.child.pid!;
    assert.is((JSON.parse(readFileSync(`${dbDir}.lock`, 'utf8')) as { pid: number }).pid, pid);
    const second = await serve([]);
    refused(second, new RegExp(`^ferry: the database directory ${escaped(dbDir)} is in use by process ${pid} \\(ferry serve\\); `
      + 'stop it or use another directory \\(--db-dir / FERRY_DB_DIR\\)$'));
    assert.not.match(second.stdout, /database ready|migrate:/, 'it never opened the database');
    // The first is untouched: it answers, from its database, and still holds the directory.
    assert.is((await apiCall(first.apiUrl, 'GET', '/api/v1/devices')).status, 200);
    assert.is((await fetch(`${first.apiUrl}/healthz`)).status, 200);
    assert.is((JSON.parse(readFileSync(`${dbDir}.lock`, 'utf8')) as { pid: number }).pid, pid);

    await first.kill('SIGKILL');
    killed = true;
    assert.ok(existsSync(`${dbDir}.lock`), 'SIGKILL leaves the lock behind');
    let sent = false;
    const third = await serve([], {}, (stdout, kill) => {
      if (!sent && stdout.includes('ferry serving')) { sent = true; kill('SIGTERM'); }
    });
    assert.is(third.code, 0, third.stderr);
    assert.ok(sent, 'the third served');
    assert.match(third.stdout, new RegExp(`took over the lock ${escaped(dbDir)}\\.lock of process ${pid} \\(ferry serve, since [^)]+\\): process ${pid} is not running`));
    assert.not.ok(existsSync(`${dbDir}.lock`), 'SIGTERM released it');
  } finally {
    if (!killed) await first.kill('SIGTERM');
  }
});

test('an unreachable PostgreSQL: one line naming DATABASE_URL, the password hidden', async () => {
  refused(await serve(['--log-level', 'warn'], { DATABASE_URL: 'postgres://ferry:secret@127.0.0.1:1/ferry' }),
    /^ferry: cannot open the database postgres:\/\/ferry:\*\*\*@127\.0\.0\.1:1\/ferry: connection refused \(--database-url \/ DATABASE_URL\)$/);
});

test('a bug is not a user error: startupErrorLine leaves it to the stack trace', () => {
  const config = configWith({});
  assert.is(startupErrorLine(new TypeError("Cannot read properties of undefined (reading 'port')"), config), undefined);
  assert.is(startupErrorLine(Object.assign(new Error('boom'), { code: 'ERR_SOMETHING' }), config), undefined);
  assert.is(startupErrorLine('a string', config), undefined);
  const inUse = Object.assign(new Error('bind EADDRINUSE'), { code: 'EADDRINUSE', syscall: 'bind', address: '::1', port: 5683 });
  assert.is(startupErrorLine(inUse, config), 'cannot listen on udp [::1]:5683: address in use (--coap-port / FERRY_COAP_PORT)');
});

test('on PostgreSQL too: the port in use and an edited migration are one line each, exit 1', async () => {
  if (!process.env['DATABASE_URL']) return;
  const { schema, drop } = await createTestSchema();
  const url = `${databaseUrl()}${databaseUrl().includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  const blocker = await udpBlocker();
  try {
    // A refused start-up ends the process itself (process.exit): an open pool cannot hold it.
    refused(await serve(['--coap-port', String(portOf(blocker)), '--log-level', 'warn'], { DATABASE_URL: url }), /address in use \(--coap-port \/ FERRY_COAP_PORT\)$/);
    const db = await openDb({ databaseUrl: databaseUrl(), schema });
    await tamper(db, 'e'.repeat(64));
    await db.close();
    refused(await serve(['--log-level', 'warn'], { DATABASE_URL: url }), /^ferry: migration 0001_\w+\.sql was changed after it was applied/);
  } finally {
    blocker.close();
    await drop();
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
