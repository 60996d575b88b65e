/**
 * Reverting a campaign: the devices it updated go back to the release each ran before, through
 * one new campaign per release (a campaign carries one image) under the same policy, started at
 * once; revert-decide.ts says which devices and which images. A paused campaign is aborted by its
 * revert (its devices are freed for the revert campaigns); a running one is refused (pause or
 * abort it first). All of it is one transaction with a campaign.revert event; a refusal changes
 * nothing: RevertError (what to upload, or nothing to revert) or CampaignError.
 */
import { CampaignError, RevertError } from '../errors.ts';
import type { ApprovalMode } from '../governance/release-rules.ts';
import type { InFlight } from '../store/campaign-work.ts';
import { clearRevertPending, getCampaign, insertCampaign } from '../store/campaigns.ts';
import type { Db, Queryable } from '../store/db.ts';
import { recordEvent } from '../store/events.ts';
import { imageOf, liveImages, liveReverts, updatedDevices } from '../store/revert.ts';
import type { Campaign } from '../store/rows.ts';
import { abortIn, busyOnConflict, startIn } from './campaign-actions.ts';
import type { CampaignAlert } from './campaigns.ts';
import { planRefusal, planRevert, revertStateProblem, type RevertPlan } from './revert-decide.ts';

export interface Reverter {
  /** 'token:<name>' through the API, 'engine' for an automatic revert. */
  actor: string;
  /** The user behind the token, named in the event. */
  user?: string | undefined;
  /** The release gate the revert campaigns start under (--release-approval). */
  approval?: ApprovalMode | undefined;
}

export interface RevertResult {
  /** The campaign reverted, as it is now (aborted when it was paused). */
  reverted: Campaign;
  /** The revert campaigns, started. */
  campaigns: Campaign[];
  notRevertible: RevertPlan['notRevertible'];
  /** Updates of the aborted campaign still in flight, for the driver to cancel. */
  inFlight: InFlight[];
}

/** The plan for reverting campaign `c` as things stand, read in `q`. */
export async function previewRevert(q: Queryable, c: Campaign): Promise<RevertPlan & { image: { hardwareClass: string; version: string } }> {
  const image = await imageOf(q, c.firmwareId);
  const devices = await updatedDevices(q, c.id);
  const versions = [...new Set(devices.flatMap((d) => (d.fromVersion === null ? [] : [d.fromVersion])))];
  const candidates = await liveImages(q, image.hardwareClass, versions);
  return { ...planRevert({ ...image, devices, candidates }), image };
}

/** Packages the revert of campaign `c` would need and are not uploaded, as the operator's message; null when none is missing (yet). */
export async function missingPackages(q: Queryable, c: Campaign): Promise<string | null> {
  const refusal = planRefusal(c.id, await previewRevert(q, c));
  return refusal?.code === 'FERRY_REVERT_PACKAGE_MISSING' ? refusal.message : null;
}

/** The revert; with `pendingOnly` (the automatic one) null unless the campaign still has its revert pending (another node may have done it). */
export async function revertCampaign(db: Db, id: number, who: Reverter, pendingOnly = false): Promise<RevertResult | null> {
  return busyOnConflict(() => db.transaction(async (tx) => {
    const c = await getCampaign(tx, id, 'FOR UPDATE');
    if (!c) throw new CampaignError('FERRY_CAMPAIGN_NOT_FOUND', `no campaign ${id}`);
    if (pendingOnly && !c.revertPending) return null;
    const problem = revertStateProblem(id, c.state);
    if (problem) throw new CampaignError('FERRY_CAMPAIGN_STATE', problem);
    const under = await liveReverts(tx, id);
    if (under.length > 0) {
      throw new CampaignError('FERRY_CAMPAIGN_STATE', `campaign ${id} is being reverted already by ${under.map((r) => `campaign ${r.id} (${r.state})`).join(', ')}`);
    }
    const plan = await previewRevert(tx, c);
    const refusal = planRefusal(id, plan);
    if (refusal) throw new RevertError(refusal.code, refusal.message);
    let reverted = c;
    let inFlight: InFlight[] = [];
    if (c.state === 'paused') ({ campaign: reverted, inFlight } = await abortIn(tx, id, who.actor, { reason: 'reverted' }));
    await clearRevertPending(tx, id);
    const campaigns: Campaign[] = [];
    for (const g of plan.groups) {
      const draft = await insertCampaign(tx, {
        name: `revert of ${c.name}: → ${g.fromVersion}`, firmwareId: g.firmwareId,
        target: { hardwareClass: plan.image.hardwareClass, endpoints: g.endpoints, firmwareVersions: [plan.image.version] },
        // A revert that fails past the threshold pauses; reverting it in turn is the operator's call.
        policy: { ...c.policy, autoRevert: false }, startAt: null, actor: who.actor, reverts: { campaignId: id, release: g.fromVersion }, testbed: c.testbed,
      });
      // Its devices may be offline now: they join as they register.
      campaigns.push(await startIn(tx, draft.id, who.actor, { allowEmpty: true, approval: who.approval }));
    }
    await recordEvent(tx, {
      kind: 'campaign.revert', actor: who.actor,
      data: {
        campaignId: id, campaigns: campaigns.map((r) => r.id),
        releases: plan.groups.map((g) => ({ version: g.fromVersion, firmwareId: g.firmwareId, devices: g.endpoints.length })),
        notRevertible: plan.notRevertible.length, ...(c.state === 'paused' ? { aborted: true } : {}), ...(pendingOnly ? { automatic: true } : {}),
        ...(who.user ? { user: who.user } : {}),
      },
    });
    return { reverted, campaigns, notRevertible: plan.notRevertible, inFlight };
  }));
}

/** The alert of an automatic revert: the campaigns it started, or why it could not run (the campaign stays paused). */
export function autoRevertAlert(c: Campaign, outcome: RevertResult | string): CampaignAlert {
  if (typeof outcome === 'string') {
    return { kind: 'campaign.paused', campaignId: c.id, message: `campaign ${c.id} (${c.name}) stays paused: the automatic revert could not run: ${outcome}`, data: { autoRevert: outcome } };
  }
  const started = outcome.campaigns.map((x) => `campaign ${x.id} (→ ${x.revertOfRelease})`).join(', ');
  return {
    kind: 'campaign.reverted', campaignId: c.id, message: `campaign ${c.id} (${c.name}) reverted itself: ${started} started`,
    data: { campaigns: outcome.campaigns.map((x) => x.id), notRevertible: outcome.notRevertible.length },
  };
}
