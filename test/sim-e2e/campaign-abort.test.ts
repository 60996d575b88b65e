// Abort cancels the devices not started and Cancels (/5/0/10, Object 5 1.1) the ones
// downloading; Severity (/5/0/11) is written before the Package URI; a device that matches the
// target and registers while the campaign runs joins its last wave; a deferral waits out the
// device's Maximum Defer Period. Real Ferry, simulated devices.
import * as assert from 'uvu/assert';
import { SimDevice, type SimDeviceEvent } from '../../simulator/device.ts';
import { forEachDatabase } from '../helpers/db.ts';
import { eventually, startTestFerry } from '../helpers/ferry.ts';
import type { Ferry } from '../../server/main.ts';
import { api, backgroundFleet, campaignIn, createAndStart, FACTORY, inventoried } from './campaign-kit.ts';
import { signedPackage, trustedAnchor, uploadPackage } from './kit.ts';

forEachDatabase('campaign abort, late joiners, deferral', ({ suite, get }) => {
  let ferry: Ferry;
  let fleets: Array<ReturnType<typeof backgroundFleet>> = [];
  suite.before.each(async () => { ferry = await startTestFerry(get().db, { campaignTick: 100, updateTimeout: 20 }, 300); });
  let sim: SimDevice | undefined;
  suite.after.each(async () => {
    await Promise.all(fleets.map((f) => f.stop()));
    await sim?.stop();
    sim = undefined;
    fleets = [];
    await ferry.close();
  });

  suite('abort: devices not started are cancelled, downloading ones get Cancel (/5/0/10); Severity went first', async () => {
    const dm: string[] = [];
    const log = (e: SimDeviceEvent) => { if (e.type === 'dm' && e.method !== 'GET') dm.push(`${e.endpoint} ${e.method} ${e.path} ${e.code}`); };
    // 20 ms each way and 256-byte blocks: a 64 KiB download takes seconds, time to abort it.
    fleets.push(backgroundFleet(ferry.coapAddress!.port, { devices: 4, prefix: 'slow', blockSzx: 4, faults: { link: { latencyMs: 20 }, device: {} }, log }));
    await inventoried(get().db, 4);
    const firmwareId = await uploadPackage(ferry, signedPackage('2.0.0', 64 * 1024, 1, 4));
    const id = await createAndStart(ferry, { name: 'to abort', firmwareId, target: {}, policy: { waves: ['100%'], concurrency: 2, severity: 'critical', delivery: 'pull' } });
    await eventually(async () => {
      const { rows } = await get().db.query<{ n: number }>(`SELECT count(*)::integer AS n FROM device_updates WHERE campaign_id = $1 AND state = 'downloading'`, [id]);
      return rows[0]!.n === 2 || undefined;
    }, 15_000, 'two downloads under way');
    const aborted = await api(ferry, 'POST', `/api/v1/campaigns/${id}/abort`);
    assert.is(aborted.body.state, 'aborted');
    const p = await eventually(async () => {
      const q = (await api(ferry, 'GET', `/api/v1/campaigns/${id}`)).body;
      return q.counts.cancelled === 4 ? q : undefined;
    }, 15_000, 'all four cancelled');
    assert.equal(p.byResult, { 10: 2 }, 'the two downloads ended with Update Result 10 (cancelled)');
    const updates = await get().db.query<{ state: string; result_code: number | null }>(`SELECT state, result_code FROM device_updates WHERE campaign_id = $1 ORDER BY id`, [id]);
    assert.equal(updates.rows, [{ state: 'cancelled', result_code: 10 }, { state: 'cancelled', result_code: 10 }], 'the two not started have no update at all');
    for (const f of fleets[0]!.devices) assert.is(f.firmwareVersion, '1.0.0');
    const started = dm.filter((l) => l.includes('/5/0/1 ')).map((l) => l.split(' ')[0]!);
    assert.is(started.length, 2);
    for (const ep of started) {
      const mine = dm.filter((l) => l.startsWith(`${ep} `));
      assert.ok(mine.indexOf(`${ep} PUT /5/0/11 2.04`) >= 0 && mine.indexOf(`${ep} PUT /5/0/11 2.04`) < mine.findIndex((l) => l.includes('/5/0/1 ')), `${ep}: Severity before the Package URI: ${mine.join('; ')}`);
      assert.ok(mine.includes(`${ep} POST /5/0/10 2.04`), `${ep}: Cancel executed: ${mine.join('; ')}`);
    }
    const kinds = (await get().db.query<{ kind: string; actor: string }>(`SELECT kind, actor FROM events WHERE kind = 'campaign.aborted'`)).rows;
    assert.equal(kinds, [{ kind: 'campaign.aborted', actor: 'token:FERRY_ADMIN_TOKEN' }]);
  });

  suite('a device that matches the target and registers while the campaign runs joins the last wave', async () => {
    fleets.push(backgroundFleet(ferry.coapAddress!.port, { devices: 2, prefix: 'early' }));
    await inventoried(get().db, 2);
    const firmwareId = await uploadPackage(ferry, signedPackage('2.0.0', 8 * 1024, 1, 4));
    // A soak after wave 1 keeps the campaign running while the newcomer arrives.
    const id = await createAndStart(ferry, { name: 'joiners', firmwareId, target: { firmwareVersions: ['1.0.0'] }, policy: { waves: ['50%', '100%'], soakSeconds: 2 } });
    fleets.push(backgroundFleet(ferry.coapAddress!.port, { devices: 1, prefix: 'late' }));
    const done = await campaignIn(ferry, id, ['completed', 'paused'], 30_000);
    assert.is(done.state, 'completed');
    assert.is(done.joinedLate, 1);
    assert.equal(done.waves.map((w: { devices: number }) => w.devices), [1, 2]);
    assert.is(done.counts.succeeded, 3);
    assert.is(fleets[1]!.devices[0]!.firmwareVersion, '2.0.0');
    const joined = await get().db.query(`SELECT data FROM events WHERE kind = 'campaign.device-joined'`);
    assert.is(joined.rows.length, 1);
  });

  suite('a deferral (Update Result 11) waits out the Maximum Defer Period (/5/0/13): the device installs on its own, no second download', async () => {
    // LwM2M 1.1 Object 5: an optional update, a battery too low to install it, 4 s to defer.
    sim = new SimDevice({
      endpoint: 'defers', server: { host: '127.0.0.1', port: ferry.coapAddress!.port }, trustedKeys: [trustedAnchor()], factoryImage: FACTORY,
      lifetime: 30, rebootDelayMs: 50, coap: { ackTimeoutMs: 300, maxRetransmit: 3 }, batteryLevel: 4, maxDeferPeriod: 4,
    });
    await sim.start();
    await inventoried(get().db, 1);
    const firmwareId = await uploadPackage(ferry, signedPackage('2.0.0', 8 * 1024, 1, 4));
    const id = await createAndStart(ferry, { name: 'deferrable', firmwareId, target: {}, policy: { waves: ['100%'], severity: 'optional', retries: { max: 2, backoffSeconds: 3 } } });
    const deferred = await eventually(async () => {
      const { rows } = await get().db.query<{ data: { state: string; retryInSeconds?: number } }>(`SELECT data FROM events WHERE kind = 'campaign.device' ORDER BY id`);
      return rows.find((r) => r.data.state === 'deferred')?.data;
    }, 15_000, 'the deferral');
    assert.is(deferred.retryInSeconds, 7, 'asked again after the 4 s Maximum Defer Period and the 3 s backoff');
    const first = (await get().db.query<{ max_defer_seconds: number | null; result_code: number }>(`SELECT max_defer_seconds, result_code FROM device_updates`)).rows;
    assert.equal(first, [{ max_defer_seconds: 4, result_code: 11 }]);
    sim.setBatteryLevel(80); // charged: when its defer period ends the device installs what it holds
    const done = await campaignIn(ferry, id, ['completed', 'paused'], 20_000);
    assert.is(done.state, 'completed');
    assert.is(done.counts.succeeded, 1);
    assert.is(sim.firmwareVersion, '2.0.0');
    assert.is(sim.counters.downloads, 1, 'downloaded once');
    assert.is((await get().db.query(`SELECT id FROM device_updates`)).rows.length, 1, 'no second update');
  });
});
