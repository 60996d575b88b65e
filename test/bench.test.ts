// The benchmarks run (small sizes) and print a JSON report and a table; no timing is asserted.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

test('npm run bench -- --quick prints a well-formed report', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--quick'], {
    timeout: 300_000, env: { ...process.env, DATABASE_URL: '' },
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
  assertDtls(report.dtls);
  assert.is(table!.trim().split('\n').length, 2 + 4 + 1 + 2 + 3, 'header, 4 downloads, memory, database start, registration, 3 DTLS rows');
});

/** The DTLS part at --quick sizes: 20 handshakes, K = 5 downloaders of 16 KiB, 100 sessions held. */
function assertDtls(d: {
  handshakes: { runs: Array<{ total: number; completed: number; failed: number; perSecond: number; serverCpuSeconds: number }>; medianPerSecond: number };
  download: {
    imageBytes: number; scenarios: Array<Record<string, number | string>>; ratios: Array<{ clients: number; ferryOverLibcoap: number }>;
    summary: Array<{ server: string; clients: number; medianBlocksPerSecond: number }>;
  };
  memory: { sessions: number; established: number; failed: number; rssAfterMb: number; heapUsedAfterMb: number; bytesPerSession: number };
}): void {
  assert.is(d.handshakes.runs.length, 1);
  for (const r of d.handshakes.runs) {
    assert.is(r.total, 20);
    assert.is(r.completed, 20, 'every handshake completed');
    assert.is(r.failed, 0);
    assert.ok(r.perSecond > 0 && r.serverCpuSeconds >= 0);
  }
  assert.ok(d.handshakes.medianPerSecond > 0);
  assert.equal(d.download.scenarios.map((s) => s.server), ['ferry', 'libcoap']);
  for (const s of d.download.scenarios) {
    const what = `${s.server} × ${s.clients}`;
    assert.is(s.clients, 5, what);
    assert.is(s.sessions, 5, `${what}: every session established`);
    assert.is(s.failed, 0, `${what}: ${s.firstError}`);
    assert.is(s.completed, 5 * (s.rounds as number), `${what}: every download finished`);
    assert.is(s.blocks, (s.completed as number) * Math.ceil(d.download.imageBytes / 1024), `${what}: every 1024-byte block of every download`);
    assert.ok((s.blocksPerSecond as number) > 0, what);
    if (s.server === 'ferry') assert.is(s.sessionsLeft, 0, `${what}: every session ended by its close_notify`);
  }
  assert.equal(d.download.summary.map((s) => `${s.server} ${s.clients}`), ['ferry 5', 'libcoap 5']);
  for (const s of d.download.summary) assert.ok(s.medianBlocksPerSecond > 0, s.server);
  assert.is(d.download.ratios.length, 1);
  assert.ok(d.download.ratios[0]!.clients === 5 && d.download.ratios[0]!.ferryOverLibcoap > 0);
  assert.is(d.memory.sessions, 100);
  assert.is(d.memory.established, 100, 'every session held');
  assert.is(d.memory.failed, 0);
  assert.ok(d.memory.rssAfterMb > 0 && d.memory.heapUsedAfterMb > 0 && d.memory.bytesPerSession > 0);
}

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
  assert.match(err!.stderr, /--only is download, registration or dtls/);
});

test.run();
