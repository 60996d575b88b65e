/**
 * Stopping releases: revoked images start no new update, and the campaigns rolling them out that
 * are running (or scheduled) pause, each with a critical campaign.paused alert. One transaction
 * moves the images to `revoked` (a firmware.state_changed event each, with who and why) and pauses
 * the campaigns; the alerts are announced once it committed. An image revoked already is left as
 * it is. Re-issues of a revoked image (its payload signed anew) are revoked with it. A revoked
 * signing key revokes the images it signed through here too.
 */
import type { AlertSink } from '../alerts/kinds.ts';
import type { Alert } from '../store/alerts.ts';
import * as campaigns from '../store/campaigns.ts';
import type { Db } from '../store/db.ts';
import { recordEvent } from '../store/events.ts';

export interface Halt {
  firmwareIds: readonly number[];
  reason: string;
  /** Who: 'token:<name>' through the API. */
  actor: string;
  /** The user behind the actor, named in the events. */
  user?: string | undefined;
}

export interface Halted {
  /** Images moved to revoked now. */
  revoked: Array<{ id: number; version: string; hardwareClass: string; from: string }>;
  /** Campaigns paused now. */
  paused: number[];
}

export async function revokeReleases(db: Db, alerts: AlertSink | undefined, h: Halt): Promise<Halted> {
  if (h.firmwareIds.length === 0) return { revoked: [], paused: [] };
  const stored: Alert[] = [];
  const halted = await db.transaction(async (tx) => {
    // A re-issue is the same firmware signed anew: it goes with its original.
    const lineage = await tx.query<{ id: string | number }>(
      'SELECT id FROM firmware_images WHERE id = ANY($1::bigint[]) OR reissue_of = ANY($1::bigint[])', [h.firmwareIds]);
    const firmwareIds = [...new Set([...h.firmwareIds, ...lineage.rows.map((r) => Number(r.id))])];
    const res = await tx.query<{ id: string | number; version: string; hardware_class: string; from: string }>(
      `WITH old AS (SELECT id, state FROM firmware_images WHERE id = ANY($1::bigint[]) AND state <> 'revoked' AND deleted_at IS NULL FOR UPDATE)
       UPDATE firmware_images f SET state = 'revoked', state_changed_at = now() FROM old WHERE f.id = old.id
       RETURNING f.id, f.version, f.hardware_class, old.state AS "from"`, [firmwareIds]);
    const revoked = res.rows.map((r) => ({ id: Number(r.id), version: r.version, hardwareClass: r.hardware_class, from: r.from }));
    for (const r of revoked) {
      await recordEvent(tx, {
        kind: 'firmware.state_changed', actor: h.actor,
        data: { firmwareId: r.id, version: r.version, hardwareClass: r.hardwareClass, from: r.from, to: 'revoked', reason: h.reason, ...(h.user ? { user: h.user } : {}) },
      });
    }
    const live = await tx.query<{ id: string | number; name: string; firmware_id: string | number }>(
      "SELECT id, name, firmware_id FROM campaigns WHERE firmware_id = ANY($1::bigint[]) AND state IN ('running', 'scheduled') ORDER BY id FOR UPDATE",
      [firmwareIds]);
    const paused: number[] = [];
    for (const c of live.rows) {
      const id = Number(c.id);
      const reason = `firmware image ${c.firmware_id} was revoked: ${h.reason}`;
      const moved = await campaigns.transitionCampaign(tx, id, ['running', 'scheduled'], 'paused', { pause_reason: reason },
        { kind: 'campaign.paused', actor: h.actor, data: { reason, firmwareId: Number(c.firmware_id) } });
      if (!moved) continue;
      paused.push(id);
      if (alerts) {
        stored.push(await alerts.storeIn(tx, {
          kind: 'campaign.paused', campaignId: id, message: `campaign ${id} (${c.name}) paused: ${reason}`,
          data: { firmwareId: Number(c.firmware_id), reason },
        }));
      }
    }
    return { revoked, paused };
  });
  for (const a of stored) alerts!.published(a);
  return halted;
}
