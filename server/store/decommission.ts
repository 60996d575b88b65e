/**
 * Decommissioning a device (migration 0020): taken out of the fleet for good, in one transaction.
 * Its row stays (updates, campaign memberships and the audit log point to it) with status
 * 'decommissioned'; its active update is cancelled, it leaves the campaigns it is a live member
 * of, and its DTLS credentials are deleted. A Register under its endpoint is refused from then on
 * (registerMany). Ending its DTLS session and the caches of its keys is the caller's, after commit.
 */
import { DeviceNotFoundError, FerryError } from '../errors.ts';
import type { UpdateState } from '../fota/model.ts';
import { deleteCredentials } from './credentials.ts';
import type { Db, Queryable } from './db.ts';
import { recordEvent } from './events.ts';
import { FINAL_STATES_SQL } from './rows.ts';
import { transitionIn } from './updates.ts';

export interface DecommissionRequest {
  endpoint: string;
  reason: string;
  /** `token:<name>`, and the user behind the token. */
  actor: string;
  user: string;
}

export interface Decommissioned {
  deviceId: number;
  /** The update it had under way or queued, now cancelled; null: none. */
  cancelledUpdate: number | null;
  /** The live campaigns it was taken out of. */
  campaigns: number[];
  /** The PSK identities deleted (current and previous key): their DTLS sessions are to end. */
  identities: string[];
}

const REASON = 'device decommissioned';

/** Refuses (FERRY_DEVICE_DECOMMISSIONED) when any of the endpoints is decommissioned: it takes no credentials nor update. */
export async function refuseDecommissioned(q: Queryable, endpoints: readonly string[], what: string): Promise<void> {
  const res = await q.query<{ endpoint: string }>("SELECT endpoint FROM devices WHERE endpoint = ANY($1::text[]) AND status = 'decommissioned' ORDER BY endpoint LIMIT 5", [endpoints]);
  if (res.rows.length > 0) throw new FerryError('FERRY_DEVICE_DECOMMISSIONED', `device ${res.rows.map((r) => r.endpoint).join(', ')} is decommissioned: it takes no ${what}`);
}

export async function decommissionDevice(db: Db, r: DecommissionRequest): Promise<Decommissioned> {
  return db.transaction(async (tx) => {
    const found = await tx.query<{ id: string | number; status: string }>('SELECT id, status FROM devices WHERE endpoint = $1 FOR UPDATE', [r.endpoint]);
    const row = found.rows[0];
    if (!row) throw new DeviceNotFoundError(`no device ${r.endpoint}`);
    if (row.status === 'decommissioned') throw new FerryError('FERRY_DEVICE_DECOMMISSIONED', `device ${r.endpoint} is decommissioned already`);
    const deviceId = Number(row.id);
    await tx.query(
      `UPDATE devices SET status = 'decommissioned', registration_id = NULL, decommissioned_at = now(), decommission_reason = $2 WHERE id = $1`,
      [deviceId, r.reason]);
    // The device is no longer spoken to, so an update under way is ended here rather than through /5/0/10.
    const active = await tx.query<{ id: string | number; state: string }>(
      `SELECT id, state FROM device_updates WHERE device_id = $1 AND state NOT IN (${FINAL_STATES_SQL}) FOR UPDATE`, [deviceId]);
    const update = active.rows[0];
    if (update) {
      await transitionIn(tx, Number(update.id), {
        to: 'cancelled', from: [update.state as UpdateState], reason: REASON, actor: r.actor, data: { on: 'decommission', user: r.user },
      });
    }
    const left = await tx.query<{ campaign_id: string | number }>(
      `UPDATE campaign_devices SET state = CASE WHEN state IN ('pending', 'deferred', 'claimed', 'in_progress') THEN 'cancelled' ELSE state END,
         reason = CASE WHEN state IN ('pending', 'deferred', 'claimed', 'in_progress') THEN $2 ELSE reason END,
         active = false, claimed_by = NULL, claimed_until = NULL, next_attempt_at = NULL
       WHERE device_id = $1 AND active RETURNING campaign_id`, [deviceId, REASON]);
    const campaigns = left.rows.map((c) => Number(c.campaign_id)).sort((a, b) => a - b);
    const keys = await tx.query<{ identity: string; previous_identity: string | null }>(
      'SELECT identity, previous_identity FROM device_credentials WHERE device_id = $1', [deviceId]);
    const identities = keys.rows.flatMap((k) => [k.identity, ...(k.previous_identity === null ? [] : [k.previous_identity])]);
    if (identities.length > 0) {
      await deleteCredentials(tx, deviceId);
      await recordEvent(tx, { kind: 'credentials.deleted', actor: r.actor, deviceId, endpoint: r.endpoint, data: { user: r.user, reason: REASON } });
    }
    await recordEvent(tx, {
      kind: 'device.decommissioned', actor: r.actor, deviceId, endpoint: r.endpoint,
      data: {
        user: r.user, reason: r.reason, status: row.status, cancelledUpdate: update ? Number(update.id) : null,
        campaigns, credentialsDeleted: identities.length > 0,
      },
    });
    return { deviceId, cancelledUpdate: update ? Number(update.id) : null, campaigns, identities };
  });
}
