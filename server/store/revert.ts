/** What a campaign's revert reads: its image (deleted or not), the devices it updated, the images that could take them back. */
import type { Candidate, UpdatedDevice } from '../fota/revert-decide.ts';
import type { Queryable } from './db.ts';
import { camelRow } from './rows.ts';

/** The campaign's image as it was: class, version and sequence number stay after a deletion. */
export async function imageOf(q: Queryable, firmwareId: number): Promise<{ hardwareClass: string; version: string; sequence: number | null }> {
  const res = await q.query('SELECT hardware_class, version, sequence FROM firmware_images WHERE id = $1', [firmwareId]);
  return camelRow(res.rows[0]!);
}

/**
 * The campaign's devices whose update succeeded, with what they ran before it (from the update
 * row), what they run now, and the highest sequence number of the images they were ever updated with.
 */
export async function updatedDevices(q: Queryable, campaignId: number): Promise<UpdatedDevice[]> {
  const res = await q.query(
    `SELECT cd.device_id, d.endpoint, d.firmware_version AS current_version, u.from_version, u.from_firmware_id,
       (SELECT max(f.sequence) FROM device_updates x JOIN firmware_images f ON f.id = x.firmware_id
        WHERE x.device_id = cd.device_id AND x.state = 'succeeded') AS ran_sequence
     FROM campaign_devices cd JOIN devices d ON d.id = cd.device_id LEFT JOIN device_updates u ON u.id = cd.update_id
     WHERE cd.campaign_id = $1 AND cd.state = 'succeeded' ORDER BY cd.device_id`, [campaignId]);
  return res.rows.map((r) => camelRow<UpdatedDevice>(r));
}

/** Live images of the class at these versions. */
export async function liveImages(q: Queryable, hardwareClass: string, versions: readonly string[]): Promise<Candidate[]> {
  if (versions.length === 0) return [];
  const res = await q.query(
    `SELECT id, version, sequence, reissue_of FROM firmware_images
     WHERE hardware_class = $1 AND version = ANY($2::text[]) AND deleted_at IS NULL ORDER BY id`, [hardwareClass, versions]);
  return res.rows.map((r) => camelRow<Candidate>(r));
}

/** Revert campaigns of this campaign not yet completed or aborted. */
export async function liveReverts(q: Queryable, campaignId: number): Promise<Array<{ id: number; state: string }>> {
  const res = await q.query<{ id: number; state: string }>(
    `SELECT id, state FROM campaigns WHERE reverts = $1 AND state IN ('draft', 'scheduled', 'running', 'paused') ORDER BY id`, [campaignId]);
  return res.rows;
}
