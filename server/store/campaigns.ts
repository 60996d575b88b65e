/**
 * Campaigns and their devices. Each change of a campaign's state is one transaction with its
 * event (kind campaign.*, the campaign id in data): the audit log.
 */
import type { Db, Queryable } from './db.ts';
import { recordEvent, type EventInput } from './events.ts';
import type { CampaignDeviceState, CampaignPolicy, CampaignState } from '../fota/model.ts';
import { camelRow, type Campaign, type CampaignTarget } from './rows.ts';

const COLUMNS = `id, name, firmware_id, target, policy, state, current_wave, wave_done_at, acked_failed, pause_reason,
  start_at, created_by, created_at, started_at, finished_at, reverts, revert_of_release, revert_pending, testbed`;
const LIVE: readonly CampaignState[] = ['running', 'paused'];

const toCampaign = (row: Record<string, unknown>): Campaign => camelRow<Campaign>(row);

type Actor = NonNullable<EventInput['actor']>;

export interface NewCampaignRow {
  name: string; firmwareId: number; target: CampaignTarget; policy: CampaignPolicy; startAt: Date | null; actor: Actor;
  /** Testbed-only: only devices marked testbed take part. */
  testbed?: boolean;
  /** A revert campaign: the campaign it undoes and the version it takes devices back to. */
  reverts?: { campaignId: number; release: string };
}

export async function createCampaign(db: Db, c: NewCampaignRow): Promise<Campaign> {
  return db.transaction((tx) => insertCampaign(tx, c));
}

/** createCampaign inside a transaction: the row and its campaign.created event. */
export async function insertCampaign(q: Queryable, c: NewCampaignRow): Promise<Campaign> {
  const res = await q.query(
    `INSERT INTO campaigns (name, firmware_id, target, policy, state, start_at, created_by, reverts, revert_of_release, testbed)
     VALUES ($1, $2, $3::jsonb, $4::jsonb, $5, $6, $7, $8, $9, $10) RETURNING ${COLUMNS}`,
    [c.name, c.firmwareId, JSON.stringify(c.target), JSON.stringify(c.policy), c.startAt ? 'scheduled' : 'draft', c.startAt, c.actor,
      c.reverts?.campaignId ?? null, c.reverts?.release ?? null, c.testbed ?? false]);
  const campaign = toCampaign(res.rows[0]!);
  await recordEvent(q, {
    kind: 'campaign.created', actor: c.actor,
    data: {
      campaignId: campaign.id, name: c.name, firmwareId: c.firmwareId, target: c.target, policy: c.policy, state: campaign.state, testbed: c.testbed ?? false,
      ...(c.reverts ? { reverts: c.reverts.campaignId } : {}),
    },
  });
  return campaign;
}

export async function getCampaign(q: Queryable, id: number, lock = ''): Promise<Campaign | null> {
  const res = await q.query(`SELECT ${COLUMNS} FROM campaigns WHERE id = $1 ${lock}`, [id]);
  return res.rows[0] ? toCampaign(res.rows[0]) : null;
}

export async function listCampaigns(q: Queryable, filter: { states?: readonly CampaignState[]; limit?: number; afterId?: number }): Promise<Campaign[]> {
  const res = await q.query(
    `SELECT ${COLUMNS} FROM campaigns WHERE ($1::text[] IS NULL OR state = ANY($1::text[])) AND id > $3 ORDER BY id LIMIT $2`,
    [filter.states ?? null, filter.limit ?? 100, filter.afterId ?? 0]);
  return res.rows.map(toCampaign);
}

/** Scheduled campaigns whose start time has come. */
export async function dueCampaigns(q: Queryable): Promise<number[]> {
  const res = await q.query<{ id: number }>(`SELECT id FROM campaigns WHERE state = 'scheduled' AND start_at <= now() ORDER BY id`);
  return res.rows.map((r) => r.id);
}

/** Campaigns with work to follow: running or paused, and aborted ones with updates still in flight. */
export async function campaignsToTick(q: Queryable): Promise<number[]> {
  const res = await q.query<{ id: number }>(
    `SELECT id FROM campaigns c WHERE state IN ('running', 'paused')
        OR (state = 'aborted' AND EXISTS (SELECT 1 FROM campaign_devices d WHERE d.campaign_id = c.id AND d.state = 'in_progress'))
     ORDER BY id`);
  return res.rows.map((r) => r.id);
}

