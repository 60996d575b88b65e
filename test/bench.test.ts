// The benchmarks run (small sizes) and print a JSON report and a table; no timing is asserted.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

test('npm run bench -- --quick prints a well-formed report', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--quick'], {
    timeout: 150_000, env: { ...process.env, DATABASE_URL: '' },
  });
  const [json, table] = stdout.split('\n\n');
  const report = JSON.parse(json!);
  assert.is(report.machine.database, 'pglite');

  const { scenarios, ratios, memory } = report.download;
  assert.is(scenarios.length, 3 * 2 * 2, 'ferry, libcoap, naive × 2 images × K = 1, 4');
  for (const s of scenarios) {
    const what = `${s.server} ${s.imageBytes} × ${s.clients}`;
    assert.is(s.failed, 0, `${what}: ${s.firstError}`);
    assert.is(s.completed, s.clients * s.rounds, `${what}: every download finished`);
    assert.is(s.blocks, s.completed * Math.ceil(s.imageBytes / 1024), `${what}: every 1024-byte block of every download`);
    assert.ok(s.blocksPerSecond > 0 && s.serverRssPeakMb > 0, what);
  }
  assert.is(ratios.length, 4);
  for (const r of ratios) assert.ok(r.ferryOverLibcoap > 0 && r.ferryOverNaive > 0);
  assert.equal(memory.map((m: { server: string }) => m.server), ['ferry', 'libcoap', 'naive']);
  for (const m of memory) assert.ok(m.clients === 50 && m.blocks > 0 && m.rssPeakMb >= m.rssBeforeMb && m.rssBeforeMb > 0, m.server);

  assert.is(report.registration.devices, 10);
  assert.ok(report.registration.perSecond > 0);
  assert.match(table!, /^\| benchmark \| Ferry \| libcoap coap-server \| naive node-coap \| Ferry\/libcoap \| Ferry\/naive \|/);
  assert.is(table!.trim().split('\n').length, 2 + 4 + 1 + 2, 'header, 4 downloads, memory, database start, registration');
});

test('npm run bench -- --quick --only registration runs the registration benchmark alone', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--quick', '--only', 'registration'], {
    timeout: 90_000, env: { ...process.env, DATABASE_URL: '' },
  });
  const [json, table] = stdout.split('\n\n');
  const report = JSON.parse(json!);
  assert.is(report.download, undefined);
  assert.is(report.registration.devices, 10);
  assert.ok(report.registration.perSecond > 0);
  assert.is(table!.trim().split('\n').length, 2 + 2, 'header, database start, registration');
});

test('npm run bench -- --only with an unknown benchmark is a usage error', async () => {
  const err = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--only', 'nothing'], { timeout: 30_000 })
    .then(() => undefined, (e: { code: number; stderr: string }) => e);
  assert.is(err?.code, 2);
  assert.match(err!.stderr, /--only is download or registration/);
});

test.run();
