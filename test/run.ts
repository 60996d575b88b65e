/**
 * `npm test`: runs every test/**\/*.test.ts file in its own Node process (uvu suites, one
 * database instance per process), three at a time, and ends with the line CI reads:
 * "N passed, N failed, N skipped". A file that crashes, or outlives its time limit, counts as a
 * failure even when it printed no summary.
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pgliteTemplate } from './helpers/pglite-template.ts';

const root = resolve(fileURLToPath(import.meta.url), '..', '..');
const FILE_TIMEOUT_MS = Number(process.env['FERRY_TEST_FILE_TIMEOUT_MS'] ?? 240_000);
// Three files at a time on two cores: the suite waits on timers (retransmissions, timeouts) as much
// as it computes (about 1.4 cores busy with two at a time), so a third file fills the gaps.
const JOBS = Number(process.env['FERRY_TEST_JOBS'] ?? 3);

function findTests(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

interface Outcome { file: string; passed: number; failed: number; skipped: number; ms: number; output: string }

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

function runFile(file: string): Promise<Outcome> {
  const started = Date.now();
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: root, env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, FILE_TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      const text = output.replace(ANSI, '');
      const count = (label: string): number => {
        let n = 0;
        for (const m of text.matchAll(new RegExp(`^\\s*${label}:\\s+(\\d+)`, 'gm'))) n += Number(m[1]);
        return n;
      };
      const total = count('Total');
      const passed = count('Passed');
      const skipped = count('Skipped');
      let failed = Math.max(0, total - passed);
      if (timedOut) { output += `\n[run] ${relative(root, file)} killed after ${FILE_TIMEOUT_MS} ms\n`; failed += 1; }
      else if (code !== 0 && failed === 0) { output += `\n[run] ${relative(root, file)} exited with code ${code}\n`; failed += 1; }
      resolvePromise({ file, passed, failed, skipped, ms: Date.now() - started, output });
    });
  });
}

async function main(): Promise<void> {
  const filter = process.argv.slice(2);
  const files = findTests(join(root, 'test')).filter((f) => filter.length === 0 || filter.some((s) => f.includes(s)));
  const started = Date.now();
  await pgliteTemplate(); // built once, before the files that load it start together
  const outcomes: Outcome[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const file = files[next++]!;
      const o = await runFile(file);
      outcomes.push(o);
      process.stdout.write(`\n── ${relative(root, file)} (${(o.ms / 1000).toFixed(1)} s) ──\n${o.output.trimEnd()}\n`);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, JOBS) }, worker));
  const sum = (k: 'passed' | 'failed' | 'skipped'): number => outcomes.reduce((a, o) => a + o[k], 0);
  const failedFiles = outcomes.filter((o) => o.failed > 0).map((o) => relative(root, o.file));
  process.stdout.write(`\n${files.length} files in ${((Date.now() - started) / 1000).toFixed(1)} s`
    + `${process.env['DATABASE_URL'] ? ' (PGlite and PostgreSQL)' : ' (PGlite only; set DATABASE_URL to add PostgreSQL)'}\n`);
  if (failedFiles.length) process.stdout.write(`failing: ${failedFiles.join(', ')}\n`);
  process.stdout.write(`${sum('passed')} passed, ${sum('failed')} failed, ${sum('skipped')} skipped\n`);
  process.exitCode = sum('failed') > 0 || files.length === 0 ? 1 : 0;
}

await main();
