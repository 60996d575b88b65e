// Release governance through the API, with approval required: four-eyes (a second token of the
// uploading user is the same user), approval needs testbed evidence, the production gate on
// campaigns and direct updates, revoked images start nothing, testbed marking and policies, and
// bad input on every new route; --release-approval off, announced at start-up and in /readyz.
import * as assert from 'uvu/assert';
import { insertFirmware } from '../../../server/store/firmware.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { offlineDevice } from '../../helpers/devices.ts';
import { eventually, injectAsAdmin, testConfig } from '../../helpers/ferry.ts';
import { recordingLogger, type RecordedLog } from '../../helpers/log.ts';
import { startFerry, type Ferry } from '../../../server/main.ts';
import { call, stateChanges, uploadAs, userWithTokens } from './kit.ts';

const TESTBED_CAMPAIGN = { name: 'on the testbed', testbed: true, policy: { waves: ['100%'] } };

forEachDatabase('release governance', ({ suite, get }) => {
  let ferry: Ferry;
  let recorded: RecordedLog;
  suite.before.each(async () => {
    recorded = recordingLogger('warn');
    ferry = await startFerry(testConfig({ releaseApproval: 'required', campaignTick: 100 }), { log: recorded.log, db: get().db, sweepMs: 200 });
    injectAsAdmin(ferry.api);
  });
  suite.after.each(async () => { await ferry.close(); });

  /** A testbed campaign with the image, started (no testbed device yet: allowed empty) and aborted; the image is testing. */
  async function tested(firmwareId: number): Promise<number> {
    const created = await call(ferry, 'POST', '/api/v1/campaigns', { ...TESTBED_CAMPAIGN, firmwareId });
    assert.is(created.status, 201, JSON.stringify(created.body));
    assert.is(created.body.testbed, true);
    const started = await call(ferry, 'POST', `/api/v1/campaigns/${created.body.id}/start`, { allowEmpty: true });
    assert.is(started.status, 200, JSON.stringify(started.body));
    assert.is((await call(ferry, 'POST', `/api/v1/campaigns/${created.body.id}/abort`)).status, 200);
    return created.body.id as number;
  }

  suite('four-eyes: the uploader\'s approver token is refused, another user\'s is heard (and finds no evidence yet)', async () => {
    const alice = await userWithTokens(ferry, 'alice', ['operator', 'approver']);
    const bob = await userWithTokens(ferry, 'bob', ['approver']);
    const id = await uploadAs(ferry, alice['operator']!, '2.0.0');
    let image = (await call(ferry, 'GET', `/api/v1/firmware/${id}`)).body;
    assert.is(image.state, 'uploaded');
    assert.is(image.uploadedByUser, 'alice');
    assert.is(image.evidence.sufficient, false);
    assert.is(image.evidence.href, `/api/v1/firmware/${id}/evidence`);

    // Not testing yet: the state says what is needed.
    const early = await call(ferry, 'POST', `/api/v1/firmware/${id}/approve`, {}, bob['approver']);
    assert.is(early.status, 409);
    assert.is(early.body.code, 'FERRY_RELEASE_STATE');
    assert.match(early.body.message, /is uploaded: approve needs testing/);

    const campaignId = await tested(id);
    assert.equal(await stateChanges(ferry, id), [`uploaded→testing campaign ${campaignId}`]);

    const own = await call(ferry, 'POST', `/api/v1/firmware/${id}/approve`, { reason: 'looks fine' }, alice['approver']);
    assert.is(own.status, 403, JSON.stringify(own.body));
    assert.is(own.body.code, 'FERRY_RELEASE_FOUR_EYES');
    assert.match(own.body.message, /uploaded by alice/);

    const other = await call(ferry, 'POST', `/api/v1/firmware/${id}/approve`, undefined, bob['approver']);
    assert.is(other.status, 409, JSON.stringify(other.body));
    assert.is(other.body.code, 'FERRY_RELEASE_NO_EVIDENCE');
    assert.match(other.body.message, /0 testbed device\(s\) of class sim-1 were updated; the policy needs 1/);

    const evidence = (await call(ferry, 'GET', `/api/v1/firmware/${id}/evidence`, undefined, bob['approver'])).body;
    assert.equal(evidence.campaignIds, [], 'an aborted testbed campaign is no evidence');
    assert.is(evidence.sufficient, false);
    assert.is(evidence.devices.attempted, 0);
    assert.is(evidence.policy.soakSeconds, 3600);
    image = (await call(ferry, 'GET', `/api/v1/firmware/${id}`)).body;
    assert.is(image.state, 'testing');

    // An operator or an admin token does not approve: only an approver token does.
    for (const token of [alice['operator'], undefined]) {
      const refused = await call(ferry, 'POST', `/api/v1/firmware/${id}/approve`, {}, token);
      assert.is(refused.status, 403);
      assert.is(refused.body.code, 'FERRY_FORBIDDEN');
    }
  });

  suite('an image from before users (no uploader) may be approved by any approver: four-eyes does not refuse it', async () => {
    const alice = await userWithTokens(ferry, 'alice', ['approver']);
    const legacy = await insertFirmware(ferry.db, { version: '0.9.0', hardwareClass: 'sim-1', payload: Buffer.alloc(64, 1) });
    assert.is(legacy.uploadedBy, null);
    await tested(legacy.id);
    const res = await call(ferry, 'POST', `/api/v1/firmware/${legacy.id}/approve`, {}, alice['approver']);
    assert.is(res.body.code, 'FERRY_RELEASE_NO_EVIDENCE', 'refused for the evidence, not four-eyes');
  });

  suite('the production gate: campaigns and direct updates to devices that are not testbeds take approved images only', async () => {
    const alice = await userWithTokens(ferry, 'alice', ['operator']);
    const id = await uploadAs(ferry, alice['operator']!, '2.0.0');
    await offlineDevice(ferry.db, 'prod-1');
    await offlineDevice(ferry.db, 'bench-1');
    const marked = await call(ferry, 'PUT', '/api/v1/devices/bench-1/testbed', { testbed: true }, alice['operator']);
    assert.equal(marked, { status: 200, body: { endpoint: 'bench-1', testbed: true } });

    const campaign = await call(ferry, 'POST', '/api/v1/campaigns', { name: 'to production', firmwareId: id, policy: { waves: ['100%'] } });
    assert.is(campaign.status, 409);
    assert.is(campaign.body.code, 'FERRY_RELEASE_NOT_APPROVED');
    assert.match(campaign.body.message, /is uploaded: only approved images go to devices that are not testbeds/);
    assert.match(campaign.body.message, new RegExp(`/api/v1/firmware/${id}/approve`));

    const direct = await call(ferry, 'POST', '/api/v1/devices/prod-1/update', { firmwareId: id });
    assert.is(direct.status, 409);
    assert.is(direct.body.code, 'FERRY_RELEASE_NOT_APPROVED');
    // A testbed device takes it.
    const onBench = await call(ferry, 'POST', '/api/v1/devices/bench-1/update', { firmwareId: id });
    assert.is(onBench.status, 202, JSON.stringify(onBench.body));
    assert.is((await ferry.db.query('SELECT 1 FROM device_updates')).rows.length, 1, 'no update row for the refused one');

    // A draft testbed campaign does not go to production: starting it as it is stays testbed-only.
    const draft = await call(ferry, 'POST', '/api/v1/campaigns', { ...TESTBED_CAMPAIGN, firmwareId: id });
    assert.is(draft.status, 201);

    // Revoked: nothing starts, not even on a testbed; the draft campaign is refused its start.
    const revoked = await call(ferry, 'POST', `/api/v1/firmware/${id}/revoke`, { reason: 'bricks the radio' }, alice['operator']);
    assert.is(revoked.status, 200, JSON.stringify(revoked.body));
    assert.is(revoked.body.state, 'revoked');
    for (const [url, body] of [['/api/v1/devices/bench-1/update', { firmwareId: id }], ['/api/v1/campaigns', { ...TESTBED_CAMPAIGN, firmwareId: id }], [`/api/v1/campaigns/${draft.body.id}/start`, {}]] as const) {
      const res = await call(ferry, 'POST', url, body);
      assert.is(res.status, 409, url);
      assert.is(res.body.code, 'FERRY_RELEASE_REVOKED', url);
    }
    const again = await call(ferry, 'POST', `/api/v1/firmware/${id}/revoke`, { reason: 'twice' });
    assert.is(again.body.code, 'FERRY_RELEASE_STATE');
    assert.equal(await stateChanges(ferry, id), ['uploaded→revoked by alice']);
  });

  suite('deprecate needs approved; testbed marks and policies are audited with the user; the list filters testbeds', async () => {
    const ops = await userWithTokens(ferry, 'carol', ['operator', 'admin']);
    const id = await uploadAs(ferry, ops['operator']!, '3.0.0');
    const dep = await call(ferry, 'POST', `/api/v1/firmware/${id}/deprecate`, { reason: 'old' }, ops['operator']);
    assert.is(dep.status, 409);
    assert.match(dep.body.message, /is uploaded: deprecate needs approved/);

    await offlineDevice(ferry.db, 'a');
    await offlineDevice(ferry.db, 'b');
    await call(ferry, 'PUT', '/api/v1/devices/b/testbed', { testbed: true }, ops['operator']);
    const list = (await call(ferry, 'GET', '/api/v1/devices?testbed=true')).body;
    assert.equal(list.items.map((d: { endpoint: string }) => d.endpoint), ['b']);
    assert.is(list.items[0].testbed, true);
    assert.equal((await call(ferry, 'GET', '/api/v1/devices?testbed=false')).body.items.map((d: { endpoint: string }) => d.endpoint), ['a']);
    assert.is((await call(ferry, 'GET', '/api/v1/devices/a')).body.testbed, false);

    const before = (await call(ferry, 'GET', '/api/v1/testbed-policies/sim-1')).body;
    assert.equal(before, { hardwareClass: 'sim-1', minDevices: 1, soakSeconds: 3600, minSuccessRate: 1, requireCredentials: false, stored: false });
    const set = await call(ferry, 'PUT', '/api/v1/testbed-policies/sim-1', { minDevices: 3, minSuccessRate: 0.9 }, ops['admin']);
    assert.equal(set.body, { hardwareClass: 'sim-1', minDevices: 3, soakSeconds: 3600, minSuccessRate: 0.9, requireCredentials: false });
    const byOperator = await call(ferry, 'PUT', '/api/v1/testbed-policies/sim-1', { minDevices: 1 }, ops['operator']);
    assert.is(byOperator.status, 403);
    assert.is((await call(ferry, 'GET', '/api/v1/testbed-policies/sim-1')).body.stored, true);

    const { rows } = await ferry.db.query<{ kind: string; actor: string; data: Record<string, unknown> }>(
      `SELECT kind, actor, data FROM events WHERE kind IN ('device.testbed', 'testbed_policy.updated') ORDER BY id`);
    assert.equal(rows.map((r) => [r.kind, r.actor, r.data['user']]), [['device.testbed', 'token:carol-operator', 'carol'], ['testbed_policy.updated', 'token:carol-admin', 'carol']]);
  });

  suite('bad input on every new route: a 4xx with a FERRY_ code and a message', async () => {
    await offlineDevice(ferry.db, 'dev');
    const approver = (await userWithTokens(ferry, 'ann', ['approver']))['approver'];
    const id = (await insertFirmware(ferry.db, { version: '1.0.0', hardwareClass: 'sim-1', payload: Buffer.alloc(8) })).id;
    const cases: Array<[string, 'GET' | 'POST' | 'PUT', string, unknown, number, string]> = [
      ['approve: a reason that is no text', 'POST', `/api/v1/firmware/${id}/approve`, { reason: 5 }, 400, 'FERRY_VALIDATION'],
      ['approve: an unknown field', 'POST', `/api/v1/firmware/${id}/approve`, { why: 'x' }, 400, 'FERRY_VALIDATION'],
      ['approve: no such image', 'POST', '/api/v1/firmware/999/approve', {}, 404, 'FERRY_FIRMWARE_NOT_FOUND'],
      ['deprecate: a bad id', 'POST', '/api/v1/firmware/abc/deprecate', {}, 400, 'FERRY_VALIDATION'],
      ['deprecate: no such image', 'POST', '/api/v1/firmware/999/deprecate', {}, 404, 'FERRY_FIRMWARE_NOT_FOUND'],
      ['revoke: no reason', 'POST', `/api/v1/firmware/${id}/revoke`, {}, 400, 'FERRY_VALIDATION'],
      ['revoke: an empty reason', 'POST', `/api/v1/firmware/${id}/revoke`, { reason: '' }, 400, 'FERRY_VALIDATION'],
      ['revoke: no such image', 'POST', '/api/v1/firmware/999/revoke', { reason: 'x' }, 404, 'FERRY_FIRMWARE_NOT_FOUND'],
      ['evidence: id 0', 'GET', '/api/v1/firmware/0/evidence', undefined, 400, 'FERRY_VALIDATION'],
      ['evidence: no such image', 'GET', '/api/v1/firmware/999/evidence', undefined, 404, 'FERRY_FIRMWARE_NOT_FOUND'],
      ['testbed: not a boolean', 'PUT', '/api/v1/devices/dev/testbed', { testbed: 'yes' }, 400, 'FERRY_VALIDATION'],
      ['testbed: no body field', 'PUT', '/api/v1/devices/dev/testbed', {}, 400, 'FERRY_VALIDATION'],
      ['testbed: no such device', 'PUT', '/api/v1/devices/nobody/testbed', { testbed: true }, 404, 'FERRY_DEVICE_NOT_FOUND'],
      ['policy: a class with a space', 'GET', '/api/v1/testbed-policies/sim%201', undefined, 400, 'FERRY_VALIDATION'],
      ['policy: nothing to set', 'PUT', '/api/v1/testbed-policies/sim-1', {}, 400, 'FERRY_VALIDATION'],
      ['policy: a rate above 1', 'PUT', '/api/v1/testbed-policies/sim-1', { minSuccessRate: 1.5 }, 400, 'FERRY_VALIDATION'],
      ['policy: no devices', 'PUT', '/api/v1/testbed-policies/sim-1', { minDevices: 0 }, 400, 'FERRY_VALIDATION'],
      ['policy: a negative soak', 'PUT', '/api/v1/testbed-policies/sim-1', { soakSeconds: -1 }, 400, 'FERRY_VALIDATION'],
      ['policy: an unknown field', 'PUT', '/api/v1/testbed-policies/sim-1', { minDevice: 2 }, 400, 'FERRY_VALIDATION'],
      ['campaign: testbed not a boolean', 'POST', '/api/v1/campaigns', { ...TESTBED_CAMPAIGN, testbed: 'yes', firmwareId: id }, 400, 'FERRY_VALIDATION'],
      ['devices: testbed filter not a boolean', 'GET', '/api/v1/devices?testbed=maybe', undefined, 400, 'FERRY_VALIDATION'],
    ];
    for (const [what, method, url, body, status, code] of cases) {
      const res = await call(ferry, method, url, body, url.endsWith('/approve') ? approver : undefined);
      assert.is(res.status, status, `${what}: ${JSON.stringify(res.body)}`);
      assert.is(res.body.code, code, what);
      assert.ok(typeof res.body.message === 'string' && res.body.message.length > 0, what);
    }
  });

  suite('--release-approval off: unapproved images go anywhere, revoked ones nowhere; /readyz says so', async () => {
    assert.is((await call(ferry, 'GET', '/readyz')).body.releaseApproval, 'required');
    assert.not.ok(recorded.lines.some((l) => /release-approval off/.test(l.msg ?? '')));
    await ferry.close();
    const lab = recordingLogger('warn');
    ferry = await startFerry(testConfig({ releaseApproval: 'off' }), { log: lab.log, db: get().db });
    injectAsAdmin(ferry.api);
    assert.ok(lab.lines.some((l) => l.level === 40 && /--release-approval off: images that are not approved .* go to every device/.test(l.msg ?? '')), 'a warning at start-up');
    assert.is((await call(ferry, 'GET', '/readyz')).body.releaseApproval, 'off');
    await offlineDevice(ferry.db, 'prod-1');
    const image = await insertFirmware(ferry.db, { version: '2.0.0', hardwareClass: 'sim-1', payload: Buffer.alloc(8) });
    assert.is((await call(ferry, 'POST', '/api/v1/devices/prod-1/update', { firmwareId: image.id })).status, 202);
    await call(ferry, 'POST', `/api/v1/firmware/${image.id}/revoke`, { reason: 'bad' });
    const created = await call(ferry, 'POST', '/api/v1/campaigns', { name: 'x', firmwareId: image.id, policy: { waves: ['100%'] } });
    assert.is(created.body.code, 'FERRY_RELEASE_REVOKED');
  });
});
