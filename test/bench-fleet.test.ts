// The fleet benchmark runs (a handful of devices) and prints well-formed figures; no timing is asserted.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

test('bench/fleet.ts with a small fleet prints JSON and table rows', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'bench/fleet.ts', '--scale', '20', '--devices', '5', '--size', '8k', '--loss', '0', '--idle', '1'], {
    timeout: 150_000, env: { ...process.env, DATABASE_URL: '' },
  });
  const [json, table] = stdout.split('\n\n');
  const report = JSON.parse(json!);
  assert.is(report.scale.length, 1);
  const s = report.scale[0];
  assert.is(s.devices, 20);
  assert.is(s.registered, 20);
  assert.ok(s.simRssMb > 0 && s.simKbPerDevice > 0 && s.serverRssMb > 0, JSON.stringify(s));
  const u = report.update;
  assert.is(u.devices, 5);
  assert.is(u.updated, 5, 'every device updated');
  assert.is(u.bricked, 0);
  assert.is(u.notUpdated, undefined, 'none left behind');
  assert.is(u.timeToUpdateMs.count, 5);
  assert.ok(u.seconds > 0 && u.simCpuSeconds > 0 && u.serverCpuSeconds > 0, JSON.stringify(u));
  const rows = table!.trim().split('\n');
  assert.is(rows.length, 2);
  for (const row of rows) assert.match(row, /^\| simulator: .* \|$/);
});

test.run();
