// The release rules and the evidence judgment as pure decisions: the transition table, four-eyes,
// the production gate in both approval modes, and evidence (coverage, success rate, soak, health);
// and the --release-approval setting.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_POLICY, judgeEvidence, type EvidenceFacts, type TestedDevice } from '../../../server/governance/evidence.ts';
import { fourEyesRefusal, gateRefusal, transitionRefusal, type ReleaseAction } from '../../../server/governance/release-rules.ts';
import { RELEASE_STATES, type ReleaseState } from '../../../server/store/rows.ts';
import { helpText, parseConfig, type Config } from '../../../server/config.ts';
import { ConfigError } from '../../../server/errors.ts';

const image = (state: ReleaseState) => ({ id: 7, version: '2.0.0', state });

test('transitions: testing → approved, approved → deprecated, uploaded → testing, anything but revoked → revoked', () => {
  const allowed: Record<ReleaseAction, ReleaseState[]> = { test: ['uploaded'], approve: ['testing'], deprecate: ['approved'], revoke: ['uploaded', 'testing', 'approved', 'deprecated'] };
  for (const [action, from] of Object.entries(allowed) as Array<[ReleaseAction, ReleaseState[]]>) {
    for (const state of RELEASE_STATES) {
      const r = transitionRefusal(image(state), action);
      assert.is(r === undefined, from.includes(state), `${action} from ${state}`);
      if (r) {
        assert.is(r.code, 'FERRY_RELEASE_STATE');
        assert.ok(r.message.startsWith(`firmware image 7 (2.0.0) is ${state}: ${action} needs ${from.join(' or ')}`), r.message);
      }
    }
  }
});

test('four-eyes: the uploader (any of their tokens: the same user id) is refused; another user, or an image with no uploader, is not', () => {
  const img = { ...image('testing'), uploadedBy: 3, uploadedByUser: 'alice' };
  assert.equal(fourEyesRefusal(img, 3)?.code, 'FERRY_RELEASE_FOUR_EYES');
  assert.match(fourEyesRefusal(img, 3)!.message, /uploaded by alice, who may not approve it too/);
  assert.is(fourEyesRefusal(img, 4), undefined);
  assert.is(fourEyesRefusal({ ...img, uploadedBy: null, uploadedByUser: null }, 3), undefined);
});

test('the gate: production takes approved only, a testbed uploaded/testing/approved, a campaign under way anything but revoked; off lets all but revoked through', () => {
  const code = (state: ReleaseState, testbed: boolean, approval: 'required' | 'off', underWay = false) => gateRefusal(image(state), { testbed, approval, underWay })?.code;
  for (const state of RELEASE_STATES) {
    const revoked = state === 'revoked' ? 'FERRY_RELEASE_REVOKED' : undefined;
    assert.is(code(state, false, 'required'), revoked ?? (state === 'approved' ? undefined : 'FERRY_RELEASE_NOT_APPROVED'), `production ${state}`);
    assert.is(code(state, true, 'required'), revoked ?? (state === 'deprecated' ? 'FERRY_RELEASE_STATE' : undefined), `testbed ${state}`);
    assert.is(code(state, false, 'required', true), revoked, `under way ${state}`);
    assert.is(code(state, false, 'off'), revoked, `off ${state}`);
  }
  assert.match(gateRefusal(image('testing'), { testbed: false, approval: 'required' })!.message, /POSTs \/api\/v1\/firmware\/7\/approve/);
});

const now = new Date('2026-01-01T12:00:00Z');
const at = (secondsAgo: number) => new Date(now.getTime() - secondsAgo * 1000);
const device = (endpoint: string, o: Partial<TestedDevice> = {}): TestedDevice => ({
  endpoint, outcome: 'succeeded', resultCode: 1, hardwareClass: 'sim-1', securityMode: 'psk', status: 'registered',
  lastSeen: at(5), firmwareVersion: '2.0.0', lastFailureAt: null, ...o,
});
const facts = (o: Partial<EvidenceFacts> = {}): EvidenceFacts => ({
  image: { id: 7, version: '2.0.0', hardwareClass: 'sim-1' }, policy: { hardwareClass: 'sim-1', ...DEFAULT_POLICY, soakSeconds: 60 },
  campaignIds: [3], devices: [device('a')], lastFinishedAt: at(120), now, ...o,
});