/** Where a device matches a target: $1 hardware class, $2 tags, $3 versions, $4 endpoints, $5 testbed devices only. */
const MATCH = `d.status = 'registered' AND d.hardware_class = $1
  AND d.tags @> COALESCE($2::text[], '{}') AND ($3::text[] IS NULL OR d.firmware_version = ANY($3::text[]))
  AND ($4::text[] IS NULL OR d.endpoint = ANY($4::text[])) AND (d.testbed OR NOT $5::boolean)`;
const matchParams = (t: CampaignTarget, hardwareClass: string, testbedOnly: boolean): unknown[] =>
  [hardwareClass, t.tags ?? null, t.firmwareVersions ?? null, t.endpoints ?? null, testbedOnly];

/** The registered devices a target matches (only testbed ones for a testbed campaign), in id order (the fixed order waves are cut from). */
export async function matchingDevices(q: Queryable, t: CampaignTarget, hardwareClass: string, testbedOnly = false): Promise<Array<{ id: number; endpoint: string; firmwareVersion: string | null }>> {
  const res = await q.query<{ id: number; endpoint: string; firmware_version: string | null }>(
    `SELECT d.id, d.endpoint, d.firmware_version FROM devices d WHERE ${MATCH} ORDER BY d.id`, matchParams(t, hardwareClass, testbedOnly));
  return res.rows.map((r) => ({ id: r.id, endpoint: r.endpoint, firmwareVersion: r.firmware_version }));
}

/** Of these devices, the ones in another running (or paused) campaign. */
export async function busyDevices(q: Queryable, deviceIds: readonly number[], campaignId: number): Promise<Array<{ endpoint: string; campaignId: number }>> {
  const res = await q.query<{ endpoint: string; campaign_id: number }>(
    `SELECT d.endpoint, cd.campaign_id FROM campaign_devices cd JOIN devices d ON d.id = cd.device_id
     WHERE cd.active AND cd.device_id = ANY($1::bigint[]) AND cd.campaign_id <> $2 ORDER BY d.id`, [deviceIds, campaignId]);
  return res.rows.map((r) => ({ endpoint: r.endpoint, campaignId: r.campaign_id }));
}

/** Fixes the membership at start: one row a device, with its wave; skipped ones do not hold the device. */
export async function insertMembers(q: Queryable, campaignId: number, members: ReadonlyArray<{ deviceId: number; wave: number; skipped: boolean }>): Promise<void> {
  if (members.length === 0) return;
  await q.query(
    `INSERT INTO campaign_devices (campaign_id, device_id, wave, state, active)
     SELECT $1, d, w, CASE WHEN s THEN 'skipped' ELSE 'pending' END, NOT s
     FROM unnest($2::bigint[], $3::integer[], $4::boolean[]) AS t(d, w, s)`,
    [campaignId, members.map((m) => m.deviceId), members.map((m) => m.wave), members.map((m) => m.skipped)]);
}

/**
 * Devices that match the target and joined the fleet while the campaign runs: they join its last
 * wave (skipped when already on the image's version), unless another campaign holds them. A
 * testbed campaign takes only devices marked testbed.
 */
export async function addLateJoiners(db: Db, c: Campaign, hardwareClass: string, version: string, lastWave: number): Promise<Array<{ deviceId: number; state: CampaignDeviceState }>> {
  return db.transaction(async (tx) => {
    const res = await tx.query<{ device_id: number; state: CampaignDeviceState }>(
      `INSERT INTO campaign_devices (campaign_id, device_id, wave, state, joined_late, active)
       SELECT $6, d.id, $7, CASE WHEN d.firmware_version = $8 THEN 'skipped' ELSE 'pending' END, true, d.firmware_version IS DISTINCT FROM $8
       FROM devices d WHERE ${MATCH}
         AND NOT EXISTS (SELECT 1 FROM campaign_devices x WHERE x.device_id = d.id AND (x.campaign_id = $6 OR x.active))
       ORDER BY d.id
       ON CONFLICT DO NOTHING RETURNING device_id, state`,
      [...matchParams(c.target, hardwareClass, c.testbed), c.id, lastWave, version]);
    for (const r of res.rows) {
      await recordEvent(tx, { kind: 'campaign.device-joined', deviceId: r.device_id, data: { campaignId: c.id, wave: lastWave, state: r.state } });
    }
    return res.rows.map((r) => ({ deviceId: r.device_id, state: r.state }));
  });
}

