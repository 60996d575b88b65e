import type { Db, Queryable } from './db.ts';
import { camelRow, type Device, type RegisteredObject } from './rows.ts';
import { recordEvent } from './events.ts';

const COLUMNS = `id, endpoint, registration_id, status, lifetime, lwm2m_version, binding, queue_mode,
  sms_number, object_links, address, port, manufacturer, model_number, hardware_version,
  firmware_version, hardware_class, registered_at, last_seen, expires_at, root_path, content_formats, objects`;

export interface NewRegistration {
  endpoint: string;
  registrationId: string;
  lifetime: number;
  lwm2mVersion: string;
  binding: string;
  queueMode: boolean;
  smsNumber?: string;
  objectLinks: string;
  /** The payload parsed (RegisteredObjects of protocols/link-format.ts); defaults '/', [], []. */
  rootPath?: string;
  contentFormats?: number[];
  objects?: RegisteredObject[];
  address: string;
  port: number;
}

function toDevice(row: Record<string, unknown>): Device {
  return camelRow<Device>(row);
}

/**
 * Register (LwM2M Register operation): a known endpoint's old registration is replaced, its
 * inventory (versions, class) kept.
 */
export async function register(db: Db, r: NewRegistration): Promise<{ device: Device; replaced: boolean }> {
  return db.transaction(async (tx) => {
    const previous = await tx.query<{ registration_id: string | null; status: string }>(
      'SELECT registration_id, status FROM devices WHERE endpoint = $1 FOR UPDATE', [r.endpoint]);
    const res = await tx.query(
      `INSERT INTO devices (endpoint, registration_id, status, lifetime, lwm2m_version, binding, queue_mode,
                            sms_number, object_links, address, port, registered_at, last_seen, expires_at,
                            root_path, content_formats, objects)
       VALUES ($1, $2, 'registered', $3::integer, $4, $5, $6, $7, $8, $9, $10, now(), now(), now() + make_interval(secs => $3::integer),
               $11, $12::integer[], $13::jsonb)
       ON CONFLICT (endpoint) DO UPDATE SET
         registration_id = EXCLUDED.registration_id, status = 'registered', lifetime = EXCLUDED.lifetime,
         lwm2m_version = EXCLUDED.lwm2m_version, binding = EXCLUDED.binding, queue_mode = EXCLUDED.queue_mode,
         sms_number = EXCLUDED.sms_number, object_links = EXCLUDED.object_links, address = EXCLUDED.address,
         port = EXCLUDED.port, registered_at = now(), last_seen = now(), expires_at = EXCLUDED.expires_at,
         root_path = EXCLUDED.root_path, content_formats = EXCLUDED.content_formats, objects = EXCLUDED.objects
       RETURNING ${COLUMNS}`,
      [r.endpoint, r.registrationId, r.lifetime, r.lwm2mVersion, r.binding, r.queueMode, r.smsNumber ?? null,
        r.objectLinks, r.address, r.port, r.rootPath ?? '/', r.contentFormats ?? [], JSON.stringify(r.objects ?? [])],
    );
    const device = toDevice(res.rows[0]!);
    const old = previous.rows[0];
    const replaced = old !== undefined && old.status === 'registered';
    await recordEvent(tx, {
      kind: 'registration.created', actor: 'device', deviceId: device.id,
      data: {
        registrationId: r.registrationId, lifetime: r.lifetime, lwm2mVersion: r.lwm2mVersion, binding: r.binding,
        address: `${r.address}:${r.port}`, ...(replaced ? { replaced: old.registration_id } : {}),
      },
    });
    return { device, replaced };
  });
}

export interface RegistrationUpdate {
  lifetime?: number;
  binding?: string;
  queueMode?: boolean;
  smsNumber?: string;
  objectLinks?: string;
  rootPath?: string;
  contentFormats?: number[];
  objects?: RegisteredObject[];
  address: string;
  port: number;
}

