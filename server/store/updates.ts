import type { Watched } from '../fota/watchdog-decide.ts';
import { FirmwareNotFoundError, UpdateInProgressError } from '../errors.ts';
import type { Db, Queryable } from './db.ts';
import { isFinal, type Delivery, type UpdateState } from '../fota/model.ts';
import { camelRow, FINAL_STATES_SQL, type DeviceUpdate } from './rows.ts';
import { recordEvent } from './events.ts';

const COLUMNS = `id, device_id, firmware_id, state, result_code, reason, reported_version, version_mismatch, delivery,
  created_at, updated_at, deadline, finished_at, campaign_id, requested_delivery, severity, max_defer_seconds, from_version, from_firmware_id`;
const ACTIVE = `state NOT IN (${FINAL_STATES_SQL})`;

const toUpdate = (row: Record<string, unknown>): DeviceUpdate => camelRow<DeviceUpdate>(row);

export async function createUpdate(
  db: Db,
  u: {
    deviceId: number; firmwareId: number; deadlineSeconds: number; actor?: string;
    /** A campaign's update, and what the campaign asks: a delivery to force where the device can take it, a Severity (/5/0/11). */
    campaignId?: number; requestedDelivery?: Delivery; severity?: number;
  },
): Promise<DeviceUpdate> {
  return db.transaction(async (tx) => {
    // Lock the device row so two concurrent requests cannot both pass the check.
    await tx.query('SELECT id FROM devices WHERE id = $1 FOR UPDATE', [u.deviceId]);
    // And the image's, shared: deleteFirmware waits for this update, or this sees the image gone.
    const image = await tx.query<{ hardware_class: string }>('SELECT hardware_class FROM firmware_images WHERE id = $1 AND deleted_at IS NULL FOR SHARE', [u.firmwareId]);
    if (!image.rows[0]) throw new FirmwareNotFoundError(`no firmware image ${u.firmwareId} (deleted)`);
    const active = await tx.query<{ id: number }>(`SELECT id FROM device_updates WHERE device_id = $1 AND ${ACTIVE}`, [u.deviceId]);
    if (active.rows[0]) throw new UpdateInProgressError(active.rows[0].id);
    // What the device runs now (a revert takes it back there): its version, and the release that is
    // (the original of its live images of the class and version, when Ferry holds one).
    const res = await tx.query(
      `INSERT INTO device_updates (device_id, firmware_id, state, deadline, campaign_id, requested_delivery, severity, from_version, from_firmware_id)
       SELECT $1, $2, 'queued', now() + make_interval(secs => $3::integer), $4, $5, $6, d.firmware_version,
         (SELECT COALESCE(f.reissue_of, f.id) FROM firmware_images f
          WHERE f.hardware_class = $7 AND f.version = d.firmware_version AND f.deleted_at IS NULL ORDER BY f.reissue_of IS NOT NULL, f.id LIMIT 1)
       FROM devices d WHERE d.id = $1 RETURNING ${COLUMNS}`,
      [u.deviceId, u.firmwareId, u.deadlineSeconds, u.campaignId ?? null, u.requestedDelivery ?? null, u.severity ?? null, image.rows[0].hardware_class]);
    const update = toUpdate(res.rows[0]!);
    await recordEvent(tx, {
      kind: 'update.created', actor: u.actor ?? 'api', deviceId: u.deviceId, updateId: update.id,
      data: { firmwareId: u.firmwareId, state: 'queued', ...(u.campaignId === undefined ? {} : { campaignId: u.campaignId }) },
    });
    return update;
  });
}

export interface Transition {
  to: UpdateState;
  /** Only move when the row is still in one of these states (guards against stale events). */
  from: readonly UpdateState[];
  resultCode?: number | null;
  reason?: string | null;
  reportedVersion?: string | null;
  versionMismatch?: boolean;
  /** Seconds from now until the update counts as silent; omitted keeps the deadline; final states clear it. */
  deadlineSeconds?: number | null;
  data?: Record<string, unknown>;
  /** Also store this as the device's firmware version, in the same transaction. */
  deviceFirmwareVersion?: string;
  /** Who moved it, for the audit log (default: the engine). */
  actor?: string;
  /** More writes that belong to this transition (an alert it raises), in its transaction. */
  within?: (tx: Queryable, moved: DeviceUpdate) => Promise<void>;
}

/** One transition = one transaction writing the update row and its event. Null when the guard failed. */
export async function transitionUpdate(db: Db, id: number, t: Transition): Promise<DeviceUpdate | null> {
  return db.transaction((tx) => transitionIn(tx, id, t));
}

/** transitionUpdate inside the caller's transaction. */
export async function transitionIn(tx: Queryable, id: number, t: Transition): Promise<DeviceUpdate | null> {
  const final = isFinal(t.to);
  const res = await tx.query(
    `UPDATE device_updates SET state = $2, updated_at = now(),
       result_code = COALESCE($3, result_code), reason = COALESCE($4, reason),
       reported_version = COALESCE($5, reported_version), version_mismatch = COALESCE($6, version_mismatch),
       deadline = CASE WHEN $7::boolean THEN NULL WHEN $8::integer IS NULL THEN deadline
                       ELSE now() + make_interval(secs => $8::integer) END,
       finished_at = CASE WHEN $7::boolean THEN now() ELSE finished_at END
     WHERE id = $1 AND state = ANY($9::text[]) RETURNING ${COLUMNS}`,
    [id, t.to, t.resultCode ?? null, t.reason ?? null, t.reportedVersion ?? null, t.versionMismatch ?? null,
      final, t.deadlineSeconds ?? null, t.from]);
  const row = res.rows[0];
  if (!row) return null;
  const update = toUpdate(row);
  if (t.deviceFirmwareVersion !== undefined) {
    await tx.query('UPDATE devices SET firmware_version = $2 WHERE id = $1', [update.deviceId, t.deviceFirmwareVersion]);
  }
  await recordEvent(tx, {
    kind: 'update.state', deviceId: update.deviceId, updateId: id, ...(t.actor === undefined ? {} : { actor: t.actor }),
    data: {
      state: t.to, ...(t.resultCode != null ? { resultCode: t.resultCode } : {}),
      ...(t.reason ? { reason: t.reason } : {}), ...t.data,
    },
  });
  await t.within?.(tx, update);
  return update;
}

