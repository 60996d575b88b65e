/**
 * The PGlite data directory's lock (server/store/pglite-lock.ts): one process per directory, taken
 * before PGlite opens; stale locks (a SIGKILLed holder, a reused pid, a boot since) taken over by
 * exactly one process; another host's lock and a foreign file refused; released by its holder only.
 * Holders in other processes are real child processes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openDb } from '../../../server/store/open.ts';
import { openPglite } from '../../../server/store/pglite.ts';
import { DataDirLockedError } from '../../../server/errors.ts';
import { lockDataDir, lockFileOf, type LockHolder } from '../../../server/store/pglite-lock.ts';
import { pgliteTemplate } from '../../helpers/pglite-template.ts';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../../..');
const LOCK_MODULE = join(ROOT, 'server/store/pglite-lock.ts');
const ERRORS_MODULE = join(ROOT, 'server/errors.ts');
const onLinux = existsSync('/proc/self/stat');

let root = '';
let dataDir = '';
test.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'ferry-lock-'));
  dataDir = join(root, 'db');
});
test.after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A fresh directory name (not created: the lock lives beside it). */
const freshDir = (): string => join(root, `d-${randomBytes(4).toString('hex')}`);

const readLock = (dir: string): LockHolder => JSON.parse(readFileSync(lockFileOf(dir), 'utf8')) as LockHolder;

async function writeLock(dir: string, h: Partial<LockHolder> & { pid: number }): Promise<LockHolder> {
  const full: LockHolder = { host: hostname(), command: 'planted', since: new Date().toISOString(), nonce: randomBytes(12).toString('hex'), ...h };
  await writeFile(lockFileOf(dir), JSON.stringify(full));
  return full;
}

/** Linux: a process's start time as the lock records it (/proc/<pid>/stat field 22). */
function startOf(pid: number): string {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).split(' ')[19]!;
}
const bootId = (): string => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();

/** A child `node` running `script` (ESM, with tsx); resolves on its first stdout line. */
async function child(script: string, args: string[] = []): Promise<{ proc: ChildProcess; first: string; lines: string[] }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const first = await new Promise<string>((ok, fail) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const parts = out.split('\n');
      out = parts.pop() ?? '';
      lines.push(...parts);
      if (lines.length > 0) ok(lines[0]!);
    });
    proc.once('exit', (code) => fail(new Error(`child exited (${code}): ${err}`)));
  });
  return { proc, first, lines };
}

/** A child that takes the lock of `dir` as "lock-holder", says so, and holds it until killed. */
const holder = (dir: string) => child(
  `const { lockDataDir } = await import(${JSON.stringify(LOCK_MODULE)});
   await lockDataDir(process.argv[1], { owner: 'lock-holder' }); console.log('locked'); setInterval(() => {}, 1000);`, [dir]);

/** A live process that has nothing to do with Ferry. */
function sleeper(): ChildProcess {
  return spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
}

async function killed(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exit = new Promise((r) => proc.once('exit', r)); // 'exit' comes after the kernel reaped it
  proc.kill('SIGKILL');
  await exit;
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const p = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((r) => p.once('exit', r));
  return p.pid!;
}

async function refusal(p: Promise<unknown>): Promise<DataDirLockedError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof DataDirLockedError) return err;
    throw err;
  }
  throw new Error('expected DataDirLockedError, it was taken');
}

test('openPglite/openDb take the lock beside the directory; a second open in this process is refused; close removes it', async () => {
  const first = await openPglite({ dataDir, loadDataDir: await pgliteTemplate(), owner: 'first opener' });
  try {
    const lock = readLock(dataDir);
    assert.is(lock.pid, process.pid);
    assert.is(lock.host, hostname());
    assert.is(lock.command, 'first opener');
    if (onLinux) assert.is(lock.start, startOf(process.pid));
    const err = await refusal(openDb({ dataDir }));
    assert.is(err.message, `the database directory ${dataDir} is in use by process ${process.pid} (first opener); stop it or use another directory`);
    assert.is(err.reason, 'in-use');
    assert.is(readLock(dataDir).nonce, lock.nonce, 'the refused open left the lock alone');
  } finally {
    await first.close();
  }
  assert.not.ok(existsSync(lockFileOf(dataDir)), 'close removed the lock');
  const again = await openDb({ dataDir });
  assert.is(readLock(dataDir).pid, process.pid);
  await again.close();
  assert.not.ok(existsSync(lockFileOf(dataDir)));
  assert.equal((await readdir(root)).filter((n) => n.startsWith('db.lock')), [], 'no temporary file or claim left');
});

