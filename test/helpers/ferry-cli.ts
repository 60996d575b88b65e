/** The `ferry` command as a user runs it (node server/bin/ferry.js …), for tests of its exit codes and messages. */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';

export const FERRY_BIN = resolve(fileURLToPath(import.meta.url), '../../../server/bin/ferry.js');

export interface Run { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/**
 * Runs `ferry <args…>` in `cwd` without the caller's FERRY_* or DATABASE_URL (only `env`'s);
 * `onOutput` may act on stdout as it arrives (send a signal). Killed after 60 s.
 */
export function runFerry(
  args: string[], o: { cwd: string; env?: Record<string, string>; onOutput?: (stdout: string, kill: (s: NodeJS.Signals) => void) => void },
): Promise<Run> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FERRY_') && k !== 'DATABASE_URL'));
  const child = spawn(process.execPath, [FERRY_BIN, ...args], { cwd: o.cwd, env: { ...clean, ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); o.onOutput?.(stdout, (s) => child.kill(s)); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  return new Promise((done) => child.on('close', (code, signal) => { clearTimeout(timer); done({ code, signal, stdout, stderr }); }));
}

/** The run ended with exit `code` and exactly one line on stderr matching `line`, no stack frames. */
export function oneLine(run: Run, code: number, line: RegExp): void {
  assert.is(run.code, code, `exit code; stdout: ${run.stdout}\nstderr: ${run.stderr}`);
  assert.not.match(run.stderr, /^\s+at /m, 'no stack trace');
  const lines = run.stderr.trimEnd().split('\n');
  assert.is(lines.length, 1, run.stderr);
  assert.match(lines[0]!, line);
}
