// Reverting campaigns against a real Ferry and simulated devices that verify signatures and keep
// an anti-rollback counter: devices on release A (1.0.0, sequence 10) updated by a campaign to B
// (2.0.0, sequence 20) go back to A only through a re-issue of A signed above 20. The revert is
// refused until it is uploaded, naming it; then one call starts the campaign that brings them
// back. With autoRevert, a campaign its failure threshold pauses reverts itself, or says what to
// upload. Bad input on the route is a 4xx with a message.
import * as assert from 'uvu/assert';
import { forEachDatabase } from '../helpers/db.ts';
import { offlineDevice } from '../helpers/devices.ts';
import { eventually } from '../helpers/ferry.ts';
import { api, backgroundFleet, campaignFerryPerTest, campaignIn, createAndStart, inventoried } from './campaign-kit.ts';
import { signedPackage, uploadPackage } from './kit.ts';

const A = signedPackage('1.0.0', 4096, 10, 3);
const B = signedPackage('2.0.0', 8 * 1024, 20, 7);
const A_REISSUED = signedPackage('1.0.0', 4096, 30, 3);
const POLICY = { waves: ['100%'], concurrency: 5, failureThreshold: 0.1, retries: { max: 0 } };

forEachDatabase('campaign revert', ({ suite, get }) => {
  const env = campaignFerryPerTest(suite, () => get().db);

  /** A fleet on A (its factory image), A and B uploaded (A approved, as a production release would be). */
  const fleetOnA = async (devices: number, faults?: Parameters<typeof backgroundFleet>[1]['faults']) => {
    const fleet = backgroundFleet(env.ferry.coapAddress!.port, { devices, prefix: 'rv', factoryImage: A, ...(faults ? { faults } : {}) });
    env.fleets.push(fleet);
    const a = await uploadPackage(env.ferry, A);
    await get().db.query(`UPDATE firmware_images SET state = 'approved' WHERE id = $1`, [a]);
    const b = await uploadPackage(env.ferry, B);
    await get().db.query(`UPDATE firmware_images SET state = 'approved' WHERE id = $1`, [b]);
    await inventoried(get().db, devices);
    return { fleet, a, b };
  };
  const versions = async () => (await get().db.query<{ v: string }>(`SELECT firmware_version AS v FROM devices ORDER BY id`)).rows.map((r) => r.v);
  const revert = (id: number, payload?: object) => api(env.ferry, 'POST', `/api/v1/campaigns/${id}/revert`, payload);

  suite('refused until the re-issue is uploaded, naming it; then one call brings the devices back to A', async () => {
    const { fleet, a, b } = await fleetOnA(4);
    const c = await createAndStart(env.ferry, { name: 'to B', firmwareId: b, target: { firmwareVersions: ['1.0.0'] }, policy: POLICY });
    assert.is((await campaignIn(env.ferry, c, ['completed', 'paused'])).state, 'completed');
    assert.equal(await versions(), ['2.0.0', '2.0.0', '2.0.0', '2.0.0']);
    const from = await get().db.query(`SELECT DISTINCT from_version, from_firmware_id FROM device_updates WHERE campaign_id = $1`, [c]);
    assert.equal(from.rows, [{ from_version: '1.0.0', from_firmware_id: a }], 'each update recorded what its device ran before');

    const refused = await revert(c);
    assert.equal([refused.status, refused.body.code], [409, 'FERRY_REVERT_PACKAGE_MISSING']);
    assert.is(refused.body.message, `campaign ${c} cannot be reverted yet: 4 device(s) need a package not uploaded: `
      + `re-sign version 1.0.0 of class sim-1 (the payload of image ${a}) with ferry sign --sequence N where N > 20, and upload it`);
    assert.is((await api(env.ferry, 'GET', '/api/v1/campaigns')).body.items.length, 1, 'a refused revert creates nothing');

    const reissue = await uploadPackage(env.ferry, A_REISSUED);
    const stored = (await api(env.ferry, 'GET', `/api/v1/firmware/${reissue}`)).body;
    assert.equal([stored.reissueOf, stored.state, stored.sequence], [a, 'approved', 30]);
    const done = await revert(c);
    assert.is(done.status, 201, JSON.stringify(done.body));
    assert.is(done.body.reverted.state, 'completed');
    assert.equal(done.body.notRevertible, []);
    assert.is(done.body.campaigns.length, 1);
    const r = done.body.campaigns[0];
    assert.equal([r.name, r.firmwareId, r.state, r.reverts, r.revertOfRelease], ['revert of to B: → 1.0.0', reissue, 'running', c, '1.0.0']);
    assert.equal(r.policy, { ...r.policy, waves: ['100%'], concurrency: 5, failureThreshold: 0.1, autoRevert: false });
    const twice = await revert(c);
    assert.equal([twice.status, twice.body.code], [409, 'FERRY_CAMPAIGN_STATE']);
    assert.match(twice.body.message, new RegExp(`campaign ${c} is being reverted already by campaign ${r.id} \\(running\\)`));
    const back = await campaignIn(env.ferry, r.id, ['completed', 'paused']);
    assert.is(back.state, 'completed', back.pauseReason ?? '');
    assert.is(back.counts.succeeded, 4);
    assert.equal(await versions(), ['1.0.0', '1.0.0', '1.0.0', '1.0.0']);
    for (const d of fleet.devices) {
      assert.is(d.firmwareVersion, '1.0.0', d.endpoint);
      assert.is(d.securityCounter, 30, `${d.endpoint} took the re-issue's sequence number`);
    }
    const ev = await get().db.query<{ actor: string; data: Record<string, unknown> }>(`SELECT actor, data FROM events WHERE kind = 'campaign.revert'`);
    assert.equal(ev.rows, [{
      actor: 'token:FERRY_ADMIN_TOKEN',
      data: { campaignId: c, campaigns: [r.id], releases: [{ version: '1.0.0', firmwareId: reissue, devices: 4 }], notRevertible: 0, user: 'FERRY_ADMIN_TOKEN' },
    }]);

    // Again: every device moved on, nothing to revert. The revert itself reverts to B only with B re-issued above 30.
    const again = await revert(c);
    assert.equal([again.status, again.body.code], [409, 'FERRY_REVERT_NOTHING']);
    assert.match(again.body.message, /the 4 it updated cannot be: rv-\S+ \(it runs 1\.0\.0 now, not the campaign's 2\.0\.0\)/);
    const undo = await revert(r.id);
    assert.equal([undo.status, undo.body.code], [409, 'FERRY_REVERT_PACKAGE_MISSING']);
    assert.match(undo.body.message, new RegExp(`re-sign version 2\\.0\\.0 of class sim-1 \\(the payload of image ${b}\\) with ferry sign --sequence N where N > 30`));
  });

  suite('autoRevert: the failure threshold pauses the campaign, which reverts itself once its updates in flight finished', async () => {
    const { fleet, b } = await fleetOnA(5, { link: {}, device: { 'bit-flip': { amount: 1 } } });
    const reissue = await uploadPackage(env.ferry, A_REISSUED);
    const c = await createAndStart(env.ferry, { name: 'auto', firmwareId: b, target: {}, policy: { ...POLICY, autoRevert: true } });
    const aborted = await campaignIn(env.ferry, c, ['aborted', 'completed']);
    assert.is(aborted.state, 'aborted');
    assert.match(aborted.pauseReason, /wave 1: 1 of 5 devices failed \(20%\)/);
    assert.is(aborted.counts.succeeded, 4);
    const r = (await api(env.ferry, 'GET', '/api/v1/campaigns')).body.items.find((x: { reverts: number | null }) => x.reverts === c);
    assert.ok(r, 'a revert campaign');
    assert.equal([r.firmwareId, r.createdBy], [reissue, 'engine']);
    const back = await campaignIn(env.ferry, r.id, ['completed', 'paused']);
    assert.is(back.state, 'completed', back.pauseReason ?? '');
    assert.is(back.counts.succeeded, 4);
    assert.equal(await versions(), ['1.0.0', '1.0.0', '1.0.0', '1.0.0', '1.0.0'], 'the four updated went back, the failed one never left');
    for (const d of fleet.devices) assert.is(d.firmwareVersion, '1.0.0', d.endpoint);
    assert.equal(env.alerts.map((a) => a.kind), ['campaign.paused', 'campaign.reverted']);
    assert.match(env.alerts[0]!.message, /paused itself: .*; it reverts once its updates in flight have finished$/);
    assert.is(env.alerts[1]!.message, `campaign ${c} (auto) reverted itself: campaign ${r.id} (→ 1.0.0) started`);
    const ev = await get().db.query<{ actor: string; data: { automatic?: boolean; aborted?: boolean } }>(`SELECT actor, data FROM events WHERE kind = 'campaign.revert'`);
    assert.equal(ev.rows.map((e) => [e.actor, e.data.automatic, e.data.aborted]), [['engine', true, true]]);
  });

  suite('autoRevert without the re-issue: it stays paused and the alert says what to upload; reverted by hand once uploaded', async () => {
    const { a, b } = await fleetOnA(5, { link: {}, device: { 'bit-flip': { amount: 1 } } });
    const c = await createAndStart(env.ferry, { name: 'no package', firmwareId: b, target: {}, policy: { ...POLICY, autoRevert: true } });
    const paused = await campaignIn(env.ferry, c, ['paused', 'completed']);
    assert.is(paused.state, 'paused');
    // The updates in flight at the pause finish; the campaign stays paused, no revert pending.
    const settled = await eventually(async () => {
      const p = (await api(env.ferry, 'GET', `/api/v1/campaigns/${c}`)).body;
      return p.counts.claimed + p.counts.in_progress === 0 && !p.revertPending ? p : undefined;
    }, 30_000, 'no update in flight, no revert pending');
    assert.equal([settled.state, settled.counts.succeeded], ['paused', 4]);
    // The pause's alert names the package when a device had succeeded by then; else the revert tried after the updates in flight does.
    const missing = `the automatic revert could not run: campaign ${c} cannot be reverted yet: \\d device\\(s\\) need a package not uploaded: `
      + `re-sign version 1\\.0\\.0 of class sim-1 \\(the payload of image ${a}\\) with ferry sign --sequence N where N > 20, and upload it$`;
    assert.ok(env.alerts.length === 1 || env.alerts.length === 2, JSON.stringify(env.alerts));
    assert.ok(env.alerts.every((a) => a.kind === 'campaign.paused'));
    assert.match(env.alerts[0]!.message, /paused itself: wave 1: /);
    assert.match(env.alerts.at(-1)!.message, new RegExp(missing));
    if (env.alerts.length === 2) assert.match(env.alerts[0]!.message, /it reverts once its updates in flight have finished$/);
    await uploadPackage(env.ferry, A_REISSUED);
    const done = await revert(c);
    assert.is(done.status, 201, JSON.stringify(done.body));
    assert.is(done.body.reverted.state, 'aborted', 'a paused campaign is aborted by its revert');
    const back = await campaignIn(env.ferry, done.body.campaigns[0].id, ['completed', 'paused']);
    assert.is(back.counts.succeeded, 4);
    assert.equal(await versions(), ['1.0.0', '1.0.0', '1.0.0', '1.0.0', '1.0.0']);
  });

  suite('bad input: 4xx with a message, nothing created', async () => {
    const bad = async (url: string, status: number, code: string, message: RegExp, payload?: object) => {
      const res = await api(env.ferry, 'POST', url, payload);
      assert.equal([res.status, res.body.code], [status, code], url);
      assert.match(res.body.message, message, url);
    };
    await bad('/api/v1/campaigns/abc/revert', 400, 'FERRY_VALIDATION', /params\/id/);
    await bad('/api/v1/campaigns/999/revert', 404, 'FERRY_CAMPAIGN_NOT_FOUND', /no campaign 999/);
    await bad('/api/v1/campaigns/1/revert', 400, 'FERRY_VALIDATION', /must NOT have additional properties/, { why: 'x' });
    // A campaign kept running by a maintenance window that is not now, over one registered device.
    const db = get().db;
    const device = await offlineDevice(db, 'held');
    await db.query(`UPDATE devices SET status = 'registered' WHERE id = $1`, [device.id]);
    const firmwareId = await uploadPackage(env.ferry, B);
    const hour = new Date().getUTCHours();
    const window = { startHour: (hour + 2) % 24, endHour: (hour + 3) % 24 };
    const draft = await api(env.ferry, 'POST', '/api/v1/campaigns', { name: 'held', firmwareId, target: {}, policy: { waves: ['100%'], window } });
    await bad(`/api/v1/campaigns/${draft.body.id}/revert`, 409, 'FERRY_CAMPAIGN_STATE', /is draft: only a completed, paused or aborted campaign can be reverted/);
    assert.is((await api(env.ferry, 'POST', `/api/v1/campaigns/${draft.body.id}/start`)).status, 200);
    await bad(`/api/v1/campaigns/${draft.body.id}/revert`, 409, 'FERRY_CAMPAIGN_STATE', /is running: pause or abort it first, then revert/);
    assert.is((await api(env.ferry, 'POST', `/api/v1/campaigns/${draft.body.id}/abort`)).status, 200);
    await bad(`/api/v1/campaigns/${draft.body.id}/revert`, 409, 'FERRY_REVERT_NOTHING', /none of its updates succeeded/);
    assert.is((await api(env.ferry, 'GET', '/api/v1/campaigns')).body.items.length, 1);
  });
});
