// Campaigns against a real Ferry server and simulated devices over loopback UDP: 100
// devices in waves of 10% / 50% / 100% that complete, each device updated once, wave after wave;
// and a campaign that pauses itself when 20% of its first wave fail (bit-flip faults).
import * as assert from 'uvu/assert';
import { forEachDatabase } from '../helpers/db.ts';
import { api, backgroundFleet, campaignFerryPerTest, campaignIn, createAndStart, doubleUpdates, inventoried } from './campaign-kit.ts';
import { signedPackage, uploadPackage } from './kit.ts';

const NEW = signedPackage('2.0.0', 8 * 1024, 1, 7);

forEachDatabase('campaigns against Ferry', ({ suite, get }) => {
  const env = campaignFerryPerTest(suite, () => get().db);

  suite('100 devices, waves 10% / 50% / 100%: the campaign completes, each device updated once, wave after wave', async () => {
    const fleet = backgroundFleet(env.ferry.coapAddress!.port, { devices: 100, prefix: 'wave' });
    env.fleets.push(fleet);
    const firmwareId = await uploadPackage(env.ferry, NEW);
    await inventoried(get().db, 100, 60_000);
    const t0 = Date.now();
    const id = await createAndStart(env.ferry, {
      name: 'fleet to 2.0.0', firmwareId, target: { hardwareClass: 'sim-1', firmwareVersions: ['1.0.0'] },
      policy: { waves: ['10%', '50%', '100%'], concurrency: 25, failureThreshold: 0.1, retries: { max: 1, backoffSeconds: 1 } },
    });
    // Well under a minute alone (PGlite ~10 s, pg ~4 s); the bound leaves room for a loaded machine.
    const done = await campaignIn(env.ferry, id, ['completed', 'paused', 'aborted'], 120_000);
    console.log(`  ${get().name}: 100 devices in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.is(done.state, 'completed', done.pauseReason ?? '');
    assert.equal(done.waves.map((w: { devices: number }) => w.devices), [10, 40, 50]);
    assert.is(done.counts.succeeded, 100);
    assert.is(done.counts.failed, 0);
    assert.equal(done.byResult, { 1: 100 });

    const db = get().db;
    assert.equal(await doubleUpdates(db), { rows: [], succeeded: [] }, 'no device got two update rows');
    // Waves are cut from the devices in id order, and wave k + 1 starts only once wave k has finished.
    const { rows } = await db.query<{ wave: number; device_id: number; created: Date; finished: Date }>(
      `SELECT cd.wave, cd.device_id, u.created_at AS created, u.finished_at AS finished FROM campaign_devices cd
       JOIN device_updates u ON u.id = cd.update_id WHERE cd.campaign_id = $1 ORDER BY cd.device_id`, [id]);
    assert.equal(rows.map((r) => r.wave), rows.map((_, i) => (i < 10 ? 1 : i < 50 ? 2 : 3)));
    for (const w of [1, 2]) {
      const lastFinished = Math.max(...rows.filter((r) => r.wave === w).map((r) => r.finished.getTime()));
      const firstNext = Math.min(...rows.filter((r) => r.wave === w + 1).map((r) => r.created.getTime()));
      assert.ok(firstNext >= lastFinished, `wave ${w + 1} started after wave ${w} finished`);
    }
    const kinds = (await db.query<{ kind: string }>(`SELECT kind FROM events WHERE kind LIKE 'campaign.%' AND kind NOT LIKE 'campaign.device%' ORDER BY id`)).rows.map((r) => r.kind);
    assert.equal(kinds, ['campaign.created', 'campaign.started', 'campaign.wave-started', 'campaign.wave-started', 'campaign.completed']);
    for (const d of fleet.devices) {
      assert.is(d.firmwareVersion, '2.0.0', d.endpoint);
      assert.is(d.counters.updates, 1, `${d.endpoint} updated once`);
    }
    // Started again: every device is on 2.0.0 now, a new campaign over the same devices skips them all.
    const again = await createAndStart(env.ferry, { name: 'again', firmwareId, target: {}, policy: { waves: ['100%'] } });
    const skipped = await campaignIn(env.ferry, again, ['completed'], 10_000);
    assert.is(skipped.counts.skipped, 100);
  });

  suite('20% of the first wave fail (bit-flip), threshold 10%: the campaign pauses itself and raises an alert', async () => {
    // The first five devices to register make wave 1 (25% of 20, in id order); one of them flips a bit.
    const first = backgroundFleet(env.ferry.coapAddress!.port, { devices: 5, prefix: 'first', faults: { link: {}, device: { 'bit-flip': { amount: 1 } } } });
    env.fleets.push(first);
    await inventoried(get().db, 5);
    env.fleets.push(backgroundFleet(env.ferry.coapAddress!.port, { devices: 15, prefix: 'rest' }));
    await inventoried(get().db, 20);
    const firmwareId = await uploadPackage(env.ferry, NEW);
    const id = await createAndStart(env.ferry, {
      name: 'threshold', firmwareId, target: { firmwareVersions: ['1.0.0'] },
      policy: { waves: ['25%', '100%'], concurrency: 5, failureThreshold: 0.1, retries: { max: 0 } },
    });
    const paused = await campaignIn(env.ferry, id, ['paused', 'completed'], 30_000);
    assert.is(paused.state, 'paused');
    assert.is(paused.currentWave, 1);
    assert.match(paused.pauseReason, /wave 1: 1 of 5 devices failed \(20%\), above the failure threshold of 10%/);
    assert.is(paused.waves[0].counts.failed, 1);
    assert.equal(paused.byResult['5'], 1, 'Update Result 5, integrity check failure');
    assert.is(env.alerts.length, 1);
    assert.is(env.alerts[0]!.kind, 'campaign.paused');
    assert.is(env.alerts[0]!.campaignId, id);
    // /metrics: the campaign by state, its devices by state, the alert stored.
    await env.ferry.alerts.idle();
    const metrics = (await env.ferry.api.inject({ method: 'GET', url: '/metrics' })).body;
    assert.match(metrics, /^ferry_campaigns\{state="paused"\} 1$/m);
    assert.match(metrics, new RegExp(`^ferry_campaign_devices\\{campaign="${id}",state="failed"\\} 1$`, 'm'));
    assert.match(metrics, /^ferry_alerts\{kind="campaign.paused"\} 1$/m);
    const db = get().db;
    const auto = await db.query(`SELECT actor, data FROM events WHERE kind = 'campaign.auto-paused'`);
    assert.is(auto.rows.length, 1);
    const wave2 = await db.query(`SELECT 1 FROM device_updates u JOIN campaign_devices cd ON cd.device_id = u.device_id AND cd.campaign_id = $1 WHERE cd.wave = 2`, [id]);
    assert.is(wave2.rows.length, 0, 'no update of wave 2 started');
    // Resumed: the failure is acknowledged and the campaign goes on to complete.
    assert.is((await api(env.ferry, 'POST', `/api/v1/campaigns/${id}/resume`)).status, 200);
    const done = await campaignIn(env.ferry, id, ['completed', 'paused'], 30_000);
    assert.is(done.state, 'completed', done.pauseReason ?? '');
    assert.is(done.counts.succeeded, 19);
  });
});
