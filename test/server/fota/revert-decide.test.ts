// Reverting a campaign, the pure decisions: the states it may start from, devices grouped by the
// release they ran before, the image (a re-issue of that release, signed above every sequence
// number the group ran) each group takes, what to upload when there is none, and the devices left.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { planRefusal, planRevert, revertStateProblem, type Candidate, type UpdatedDevice } from '../../../server/fota/revert-decide.ts';

const device = (endpoint: string, o: Partial<UpdatedDevice> = {}): UpdatedDevice => ({
  deviceId: 0, endpoint, currentVersion: '2.0.0', fromVersion: '1.0.0', fromFirmwareId: 1, ranSequence: 20, ...o,
});
const image = (id: number, version: string, sequence: number | null, reissueOf: number | null = null): Candidate => ({ id, version, sequence, reissueOf });
const CAMPAIGN = { hardwareClass: 'sensor-a', version: '2.0.0', sequence: 20 };

test('the states: completed, paused and aborted campaigns revert; a running one is paused or aborted first', () => {
  for (const s of ['completed', 'paused', 'aborted'] as const) assert.is(revertStateProblem(3, s), null);
  assert.is(revertStateProblem(3, 'running'), 'campaign 3 is running: pause or abort it first, then revert');
  assert.is(revertStateProblem(3, 'draft'), 'campaign 3 is draft: only a completed, paused or aborted campaign can be reverted');
  assert.is(revertStateProblem(3, 'scheduled'), 'campaign 3 is scheduled: only a completed, paused or aborted campaign can be reverted');
});

test('one group a release, each taking the highest re-issue of its lineage above what its devices ran', () => {
  const plan = planRevert({
    ...CAMPAIGN,
    devices: [device('a'), device('b'), device('c', { fromVersion: '1.1.0', fromFirmwareId: 5 }), device('d', { fromVersion: '1.1.0', fromFirmwareId: 5, ranSequence: 35 })],
    candidates: [
      image(1, '1.0.0', 10), image(7, '1.0.0', 30, 1), image(8, '1.0.0', 40, 1),
      image(9, '1.0.0', 50, 99), // another lineage: not this release's payload
      image(5, '1.1.0', 15), image(6, '1.1.0', 36, 5),
    ],
  });
  assert.equal(plan.groups, [
    { fromVersion: '1.0.0', fromFirmwareId: 1, firmwareId: 8, endpoints: ['a', 'b'] },
    { fromVersion: '1.1.0', fromFirmwareId: 5, firmwareId: 6, endpoints: ['c', 'd'] },
  ]);
  assert.equal(plan.missing, []);
  assert.is(planRefusal(4, plan), null);
});

test('a group without a package: the refusal says what to sign and upload, above the highest its devices ran', () => {
  const plan = planRevert({
    ...CAMPAIGN,
    devices: [device('a'), device('b', { ranSequence: 25 }), device('c', { fromVersion: '0.9.0', fromFirmwareId: null })],
    candidates: [image(1, '1.0.0', 10), image(7, '1.0.0', 25, 1)],
  });
  assert.equal(plan.groups, []);
  assert.equal(plan.missing.map((m) => [m.fromVersion, m.above, m.devices]), [['1.0.0', 25, 2], ['0.9.0', 20, 1]]);
  assert.equal(planRefusal(4, plan), {
    code: 'FERRY_REVERT_PACKAGE_MISSING',
    message: 'campaign 4 cannot be reverted yet: 3 device(s) need a package not uploaded: '
      + 're-sign version 1.0.0 of class sensor-a (the payload of image 1) with ferry sign --sequence N where N > 25, and upload it; '
      + 're-sign version 0.9.0 of class sensor-a (the payload its device ran) with ferry sign --sequence N where N > 20, and upload it',
  });
});

test('not revertible: an unknown earlier version, a device that moved on; with none left, nothing to revert', () => {
  const devices = [device('a', { fromVersion: null, fromFirmwareId: null }), device('b', { currentVersion: '3.0.0' }), device('c', { currentVersion: null })];
  const plan = planRevert({ ...CAMPAIGN, devices, candidates: [image(7, '1.0.0', 30, 1)] });
  assert.equal(plan.notRevertible, [
    { endpoint: 'a', reason: 'its firmware version before the update is unknown' },
    { endpoint: 'b', reason: 'it runs 3.0.0 now, not the campaign\'s 2.0.0' },
    { endpoint: 'c', reason: 'it runs an unknown version now, not the campaign\'s 2.0.0' },
  ]);
  assert.equal(plan.groups, []);
  assert.equal(planRefusal(4, plan)?.code, 'FERRY_REVERT_NOTHING');
  assert.match(planRefusal(4, plan)!.message, /^campaign 4 has no device to revert: the 3 it updated cannot be: a \(its firmware version/);
  assert.equal(planRefusal(4, planRevert({ ...CAMPAIGN, devices: [], candidates: [] })),
    { code: 'FERRY_REVERT_NOTHING', message: 'campaign 4 has no device to revert: none of its updates succeeded' });
  // The rest still revert: a plan with groups is carried out, the others listed.
  const mixed = planRevert({ ...CAMPAIGN, devices: [...devices, device('d')], candidates: [image(7, '1.0.0', 30, 1)] });
  assert.equal(mixed.groups.map((g) => g.endpoints), [['d']]);
  assert.is(mixed.notRevertible.length, 3);
});

test('an earlier release Ferry never held: any image of that version signed high enough takes the devices back', () => {
  const plan = planRevert({
    ...CAMPAIGN, devices: [device('a', { fromFirmwareId: null, ranSequence: null })], candidates: [image(3, '1.0.0', 21), image(4, '1.0.0', 20)],
  });
  assert.equal(plan.groups, [{ fromVersion: '1.0.0', fromFirmwareId: null, firmwareId: 3, endpoints: ['a'] }]);
});

test.run();
