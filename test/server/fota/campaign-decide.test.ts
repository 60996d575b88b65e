// A campaign's pure decisions, table-driven: waves (percentages rounded up, counts, cumulative),
// the failure threshold, soak, the maintenance window (UTC), concurrency, retries with backoff,
// deferral (Update Result 11, LwM2M 1.1 Object 5) — and the delivery policy and Severity and
// Cancel rows the update engine takes from a campaign.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  assignWaves, backoffSeconds, decideTick, deviceOutcome, emptyCounts, inWindow, waveEnds, wavesProblem, type TickInput, type WaveCounts,
} from '../../../server/fota/campaign-decide.ts';
import { chooseDelivery, decide } from '../../../server/fota/decide.ts';
import type { CampaignPolicy } from '../../../server/fota/model.ts';

const POLICY: CampaignPolicy = {
  waves: ['10%', '50%', '100%'], soakSeconds: 0, concurrency: 5, failureThreshold: 0.1,
  retries: { max: 2, backoffSeconds: 30, factor: 2 }, delivery: 'device', severity: 'mandatory',
};
const NOON = new Date('2026-12-01T12:00:00Z');

test('waves: percentages of the target rounded up, counts capped, cumulative; the last wave takes everyone left', () => {
  const rows: Array<[number, Array<string | number>, number[]]> = [
    [100, ['10%', '50%', '100%'], [10, 50, 100]],
    [7, ['10%', '50%', '100%'], [1, 4, 7]],        // 0.7 → 1, 3.5 → 4
    [3, ['1%', '10%'], [1, 3]],                    // the last wave ends at the total
    [0, ['10%', '100%'], [0, 0]],
    [20, [1, 5, 50], [1, 5, 20]],                  // counts, capped at the total
    [20, [2, '50%'], [2, 20]],
    [20, ['50%', 3], [10, 20]],                    // never below the previous wave
  ];
  for (const [total, waves, ends] of rows) assert.equal(waveEnds(total, waves), ends, `${total} × ${JSON.stringify(waves)}`);
  assert.equal(assignWaves(7, ['10%', '50%', '100%']), [1, 2, 2, 2, 3, 3, 3]);
  assert.equal(assignWaves(3, [2, 10]), [1, 1, 2]);
  assert.equal(assignWaves(3, [5, 10]), [1, 1, 1], 'a first wave as big as the target takes it all');
});

