/**
 * The work of a running campaign, claim-safe across nodes sharing one database: devices are
 * claimed with FOR UPDATE SKIP LOCKED under a lease (claimed_by, claimed_until); a claim becomes
 * in_progress once its update row exists; expired leases are taken back; finished updates become
 * the device's outcome. Every change is guarded on the row's state, so a stale node changes nothing.
 */
import type { Db, Queryable } from './db.ts';
import { recordEvent, recordEvents } from './events.ts';
import type { CampaignDeviceState, UpdateState } from '../fota/model.ts';
import { FINAL_STATES_SQL } from './rows.ts';

export interface Claimed {
  deviceId: number;
  endpoint: string;
  firmwareVersion: string | null;
  wave: number;
  attempts: number;
  /** The state it was claimed from: pending, or deferred. */
  was: 'pending' | 'deferred';
}

/**
 * Claims up to `limit` devices of waves ≤ `upToWave` that are due, registered and owned by this
 * node (or by none), never past the concurrency cap. None while the campaign's image is revoked;
 * a testbed campaign first skips its devices that are no longer marked testbed. The campaign row is locked (SKIP LOCKED) for
 * the count, so two nodes claiming at once take turns instead of both filling the cap.
 */
export async function claimDevices(db: Db, c: {
  campaignId: number; upToWave: number; limit: number; concurrency: number; nodeId: string; leaseSeconds: number;
}): Promise<Claimed[]> {
  return db.transaction(async (tx) => {
    const locked = await tx.query<{ testbed: boolean; image_state: string }>(
      `SELECT c.testbed, f.state AS image_state FROM campaigns c JOIN firmware_images f ON f.id = c.firmware_id
       WHERE c.id = $1 AND c.state = 'running' FOR UPDATE OF c SKIP LOCKED`, [c.campaignId]);
    const campaign = locked.rows[0];
    // A revoked image starts no update (its campaigns are being paused, governance/halt.ts).
    if (!campaign || campaign.image_state === 'revoked') return [];
    if (campaign.testbed) await skipUnmarked(tx, c.campaignId);
    const flight = await tx.query<{ n: number }>(
      `SELECT count(*)::integer AS n FROM campaign_devices WHERE campaign_id = $1 AND state IN ('claimed', 'in_progress')`, [c.campaignId]);
    const n = Math.min(c.limit, c.concurrency - (flight.rows[0]?.n ?? 0));
    if (n <= 0) return [];
    const res = await tx.query<{ device_id: number; endpoint: string; firmware_version: string | null; wave: number; attempts: number; was: 'pending' | 'deferred' }>(
      `UPDATE campaign_devices cd SET state = 'claimed', claimed_by = $3, claimed_until = now() + make_interval(secs => $4::integer),
         attempts = cd.attempts + 1
       FROM (SELECT x.device_id, x.state AS was, d.endpoint, d.firmware_version FROM campaign_devices x JOIN devices d ON d.id = x.device_id
             WHERE x.campaign_id = $1 AND x.wave <= $2 AND x.state IN ('pending', 'deferred')
               AND (x.next_attempt_at IS NULL OR x.next_attempt_at <= now())
               AND d.status = 'registered' AND (d.owner_node IS NULL OR d.owner_node = $3)
             ORDER BY x.wave, x.device_id LIMIT $5 FOR UPDATE OF x SKIP LOCKED) p
       WHERE cd.campaign_id = $1 AND cd.device_id = p.device_id
       RETURNING cd.device_id, p.endpoint, p.firmware_version, cd.wave, cd.attempts, p.was`,
      [c.campaignId, c.upToWave, c.nodeId, c.leaseSeconds, n]);
    const claimed = res.rows.map((r) => ({ deviceId: r.device_id, endpoint: r.endpoint, firmwareVersion: r.firmware_version, wave: r.wave, attempts: r.attempts, was: r.was }));
    await recordEvents(tx, claimed.map((d) => ({
      kind: 'campaign.device-claimed', deviceId: d.deviceId, data: { campaignId: c.campaignId, node: c.nodeId, wave: d.wave, attempt: d.attempts },
    })));
    return claimed;
  });
}

