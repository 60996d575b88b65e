// The compile step `npm install` runs (server/bin/build.js): one .js per TypeScript source, the
// compiled `ferry` answers --version, and the paths read relative to the code (migrations/) are
// the project's from the compiled copy too. Built into a folder of its own, not dist/, which other
// test files may be running at the same time.
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT, sourceFiles } from '../../../server/bin/compiled.js';
import { ferryVersion } from '../../../server/root.ts';

const OUT = `dist-test-${process.pid}`;
const out = join(ROOT, OUT);
process.once('exit', () => rmSync(out, { recursive: true, force: true }));

test('build.js compiles every source; the compiled ferry runs and finds migrations/', () => {
  execFileSync(process.execPath, [join(ROOT, 'server/bin/build.js'), '--out', OUT], { stdio: 'pipe' });
  assert.ok(existsSync(join(out, '.built')), 'the stamp is written last');
  const missing = sourceFiles().map((f) => relative(ROOT, f).replace(/\.ts$/, '.js')).filter((f) => !existsSync(join(out, f)));
  assert.equal(missing, []);
  assert.is(execFileSync(process.execPath, [join(out, 'server/cli.js'), '--version'], { encoding: 'utf8' }), `ferry ${ferryVersion()}\n`);
  const dirOf = `import(${JSON.stringify(pathToFileURL(join(out, 'server/store/migrate.js')).href)}).then((m) => process.stdout.write(m.MIGRATIONS_DIR))`;
  assert.is(execFileSync(process.execPath, ['--input-type=module', '-e', dirOf], { encoding: 'utf8' }), join(ROOT, 'migrations'));
});

test.run();
