// A release from upload to production with approval required, against simulated devices over
// loopback UDP: a testbed campaign updates only devices marked testbed (one unmarked mid-campaign
// is skipped, a device that is not a testbed and joins late is not claimed), its outcome and a
// soak are the evidence an approver other than the uploader approves on, and only then does a
// production campaign take the image. And a revocation pauses a running campaign, with an alert.
import * as assert from 'uvu/assert';
import type { Ferry } from '../../server/main.ts';
import { forEachDatabase } from '../helpers/db.ts';
import { eventually, startTestFerry } from '../helpers/ferry.ts';
import { call, stateChanges, uploadAs, userWithTokens } from '../server/governance/kit.ts';
import { backgroundFleet, campaignIn, inventoried } from './campaign-kit.ts';
import { signedPackage } from './kit.ts';

const NEW = signedPackage('2.0.0', 8 * 1024, 1, 7);
const SOAK_SECONDS = 7;

forEachDatabase('testbeds, evidence and approval against simulated devices', ({ suite, get }) => {
  let ferry: Ferry;
  let fleets: Array<ReturnType<typeof backgroundFleet>> = [];
  suite.before.each(async () => {
    ferry = await startTestFerry(get().db, { releaseApproval: 'required', campaignTick: 100, updateTimeout: 20, requestTimeout: 5 });
  });
  suite.after.each(async () => {
    await Promise.all(fleets.map((f) => f.stop()));
    fleets = [];
    await ferry.close();
  });

  /**
   * `n` devices named <prefix>-…, with an 8 s lifetime: each sends a registration Update every 4 to
   * 6.4 s, so a soak of SOAK_SECONDS hears every one (a shorter lifetime risks expiry on a loaded machine).
   */
  async function fleet(prefix: string, n: number, already = 0): Promise<string[]> {
    fleets.push(backgroundFleet(ferry.coapAddress!.port, { devices: n, prefix, lifetime: 8 }));
    await inventoried(get().db, already + n);
    const { rows } = await get().db.query<{ endpoint: string }>('SELECT endpoint FROM devices WHERE endpoint LIKE $1 ORDER BY id', [`${prefix}-%`]);
    return rows.map((r) => r.endpoint);
  }

  async function campaign(body: object, token?: string): Promise<number> {
    const created = await call(ferry, 'POST', '/api/v1/campaigns', body, token);
    assert.is(created.status, 201, JSON.stringify(created.body));
    const started = await call(ferry, 'POST', `/api/v1/campaigns/${created.body.id}/start`, {}, token);
    assert.is(started.status, 200, JSON.stringify(started.body));
    return created.body.id as number;
  }

  const versionOf = async (endpoint: string): Promise<string> => (await call(ferry, 'GET', `/api/v1/devices/${endpoint}`)).body.firmwareVersion;

  suite('upload → testbed campaign → evidence after the soak → approved by another user → production', async () => {
    const alice = await userWithTokens(ferry, 'alice', ['operator', 'approver']);
    const bob = await userWithTokens(ferry, 'bob', ['approver']);
    const bench = await fleet('tb', 3);
    for (const ep of bench) assert.is((await call(ferry, 'PUT', `/api/v1/devices/${ep}/testbed`, { testbed: true }, alice['operator'])).status, 200);
    assert.is((await call(ferry, 'PUT', '/api/v1/testbed-policies/sim-1', { minDevices: 2, soakSeconds: SOAK_SECONDS })).status, 200);
    const id = await uploadAs(ferry, alice['operator']!, NEW);

    const refused = await call(ferry, 'POST', '/api/v1/campaigns', { name: 'too soon', firmwareId: id, policy: { waves: ['100%'] } }, alice['operator']);
    assert.is(refused.body.code, 'FERRY_RELEASE_NOT_APPROVED');

    // Wave 1 is the first testbed device; the third is unmarked while wave 1 soaks, and a device
    // that is no testbed registers meanwhile.
    const testbedCampaign = await campaign({ name: 'bench', firmwareId: id, testbed: true, policy: { waves: [1, '100%'], soakSeconds: 4, retries: { max: 0 } } }, alice['operator']);
    assert.is((await call(ferry, 'GET', `/api/v1/firmware/${id}`)).body.state, 'testing');
    assert.is((await call(ferry, 'PUT', `/api/v1/devices/${bench[2]}/testbed`, { testbed: false }, alice['operator'])).status, 200);
    const [late] = await fleet('late', 1, 3);
    assert.is((await call(ferry, 'GET', `/api/v1/campaigns/${testbedCampaign}`)).body.state, 'running', 'the late device came while the campaign ran');

    const done = await campaignIn(ferry, testbedCampaign, ['completed', 'paused', 'aborted'], 60_000);
    assert.is(done.state, 'completed', done.pauseReason ?? '');
    const { rows: members } = await get().db.query<{ endpoint: string; state: string; reason: string | null }>(
      'SELECT d.endpoint, cd.state, cd.reason FROM campaign_devices cd JOIN devices d ON d.id = cd.device_id WHERE cd.campaign_id = $1 ORDER BY d.id', [testbedCampaign]);
    assert.equal(members.map((m) => [m.endpoint, m.state]), [[bench[0], 'succeeded'], [bench[1], 'succeeded'], [bench[2], 'skipped']]);
    assert.is(members[2]!.reason, 'no longer a testbed device');
    assert.is(await versionOf(late!), '1.0.0');
    assert.is(await versionOf(bench[2]!), '1.0.0');

    // Soaking: not yet.
    const early = await call(ferry, 'POST', `/api/v1/firmware/${id}/approve`, {}, bob['approver']);
    assert.is(early.body.code, 'FERRY_RELEASE_NO_EVIDENCE', JSON.stringify(early.body));
    assert.match(early.body.message, /the soak runs until/);

    const evidence = await eventually(async () => {
      const e = (await call(ferry, 'GET', `/api/v1/firmware/${id}/evidence`)).body;
      return e.sufficient ? e : undefined;
    }, 30_000, 'the evidence to suffice');
    assert.equal(evidence.campaignIds, [testbedCampaign]);
    assert.equal([evidence.devices.attempted, evidence.devices.succeeded, evidence.devices.failed], [2, 2, 0]);
    assert.equal(evidence.byResult, { 1: 2 });
    assert.is(evidence.successRate, 1);
    assert.equal(evidence.unhealthy, []);
    assert.ok(new Date(evidence.soak.endsAt).getTime() - new Date(evidence.soak.startedAt).getTime() === SOAK_SECONDS * 1000);

    const own = await call(ferry, 'POST', `/api/v1/firmware/${id}/approve`, {}, alice['approver']);
    assert.is(own.body.code, 'FERRY_RELEASE_FOUR_EYES');
    const approved = await call(ferry, 'POST', `/api/v1/firmware/${id}/approve`, { reason: 'bench ran clean' }, bob['approver']);
    assert.is(approved.status, 200, JSON.stringify(approved.body));
    assert.is(approved.body.state, 'approved');
    assert.equal(await stateChanges(ferry, id), [`uploaded→testing campaign ${testbedCampaign}`, 'testing→approved by bob']);

    // Production: the devices that are not testbeds now (the late one, the unmarked one) are updated; the bench is on it already.
    const production = await campaign({ name: 'fleet', firmwareId: id, policy: { waves: ['100%'] } }, alice['operator']);
    const shipped = await campaignIn(ferry, production, ['completed', 'paused', 'aborted'], 60_000);
    assert.is(shipped.state, 'completed', shipped.pauseReason ?? '');
    assert.equal([shipped.counts.succeeded, shipped.counts.skipped], [2, 2]);
    assert.is(await versionOf(late!), '2.0.0');
  });

  suite('revoking the image of a running campaign pauses it with a critical alert, and it does not resume', async () => {
    const alice = await userWithTokens(ferry, 'alice', ['operator']);
    const bench = await fleet('tb', 2);
    for (const ep of bench) await call(ferry, 'PUT', `/api/v1/devices/${ep}/testbed`, { testbed: true }, alice['operator']);
    const id = await uploadAs(ferry, alice['operator']!, NEW);
    const running = await campaign({ name: 'bench', firmwareId: id, testbed: true, policy: { waves: [1, '100%'], soakSeconds: 600 } }, alice['operator']);
    await eventually(async () => (await call(ferry, 'GET', `/api/v1/campaigns/${running}`)).body.counts.succeeded === 1 || undefined, 30_000, 'wave 1 to succeed');

    const revoked = await call(ferry, 'POST', `/api/v1/firmware/${id}/revoke`, { reason: 'boot loop on rev B boards' }, alice['operator']);
    assert.is(revoked.status, 200, JSON.stringify(revoked.body));
    assert.equal(revoked.body.pausedCampaigns, [running]);
    const paused = (await call(ferry, 'GET', `/api/v1/campaigns/${running}`)).body;
    assert.is(paused.state, 'paused');
    assert.match(paused.pauseReason, /revoked: boot loop on rev B boards/);
    const alerts = (await call(ferry, 'GET', '/api/v1/alerts')).body.items as Array<{ kind: string; campaignId: number | null; severity: string }>;
    assert.ok(alerts.some((a) => a.kind === 'campaign.paused' && a.campaignId === running && a.severity === 'critical'), JSON.stringify(alerts));

    const resumed = await call(ferry, 'POST', `/api/v1/campaigns/${running}/resume`, {}, alice['operator']);
    assert.is(resumed.status, 409);
    assert.is(resumed.body.code, 'FERRY_RELEASE_REVOKED');
    assert.is(await versionOf(bench[1]!), '1.0.0');
    const { rows } = await get().db.query<{ state: string }>('SELECT state FROM campaign_devices WHERE campaign_id = $1 ORDER BY device_id', [running]);
    assert.equal(rows.map((r) => r.state), ['succeeded', 'pending']);
  });
});
