#!/usr/bin/env node
// Compiles the TypeScript sources to dist/ (one .js file per .ts file, imports rewritten to .js)
// with esbuild, so `ferry` starts without compiling anything. Run on install (postinstall, with
// --if-possible: a failure is a warning, and ferry runs the sources through tsx) and by
// `npm run build`. The paths the code reads relative to itself (migrations/, package.json) are
// found from dist/ too (server/root.ts). `--out NAME`: another folder of the root than dist/.
import { rmSync, utimesSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { DIST, ROOT, sourceFiles, STAMP } from './compiled.js';

const ifPossible = process.argv.includes('--if-possible');
const outName = process.argv[process.argv.indexOf('--out') + 1];
const out = process.argv.includes('--out') && outName ? join(ROOT, basename(outName)) : DIST;
const started = new Date();

/** Every import stays an import, of the compiled file beside it (.ts → .js) or of the package. */
const eachFileAlone = {
  name: 'each-file-alone',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => (args.kind === 'entry-point' ? undefined : { path: args.path.replace(/\.ts$/, '.js'), external: true }));
  },
};

try {
  const { build } = await import('esbuild');
  rmSync(out, { recursive: true, force: true });
  await build({
    entryPoints: sourceFiles(), outdir: out, outbase: ROOT, bundle: true, platform: 'node', format: 'esm', target: 'node20',
    logLevel: 'warning', plugins: [eachFileAlone],
  });
  const stamp = join(out, basename(STAMP));
  writeFileSync(stamp, `${started.toISOString()}\n`);
  utimesSync(stamp, started, started);
} catch (err) {
  rmSync(out, { recursive: true, force: true });
  process.stderr.write(`ferry build: ${err instanceof Error ? err.message : String(err)}\n`);
  if (ifPossible) process.stderr.write('ferry build: ferry will run its TypeScript sources through tsx (slower to start)\n');
  process.exitCode = ifPossible ? 0 : 1;
}