/** A testbed campaign's devices not started yet that are no longer marked testbed are skipped. */
async function skipUnmarked(q: Queryable, campaignId: number): Promise<void> {
  const reason = 'no longer a testbed device';
  const res = await q.query<{ device_id: number }>(
    `UPDATE campaign_devices cd SET state = 'skipped', active = false, claimed_by = NULL, claimed_until = NULL, next_attempt_at = NULL, reason = $2
     FROM devices d WHERE d.id = cd.device_id AND cd.campaign_id = $1 AND cd.state IN ('pending', 'deferred') AND NOT d.testbed
     RETURNING cd.device_id`, [campaignId, reason]);
  await recordEvents(q, res.rows.map((r) => ({ kind: 'campaign.device', deviceId: r.device_id, data: { campaignId, state: 'skipped', reason } })));
}

/** The claim's update exists: in_progress, following update `updateId`. False when the claim was lost. */
export async function markStarted(db: Db, campaignId: number, deviceId: number, nodeId: string | null, updateId: number): Promise<boolean> {
  const res = await db.query(
    `UPDATE campaign_devices SET state = 'in_progress', update_id = $4, claimed_until = NULL
     WHERE campaign_id = $1 AND device_id = $2 AND state = 'claimed' AND ($3::text IS NULL OR claimed_by = $3)`,
    [campaignId, deviceId, nodeId, updateId]);
  return res.rowCount > 0;
}

export interface Outcome {
  state: CampaignDeviceState;
  /** Due again in this many seconds (pending, deferred). */
  retryInSeconds?: number;
  resultCode?: number | null;
  reason?: string | null;
  /** −1 gives an attempt back (a deferral, a claim that never started). */
  attemptsDelta?: number;
}

/**
 * A device's row leaves `from` (guarded: also on `updateId` when given) for the outcome, with a
 * campaign.device event. False when the row had moved on (another node got there first).
 */
export async function recordOutcome(db: Db, campaignId: number, deviceId: number, from: CampaignDeviceState, o: Outcome, updateId?: number): Promise<boolean> {
  return db.transaction(async (tx) => {
    const res = await tx.query(
      `UPDATE campaign_devices SET state = $4, attempts = GREATEST(attempts + $5, 0),
         next_attempt_at = CASE WHEN $6::integer IS NULL THEN NULL ELSE now() + make_interval(secs => $6::integer) END,
         result_code = COALESCE($7, result_code), reason = COALESCE($8, reason), claimed_by = NULL, claimed_until = NULL,
         active = active AND $4 <> 'skipped'
       WHERE campaign_id = $1 AND device_id = $2 AND state = $3 AND ($9::bigint IS NULL OR update_id = $9)`,
      [campaignId, deviceId, from, o.state, o.attemptsDelta ?? 0, o.retryInSeconds ?? null, o.resultCode ?? null, o.reason ?? null, updateId ?? null]);
    if (res.rowCount === 0) return false;
    await recordEvent(tx, {
      kind: 'campaign.device', deviceId, updateId: updateId ?? null,
      data: { campaignId, state: o.state, ...(o.resultCode != null ? { resultCode: o.resultCode } : {}), ...(o.reason ? { reason: o.reason } : {}),
        ...(o.retryInSeconds !== undefined ? { retryInSeconds: o.retryInSeconds } : {}) },
    });
    return true;
  });
}

