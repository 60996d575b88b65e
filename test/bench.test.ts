// The benchmarks run (small sizes) and print a JSON report and a table; no timing is asserted.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

test('npm run bench -- --quick prints a well-formed report', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--quick'], {
    timeout: 120_000, env: { ...process.env, DATABASE_URL: '' },
  });
  const [json, table] = stdout.split('\n\n');
  const report = JSON.parse(json!);
  assert.is(report.machine.database, 'pglite');
  assert.is(report.download.clients, 4);
  assert.is(report.download.blocks, 4 * 64, 'each client fetched every 1024-byte block of the 64 KiB image');
  assert.ok(report.download.blocksPerSecond > 0);
  assert.is(report.registration.devices, 10);
  assert.ok(report.registration.perSecond > 0);
  assert.match(table!, /^\| benchmark \| figure \|/);
  assert.is(table!.trim().split('\n').length, 5);
});

test.run();