test('a child process holds it: openDb is refused naming its pid; SIGKILLed, its stale lock is taken over with a log line', async () => {
  const h = await holder(dataDir);
  try {
    assert.is(h.first, 'locked');
    const err = await refusal(openDb({ dataDir }));
    assert.is(err.message, `the database directory ${dataDir} is in use by process ${h.proc.pid} (lock-holder); stop it or use another directory`);
    assert.is(err.holder?.pid, h.proc.pid);
  } finally {
    await killed(h.proc);
  }
  assert.is(readLock(dataDir).pid, h.proc.pid, 'SIGKILL left the lock behind');
  const logs: string[] = [];
  const db = await openDb({ dataDir, log: (m) => logs.push(m) });
  try {
    assert.is(readLock(dataDir).pid, process.pid);
    const took = logs.filter((l) => l.includes('took over'));
    assert.is(took.length, 1, logs.join('\n'));
    assert.match(took[0]!, `pglite: took over the lock ${lockFileOf(dataDir)} of process ${h.proc.pid} (lock-holder, since `);
    assert.match(took[0]!, `process ${h.proc.pid} is not running`);
    assert.equal((await db.query<{ n: number }>('SELECT 1 AS n')).rows, [{ n: 1 }]);
  } finally {
    await db.close();
  }
  assert.not.ok(existsSync(lockFileOf(dataDir)));
});

test('a live process that is not the holder (its pid reused) loses the lock; the holder itself, alive, keeps it', async () => {
  const other = sleeper();
  try {
    await new Promise((r) => other.once('spawn', r));
    const pid = other.pid!;
    const dir = freshDir();
    if (!onLinux) {
      // No start time to compare: a live pid is taken for the holder, and the message says how to check.
      await writeLock(dir, { pid });
      const err = await refusal(lockDataDir(dir));
      assert.match(err.message, `is in use by process ${pid} (planted) (its start time is unknown here: delete ${lockFileOf(dir)} if that process is not Ferry)`);
      return;
    }
    // The pid runs, but it started at another time than the lock's holder did.
    await writeLock(dir, { pid, boot: bootId(), start: String(Number(startOf(pid)) + 1) });
    const logs: string[] = [];
    const lock = await lockDataDir(dir, { log: (m) => logs.push(m) });
    assert.is(readLock(dir).nonce, lock.holder.nonce);
    assert.match(logs.join('\n'), `process ${pid} is another process now (it started at another time)`);
    assert.ok(await lock.release());

    // The same pid with its own start time is the holder, alive: refused.
    const planted = await writeLock(dir, { pid, boot: bootId(), start: startOf(pid) });
    const err = await refusal(lockDataDir(dir, { owner: 'second' }));
    assert.is(err.message, `the database directory ${dir} is in use by process ${pid} (planted); stop it or use another directory`);
    assert.equal(readLock(dir), planted, 'left as it was');
  } finally {
    await killed(other);
  }
});

test('a lock from before the machine booted is stale, even when its pid runs now', async () => {
  if (!onLinux) return;
  const dir = freshDir();
  await writeLock(dir, { pid: process.pid, boot: '00000000-0000-0000-0000-000000000000', start: startOf(process.pid) });
  const logs: string[] = [];
  const lock = await lockDataDir(dir, { log: (m) => logs.push(m) });
  assert.match(logs.join('\n'), 'the machine has booted since');
  assert.ok(await lock.release());
});

test('a lock taken on another host is never taken over, its pid dead here or not; the message says so', async () => {
  const dir = freshDir();
  const planted = await writeLock(dir, { pid: await deadPid(), host: 'nas-client-2', command: 'ferry serve' });
  const err = await refusal(lockDataDir(dir));
  assert.is(err.reason, 'other-host');
  assert.is(err.message, `the database directory ${dir} is in use by process ${planted.pid} on host nas-client-2 (ferry serve); `
    + `a lock from another host is not taken over automatically: stop it there, delete ${lockFileOf(dir)} if it no longer runs, or use another directory`);
  assert.equal(readLock(dir), planted);
});