test('waves: bad ones are refused with the index and the reason', () => {
  assert.is(wavesProblem(['10%', '50%', '100%']), null);
  assert.is(wavesProblem([1, 10, '100%']), null);
  const bad: Array<[Array<string | number>, RegExp]> = [
    [[], /at least one wave/],
    [['0%'], /waves\[0\].*percentage/],
    [['101%'], /waves\[0\]/],
    [['ten%'], /waves\[0\]/],
    [[0], /waves\[0\]/],
    [[2.5], /waves\[0\]/],
    [['50%', '10%'], /waves\[1\]: 10% must be above the previous wave's 50%/],
    [[10, 10], /waves\[1\]: 10 must be above/],
  ];
  for (const [waves, why] of bad) assert.match(wavesProblem(waves) ?? '', why, JSON.stringify(waves));
});

test('maintenance window: daily UTC hours, start inclusive, end exclusive, wrapping past midnight', () => {
  const at = (h: number) => new Date(Date.UTC(2026, 11, 1, h, 30));
  assert.ok(inWindow(undefined, at(3)));
  const rows: Array<[{ startHour: number; endHour: number }, number, boolean]> = [
    [{ startHour: 1, endHour: 5 }, 1, true], [{ startHour: 1, endHour: 5 }, 4, true], [{ startHour: 1, endHour: 5 }, 5, false],
    [{ startHour: 1, endHour: 5 }, 0, false], [{ startHour: 22, endHour: 4 }, 23, true], [{ startHour: 22, endHour: 4 }, 2, true],
    [{ startHour: 22, endHour: 4 }, 4, false], [{ startHour: 22, endHour: 4 }, 12, false],
  ];
  for (const [w, h, expected] of rows) assert.is(inWindow(w, at(h)), expected, `${JSON.stringify(w)} at ${h}:30`);
});

test('backoff: base × factor^(n − 1)', () => {
  const r = { max: 5, backoffSeconds: 10, factor: 3 };
  assert.equal([1, 2, 3, 4].map((n) => backoffSeconds(r, n)), [10, 30, 90, 270]);
  assert.is(backoffSeconds({ max: 1, backoffSeconds: 0, factor: 2 }, 3), 0);
});

const counts = (c: Partial<WaveCounts>): WaveCounts => ({ ...emptyCounts(), ...c });
const tick = (over: Partial<TickInput> & { waves: Array<Partial<WaveCounts>> }): ReturnType<typeof decideTick> => decideTick({
  state: 'running', currentWave: 1, waveCount: over.waves.length, waveDoneAt: null, ackedFailed: 0, policy: POLICY, now: NOON,
  ...over, counts: [emptyCounts(), ...over.waves.map(counts)],
});

test('tick: claims within the concurrency cap from the current wave, waits when the cap is full', () => {
  assert.equal(tick({ waves: [{ pending: 10 }, { pending: 40 }, { pending: 50 }] }), { kind: 'claim', upToWave: 1, limit: 5 });
  assert.equal(tick({ waves: [{ pending: 7, in_progress: 2, claimed: 1 }, {}, {}] }), { kind: 'claim', upToWave: 1, limit: 2 });
  assert.is(tick({ waves: [{ pending: 5, in_progress: 5 }, {}, {}] }).kind, 'wait');
  assert.is(tick({ waves: [{ in_progress: 3, succeeded: 7 }, {}, {}] }).kind, 'wait', 'the rest are in flight');
  // deferred devices are open work: the wave is not done, and they are claimable (when due, in SQL)
  assert.equal(tick({ waves: [{ deferred: 1, succeeded: 9 }, {}, {}] }), { kind: 'claim', upToWave: 1, limit: 5 });
  assert.is(tick({ state: 'paused', waves: [{ pending: 10 }, {}, {}] }).kind, 'wait');
  assert.is(tick({ state: 'draft', waves: [{ pending: 10 }, {}, {}] }).kind, 'wait');
});

test('tick: outside the maintenance window nothing new starts, but a finished wave still moves on', () => {
  const policy = { ...POLICY, window: { startHour: 1, endHour: 5 } };
  assert.equal(tick({ policy, waves: [{ pending: 10 }, {}, {}] }), { kind: 'wait', why: 'outside the maintenance window' });
  assert.equal(tick({ policy, now: new Date('2026-12-01T02:00:00Z'), waves: [{ pending: 10 }, {}, {}] }), { kind: 'claim', upToWave: 1, limit: 5 });
  assert.equal(tick({ policy, waves: [{ succeeded: 10 }, { pending: 40 }, {}] }), { kind: 'advance', to: 2 });
});

test('tick: the failure threshold (strictly above) pauses; skipped devices are not counted; resumed failures are acknowledged', () => {
  assert.is(tick({ waves: [{ failed: 1, succeeded: 9 }, {}, {}] }).kind, 'advance', '10% is not above 10%');
  const p = tick({ waves: [{ failed: 2, succeeded: 3, pending: 5 }, {}, {}] });
  assert.is(p.kind, 'pause');
  if (p.kind === 'pause') {
    assert.is(p.reason, 'wave 1: 2 of 10 devices failed (20%), above the failure threshold of 10%');
    assert.equal(p.data, { wave: 1, failed: 2, devices: 10, threshold: 0.1 });
  }
  assert.is(tick({ waves: [{ failed: 1, succeeded: 4, skipped: 5 }, {}, {}] }).kind, 'pause', '1 of 5, skipped aside');
  assert.is(tick({ ackedFailed: 2, waves: [{ failed: 2, succeeded: 3, pending: 5 }, {}, {}] }).kind, 'claim');
  assert.is(tick({ policy: { ...POLICY, failureThreshold: 0 }, waves: [{ failed: 1, pending: 99 }] }).kind, 'pause');
  assert.is(tick({ policy: { ...POLICY, failureThreshold: 1 }, waves: [{ failed: 10 }] }).kind, 'complete');
});

test('tick: a finished wave soaks, then the next starts; the last one completes the campaign', () => {
  const policy = { ...POLICY, soakSeconds: 60 };
  const done = [{ succeeded: 10 }, { pending: 40 }, { pending: 50 }];
  assert.equal(tick({ policy, waves: done }), { kind: 'wave-done', wave: 1 });
  assert.is(tick({ policy, waves: done, waveDoneAt: new Date(NOON.getTime() - 30_000) }).kind, 'wait');
  assert.equal(tick({ policy, waves: done, waveDoneAt: new Date(NOON.getTime() - 60_000) }), { kind: 'advance', to: 2 });
  assert.equal(tick({ waves: done }), { kind: 'advance', to: 2 }, 'no soak: at once');
  assert.equal(tick({ currentWave: 3, waves: [{ succeeded: 10 }, { succeeded: 40 }, { succeeded: 45, cancelled: 5 }] }), { kind: 'complete' });
  assert.equal(tick({ waves: [{}] }), { kind: 'wait', why: 'no device yet: devices that register and match the target join it' }, 'an empty campaign (started with allowEmpty) waits for devices to join');
  assert.equal(tick({ waves: [{ skipped: 2 }] }), { kind: 'complete' }, 'one whose devices all run the release already completes');
});

test('device outcome: success, retries with backoff up to the maximum, cancel, deferral (Update Result 11) is no failure', () => {
  const r = POLICY.retries;
  assert.equal(deviceOutcome({ state: 'succeeded', resultCode: 1 }, 1, r), { state: 'succeeded' });
  assert.equal(deviceOutcome({ state: 'failed', resultCode: 5 }, 1, r), { state: 'pending', retryInSeconds: 30 });
  assert.equal(deviceOutcome({ state: 'failed', resultCode: null }, 2, r), { state: 'pending', retryInSeconds: 60 });
  assert.equal(deviceOutcome({ state: 'failed', resultCode: 5 }, 3, r), { state: 'failed' }, 'max 2 retries: the third failure is final');
  assert.equal(deviceOutcome({ state: 'failed', resultCode: 5 }, 1, { ...r, max: 0 }), { state: 'failed' });
  assert.equal(deviceOutcome({ state: 'cancelled', resultCode: 10 }, 1, r), { state: 'cancelled' });
  assert.equal(deviceOutcome({ state: 'failed', resultCode: 11 }, 3, r), { state: 'deferred', retryInSeconds: 30 });
  assert.equal(deviceOutcome({ state: 'failed', resultCode: 11 }, 1, r, 600), { state: 'deferred', retryInSeconds: 630 }, 'the Maximum Defer Period waited out, then the first backoff');
});

test('engine, for campaigns: the delivery policy forces pull or push only where the device takes it', () => {
  const rows: Array<[number | null, number[] | null, 'pull' | 'push' | null, string]> = [
    [2, [0], 'push', 'push'], [2, [0], 'pull', 'pull'], [2, [0], null, 'pull'],
    [0, [0], 'push', 'pull'],          // pull-only device: push cannot be forced
    [1, [0], 'pull', 'push'],          // push-only device: pull cannot be forced
    [null, null, 'push', 'pull'],      // no /5/0/9: pulls over CoAP
    [2, [3], 'pull', 'push'],          // pulls over HTTPS only: Ferry must push
  ];
  for (const [method, protocols, prefer, expected] of rows) {
    const c = chooseDelivery(method, protocols, prefer);
    assert.is('method' in c ? c.method : 'refused', expected, `${method} ${JSON.stringify(protocols)} ${prefer}`);
  }
});

test('engine, for campaigns: Severity before the package (Object 5 1.1); cancel at once when queued, by /5/0/10 when downloading', () => {
  const d = decide('queued', { type: 'deliveryMethod', value: 2, protocols: [0] }, '2.0.0', { severity: 0 });
  assert.equal(d.commands.map((c) => c.type), ['writeSeverity', 'writePackageUri']);
  const push = decide('queued', { type: 'deliveryMethod', value: 1, protocols: [0] }, '2.0.0', { severity: 2 });
  assert.equal(push.commands.map((c) => c.type), ['writeSeverity', 'pushPackage']);
  assert.equal(decide('queued', { type: 'deliveryMethod', value: 0, protocols: [0] }, '2.0.0', { severity: null }).commands.map((c) => c.type), ['writePackageUri']);
  assert.is(decide('queued', { type: 'cancel', reason: 'aborted' }, '2.0.0').to, 'cancelled');
  assert.equal(decide('downloading', { type: 'cancel', reason: 'aborted' }, '2.0.0', { canCancel: true }).commands, [{ type: 'executeCancel' }]);
  assert.equal(decide('downloading', { type: 'cancel', reason: 'aborted' }, '2.0.0', { canCancel: false }).commands, []);
  assert.equal(decide('updating', { type: 'cancel', reason: 'aborted' }, '2.0.0', { canCancel: true }).commands, [], 'Updating: it finishes');
  assert.is(decide('downloaded', { type: 'cancelled' }, '2.0.0').to, 'cancelled');
  assert.is(decide('downloading', { type: 'result', value: 10 }, '2.0.0').to, 'cancelled');
  assert.is(decide('updating', { type: 'result', value: 11 }, '2.0.0').resultCode, 11, 'a deferral ends the update with result 11 (the campaign retries it)');
});

test('engine, after a restart: Downloaded on both sides means the Execute was lost (sent again); result 1 while Downloaded is ours', () => {
  assert.equal(decide('downloaded', { type: 'state', value: 2 }, '2.0.0').commands, [{ type: 'executeUpdate' }]);
  assert.equal(decide('updating', { type: 'state', value: 2 }, '2.0.0').commands, [], 'acknowledged already: not twice');
  const r = decide('downloaded', { type: 'result', value: 1 }, '2.0.0');
  assert.is(r.to, 'updating');
  assert.equal(r.commands, [{ type: 'readFirmwareVersion' }]);
  assert.equal(decide('sent', { type: 'result', value: 1 }, '2.0.0').commands, [], 'before the download: the previous update\'s result');
});

test.run();
