/**
 * What operators do to campaigns: create (checked against the image), start (membership and waves
 * fixed, in device id order), pause, resume, abort; and the progress they read. Each is one
 * transaction with its campaign.* event. Refusals are CampaignError (a FERRY_CAMPAIGN_… code), or
 * the image's own: FirmwareNotFoundError, HardwareClassMismatchError, and the production gate's
 * ReleaseError (create, start and resume: a campaign that is not testbed-only takes approved
 * images only, none takes a revoked one). A testbed campaign starting with an image still
 * uploaded moves it to testing.
 */
import { CampaignError, FirmwareNotFoundError, HardwareClassMismatchError } from '../errors.ts';
import type { Db, Queryable } from '../store/db.ts';
import * as store from '../store/campaigns.ts';
import { cancelNotStarted, type InFlight } from '../store/campaign-work.ts';
import { getFirmware } from '../store/firmware.ts';
import type { Campaign, CampaignTarget, FirmwareImage } from '../store/rows.ts';
import { passGate, type ApprovalMode } from '../governance/release-rules.ts';
import { startTesting } from '../governance/releases.ts';
import type { CampaignPolicy, CampaignState } from './model.ts';
import { ACTIONS, assignWaves, emptyCounts, total, waveEnds, wavesProblem, type CampaignAction, type WaveCounts } from './campaign-decide.ts';

export interface NewCampaign {
  name: string;
  firmwareId: number;
  target: CampaignTarget;
  policy: CampaignPolicy;
  /** Scheduled: the first tick past this starts it. */
  startAt?: Date;
  /** Testbed-only: devices marked testbed take part, and images not approved yet may be tried. */
  testbed?: boolean;
}

/** The production gate for a campaign's image (release-rules.ts). */
const gate = (image: FirmwareImage, c: { testbed: boolean }, approval: ApprovalMode): void => passGate(image, { testbed: c.testbed, approval });

/** Who acts, for the audit log: `token:<name>` (the API), `engine` (a scheduled start). */
type Actor = string;

/** Checks the JSON schema cannot express; the image must exist and fit the target's class. */
export async function createCampaign(db: Db, c: NewCampaign, actor: Actor = 'api', approval: ApprovalMode = 'required'): Promise<Campaign> {
  const problem = wavesProblem(c.policy.waves);
  if (problem) throw new CampaignError('FERRY_CAMPAIGN_INVALID', problem);
  if (c.policy.window && c.policy.window.startHour === c.policy.window.endHour) {
    throw new CampaignError('FERRY_CAMPAIGN_INVALID', 'window: startHour and endHour must differ (leave the window out for all day)');
  }
  const image = await getFirmware(db, c.firmwareId);
  if (!image) throw new FirmwareNotFoundError(`no firmware image ${c.firmwareId}`);
  if (c.target.hardwareClass !== undefined && c.target.hardwareClass !== image.hardwareClass) {
    throw new HardwareClassMismatchError(`image ${image.id} is for hardware class ${image.hardwareClass}, the target is ${c.target.hardwareClass}`);
  }
  const testbed = c.testbed ?? false;
  gate(image, { testbed }, approval);
  if (c.target.endpoints !== undefined) {
    const devices = await store.matchingDevices(db, { endpoints: c.target.endpoints }, image.hardwareClass, testbed);
    const busy = await store.busyDevices(db, devices.map((d) => d.id), 0);
    if (busy.length > 0) throw busyError(busy);
  }
  return store.createCampaign(db, { ...c, startAt: c.startAt ?? null, actor, testbed });
}

function busyError(busy: ReadonlyArray<{ endpoint: string; campaignId: number }>): CampaignError {
  const named = busy.slice(0, 5).map((b) => `${b.endpoint} (campaign ${b.campaignId})`).join(', ');
  return new CampaignError('FERRY_CAMPAIGN_DEVICES_BUSY', `${busy.length} device(s) already in a running campaign: ${named}${busy.length > 5 ? ', …' : ''}`);
}