/** Update (LwM2M Update operation); null when the registration id is unknown or no longer active. */
export async function updateRegistration(db: Db, registrationId: string, u: RegistrationUpdate): Promise<Device | null> {
  return db.transaction(async (tx) => {
    const res = await tx.query(
      `UPDATE devices SET
         lifetime = COALESCE($2::integer, lifetime), binding = COALESCE($3, binding), queue_mode = COALESCE($4, queue_mode),
         sms_number = COALESCE($5, sms_number), object_links = COALESCE($6, object_links),
         address = $7, port = $8, last_seen = now(),
         expires_at = now() + make_interval(secs => COALESCE($2::integer, lifetime)),
         root_path = COALESCE($9, root_path), content_formats = COALESCE($10::integer[], content_formats),
         objects = COALESCE($11::jsonb, objects)
       WHERE registration_id = $1 AND status = 'registered'
       RETURNING ${COLUMNS}`,
      [registrationId, u.lifetime ?? null, u.binding ?? null, u.queueMode ?? null, u.smsNumber ?? null,
        u.objectLinks ?? null, u.address, u.port, u.rootPath ?? null, u.contentFormats ?? null,
        u.objects ? JSON.stringify(u.objects) : null],
    );
    const row = res.rows[0];
    if (!row) return null;
    const device = toDevice(row);
    // The audit log keeps changes, not every keep-alive.
    if (u.lifetime !== undefined || u.binding !== undefined || u.objectLinks !== undefined) {
      await recordEvent(tx, {
        kind: 'registration.updated', actor: 'device', deviceId: device.id,
        data: { lifetime: u.lifetime, binding: u.binding, objectsChanged: u.objectLinks !== undefined },
      });
    }
    return device;
  });
}

/** De-register (LwM2M De-register operation); null when the registration id is unknown. */
export async function deregister(db: Db, registrationId: string): Promise<Device | null> {
  return db.transaction(async (tx) => {
    const res = await tx.query(
      `UPDATE devices SET status = 'deregistered', registration_id = NULL, last_seen = now()
       WHERE registration_id = $1 AND status = 'registered' RETURNING ${COLUMNS}`,
      [registrationId],
    );
    const row = res.rows[0];
    if (!row) return null;
    const device = toDevice(row);
    await recordEvent(tx, { kind: 'registration.deleted', actor: 'device', deviceId: device.id, data: { registrationId } });
    return device;
  });
}

/** Marks every registration whose lifetime has passed as expired; returns those devices. */
export async function expireRegistrations(db: Db): Promise<Device[]> {
  return db.transaction(async (tx) => {
    const res = await tx.query(
      `UPDATE devices SET status = 'expired', registration_id = NULL
       WHERE status = 'registered' AND expires_at < now() RETURNING ${COLUMNS}`);
    const devices = res.rows.map(toDevice);
    for (const d of devices) {
      await recordEvent(tx, { kind: 'registration.expired', deviceId: d.id, data: { lifetime: d.lifetime } });
    }
    return devices;
  });
}

export interface DeviceInfo {
  manufacturer: string | null;
  modelNumber: string | null;
  hardwareVersion: string | null;
  firmwareVersion: string | null;
  hardwareClass: string | null;
}

/** Stores what a Read of /3/0 told; records an event when the firmware version changed. */
export async function setDeviceInfo(db: Db, deviceId: number, info: DeviceInfo): Promise<Device | null> {
  return db.transaction(async (tx) => {
    const before = await tx.query<{ firmware_version: string | null }>(
      'SELECT firmware_version FROM devices WHERE id = $1 FOR UPDATE', [deviceId]);
    if (!before.rows[0]) return null;
    const res = await tx.query(
      `UPDATE devices SET manufacturer = $2, model_number = $3, hardware_version = $4, firmware_version = $5,
         hardware_class = $6 WHERE id = $1 RETURNING ${COLUMNS}`,
      [deviceId, info.manufacturer, info.modelNumber, info.hardwareVersion, info.firmwareVersion, info.hardwareClass]);
    const previous = before.rows[0].firmware_version;
    if (previous !== info.firmwareVersion) {
      await recordEvent(tx, {
        kind: 'device.firmware_version', actor: 'device', deviceId,
        data: { from: previous, to: info.firmwareVersion },
      });
    }
    return toDevice(res.rows[0]!);
  });
}

export async function findByRegistrationId(q: Queryable, registrationId: string): Promise<Device | null> {
  const res = await q.query(`SELECT ${COLUMNS} FROM devices WHERE registration_id = $1`, [registrationId]);
  return res.rows[0] ? toDevice(res.rows[0]) : null;
}

export async function findByEndpoint(q: Queryable, endpoint: string): Promise<Device | null> {
  const res = await q.query(`SELECT ${COLUMNS} FROM devices WHERE endpoint = $1`, [endpoint]);
  return res.rows[0] ? toDevice(res.rows[0]) : null;
}

export async function findById(q: Queryable, id: number): Promise<Device | null> {
  const res = await q.query(`SELECT ${COLUMNS} FROM devices WHERE id = $1`, [id]);
  return res.rows[0] ? toDevice(res.rows[0]) : null;
}

export async function listDevices(q: Queryable, opts: { limit: number; afterId?: number }): Promise<Device[]> {
  const res = await q.query(
    `SELECT ${COLUMNS} FROM devices WHERE id > $1 ORDER BY id LIMIT $2`, [opts.afterId ?? 0, opts.limit]);
  return res.rows.map(toDevice);
}
