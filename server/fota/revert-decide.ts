/**
 * Reverting a campaign, the decisions, pure: which of its devices go back, grouped by the release
 * each ran before (one revert campaign a group: a campaign carries one image), and which image
 * takes each group there. Devices keep an anti-rollback counter per hardware class, so the old
 * release must come as a re-issue: its payload signed again with a sequence number above every
 * one the group's devices ran. No I/O here; `campaign-revert.ts` reads, writes and acts.
 */
import type { CampaignState } from './model.ts';

/** The states a campaign may be reverted from: a running one is paused or aborted first. */
export const REVERTIBLE: readonly CampaignState[] = ['completed', 'paused', 'aborted'];

/** Why a campaign in this state cannot be reverted, or null. */
export function revertStateProblem(id: number, state: CampaignState): string | null {
  if (REVERTIBLE.includes(state)) return null;
  return state === 'running'
    ? `campaign ${id} is running: pause or abort it first, then revert`
    : `campaign ${id} is ${state}: only a completed, paused or aborted campaign can be reverted`;
}

/** A device whose update in the campaign succeeded. */
export interface UpdatedDevice {
  deviceId: number;
  endpoint: string;
  /** Its firmware version now. */
  currentVersion: string | null;
  /** What it ran before the campaign's update (null: unknown), and that release's original image. */
  fromVersion: string | null;
  fromFirmwareId: number | null;
  /** The highest sequence number of the images it has been updated with (null: none known). */
  ranSequence: number | null;
}

/** A live image of the campaign's class. */
export interface Candidate {
  id: number;
  version: string;
  sequence: number | null;
  reissueOf: number | null;
}

export interface RevertGroup {
  fromVersion: string;
  fromFirmwareId: number | null;
  /** The image that takes the group back. */
  firmwareId: number;
  endpoints: string[];
}

export interface MissingPackage {
  fromVersion: string;
  fromFirmwareId: number | null;
  /** The new sequence number must be above this. */
  above: number;
  devices: number;
  /** What to upload, for the operator. */
  message: string;
}

export interface RevertPlan {
  groups: RevertGroup[];
  missing: MissingPackage[];
  notRevertible: Array<{ endpoint: string; reason: string }>;
}

/**
 * The plan for the devices a campaign (its image: `version`, class `hardwareClass`, sequence
 * `sequence`) updated. A device that moved on since (its version is no longer the campaign's) or
 * whose earlier version is unknown is not revertible. Each group takes the live image of its
 * version, of its release's lineage (the original or a re-issue of it), with the highest sequence
 * number above the highest its devices ran; a group with none is missing its package.
 */
export function planRevert(o: {
  hardwareClass: string; version: string; sequence: number | null;
  devices: readonly UpdatedDevice[]; candidates: readonly Candidate[];
}): RevertPlan {
  const notRevertible: RevertPlan['notRevertible'] = [];
  const byRelease = new Map<string, { fromVersion: string; fromFirmwareId: number | null; devices: UpdatedDevice[] }>();
  for (const d of o.devices) {
    if (d.fromVersion === null) {
      notRevertible.push({ endpoint: d.endpoint, reason: 'its firmware version before the update is unknown' });
    } else if (d.currentVersion !== o.version) {
      notRevertible.push({ endpoint: d.endpoint, reason: `it runs ${d.currentVersion ?? 'an unknown version'} now, not the campaign's ${o.version}` });
    } else if (d.fromVersion === o.version) {
      notRevertible.push({ endpoint: d.endpoint, reason: `it was on ${o.version} already` });
    } else {
      const key = `${d.fromVersion}\u0000${d.fromFirmwareId ?? ''}`;
      const group = byRelease.get(key) ?? { fromVersion: d.fromVersion, fromFirmwareId: d.fromFirmwareId, devices: [] };
      group.devices.push(d);
      byRelease.set(key, group);
    }
  }
  const groups: RevertGroup[] = [];
  const missing: MissingPackage[] = [];
  for (const g of byRelease.values()) {
    const above = Math.max(o.sequence ?? 0, ...g.devices.map((d) => d.ranSequence ?? 0));
    const image = o.candidates
      .filter((c) => c.version === g.fromVersion && c.sequence !== null && c.sequence > above
        && (g.fromFirmwareId === null || (c.reissueOf ?? c.id) === g.fromFirmwareId))
      .sort((a, b) => b.sequence! - a.sequence!)[0];
    if (image) {
      groups.push({ fromVersion: g.fromVersion, fromFirmwareId: g.fromFirmwareId, firmwareId: image.id, endpoints: g.devices.map((d) => d.endpoint) });
    } else {
      const payload = g.fromFirmwareId === null ? `the payload ${g.devices.length === 1 ? 'its device' : 'its devices'} ran` : `the payload of image ${g.fromFirmwareId}`;
      missing.push({
        fromVersion: g.fromVersion, fromFirmwareId: g.fromFirmwareId, above, devices: g.devices.length,
        message: `re-sign version ${g.fromVersion} of class ${o.hardwareClass} (${payload}) with ferry sign --sequence N where N > ${above}, and upload it`,
      });
    }
  }
  return { groups, missing, notRevertible };
}

/** The operator's message for a plan with missing packages. */
function missingMessage(campaignId: number, missing: readonly MissingPackage[]): string {
  const devices = missing.reduce((a, m) => a + m.devices, 0);
  return `campaign ${campaignId} cannot be reverted yet: ${devices} device(s) need a package not uploaded: ${missing.map((m) => m.message).join('; ')}`;
}

/** Why the plan cannot be carried out (what to upload, or nothing to revert), or null. */
export function planRefusal(campaignId: number, plan: RevertPlan): { code: 'FERRY_REVERT_PACKAGE_MISSING' | 'FERRY_REVERT_NOTHING'; message: string } | null {
  if (plan.missing.length > 0) return { code: 'FERRY_REVERT_PACKAGE_MISSING', message: missingMessage(campaignId, plan.missing) };
  if (plan.groups.length > 0) return null;
  const not = plan.notRevertible;
  const named = not.slice(0, 5).map((n) => `${n.endpoint} (${n.reason})`).join(', ');
  return {
    code: 'FERRY_REVERT_NOTHING',
    message: not.length === 0
      ? `campaign ${campaignId} has no device to revert: none of its updates succeeded`
      : `campaign ${campaignId} has no device to revert: the ${not.length} it updated cannot be: ${named}${not.length > 5 ? ', …' : ''}`,
  };
}
