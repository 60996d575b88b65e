/**
 * The campaign driver: every tick it starts scheduled campaigns that are due and, for each live
 * one, records finished updates, takes back expired leases, lets matching newcomers join, asks
 * `decideTick` what to do and does it: claim devices and start their updates through the update
 * engine (one state machine per device update), let a wave soak, move to the next wave, pause on
 * the failure threshold (with an alert, and with autoRevert revert once the updates in flight have
 * finished), complete. Everything it knows lives in the database, so
 * a restarted node, or a second one, carries on where the others left.
 */
import type { AlertSink } from '../alerts/kinds.ts';
import type { Logger } from '../log.ts';
import { DeviceNotFoundError, HardwareClassMismatchError, UpdateInProgressError } from '../errors.ts';
import type { Alert } from '../store/alerts.ts';
import * as store from '../store/campaigns.ts';
import * as work from '../store/campaign-work.ts';
import type { Db } from '../store/db.ts';
import { getFirmware } from '../store/firmware.ts';
import type { Campaign, FirmwareImage } from '../store/rows.ts';
import { getUpdate } from '../store/updates.ts';
import * as actions from './campaign-actions.ts';
import { autoRevertAlert, missingPackages, revertCampaign, type Reverter, type RevertResult } from './campaign-revert.ts';
import { backoffSeconds, decideTick, deviceOutcome, emptyCounts, type TickDecision } from './campaign-decide.ts';
import type { UpdateEngine } from './engine.ts';
import type { ApprovalMode } from '../governance/release-rules.ts';

export interface CampaignAlert {
  kind: 'campaign.paused' | 'campaign.reverted';
  campaignId: number;
  message: string;
  data: object;
}

export interface CampaignDriverOptions {
  db: Db;
  engine: UpdateEngine;
  log: Logger;
  /** This node's name in leases (claimed_by) and device ownership. */
  nodeId: string;
  /** Between ticks, ms. */
  tickMs: number;
  /** How long a claim holds before another node may take it back (seconds). */
  leaseSeconds?: number;
  /** Where a campaign that pauses itself raises its alert (stored in the pause's transaction). */
  alerts?: AlertSink;
  /** Also told of each such alert, once committed (tests). */
  onAlert?: (a: CampaignAlert) => void;
  now?: () => Date;
  /** --release-approval: required (default): a campaign that is not testbed-only creates, starts and resumes with an approved image only. */
  releaseApproval?: ApprovalMode;
}

/** Object 5 res. 11 values (LwM2M 1.1). */
const SEVERITY = { critical: 0, mandatory: 1, optional: 2 } as const;

export class CampaignDriver {
  private readonly o: CampaignDriverOptions;
  private readonly now: () => Date;
  private timer: ReturnType<typeof setInterval> | undefined;
  /** Updates of aborted campaigns this node has called off (each once): update id → campaign id. */
  private readonly cancelling = new Map<number, number>();
  private running: Promise<void> | undefined;

  constructor(o: CampaignDriverOptions) {
    this.o = o;
    this.now = o.now ?? (() => new Date());
  }

  private get approval(): ApprovalMode {
    return this.o.releaseApproval ?? 'required';
  }

