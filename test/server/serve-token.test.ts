// `ferry serve`'s first admin token: with no token in the database one is made and printed once,
// on stderr, outside the JSON log; the next start prints none. FERRY_ADMIN_TOKEN works from the
// first start and is stored as a SHA-256 only. On PGlite (a temp --db-dir) and on PostgreSQL.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openDb } from '../../server/store/open.ts';
import type { Db } from '../../server/store/db.ts';
import { createTestSchema, databaseUrl } from '../helpers/db.ts';

const FERRY = resolve(fileURLToPath(import.meta.url), '../../../server/bin/ferry.js');
const dir = mkdtempSync(join(tmpdir(), 'ferry-token-'));

interface Served { stdout: string; stderr: string; api: string }

/** Starts `ferry serve`, runs `use` against its API once it serves, then stops it with SIGTERM. */
async function serveOnce(dbArgs: string[], env: Record<string, string>, use: (s: Served) => Promise<void>): Promise<Served> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FERRY_') && k !== 'DATABASE_URL'));
  const child = spawn(process.execPath, [FERRY, 'serve', '--coap-port', '0', '--api-port', '0', '--download-port', '0', '--log-level', 'info', ...dbArgs], {
    cwd: dir, env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const s: Served = { stdout: '', stderr: '', api: '' };
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const closed = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  let used: Promise<void> | undefined;
  child.stderr.on('data', (d: Buffer) => { s.stderr += d.toString(); });
  child.stdout.on('data', (d: Buffer) => {
    s.stdout += d.toString();
    const line = s.stdout.split('\n').find((l) => l.includes('"ferry serving"'));
    if (line && used === undefined) {
      s.api = (JSON.parse(line) as { api: string }).api;
      // The token is announced just after "ferry serving": give stderr a moment.
      used = new Promise((r) => setTimeout(r, 300)).then(() => use(s)).finally(() => child.kill('SIGTERM'));
    }
  });
  const code = await closed;
  clearTimeout(killer);
  await used;
  assert.is(code, 0, s.stderr);
  return s;
}

const get = (s: Served, token: string | undefined) =>
  fetch(`${s.api}/api/v1/tokens`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });

async function firstStartThenRestart(dbArgs: string[], env: Record<string, string>, open: () => Promise<Db>): Promise<void> {
  let token = '';
  const first = await serveOnce(dbArgs, env, async (s) => {
    const m = /(fry_[A-Za-z0-9_-]{43})/.exec(s.stderr);
    assert.ok(m, `a token on stderr: ${s.stderr}`);
    token = m![1]!;
    assert.is((await get(s, undefined)).status, 401);
    const res = await get(s, token);
    assert.is(res.status, 200);
    assert.equal(((await res.json() as { items: Array<{ name: string; role: string }> }).items).map((t) => [t.name, t.role]), [['first-admin', 'admin']]);
  });
  assert.not.ok(first.stdout.includes(token), 'not in the JSON log');
  assert.is(first.stderr.split(token).length, 2, 'printed once');
  const second = await serveOnce(dbArgs, env, async (s) => { assert.is((await get(s, token)).status, 200, 'the token still works'); });
  assert.not.match(second.stderr, /fry_/, 'no token printed at the next start');
  const db = await open();
  try {
    const rows = (await db.query<Record<string, unknown>>('SELECT * FROM api_tokens')).rows;
    assert.is(rows.length, 1);
    assert.is(rows[0]!['token_hash'], createHash('sha256').update(token).digest('hex'));
    assert.not.ok(JSON.stringify(rows).includes(token), 'stored hashed, no plaintext');
  } finally { await db.close(); }
}

test('PGlite: a token made and printed once at first start, none at the next', async () => {
  const dbDir = join(dir, 'first');
  await firstStartThenRestart(['--db-dir', dbDir], {}, () => openDb({ dataDir: dbDir }));
});

test('PGlite: FERRY_ADMIN_TOKEN works from the first start, nothing printed, stored hashed', async () => {
  const dbDir = join(dir, 'configured');
  const token = `fry_${Buffer.alloc(32, 5).toString('base64url')}`;
  const s = await serveOnce(['--db-dir', dbDir], { FERRY_ADMIN_TOKEN: token }, async (s) => {
    assert.is((await get(s, token)).status, 200);
    assert.is((await get(s, `${token}x`)).status, 401);
  });
  assert.not.match(s.stderr, /fry_/);
  const db = await openDb({ dataDir: dbDir });
  try {
    const rows = (await db.query<Record<string, unknown>>('SELECT name, token_hash, prefix FROM api_tokens')).rows;
    assert.equal(rows, [{ name: 'FERRY_ADMIN_TOKEN', token_hash: createHash('sha256').update(token).digest('hex'), prefix: token.slice(0, 8) }]);
  } finally { await db.close(); }
});

test('a FERRY_ADMIN_TOKEN too short to be a secret is refused at start, naming the setting', async () => {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FERRY_') && k !== 'DATABASE_URL'));
  const child = spawn(process.execPath, [FERRY, 'serve', '--db-dir', join(dir, 'short')], { env: { ...clean, FERRY_ADMIN_TOKEN: 'admin' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const code = await new Promise<number | null>((r) => child.on('close', r));
  assert.is(code, 2);
  assert.match(stderr, /FERRY_ADMIN_TOKEN must be 32 to 200 printable characters/);
});

test('PostgreSQL: the same first start and restart', async () => {
  if (!process.env['DATABASE_URL']) return;
  const { schema, drop } = await createTestSchema();
  const url = `${databaseUrl()}${databaseUrl().includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  try {
    await firstStartThenRestart([], { DATABASE_URL: url }, () => openDb({ databaseUrl: databaseUrl(), schema }));
  } finally { await drop(); }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
