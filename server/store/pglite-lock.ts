/**
 * One process per PGlite data directory. PGlite is PostgreSQL inside one process: two processes on
 * one directory each cache and write its pages, and corrupt it. PostgreSQL guards its own data
 * directory with postmaster.pid (a pid file checked against the running processes); PGlite has no
 * such guard, so Ferry takes this one before PGlite opens anything.
 *
 * The lock is the file `<dir>.lock` beside the directory (the directory itself is PGlite's: its
 * dumps and initdb see every file in it), JSON naming the holder: pid, host name, boot id and the
 * process's start time (Linux: /proc), the command, and a nonce naming this one lock.
 *
 * - Taken with link(2) from a complete, fsynced temporary file: created atomically, EEXIST when
 *   held, never seen half-written.
 * - A lock whose holder is gone is stale and taken over: the pid is not running (ESRCH, or a
 *   zombie), or it runs but started at another time (the pid was reused), or the machine booted
 *   since. One process only may replace a given stale lock: it first links the claim
 *   `<dir>.lock.<nonce of that lock>` (exclusive like the lock), reads the lock again, and renames
 *   its own over it only when the nonce is still the stale one. A claim left by a process killed
 *   in between is stale in turn and taken over the same way.
 * - A lock from another host (a shared network disk) is never taken over: its pid means nothing here.
 * - Released (unlinked) by its holder only, when the nonce in the file is still its own; on process
 *   exit too, if the database was not closed.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { link, open, readFile, rename, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, resolve } from 'node:path';
import { DataDirLockedError } from '../errors.ts';

export interface LockHolder {
  pid: number;
  host: string;
  /** Linux: /proc/sys/kernel/random/boot_id. */
  boot?: string;
  /** Linux: the process's start time, clock ticks since boot (/proc/<pid>/stat, field 22). */
  start?: string;
  /** What runs there, e.g. "ferry serve". */
  command: string;
  /** When the lock was taken (ISO 8601). */
  since: string;
  nonce: string;
}

export type LockRefusal = 'in-use' | 'other-host' | 'unreadable';

function refusalMessage(dir: string, file: string, reason: LockRefusal, h: LockHolder | undefined, unverified: boolean): string {
  if (reason === 'unreadable' || h === undefined) {
    return `the database directory ${dir} is locked by ${file}, which is not a readable lock file; delete it if no Ferry uses the directory, or use another directory`;
  }
  if (reason === 'other-host') {
    return `the database directory ${dir} is in use by process ${h.pid} on host ${h.host} (${h.command}); a lock from another host is not taken over automatically: stop it there, delete ${file} if it no longer runs, or use another directory`;
  }
  const note = unverified ? ` (its start time is unknown here: delete ${file} if that process is not Ferry)` : '';
  return `the database directory ${dir} is in use by process ${h.pid} (${h.command})${note}; stop it or use another directory`;
}

export interface LockOptions {
  /** What the lock names as its holder's command (default: this script's file name). */
  owner?: string;
  /** Told when a stale lock is taken over (one line). */
  log?: (msg: string) => void;
}

export interface DataDirLock {
  readonly file: string;
  readonly holder: LockHolder;
  /** Removes the lock if it is still this one; true when it did. Idempotent. */
  release(): Promise<boolean>;
}

/** The lock file of a data directory: beside it, `<dir>.lock`. */
export function lockFileOf(dir: string): string {
  return `${resolve(dir)}.lock`;
}

/** How long to wait for a live process that is replacing a stale lock right now (it takes a few ms). */
const CLAIM_WAIT_MS = 2_000;
const CLAIM_POLL_MS = 20;
/** Claims of claims: each level is a process killed within a few microseconds of a takeover. */
const MAX_DEPTH = 4;

/** Takes the data directory's lock, or throws DataDirLockedError naming who holds it. */
export async function lockDataDir(dir: string, o: LockOptions = {}): Promise<DataDirLock> {
  dir = resolve(dir);
  const file = lockFileOf(dir);
  const me: LockHolder = {
    pid: process.pid, host: hostname(), ...withDefined('boot', bootId()), ...withDefined('start', procStat(process.pid)?.start),
    command: o.owner ?? basename(process.argv[1] ?? 'node'), since: new Date().toISOString(), nonce: randomBytes(12).toString('hex'),
  };
  const tmp = `${file}.${me.nonce}.tmp`;
  const fh = await open(tmp, 'wx', 0o644);
  try {
    await fh.writeFile(`${JSON.stringify(me)}\n`);
    await fh.sync(); // linked as the lock: its content must be on disk before its name is
  } finally {
    await fh.close();
  }
  let outcome: Outcome;
  try {
    outcome = await take({ dir, tmp, me, log: o.log }, file, 0);
  } finally {
    await unlink(tmp).catch(() => {}); // the lock (or a claim) is another name of it by now
  }
  if (outcome.taken !== true) {
    throw new DataDirLockedError(refusalMessage(dir, outcome.file, outcome.reason, outcome.holder, outcome.unverified),
      { dir, lockFile: outcome.file, reason: outcome.reason, holder: outcome.holder });
  }

  let released = false;
  const onExit = (): void => {
    // Synchronous: nothing else runs in an 'exit' listener. The process is ending, the database with it.
    try {
      if (parseHolder(readFileSync(file, 'utf8'))?.nonce === me.nonce) unlinkSync(file);
    } catch { /* gone already */ }
  };
  process.on('exit', onExit);
  return {
    file,
    holder: me,
    async release() {
      if (released) return false;
      released = true;
      process.off('exit', onExit);
      const now = await readHolder(file).catch(() => undefined);
      if (now === undefined || now === 'gone' || now.nonce !== me.nonce) return false; // not ours (any more): leave it
      await unlink(file);
      return true;
    },
  };
}