test('evidence: enough devices, all succeeded, the soak over and everyone healthy is sufficient', () => {
  const e = judgeEvidence(facts());
  assert.is(e.sufficient, true, e.missing.join('; '));
  assert.equal(e.missing, []);
  assert.equal(e.devices, { attempted: 1, succeeded: 1, failed: 0, notCounted: [] });
  assert.equal(e.byResult, { 1: 1 });
  assert.is(e.successRate, 1);
  assert.equal(e.soak, { startedAt: at(120), endsAt: at(60), done: true });
});

test('evidence: what is missing, each named', () => {
  const missing = (f: Partial<EvidenceFacts>) => judgeEvidence(facts(f)).missing.join(' | ');
  assert.match(missing({ campaignIds: [], devices: [], lastFinishedAt: null }), /no testbed campaign with this image has completed \| 0 testbed device\(s\) of class sim-1 were updated; the policy needs 1/);
  assert.match(missing({ lastFinishedAt: at(30) }), /the soak runs until 2026-01-01T12:00:30\.000Z/);
  assert.match(missing({ devices: [device('a'), device('b', { outcome: 'failed', resultCode: 5 })] }), /success rate 1\/2 is below the policy's 1/);
  const policy = { hardwareClass: 'sim-1', ...DEFAULT_POLICY, soakSeconds: 60, minSuccessRate: 0.5, requireCredentials: true };
  const e = judgeEvidence(facts({ policy, devices: [device('a'), device('b', { outcome: 'failed', resultCode: 5 }), device('c', { securityMode: 'nosec' }), device('d', { hardwareClass: 'sim-2' })] }));
  assert.is(e.sufficient, true, e.missing.join('; '));
  assert.equal(e.byResult, { 1: 1, 5: 1 });
  assert.equal(e.devices.notCounted.map((n) => n.endpoint), ['c', 'd']);
  assert.match(e.devices.notCounted[0]!.why, /pre-shared key/);
});

test('evidence: a succeeded device that left, went quiet, changed version or failed since the soak began is unhealthy', () => {
  const e = judgeEvidence(facts({
    devices: [
      device('gone', { status: 'expired' }), device('quiet', { lastSeen: at(200) }), device('back', { firmwareVersion: '1.0.0' }),
      device('broke', { lastFailureAt: at(10) }), device('failed-before', { lastFailureAt: at(300) }),
    ],
  }));
  assert.is(e.sufficient, false);
  assert.equal(e.unhealthy.map((u) => u.endpoint), ['gone', 'quiet', 'back', 'broke']);
  assert.match(e.unhealthy[0]!.why[0]!, /expired, not registered/);
  assert.match(e.unhealthy[1]!.why[0]!, /not heard from since the soak started/);
  assert.match(e.unhealthy[2]!.why[0]!, /reports version 1\.0\.0, not 2\.0\.0/);
  assert.match(e.unhealthy[3]!.why[0]!, /during the soak/);
  assert.match(e.missing.join(' '), /4 device\(s\) unhealthy during the soak: gone \(expired, not registered\)/);
});

test('--release-approval: required by default, off by flag or FERRY_RELEASE_APPROVAL, anything else refused', () => {
  const mode = (argv: string[], env: NodeJS.ProcessEnv = {}) => (parseConfig(argv, env) as Config).releaseApproval;
  assert.is(mode([]), 'required');
  assert.is(mode(['--release-approval', 'off']), 'off');
  assert.is(mode([], { FERRY_RELEASE_APPROVAL: 'off' }), 'off');
  assert.is(mode(['--release-approval', 'required'], { FERRY_RELEASE_APPROVAL: 'off' }), 'required');
  assert.throws(() => parseConfig(['--release-approval', 'maybe'], {}), (err: Error) => err instanceof ConfigError && /--release-approval must be one of required, off, got "maybe"/.test(err.message));
  assert.match(helpText(), /--release-approval <v> +required: only approved releases go to devices that are not testbeds/);
});

test.run();