/**
 * Moves the campaign from one of `from` to `to` with `set` (column = value pairs) and its event,
 * inside `tx`; null when it was not in `from` (someone else moved it first).
 */
export async function transitionCampaign(
  q: Queryable, id: number, from: readonly CampaignState[], to: CampaignState,
  set: Partial<Record<'current_wave' | 'wave_done_at' | 'acked_failed' | 'pause_reason' | 'started_at' | 'finished_at' | 'revert_pending', unknown>>,
  event: { kind: string; actor: Actor; data?: Record<string, unknown> },
  /** Only while the campaign is at this wave (two nodes must not both move it on). */
  atWave?: number,
): Promise<Campaign | null> {
  const cols = Object.keys(set);
  // A pending automatic revert lasts only while the campaign stays paused.
  const assignments = [...cols.map((c, i) => `${c} = $${i + 5}`), ...('revert_pending' in set ? [] : ["revert_pending = revert_pending AND $2 = 'paused'"])].join(', ');
  const res = await q.query(
    `UPDATE campaigns SET state = $2, ${assignments}
     WHERE id = $1 AND state = ANY($3::text[]) AND ($4::integer IS NULL OR current_wave = $4) RETURNING ${COLUMNS}`,
    [id, to, from, atWave ?? null, ...cols.map((c) => set[c as keyof typeof set])]);
  if (!res.rows[0]) return null;
  const campaign = toCampaign(res.rows[0]);
  await recordEvent(q, { kind: event.kind, actor: event.actor, data: { campaignId: id, state: to, ...event.data } });
  if (!LIVE.includes(to)) await q.query('UPDATE campaign_devices SET active = false WHERE campaign_id = $1 AND active', [id]);
  return campaign;
}

/** The campaign's automatic revert is no longer pending (done, or failed and left to an operator); true when it was. */
export async function clearRevertPending(q: Queryable, id: number): Promise<boolean> {
  return (await q.query('UPDATE campaigns SET revert_pending = false WHERE id = $1 AND revert_pending', [id])).rowCount > 0;
}

/** Counts by wave and state: rows { wave, state, n }. */
export async function waveStateCounts(q: Queryable, id: number): Promise<Array<{ wave: number; state: CampaignDeviceState; n: number }>> {
  const res = await q.query<{ wave: number; state: CampaignDeviceState; n: number }>(
    'SELECT wave, state, count(*)::integer AS n FROM campaign_devices WHERE campaign_id = $1 GROUP BY wave, state ORDER BY wave, state', [id]);
  return res.rows;
}

/** Counts by the last attempt's Update Result, and retries made (attempts past the first). */
export async function resultCounts(q: Queryable, id: number): Promise<{ byResult: Record<string, number>; retries: number; joinedLate: number }> {
  const by = await q.query<{ code: number | null; n: number }>(
    'SELECT result_code AS code, count(*)::integer AS n FROM campaign_devices WHERE campaign_id = $1 AND result_code IS NOT NULL GROUP BY result_code ORDER BY 1', [id]);
  const sums = await q.query<{ retries: number; late: number }>(
    `SELECT COALESCE(sum(GREATEST(attempts - 1, 0)), 0)::integer AS retries, count(*) FILTER (WHERE joined_late)::integer AS late
     FROM campaign_devices WHERE campaign_id = $1`, [id]);
  return {
    byResult: Object.fromEntries(by.rows.map((r) => [String(r.code), r.n])),
    retries: sums.rows[0]?.retries ?? 0, joinedLate: sums.rows[0]?.late ?? 0,
  };
}

export interface CampaignDeviceRow {
  deviceId: number;
  endpoint: string;
  wave: number;
  state: CampaignDeviceState;
  attempts: number;
  updateId: number | null;
  resultCode: number | null;
  reason: string | null;
  claimedBy: string | null;
}

export async function campaignDevices(q: Queryable, id: number): Promise<CampaignDeviceRow[]> {
  const res = await q.query(
    `SELECT cd.device_id, d.endpoint, cd.wave, cd.state, cd.attempts, cd.update_id, cd.result_code, cd.reason, cd.claimed_by
     FROM campaign_devices cd JOIN devices d ON d.id = cd.device_id WHERE cd.campaign_id = $1 ORDER BY cd.wave, cd.device_id`, [id]);
  return res.rows.map((r) => camelRow<CampaignDeviceRow>(r));
}