interface Attempt { dir: string; tmp: string; me: LockHolder; log: ((msg: string) => void) | undefined }
type Outcome = { taken: true } | { taken: false; file: string; reason: LockRefusal; holder?: LockHolder; unverified: boolean };

/** Makes `path` a name of our lock file: atomically if free, by a claimed takeover if stale. */
async function take(a: Attempt, path: string, depth: number): Promise<Outcome> {
  const waitUntil = Date.now() + CLAIM_WAIT_MS;
  for (;;) {
    try {
      await link(a.tmp, path);
      return { taken: true };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const held = await readHolder(path);
    if (held === 'gone') continue; // released between our link and our read
    if (held === undefined) return { taken: false, file: path, reason: 'unreadable', unverified: false };
    const verdict = judge(held);
    if (verdict.state === 'other-host') return { taken: false, file: path, reason: 'other-host', holder: held, unverified: false };
    if (verdict.state === 'live') return { taken: false, file: path, reason: 'in-use', holder: held, unverified: !verdict.verified };
    if (depth >= MAX_DEPTH) return { taken: false, file: path, reason: 'in-use', holder: held, unverified: true };

    // Stale. Only the process holding the claim on this very lock (its nonce) may replace it.
    const claim = `${lockFileOf(a.dir)}.${held.nonce}`;
    const claimed = await take(a, claim, depth + 1);
    if (claimed.taken !== true) {
      // A live process is replacing it right now: it is done in a moment, and then holds the lock.
      if (claimed.reason !== 'in-use' || Date.now() >= waitUntil) return claimed;
      await sleep(CLAIM_POLL_MS);
      continue;
    }
    try {
      const now = await readHolder(path);
      if (now !== undefined && now !== 'gone' && now.nonce === held.nonce) {
        // Renamed from a second name of our file: `tmp` stays for the levels above this one.
        const second = `${a.tmp}.${depth}`;
        await link(a.tmp, second);
        await rename(second, path);
        a.log?.(`pglite: took over the ${depth === 0 ? 'lock' : 'claim'} ${path} of process ${held.pid} (${held.command}, since ${held.since}): ${verdict.why}`);
        return { taken: true };
      }
    } finally {
      await unlink(claim).catch(() => {});
    }
  }
}

type Verdict = { state: 'live'; verified: boolean } | { state: 'stale'; why: string } | { state: 'other-host' };

function judge(h: LockHolder): Verdict {
  if (h.host !== hostname()) return { state: 'other-host' };
  const boot = bootId();
  if (h.boot !== undefined && boot !== undefined && h.boot !== boot) return { state: 'stale', why: 'the machine has booted since' };
  if (!pidExists(h.pid)) return { state: 'stale', why: `process ${h.pid} is not running` };
  const stat = procStat(h.pid);
  if (stat !== undefined && (stat.state === 'Z' || stat.state === 'X')) return { state: 'stale', why: `process ${h.pid} has exited` };
  if (h.start !== undefined && stat !== undefined) {
    return h.start === stat.start
      ? { state: 'live', verified: true }
      : { state: 'stale', why: `process ${h.pid} is another process now (it started at another time)` };
  }
  return { state: 'live', verified: false };
}

/** kill(pid, 0): ESRCH = no such process; EPERM = one of another user's, so it exists. */
function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** Linux: a process's state and start time; undefined elsewhere, or when /proc hides it. */
function procStat(pid: number): { state: string; start: string } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid …": comm may hold spaces and parentheses; fields 3… follow the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const state = fields[0];
    const start = fields[19]; // field 22, starttime
    return state !== undefined && start !== undefined && /^\d+$/.test(start) ? { state, start } : undefined;
  } catch {
    return undefined;
  }
}

let boot: string | null | undefined;
function bootId(): string | undefined {
  if (boot === undefined) {
    try {
      boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
    } catch {
      boot = null;
    }
  }
  return boot ?? undefined;
}

/** The holder named in a lock file; 'gone' when there is no file; undefined when it is not a lock file. */
async function readHolder(path: string): Promise<LockHolder | 'gone' | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw err;
  }
  return parseHolder(text);
}

function parseHolder(text: string): LockHolder | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const h = v as Record<string, unknown>;
  const str = (x: unknown): x is string => typeof x === 'string' && x.length > 0 && x.length <= 500;
  if (!Number.isSafeInteger(h.pid) || (h.pid as number) <= 0 || (h.pid as number) > 0x7fffffff || !str(h.host) || !str(h.nonce) || !/^[0-9a-f]+$/.test(h.nonce)) return undefined;
  return {
    pid: h.pid as number, host: h.host, ...withDefined('boot', str(h.boot) ? h.boot : undefined),
    ...withDefined('start', str(h.start) ? h.start : undefined),
    command: str(h.command) ? h.command : 'unknown command', since: str(h.since) ? h.since : 'an unknown time', nonce: h.nonce,
  };
}

function withDefined<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: string };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