function refuse(c: Campaign | null, id: number, action: CampaignAction): asserts c is Campaign {
  if (!c) throw new CampaignError('FERRY_CAMPAIGN_NOT_FOUND', `no campaign ${id}`);
  const from: readonly CampaignState[] = ACTIONS[action].from;
  if (!from.includes(c.state)) throw new CampaignError('FERRY_CAMPAIGN_STATE', `campaign ${id} is ${c.state}: ${action} needs ${from.join(' or ')}`);
}

/**
 * How a start treats a target that matches no registered device: refused (FERRY_CAMPAIGN_EMPTY) unless
 * `allowEmpty` (a campaign for devices that register later: they join it as they come; its progress warns).
 */
export interface StartOptions {
  /** Start even when the target matches no registered device (it waits for devices to register). */
  allowEmpty?: boolean;
  /** The release gate (--release-approval); default required. */
  approval?: ApprovalMode;
}

/** Fixes the membership (registered devices matching the target, by id) and the waves; running at wave 1. */
export async function startCampaign(db: Db, id: number, actor: Actor, o: StartOptions = {}): Promise<Campaign> {
  return busyOnConflict(() => db.transaction((tx) => startIn(tx, id, actor, o)));
}

/** Two campaigns started at once over one device: the partial unique index decides, and the loser is told so. */
export async function busyOnConflict<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if ((err as { code?: string }).code === '23505') throw new CampaignError('FERRY_CAMPAIGN_DEVICES_BUSY', 'a device of this campaign joined another running campaign meanwhile; start again');
    throw err;
  }
}

/** startCampaign inside a transaction: the release gate, then the members (testbed devices only for a testbed campaign). */
export async function startIn(tx: Queryable, id: number, actor: Actor, o: StartOptions = {}): Promise<Campaign> {
  const c = await store.getCampaign(tx, id, 'FOR UPDATE');
  refuse(c, id, 'start');
  const image = await getFirmware(tx, c.firmwareId);
  if (!image) throw new CampaignError('FERRY_CAMPAIGN_FIRMWARE_GONE', `firmware image ${c.firmwareId} is gone`);
  gate(image, c, o.approval ?? 'required');
  const matched = await store.matchingDevices(tx, c.target, image.hardwareClass, c.testbed);
  if (matched.length === 0 && o.allowEmpty !== true) {
    throw new CampaignError('FERRY_CAMPAIGN_EMPTY', `campaign ${id}'s target ${describeTarget(c.target, image.hardwareClass)} matched no registered device; `
      + 'start it with {"allowEmpty": true} to run it for devices that register later');
  }
  const busy = await store.busyDevices(tx, matched.map((d) => d.id), id);
  if (busy.length > 0) throw busyError(busy);
  const waves = assignWaves(matched.length, c.policy.waves);
  const members = matched.map((d, i) => ({ deviceId: d.id, wave: waves[i]!, skipped: d.firmwareVersion === image.version }));
  await store.insertMembers(tx, id, members);
  const started = await store.transitionCampaign(tx, id, ACTIONS.start.from, 'running',
    { current_wave: 1, wave_done_at: null, started_at: new Date() },
    { kind: 'campaign.started', actor, data: { ...(members.length === 0 ? { empty: true } : {}), devices: members.length, skipped: members.filter((m) => m.skipped).length, waveEnds: waveEnds(members.length, c.policy.waves) } });
  if (c.testbed) await startTesting(tx, image, id, actor);
  return started!;
}

export async function pauseCampaign(db: Db, id: number, actor: Actor, reason = 'paused by an operator'): Promise<Campaign> {
  return db.transaction(async (tx) => {
    const c = await store.getCampaign(tx, id, 'FOR UPDATE');
    refuse(c, id, 'pause');
    return (await store.transitionCampaign(tx, id, ACTIONS.pause.from, 'paused', { pause_reason: reason }, { kind: 'campaign.paused', actor, data: { reason } }))!;
  });
}

