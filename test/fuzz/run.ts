/**
 * `npm run fuzz`: every registered fuzz target, one after another (the decoders of protocols/,
 * then any test/fuzz/sockets*.ts family), 1,000,000 inputs each unless told otherwise.
 *
 *   npm run fuzz                                  # all targets, a fresh seed (printed)
 *   npm run fuzz -- --runs 20000 --only tlv,cose  # fewer inputs, some targets (or a family name)
 *   npm run fuzz -- --only tlv --seed 123 --path 4:1:0   # replay a reported counterexample
 *   npm run fuzz -- --list
 *
 * Options: --runs N (or FUZZ_RUNS), --only NAMES (comma-separated; a family name selects the
 * family), --seed S (or FUZZ_SEED), --path P, --round-trips N, --json FILE (the summary), --list.
 * Prints a line per target (inputs, round trips, failures, time), then a JSON summary and a table;
 * exits 1 on any failure, after printing the shrunk counterexample (hex), its seed and replay line.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import './decoder-family.ts';
import { registry, type FuzzOutcome } from './registry.ts';

const here = dirname(fileURLToPath(import.meta.url));
// Other families register themselves: test/fuzz/sockets*.ts (not the *.test.ts files). A file that
// does not load is reported, and fails the run unless --only leaves its family out.
const loadErrors: string[] = [];
for (const file of readdirSync(here).sort()) {
  if (!/^sockets.*\.ts$/.test(file) || file.endsWith('.test.ts')) continue;
  try {
    await import(pathToFileURL(join(here, file)).href);
  } catch (e) {
    loadErrors.push(`${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

const { values } = parseArgs({
  options: {
    runs: { type: 'string' }, only: { type: 'string' }, seed: { type: 'string' }, path: { type: 'string' },
    'round-trips': { type: 'string' }, json: { type: 'string' }, list: { type: 'boolean' },
  },
  strict: true,
});

const number = (text: string | undefined, what: string): number | undefined => {
  if (text === undefined) return undefined;
  const n = Number(text.replace(/_/g, ''));
  if (!Number.isSafeInteger(n) || n < 0) { process.stderr.write(`${what} must be a non-negative integer, got ${text}\n`); process.exit(2); }
  return n;
};

const runs = number(values.runs ?? process.env['FUZZ_RUNS'], '--runs');
const roundTrips = number(values['round-trips'], '--round-trips');
const seed = number(values.seed ?? process.env['FUZZ_SEED'], '--seed') ?? (Date.now() ^ (process.pid << 8)) >>> 0;
const only = values.only?.split(',').map((s) => s.trim()).filter(Boolean);
const targets = [...registry.values()].filter((t) => !only || only.includes(t.name) || only.includes(t.family));

if (values.list) {
  for (const t of registry.values()) process.stdout.write(`${t.family.padEnd(9)} ${t.name.padEnd(15)} ${t.describe}\n`);
  process.exit(0);
}
if (targets.length === 0) {
  process.stderr.write(`no fuzz target matches --only ${values.only} (${[...registry.keys()].join(', ')})\n`);
  process.exit(2);
}

for (const e of loadErrors) process.stderr.write(`fuzz: could not load ${e}\n`);
const loadFailed = loadErrors.length > 0 && (!only || only.includes('sockets') || only.some((n) => n.startsWith('sockets')));

const fmt = (n: number): string => n.toLocaleString('en-US');
const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
process.stdout.write(`fuzz: ${targets.length} targets, seed ${seed}, ${runs === undefined ? 'default runs' : `${fmt(runs)} inputs`} each${values.path ? `, replaying path ${values.path}` : ''}\n`);

const outcomes: FuzzOutcome[] = [];
const started = performance.now();
for (const t of targets) {
  const n = runs ?? t.defaultRuns;
  let lastReport = performance.now();
  const t0 = performance.now();
  const outcome = await t.run(n, seed, {
    ...(roundTrips === undefined ? {} : { roundTrips }),
    ...(values.path ? { path: values.path } : {}),
    progress: (done) => {
      if (performance.now() - lastReport < 30_000) return;
      lastReport = performance.now();
      const rate = done / ((performance.now() - t0) / 1000);
      process.stdout.write(`  ${t.name}: ${fmt(done)} / ${fmt(n)} inputs (${fmt(Math.round(rate))}/s)\n`);
    },
  });
  outcomes.push(outcome);
  const rate = outcome.ms > 0 ? Math.round(outcome.runs / (outcome.ms / 1000)) : 0;
  process.stdout.write(`${t.name.padEnd(15)} ${fmt(outcome.runs).padStart(11)} inputs ${fmt(outcome.roundTrips).padStart(9)} round trips `
    + `${String(outcome.failures).padStart(2)} failures ${secs(outcome.ms).padStart(9)} (${fmt(rate)}/s)\n`);
  if (outcome.failure) {
    const f = outcome.failure;
    process.stdout.write(`  FAILURE (${f.kind}): ${f.error.split('\n').join('\n    ')}\n`);
    if (f.hex !== undefined) process.stdout.write(`  counterexample (hex): ${f.hex}\n`);
    if (f.input !== undefined) process.stdout.write(`  counterexample: ${f.input}\n`);
    process.stdout.write(`  seed ${f.seed}${f.path ? `, path ${f.path}` : ''}\n  replay: ${f.replay}\n`);
  }
}

const failures = outcomes.reduce((n, o) => n + o.failures, 0);
const summary = {
  seed,
  ms: Math.round(performance.now() - started),
  failures,
  targets: outcomes.map((o) => ({
    name: o.name, family: o.family, inputs: o.runs, roundTrips: o.roundTrips, failures: o.failures, ms: o.ms,
    ...(o.failure ? { failure: o.failure } : {}),
  })),
};
process.stdout.write(`\n${JSON.stringify(summary)}\n\n`);
if (values.json) writeFileSync(values.json, `${JSON.stringify(summary, null, 2)}\n`);

const rows = [['target', 'family', 'inputs', 'round trips', 'failures', 'time', 'inputs/s'], ...outcomes.map((o) => [
  o.name, o.family, fmt(o.runs), fmt(o.roundTrips), String(o.failures), secs(o.ms), fmt(o.ms > 0 ? Math.round(o.runs / (o.ms / 1000)) : 0),
])];
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const [i, r] of rows.entries()) {
  process.stdout.write(`| ${r.map((c, j) => (j < 2 ? c.padEnd(widths[j]!) : c.padStart(widths[j]!))).join(' | ')} |\n`);
  if (i === 0) process.stdout.write(`|${widths.map((w, j) => (j < 2 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|\n`);
}
process.stdout.write(`${fmt(outcomes.reduce((n, o) => n + o.runs, 0))} inputs, ${failures} failures, ${secs(summary.ms)}, seed ${seed}\n`);
process.exitCode = failures > 0 || loadFailed ? 1 : 0;
