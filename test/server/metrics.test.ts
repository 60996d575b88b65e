// GET /metrics after a simulated device registered and was updated: the text parsed, the values
// checked (registrations, devices by version and status, updates by state and result, blocks
// served, Node's own); one registry per instance, so servers in one process do not collide.
import * as assert from 'uvu/assert';
import { Metrics, MAX_GROUPS } from '../../server/metrics.ts';
import * as devices from '../../server/store/devices.ts';
import { SimDevice } from '../../simulator/device.ts';
import { forEachDatabase } from '../helpers/db.ts';
import { offlineDevice } from '../helpers/devices.ts';
import { eventually, injectRaw } from '../helpers/ferry.ts';
import { requestUpdate, signedPackage, simRun, trustedAnchor, updateOutcome, uploadPackage } from '../sim-e2e/kit.ts';

/** Prometheus text format → { 'name{a="b"}': value }, comments skipped. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)(?: \d+)?$/.exec(line);
    if (!m) throw new Error(`not exposition format: ${line}`);
    out.set(m[1]!, Number(m[2]));
  }
  return out;
}

forEachDatabase('metrics', ({ suite, get }) => {
  const run = simRun(suite, () => get().db, { updateTimeout: 20, requestTimeout: 5 });
  const scrape = async () => {
    const res = await injectRaw(run.ferry, { method: 'GET', url: '/metrics' });
    assert.is(res.statusCode, 200, 'open without a token');
    assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    return parse(res.body);
  };

  suite('after a device registered and an update ran', async () => {
    const before = await scrape();
    assert.is(before.get('ferry_registrations_total{kind="register"}'), 0);
    assert.is(before.get('ferry_updates_by_state{state="succeeded"}'), undefined);
    const sim = new SimDevice({
      endpoint: 'm-0', server: { host: '127.0.0.1', port: run.ferry.coapAddress!.port }, trustedKeys: [trustedAnchor()],
      factoryImage: signedPackage('1.0.0', 2048, 0, 1), lifetime: 60, rebootDelayMs: 100, coap: { ackTimeoutMs: 2000, maxRetransmit: 3 }, blockSzx: 6,
    });
    run.sims.push(sim);
    await sim.start();
    await eventually(async () => (await devices.findByEndpoint(get().db, 'm-0'))?.hardwareClass === 'sim-1' || undefined, 10_000, 'inventory');
    const mid = await scrape();
    assert.is(mid.get('ferry_registrations_total{kind="register"}'), 1);
    assert.is(mid.get('ferry_devices_by_firmware_version{version="1.0.0"}'), 1);
    assert.is(mid.get('ferry_devices_by_status{status="registered"}'), 1);

    const u = await updateOutcome(run.ferry, await requestUpdate(run.ferry, 'm-0', await uploadPackage(run.ferry, signedPackage('2.0.0', 20_000, 1, 2))));
    assert.is(u.state, 'succeeded', u.reason ?? '');
    const after = await scrape();
    assert.is(after.get('ferry_registrations_total{kind="register"}'), 2, 'the device registered again after its reboot');
    assert.is(after.get('ferry_devices_by_firmware_version{version="2.0.0"}'), 1);
    assert.is(after.get('ferry_devices_by_firmware_version{version="1.0.0"}'), undefined, 'reset at each scrape');
    assert.is(after.get('ferry_updates_by_state{state="succeeded"}'), 1);
    assert.is(after.get('ferry_updates_by_result{result="1"}'), 1);
    const blocks = after.get('ferry_firmware_blocks_served_total{socket="download"}') ?? 0;
    assert.ok(blocks >= Math.ceil(20_000 / 1024), `${blocks} blocks served`);
    assert.is(blocks, sim.counters.blocks, 'one count per block the device received (no loss here)');
    assert.ok((after.get('ferry_process_cpu_user_seconds_total') ?? -1) >= 0, 'Node default metrics');
    assert.ok(after.has('ferry_nodejs_heap_size_used_bytes'));
    assert.is(after.get('ferry_alerts{kind="update.integrity"}'), undefined, 'no alert raised');
    await run.ferry.alerts.raise({ kind: 'update.integrity', message: 'test alert', data: {} });
    await run.ferry.alerts.idle();
    const alerted = await scrape();
    assert.is(alerted.get('ferry_alerts{kind="update.integrity"}'), 1);
    assert.is(alerted.get('ferry_alerts_unacknowledged{kind="update.integrity"}'), 1);
  });

  suite('a database gauge reports at most MAX_GROUPS label values, the rest as "other"', async () => {
    const { db } = get();
    for (let i = 0; i < MAX_GROUPS + 5; i++) {
      const d = await offlineDevice(db, `v-${i}`);
      await db.query('UPDATE devices SET firmware_version = $1 WHERE id = $2', [`9.${i}`, d.id]);
    }
    const versions = [...(await scrape()).entries()].filter(([k]) => k.startsWith('ferry_devices_by_firmware_version{'));
    assert.is(versions.length, MAX_GROUPS);
    assert.is(versions.find(([k]) => k.includes('"other"'))?.[1], 6);
  });

  suite('one registry per instance: two in one process count apart, and others can add collectors', async () => {
    const a = new Metrics(get().db);
    const b = new Metrics(get().db);
    a.registrations.inc({ kind: 'update' });
    b.registerCollector('ferry_test_answer', 'a collector added later', ['x'], () => [{ labels: { x: 'y' }, value: 42 }]);
    assert.is(parse(await a.scrape()).get('ferry_registrations_total{kind="update"}'), 1);
    const tb = parse(await b.scrape());
    assert.is(tb.get('ferry_registrations_total{kind="update"}'), 0);
    assert.is(tb.get('ferry_test_answer{x="y"}'), 42);
  });
});