/**
 * The delivery chosen for a queued update, with an update.delivery event, in one transaction.
 * Null when the update is no longer queued (a stale event). A queued update may already have
 * one: the process that chose it died before the package went out, and the device was read
 * afresh; the new choice replaces it (`previous` in the event).
 */
export async function recordDelivery(db: Db, id: number, delivery: Delivery, data: Record<string, unknown>, maxDeferSeconds: number | null = null): Promise<DeviceUpdate | null> {
  return db.transaction(async (tx) => {
    const res = await tx.query(
      `WITH before AS (SELECT id, delivery FROM device_updates WHERE id = $1 AND state = 'queued' FOR UPDATE)
       UPDATE device_updates u SET delivery = $2, max_defer_seconds = $3, updated_at = now() FROM before
       WHERE u.id = before.id RETURNING ${COLUMNS.split(/,\s*/).map((c) => `u.${c}`).join(', ')}, before.delivery AS previous`,
      [id, delivery, maxDeferSeconds]);
    const row = res.rows[0];
    if (!row) return null;
    const { previous, ...rest } = row as Record<string, unknown>;
    const update = toUpdate(rest);
    await recordEvent(tx, { kind: 'update.delivery', deviceId: update.deviceId, updateId: id, data: { delivery, ...data, ...(previous ? { previous } : {}) } });
    return update;
  });
}

export async function getUpdate(q: Queryable, id: number): Promise<DeviceUpdate | null> {
  const res = await q.query(`SELECT ${COLUMNS} FROM device_updates WHERE id = $1`, [id]);
  return res.rows[0] ? toUpdate(res.rows[0]) : null;
}

export async function activeUpdateForDevice(q: Queryable, deviceId: number): Promise<DeviceUpdate | null> {
  const res = await q.query(`SELECT ${COLUMNS} FROM device_updates WHERE device_id = $1 AND ${ACTIVE}`, [deviceId]);
  return res.rows[0] ? toUpdate(res.rows[0]) : null;
}

/** Active updates whose deadline has passed. */
export async function overdueUpdates(q: Queryable): Promise<WatchedUpdate[]> {
  const res = await q.query(`${WATCHED} WHERE u.${ACTIVE} AND u.deadline < now() ORDER BY u.id`);
  return res.rows.map((r) => camelRow<WatchedUpdate>(r));
}

/** An update the watchdog looks at, with what it needs of its device (one query for all): the watchdog's own row shape. */
export type WatchedUpdate = Watched;

/** Updates under way (past queued, not final) whose state has not changed for `seconds`. */
export async function quietUpdates(q: Queryable, seconds: number): Promise<WatchedUpdate[]> {
  const res = await q.query(
    `${WATCHED} WHERE u.state IN ('sent', 'downloading', 'downloaded', 'updating')
        AND u.updated_at < now() - make_interval(secs => $1::integer) ORDER BY u.id`, [seconds]);
  return res.rows.map((r) => camelRow<WatchedUpdate>(r));
}

const WATCHED = `SELECT u.id, u.state, u.deadline, d.endpoint, d.address, d.port, d.status, d.queue_mode, d.owner_node
  FROM device_updates u JOIN devices d ON d.id = u.device_id`;

/** The device is still talking (blocks fetched): push the silence deadline, no event. */
export async function extendDeadline(q: Queryable, id: number, seconds: number): Promise<void> {
  await q.query(`UPDATE device_updates SET deadline = now() + make_interval(secs => $2::integer) WHERE id = $1 AND ${ACTIVE}`, [id, seconds]);
}

/**
 * True when the device (by endpoint, for a DTLS session's device; by the IP it was last heard
 * from, for plain CoAP) has an update of firmware `firmwareId` under way: it may fetch that image.
 */
export async function updatingWith(q: Queryable, who: { endpoint: string } | { address: string }, firmwareId: number): Promise<boolean> {
  const [column, value] = 'endpoint' in who ? ['endpoint', who.endpoint] : ['address', who.address];
  const res = await q.query(
    `SELECT 1 FROM device_updates u JOIN devices d ON d.id = u.device_id WHERE d.${column} = $1 AND u.firmware_id = $2 AND u.${ACTIVE} LIMIT 1`,
    [value, firmwareId],
  );
  return res.rows.length > 0;
}

/** True when a device last heard from `address` (an IP) has an update under way: it may download at full speed. */
export async function updatingAt(q: Queryable, address: string): Promise<boolean> {
  const res = await q.query(
    `SELECT 1 FROM device_updates u JOIN devices d ON d.id = u.device_id WHERE d.address = $1 AND u.${ACTIVE} LIMIT 1`, [address],
  );
  return res.rows.length > 0;
}