/** in_progress devices whose update has finished. */
export async function finishedUpdates(q: Queryable, campaignId: number): Promise<Array<{
  deviceId: number; attempts: number; updateId: number; state: UpdateState; resultCode: number | null; reason: string | null; maxDeferSeconds: number | null;
}>> {
  const res = await q.query<{ device_id: number; attempts: number; update_id: number; state: UpdateState; result_code: number | null; reason: string | null; max_defer_seconds: number | null }>(
    `SELECT cd.device_id, cd.attempts, cd.update_id, u.state, u.result_code, u.reason, u.max_defer_seconds
     FROM campaign_devices cd JOIN device_updates u ON u.id = cd.update_id
     WHERE cd.campaign_id = $1 AND cd.state = 'in_progress' AND u.state IN (${FINAL_STATES_SQL}) ORDER BY cd.device_id`, [campaignId]);
  return res.rows.map((r) => ({ deviceId: r.device_id, attempts: r.attempts, updateId: r.update_id, state: r.state, resultCode: r.result_code, reason: r.reason, maxDeferSeconds: r.max_defer_seconds }));
}

/**
 * Claims whose lease ran out (their node died, or stalled): with the update the claim started,
 * if it got that far (a device_updates row of this campaign newer than the last one followed).
 */
export async function expiredClaims(q: Queryable, campaignId: number): Promise<Array<{ deviceId: number; startedUpdateId: number | null }>> {
  const res = await q.query<{ device_id: number; started: number | null }>(
    `SELECT cd.device_id, (SELECT max(u.id) FROM device_updates u WHERE u.campaign_id = cd.campaign_id AND u.device_id = cd.device_id
                             AND u.id > COALESCE(cd.update_id, 0)) AS started
     FROM campaign_devices cd WHERE cd.campaign_id = $1 AND cd.state = 'claimed' AND cd.claimed_until < now() ORDER BY cd.device_id`, [campaignId]);
  return res.rows.map((r) => ({ deviceId: r.device_id, startedUpdateId: r.started }));
}

/** Takes an expired claim back: in_progress on the update it started, or pending again. */
export async function reclaim(db: Db, campaignId: number, deviceId: number, startedUpdateId: number | null): Promise<boolean> {
  const res = await db.query(
    `UPDATE campaign_devices SET claimed_by = NULL, claimed_until = NULL,
       state = CASE WHEN $3::bigint IS NULL THEN 'pending' ELSE 'in_progress' END,
       update_id = COALESCE($3, update_id), attempts = CASE WHEN $3::bigint IS NULL THEN GREATEST(attempts - 1, 0) ELSE attempts END
     WHERE campaign_id = $1 AND device_id = $2 AND state = 'claimed' AND claimed_until < now()`,
    [campaignId, deviceId, startedUpdateId]);
  return res.rowCount > 0;
}

/** Abort: devices not started are cancelled; returns the active updates of the in-flight ones. */
export async function cancelNotStarted(q: Queryable, campaignId: number): Promise<{ cancelled: number; inFlight: InFlight[] }> {
  const res = await q.query(
    `UPDATE campaign_devices SET state = 'cancelled', claimed_by = NULL, claimed_until = NULL, next_attempt_at = NULL, reason = 'campaign aborted'
     WHERE campaign_id = $1 AND state IN ('pending', 'deferred', 'claimed')`, [campaignId]);
  return { cancelled: res.rowCount, inFlight: await inFlightUpdates(q, campaignId) };
}

/** An in-flight device's active update, and the node holding the device's registration (null: none known). */
export interface InFlight { updateId: number; ownerNode: string | null }

export async function inFlightUpdates(q: Queryable, campaignId: number): Promise<InFlight[]> {
  const res = await q.query<{ update_id: number; owner_node: string | null }>(
    `SELECT cd.update_id, d.owner_node FROM campaign_devices cd JOIN device_updates u ON u.id = cd.update_id JOIN devices d ON d.id = cd.device_id
     WHERE cd.campaign_id = $1 AND cd.state = 'in_progress' AND u.state NOT IN (${FINAL_STATES_SQL}) ORDER BY 1`, [campaignId]);
  return res.rows.map((r) => ({ updateId: r.update_id, ownerNode: r.owner_node }));
}