/** Running again; the current wave's failures so far are acknowledged (the threshold counts from here). */
export async function resumeCampaign(db: Db, id: number, actor: Actor, approval: ApprovalMode = 'required'): Promise<Campaign> {
  return db.transaction(async (tx) => {
    const c = await store.getCampaign(tx, id, 'FOR UPDATE');
    refuse(c, id, 'resume');
    const image = await getFirmware(tx, c.firmwareId);
    if (!image) throw new CampaignError('FERRY_CAMPAIGN_FIRMWARE_GONE', `firmware image ${c.firmwareId} is gone`);
    gate(image, c, approval);
    const failed = (await store.waveStateCounts(tx, id)).filter((r) => r.wave === c.currentWave && r.state === 'failed').reduce((a, r) => a + r.n, 0);
    return (await store.transitionCampaign(tx, id, ACTIONS.resume.from, 'running', { pause_reason: null, acked_failed: failed },
      { kind: 'campaign.resumed', actor, data: { wave: c.currentWave, acknowledgedFailures: failed } }))!;
  });
}

/** Aborted: devices not started are cancelled; returns the updates in flight, for the engine to cancel where it can. */
export async function abortCampaign(db: Db, id: number, actor: Actor): Promise<{ campaign: Campaign; inFlight: InFlight[] }> {
  return db.transaction((tx) => abortIn(tx, id, actor));
}

/** abortCampaign inside a transaction; `data` adds to its event (why, when something else aborts it). */
export async function abortIn(tx: Queryable, id: number, actor: Actor, data: Record<string, unknown> = {}): Promise<{ campaign: Campaign; inFlight: InFlight[] }> {
  const c = await store.getCampaign(tx, id, 'FOR UPDATE');
  refuse(c, id, 'abort');
  const { cancelled, inFlight } = await cancelNotStarted(tx, id);
  const campaign = await store.transitionCampaign(tx, id, ACTIONS.abort.from, 'aborted', { finished_at: new Date() },
    { kind: 'campaign.aborted', actor, data: { cancelled, inFlight: inFlight.length, ...data } });
  return { campaign: campaign!, inFlight };
}

/** A target as an operator reads it: what it asks, and the image's class every device must be of. */
export function describeTarget(t: CampaignTarget, hardwareClass: string): string {
  const parts = [`hardwareClass ${hardwareClass}`];
  if (t.tags?.length) parts.push(`tags ${t.tags.join(', ')}`);
  if (t.firmwareVersions?.length) parts.push(`firmwareVersions ${t.firmwareVersions.join(', ')}`);
  if (t.endpoints?.length) parts.push(`endpoints ${t.endpoints.slice(0, 5).join(', ')}${t.endpoints.length > 5 ? `, … (${t.endpoints.length})` : ''}`);
  return `(${parts.join('; ')})`;
}

export interface CampaignProgress extends Campaign {
  waves: Array<{ wave: number; devices: number; counts: WaveCounts }>;
  counts: WaveCounts & { total: number };
  byResult: Record<string, number>;
  retries: number;
  joinedLate: number;
  /** What the operator should know: a campaign started with no device (allowEmpty) says so while none has joined. */
  warnings: string[];
}

export async function campaignProgress(db: Db, id: number): Promise<CampaignProgress> {
  const c = await store.getCampaign(db, id);
  if (!c) throw new CampaignError('FERRY_CAMPAIGN_NOT_FOUND', `no campaign ${id}`);
  const rows = await store.waveStateCounts(db, id);
  const waves = Array.from({ length: c.policy.waves.length }, (_, i) => ({ wave: i + 1, devices: 0, counts: emptyCounts() }));
  const all = emptyCounts();
  for (const r of rows) {
    const w = waves[r.wave - 1];
    if (w) { w.counts[r.state] += r.n; w.devices += r.n; }
    all[r.state] += r.n;
  }
  const results = await store.resultCounts(db, id);
  const image = await getFirmware(db, c.firmwareId);
  const warnings = total(all) === 0 && (c.state === 'running' || c.state === 'paused')
    ? [`no device in this campaign: its target ${describeTarget(c.target, image?.hardwareClass ?? '?')} matched no registered device when it started; devices that register and match join it`]
    : [];
  return { ...c, waves, counts: { ...all, total: total(all) }, ...results, warnings };
}