  start(): void {
    this.timer ??= setInterval(() => { void this.tickOnce(); }, this.o.tickMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One tick, unless one is under way (then that one's promise). */
  tickOnce(): Promise<void> {
    this.running ??= this.tick().catch((err: unknown) => {
      this.o.log.error({ err }, 'campaign tick failed');
    }).finally(() => { this.running = undefined; });
    return this.running;
  }

  // Operator actions (the API calls these).
  create(c: actions.NewCampaign, actor = 'api'): Promise<Campaign> { return actions.createCampaign(this.o.db, c, actor, this.approval); }
  progress(id: number): Promise<actions.CampaignProgress> { return actions.campaignProgress(this.o.db, id); }
  list(states?: Campaign['state'][], page: { limit?: number; afterId?: number } = {}): Promise<Campaign[]> { return store.listCampaigns(this.o.db, { ...page, ...(states ? { states } : {}) }); }

  /** Reverts a campaign (campaign-revert.ts): the revert campaigns start at once; a paused campaign's updates in flight are called off. */
  async revert(id: number, actor = 'api', user?: string): Promise<RevertResult> {
    return (await this.revertNow(id, { actor, user }, false))!;
  }

  private async revertNow(id: number, who: Reverter, pendingOnly: boolean): Promise<RevertResult | null> {
    const r = await revertCampaign(this.o.db, id, { ...who, approval: this.approval }, pendingOnly);
    if (!r) return null;
    this.cancelOwn(id, r.inFlight, true);
    this.o.log.info({ campaignId: id, actor: who.actor, campaigns: r.campaigns.map((c) => c.id), notRevertible: r.notRevertible.length }, 'campaign reverted');
    void this.tickOnce();
    return r;
  }

  async act(id: number, action: 'start' | 'pause' | 'resume' | 'abort', actor = 'api', reason?: string, allowEmpty?: boolean): Promise<Campaign> {
    const db = this.o.db;
    let c: Campaign;
    if (action === 'abort') {
      const { campaign, inFlight } = await actions.abortCampaign(db, id, actor);
      this.cancelOwn(id, inFlight, true);
      c = campaign;
    } else {
      c = action === 'start' ? await actions.startCampaign(db, id, actor, { allowEmpty: allowEmpty === true, approval: this.approval })
        : action === 'pause' ? await actions.pauseCampaign(db, id, actor, reason)
          : await actions.resumeCampaign(db, id, actor, this.approval);
    }
    this.o.log.info({ campaignId: id, action, state: c.state, actor }, 'campaign');
    if (c.state === 'running') void this.tickOnce();
    return c;
  }

  private async tick(): Promise<void> {
    for (const id of await store.dueCampaigns(this.o.db)) {
      // Scheduled: started as planned even with no device yet (its progress warns).
      await actions.startCampaign(this.o.db, id, 'engine', { allowEmpty: true, approval: this.approval }).then(
        () => this.o.log.info({ campaignId: id }, 'scheduled campaign started'),
        (err: unknown) => this.o.log.warn({ campaignId: id, err: err instanceof Error ? err.message : String(err) }, 'scheduled campaign not started'));
    }
    for (const id of await store.campaignsToTick(this.o.db)) await this.tickCampaign(id);
  }

  private async tickCampaign(id: number): Promise<void> {
    const db = this.o.db;
    let c = await store.getCampaign(db, id);
    const image = c ? await getFirmware(db, c.firmwareId) : null;
    if (!c || !image) return;
    await this.followFinished(c);
    for (const x of await work.expiredClaims(db, id)) {
      if (await work.reclaim(db, id, x.deviceId, x.startedUpdateId)) {
        this.o.log.info({ campaignId: id, deviceId: x.deviceId, updateId: x.startedUpdateId }, 'expired campaign claim taken back');
      }
    }
    if (c.state === 'aborted') this.cancelOwn(id, await work.inFlightUpdates(db, id), false);
    if (c.state === 'paused' && c.revertPending) await this.autoRevert(c);
    if (c.state !== 'running') return;
    const waveCount = c.policy.waves.length;
    for (const j of await store.addLateJoiners(db, c, image.hardwareClass, image.version, waveCount)) {
      this.o.log.info({ campaignId: id, deviceId: j.deviceId, state: j.state }, 'device joined the campaign');
    }
    // A few decisions a tick: a wave that ends may let the next start at once.
    for (let step = 0; step < 4 && c?.state === 'running'; step++) {
      const counts = Array.from({ length: waveCount + 1 }, emptyCounts);
      for (const r of await store.waveStateCounts(db, id)) if (counts[r.wave]) counts[r.wave]![r.state] += r.n;
      const d = decideTick({ ...c, waveCount, counts, now: this.now() });
      if (!await this.apply(c, image, d)) return;
      c = await store.getCampaign(db, id);
    }
  }

  /**
   * An aborted campaign's updates in flight are called off by the node holding each device's
   * registration (its commands reach the device from the address the device talks to): the node
   * that took the abort cancels its own and those of devices no node holds; every node's tick
   * cancels its own, so the others', and any left by a node that restarted, follow.
   */
  private cancelOwn(campaignId: number, inFlight: readonly work.InFlight[], orphansToo: boolean): void {
    const live = new Set(inFlight.map((f) => f.updateId));
    for (const [id, of] of this.cancelling) if (of === campaignId && !live.has(id)) this.cancelling.delete(id);
    for (const f of inFlight) {
      if (this.cancelling.has(f.updateId)) continue;
      if (f.ownerNode !== this.o.nodeId && !(orphansToo && f.ownerNode === null)) continue;
      this.cancelling.set(f.updateId, campaignId);
      this.o.engine.cancelUpdate(f.updateId, `campaign ${campaignId} aborted`);
    }
  }

  /** Does what the decision says; true when another decision may follow at once. */
  private async apply(c: Campaign, image: FirmwareImage, d: TickDecision): Promise<boolean> {
    const db = this.o.db;
    switch (d.kind) {
      case 'wait':
        return false;
      case 'claim': {
        const claimed = await work.claimDevices(db, {
          campaignId: c.id, upToWave: d.upToWave, limit: d.limit, concurrency: c.policy.concurrency,
          nodeId: this.o.nodeId, leaseSeconds: this.o.leaseSeconds ?? 30,
        });
        for (const device of claimed) await this.startDevice(c, image, device);
        return false;
      }
      case 'pause': {
        // autoRevert: a package already known missing is named in the pause's alert (and nothing is pending); otherwise the
        // revert runs once the updates in flight have finished (autoRevert below), and its outcome raises an alert of its own.
        const refused = c.policy.autoRevert ? await missingPackages(db, c) : null;
        const revert = !c.policy.autoRevert ? '' : refused === null ? '; it reverts once its updates in flight have finished' : `; the automatic revert could not run: ${refused}`;
        const alert: CampaignAlert = {
          kind: 'campaign.paused', campaignId: c.id, message: `campaign ${c.id} (${c.name}) paused itself: ${d.reason}${revert}`,
          data: { ...d.data, ...(c.policy.autoRevert ? { autoRevert: refused === null ? 'reverting' : refused } : {}) },
        };
        let stored: Alert | undefined;
        const paused = await db.transaction(async (tx) => {
          const p = await store.transitionCampaign(tx, c.id, ['running'], 'paused', { pause_reason: d.reason, revert_pending: c.policy.autoRevert === true && refused === null },
            { kind: 'campaign.auto-paused', actor: 'engine', data: { reason: d.reason, ...d.data } });
          if (p && this.o.alerts) stored = await this.o.alerts.storeIn(tx, alert);
          return p;
        });
        if (paused) {
          this.o.log.warn({ campaignId: c.id, ...d.data }, d.reason);
          if (stored) this.o.alerts!.published(stored);
          this.o.onAlert?.(alert);
        }
        return false;
      }
      case 'complete':
        await db.transaction((tx) => store.transitionCampaign(tx, c.id, ['running'], 'completed', { finished_at: this.now() },
          { kind: 'campaign.completed', actor: 'engine', data: { wave: c.currentWave } }, c.currentWave));
        this.o.log.info({ campaignId: c.id }, 'campaign completed');
        return false;
      case 'wave-done':
        await db.transaction((tx) => store.transitionCampaign(tx, c.id, ['running'], 'running', { wave_done_at: this.now() },
          { kind: 'campaign.wave-done', actor: 'engine', data: { wave: d.wave, soakSeconds: c.policy.soakSeconds } }, d.wave));
        return false;
      case 'advance': {
        const moved = await db.transaction((tx) => store.transitionCampaign(tx, c.id, ['running'], 'running',
          { current_wave: d.to, wave_done_at: null, acked_failed: 0 },
          { kind: 'campaign.wave-started', actor: 'engine', data: { wave: d.to } }, d.to - 1));
        if (moved) this.o.log.info({ campaignId: c.id, wave: d.to }, 'campaign wave started');
        return moved !== null;
      }
    }
  }

  /**
   * The revert of a campaign that paused itself with autoRevert, once none of its updates is in
   * flight, and its alert: the campaigns started, or why it failed after all (it stays paused).
   */
  private async autoRevert(c: Campaign): Promise<void> {
    if ((await store.waveStateCounts(this.o.db, c.id)).some((r) => (r.state === 'claimed' || r.state === 'in_progress') && r.n > 0)) return;
    let alert: CampaignAlert;
    try {
      const r = await this.revertNow(c.id, { actor: 'engine' }, true);
      if (!r) return;
      alert = autoRevertAlert(c, r);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      // Tried once: the alert says why; after fixing it (uploading a package) an operator reverts.
      if (!await store.clearRevertPending(this.o.db, c.id)) return;
      this.o.log.warn({ campaignId: c.id, err: reason }, 'automatic revert failed');
      alert = autoRevertAlert(c, reason);
    }
    await this.o.alerts?.raise(alert);
    this.o.onAlert?.(alert);
  }

  /** A claimed device: skipped when already on the version; otherwise its update, through the engine. */
  private async startDevice(c: Campaign, image: FirmwareImage, device: work.Claimed): Promise<void> {
    const db = this.o.db;
    if (device.firmwareVersion === image.version) {
      // Never tried: skipped. Tried before (deferred, or failed on a timeout): it applied the image after all.
      const tried = device.was === 'deferred' || device.attempts > 1;
      await work.recordOutcome(db, c.id, device.deviceId, 'claimed', tried
        ? { state: 'succeeded', reason: `on ${image.version} since an earlier attempt`, attemptsDelta: -1 }
        : { state: 'skipped', reason: `already on ${image.version}`, attemptsDelta: -1 });
      return;
    }
    let updateId: number;
    try {
      updateId = (await this.o.engine.requestUpdate(device.endpoint, image.id, {
        campaignId: c.id, severity: SEVERITY[c.policy.severity], actor: 'engine',
        ...(c.policy.delivery === 'device' ? {} : { delivery: c.policy.delivery }),
      })).id;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (err instanceof UpdateInProgressError && (await getUpdate(db, err.updateId))?.campaignId === c.id) {
        updateId = err.updateId; // this campaign's own update, started before a crash: follow it, never start another
      } else if (err instanceof DeviceNotFoundError || err instanceof HardwareClassMismatchError) {
        await work.recordOutcome(db, c.id, device.deviceId, 'claimed', { state: 'failed', reason: message });
        return;
      } else {
        // Busy with a one-off update, or the database hiccuped: try again later; this claim used no attempt.
        const retryInSeconds = backoffSeconds(c.policy.retries, 1);
        await work.recordOutcome(db, c.id, device.deviceId, 'claimed', { state: 'pending', retryInSeconds, reason: message, attemptsDelta: -1 });
        this.o.log.info({ campaignId: c.id, endpoint: device.endpoint, reason: message, retryInSeconds }, 'campaign device not started');
        return;
      }
    }
    if (!await work.markStarted(db, c.id, device.deviceId, this.o.nodeId, updateId)) {
      // The claim was lost meanwhile (aborted, or the lease taken back): the update must not run unfollowed.
      const row = (await store.campaignDevices(db, c.id)).find((r) => r.deviceId === device.deviceId);
      if (row?.state !== 'in_progress' || row.updateId !== updateId) this.o.engine.cancelUpdate(updateId, 'campaign claim lost');
    }
  }

  /** in_progress devices whose update finished: succeeded, failed for good, or due for a retry. */
  private async followFinished(c: Campaign): Promise<void> {
    const live = c.state === 'running' || c.state === 'paused';
    for (const f of await work.finishedUpdates(this.o.db, c.id)) {
      let o = deviceOutcome(f, f.attempts, c.policy.retries, f.maxDeferSeconds);
      if (!live && (o.state === 'pending' || o.state === 'deferred')) o = { state: 'cancelled' };
      const outcome: work.Outcome = {
        state: o.state, resultCode: f.resultCode, reason: f.reason,
        ...('retryInSeconds' in o ? { retryInSeconds: o.retryInSeconds } : {}),
        ...(o.state === 'deferred' ? { attemptsDelta: -1 } : {}),
      };
      if (await work.recordOutcome(this.o.db, c.id, f.deviceId, 'in_progress', outcome, f.updateId)) {
        this.o.log.info({ campaignId: c.id, deviceId: f.deviceId, updateId: f.updateId, outcome: o.state, resultCode: f.resultCode }, 'campaign device');
      }
    }
  }
}