test('a lock file that is not one (garbage, a bad pid, a nonce that is a path) is refused, naming the file', async () => {
  const dir = freshDir();
  for (const text of ['', 'hello', '{"pid":0,"host":"h","nonce":"ab"}', `{"pid":1,"host":"${hostname()}","nonce":"../../etc"}`, '[1]']) {
    await writeFile(lockFileOf(dir), text);
    const err = await refusal(lockDataDir(dir));
    assert.is(err.reason, 'unreadable', text);
    assert.is(err.message, `the database directory ${dir} is locked by ${lockFileOf(dir)}, which is not a readable lock file; delete it if no Ferry uses the directory, or use another directory`);
    assert.is(readFileSync(lockFileOf(dir), 'utf8'), text);
  }
});

test('a claim left by a process killed in the middle of a takeover is stale too: both are taken over, none is left', async () => {
  const dir = freshDir();
  const stale = await writeLock(dir, { pid: await deadPid(), start: '1' });
  const claimer: LockHolder = { pid: await deadPid(), host: hostname(), start: '2', command: 'killed mid-takeover', since: stale.since, nonce: 'c1a1' };
  await writeFile(`${lockFileOf(dir)}.${stale.nonce}`, JSON.stringify(claimer));
  const logs: string[] = [];
  const lock = await lockDataDir(dir, { log: (m) => logs.push(m) });
  assert.is(readLock(dir).nonce, lock.holder.nonce);
  assert.match(logs.join('\n'), `took over the claim ${lockFileOf(dir)}.${stale.nonce} of process ${claimer.pid}`);
  assert.match(logs.join('\n'), `took over the lock ${lockFileOf(dir)} of process ${stale.pid}`);
  assert.equal((await readdir(root)).filter((n) => n.startsWith(`${dir.split('/').pop()}.lock.`)), [], 'no claim or temporary file left');
  assert.ok(await lock.release());
});

test('sixteen takeovers of one stale lock at once in this process: exactly one takes it', async () => {
  const dir = freshDir();
  await writeLock(dir, { pid: await deadPid(), start: '1' });
  const results = await Promise.allSettled(Array.from({ length: 16 }, () => lockDataDir(dir)));
  const taken = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  assert.is(taken.length, 1);
  assert.is(readLock(dir).nonce, taken[0]!.holder.nonce);
  for (const r of results) {
    if (r.status === 'rejected') assert.instance(r.reason, DataDirLockedError, String(r.reason));
  }
  assert.ok(await taken[0]!.release());
});

test('three processes take over one stale lock at the same moment: one holds it, the others are refused naming it', async () => {
  const dir = freshDir();
  await writeLock(dir, { pid: await deadPid(), start: '1' });
  const script = `const { lockDataDir } = await import(${JSON.stringify(LOCK_MODULE)});
    const { DataDirLockedError } = await import(${JSON.stringify(ERRORS_MODULE)});
    console.log('ready');
    process.stdin.once('data', async () => {
      try { await lockDataDir(process.argv[1], { owner: 'racer' }); console.log('taken'); }
      catch (err) { console.log(err instanceof DataDirLockedError ? 'refused ' + err.holder?.pid : 'error ' + err); }
    });
    setInterval(() => {}, 1000);`;
  const racers = await Promise.all([1, 2, 3].map(() => child(script, [dir])));
  try {
    const said = racers.map((r) => new Promise<string>((ok) => {
      const check = (): void => { if (r.lines.length > 1) ok(r.lines[1]!); else setTimeout(check, 10); };
      check();
    }));
    for (const r of racers) r.proc.stdin!.write('go\n');
    const outcomes = await Promise.all(said);
    const winners = racers.filter((_, i) => outcomes[i] === 'taken');
    assert.is(winners.length, 1, outcomes.join(', '));
    const winner = winners[0]!.proc.pid!;
    assert.is(readLock(dir).pid, winner);
    assert.equal(outcomes.filter((o) => o !== 'taken'), [`refused ${winner}`, `refused ${winner}`]);
  } finally {
    await Promise.all(racers.map((r) => killed(r.proc)));
  }
});

test('only its holder removes the lock: one replaced under it is left alone', async () => {
  const dir = freshDir();
  const lock = await lockDataDir(dir);
  const other = await writeLock(dir, { pid: process.pid, command: 'someone else' });
  assert.is(await lock.release(), false);
  assert.equal(readLock(dir), other);
  assert.is(await lock.release(), false, 'twice is harmless');
});

test.run();
