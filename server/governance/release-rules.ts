/**
 * The rules of a release's life, as pure decisions (no database): which state changes are
 * allowed, the four-eyes rule, and the production gate every update passes. The SQL that carries
 * them out is in releases.ts; the gate is called by campaigns (create, start, resume, claim) and by
 * the update engine (every update it makes).
 *
 *   uploaded ──(a testbed campaign starts with it)──▶ testing ──approve──▶ approved ──deprecate──▶ deprecated
 *   any state but revoked ──revoke──▶ revoked (final: it starts no update at all)
 */
import { ReleaseError, type ReleaseErrorCode } from '../errors.ts';
import type { ReleaseState } from '../store/rows.ts';

export type ReleaseAction = 'test' | 'approve' | 'deprecate' | 'revoke';

/** --release-approval: required (only approved images reach devices that are not testbeds), off (a lab: anything not revoked). */
export const APPROVAL_MODES = ['required', 'off'] as const;
export type ApprovalMode = (typeof APPROVAL_MODES)[number];

export const TRANSITIONS: Readonly<Record<ReleaseAction, { from: readonly ReleaseState[]; to: ReleaseState; how: string }>> = {
  test: { from: ['uploaded'], to: 'testing', how: 'start a testbed campaign with it' },
  approve: { from: ['testing'], to: 'approved', how: 'run a testbed campaign with it (it is then testing), then an approver who did not upload it approves it' },
  deprecate: { from: ['approved'], to: 'deprecated', how: 'only an approved image is deprecated' },
  revoke: { from: ['uploaded', 'testing', 'approved', 'deprecated'], to: 'revoked', how: 'a revoked image stays revoked' },
};

export interface Refusal { code: ReleaseErrorCode; message: string }

export interface ImageFacts { id: number; version: string; state: ReleaseState }

const named = (i: ImageFacts): string => `firmware image ${i.id} (${i.version})`;

/** Undefined when `action` applies to an image in its state; otherwise why not and what it needs. */
export function transitionRefusal(image: ImageFacts, action: ReleaseAction): Refusal | undefined {
  const t = TRANSITIONS[action];
  if (t.from.includes(image.state)) return undefined;
  return { code: 'FERRY_RELEASE_STATE', message: `${named(image)} is ${image.state}: ${action} needs ${t.from.join(' or ')} (${t.how})` };
}

/**
 * The four-eyes rule: whoever uploaded an image does not approve it, whichever of their tokens they
 * use. An image from before users existed (uploadedBy null) may be approved by any approver.
 */
export function fourEyesRefusal(image: ImageFacts & { uploadedBy: number | null; uploadedByUser: string | null }, approverId: number | undefined, approver?: string): Refusal | undefined {
  if (image.uploadedBy === null || approverId !== image.uploadedBy) return undefined;
  return {
    code: 'FERRY_RELEASE_FOUR_EYES',
    message: `${named(image)} was uploaded by ${image.uploadedByUser ?? approver ?? `user ${image.uploadedBy}`}, who may not approve it too: another user with the approver role must`,
  };
}

/** Where an update goes: a testbed (a testbed campaign, or a direct update to a device marked testbed) or production. */
export interface GateTarget {
  testbed: boolean;
  approval: ApprovalMode;
  /** A device of a campaign that passed the gate when it started or resumed: only revocation stops it now. */
  underWay?: boolean;
}

/** The states a testbed takes an image in (with approval required). */
const TESTBED_STATES: readonly ReleaseState[] = ['uploaded', 'testing', 'approved'];

/**
 * The production gate. A revoked image starts no update at all. With approval required, production
 * (anything not a testbed) takes approved images only, and a testbed uploaded, testing or approved
 * ones. With approval off (a lab) anything not revoked goes, and so does the next device of a
 * campaign under way (it passed the gate at its start or resume).
 */
export function gateRefusal(image: ImageFacts, target: GateTarget): Refusal | undefined {
  if (image.state === 'revoked') return { code: 'FERRY_RELEASE_REVOKED', message: `${named(image)} is revoked: it starts no update, on a testbed or anywhere` };
  if (target.approval === 'off' || target.underWay === true) return undefined;
  if (target.testbed) {
    if (TESTBED_STATES.includes(image.state)) return undefined;
    return { code: 'FERRY_RELEASE_STATE', message: `${named(image)} is ${image.state}: a testbed takes images that are ${TESTBED_STATES.join(', ')}` };
  }
  if (image.state === 'approved') return undefined;
  return {
    code: 'FERRY_RELEASE_NOT_APPROVED',
    message: `${named(image)} is ${image.state}: only approved images go to devices that are not testbeds. `
      + `Run a testbed campaign with it (POST /api/v1/campaigns with "testbed": true), check GET /api/v1/firmware/${image.id}/evidence, `
      + `then an approver who did not upload it POSTs /api/v1/firmware/${image.id}/approve`,
  };
}

/** gateRefusal as a ReleaseError: the one check every place that starts updates makes. */
export function passGate(image: ImageFacts, target: GateTarget): void {
  refuse(gateRefusal(image, target));
}

/** A refusal, thrown. */
export function refuse(r: Refusal | undefined): void {
  if (r) throw new ReleaseError(r.code, r.message);
}
