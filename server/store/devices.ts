import type { Db, Queryable } from './db.ts';
import { camelRow, type Device, type RegisteredObject, type SecurityMode } from './rows.ts';
import { recordEvent, recordEvents } from './events.ts';
import { CoapRefusalError } from '../errors.ts';

const COLUMNS = `id, endpoint, registration_id, status, lifetime, lwm2m_version, binding, queue_mode,
  sms_number, object_links, address, port, manufacturer, model_number, hardware_version,
  firmware_version, hardware_class, registered_at, last_seen, expires_at, root_path, content_formats, objects, tags, owner_node, security_mode, testbed,
  decommissioned_at, decommission_reason`;

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
  /** The node that took the registration (it holds the device's UDP binding). */
  ownerNode?: string;
  /** How the Register came: over a DTLS-PSK session or plain CoAP (default). */
  securityMode?: SecurityMode;
}

function toDevice(row: Record<string, unknown>): Device {
  return camelRow<Device>(row);
}

/**
 * Register (LwM2M Register operation): a known endpoint's old registration is replaced, its
 * inventory (versions, class) kept.
 */
export async function register(db: Db, r: NewRegistration): Promise<{ device: Device; replaced: boolean }> {
  return (await registerMany(db, [r]))[0]!;
}

/**
 * Many registrations in one transaction and a fixed number of round trips, whatever their count
 * (the registration interface batches concurrent Registers). Endpoints must be distinct.
 */
export async function registerMany(db: Db, regs: readonly NewRegistration[]): Promise<Array<{ device: Device; replaced: boolean }>> {
  if (regs.length === 0) return [];
  const col = <T>(f: (r: NewRegistration) => T): T[] => regs.map(f);
  return db.transaction(async (tx) => {
    const previous = await tx.query<{ endpoint: string; registration_id: string | null; status: string }>(
      'SELECT endpoint, registration_id, status FROM devices WHERE endpoint = ANY($1::text[]) ORDER BY endpoint FOR UPDATE',
      [col((r) => r.endpoint)]);
    const gone = previous.rows.find((p) => p.status === 'decommissioned');
    if (gone) throw new CoapRefusalError('FERRY_RD_DECOMMISSIONED', `endpoint ${gone.endpoint} was decommissioned: this server takes no registration under that name`);
    const res = await tx.query(
      `INSERT INTO devices (endpoint, registration_id, status, lifetime, lwm2m_version, binding, queue_mode,
                            sms_number, object_links, address, port, registered_at, last_seen, expires_at,
                            root_path, content_formats, objects, owner_node, security_mode)
       SELECT ep, rid, 'registered', lt, v, b, q, sms, links, addr, port, now(), now(), now() + make_interval(secs => lt),
              root, CASE WHEN ct = '' THEN '{}'::integer[] ELSE string_to_array(ct, ',')::integer[] END, objs::jsonb, node, sec
       FROM unnest($1::text[], $2::text[], $3::integer[], $4::text[], $5::text[], $6::boolean[], $7::text[], $8::text[],
                   $9::text[], $10::integer[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[])
            AS t(ep, rid, lt, v, b, q, sms, links, addr, port, root, ct, objs, node, sec)
       ON CONFLICT (endpoint) DO UPDATE SET
         registration_id = EXCLUDED.registration_id, status = 'registered', lifetime = EXCLUDED.lifetime,
         lwm2m_version = EXCLUDED.lwm2m_version, binding = EXCLUDED.binding, queue_mode = EXCLUDED.queue_mode,
         sms_number = EXCLUDED.sms_number, object_links = EXCLUDED.object_links, address = EXCLUDED.address,
         port = EXCLUDED.port, registered_at = now(), last_seen = now(), expires_at = EXCLUDED.expires_at,
         root_path = EXCLUDED.root_path, content_formats = EXCLUDED.content_formats, objects = EXCLUDED.objects,
         owner_node = EXCLUDED.owner_node, security_mode = EXCLUDED.security_mode
       RETURNING ${COLUMNS}`,
      [col((r) => r.endpoint), col((r) => r.registrationId), col((r) => r.lifetime), col((r) => r.lwm2mVersion),
        col((r) => r.binding), col((r) => r.queueMode), col((r) => r.smsNumber ?? null), col((r) => r.objectLinks),
        col((r) => r.address), col((r) => r.port), col((r) => r.rootPath ?? '/'), col((r) => (r.contentFormats ?? []).join(',')),
        col((r) => JSON.stringify(r.objects ?? [])), col((r) => r.ownerNode ?? null), col((r) => r.securityMode ?? 'nosec')],
    );
    const byEndpoint = new Map(res.rows.map((row) => { const d = toDevice(row); return [d.endpoint, d]; }));
    const old = new Map(previous.rows.map((p) => [p.endpoint, p]));
    const out = regs.map((r) => {
      const before = old.get(r.endpoint);
      return { device: byEndpoint.get(r.endpoint)!, replaced: before?.status === 'registered', previousId: before?.registration_id ?? null };
    });
    await recordEvents(tx, out.map(({ device, replaced, previousId }, i) => {
      const r = regs[i]!;
      return {
        kind: 'registration.created', actor: 'device' as const, deviceId: device.id,
        data: {
          registrationId: r.registrationId, lifetime: r.lifetime, lwm2mVersion: r.lwm2mVersion, binding: r.binding,
          address: `${r.address}:${r.port}`, securityMode: r.securityMode ?? 'nosec', ...(replaced ? { replaced: previousId } : {}),
        },
      };
    }));
    return out.map(({ device, replaced }) => ({ device, replaced }));
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
  ownerNode?: string;
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
         objects = COALESCE($11::jsonb, objects), owner_node = COALESCE($12, owner_node)
       WHERE registration_id = $1 AND status = 'registered'
       RETURNING ${COLUMNS}`,
      [registrationId, u.lifetime ?? null, u.binding ?? null, u.queueMode ?? null, u.smsNumber ?? null,
        u.objectLinks ?? null, u.address, u.port, u.rootPath ?? null, u.contentFormats ?? null,
        u.objects ? JSON.stringify(u.objects) : null, u.ownerNode ?? null],
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

/** Whose an active registration is, and how it was made; undefined when there is none by that id. */
export async function registrationOf(q: Queryable, registrationId: string): Promise<{ endpoint: string; securityMode: SecurityMode } | undefined> {
  const res = await q.query<{ endpoint: string; security_mode: SecurityMode }>(
    "SELECT endpoint, security_mode FROM devices WHERE registration_id = $1 AND status = 'registered'", [registrationId]);
  const row = res.rows[0];
  return row && { endpoint: row.endpoint, securityMode: row.security_mode };
}

/**
 * The device's DTLS session moved to a new address (RFC 9146 Connection ID: its NAT binding
 * changed): requests to it go there from now on. Null when it has no active registration.
 */
export async function moveAddress(q: Queryable, endpoint: string, address: string, port: number): Promise<Device | null> {
  const res = await q.query(
    `UPDATE devices SET address = $2, port = $3, last_seen = now() WHERE endpoint = $1 AND status = 'registered' RETURNING ${COLUMNS}`,
    [endpoint, address, port]);
  const row = res.rows[0];
  return row ? toDevice(row) : null;
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

export async function findByEndpoint(q: Queryable, endpoint: string): Promise<Device | null> {
  const res = await q.query(`SELECT ${COLUMNS} FROM devices WHERE endpoint = $1`, [endpoint]);
  return res.rows[0] ? toDevice(res.rows[0]) : null;
}

export async function findById(q: Queryable, id: number): Promise<Device | null> {
  const res = await q.query(`SELECT ${COLUMNS} FROM devices WHERE id = $1`, [id]);
  return res.rows[0] ? toDevice(res.rows[0]) : null;
}

export interface DeviceFilter {
  hardwareClass?: string;
  firmwareVersion?: string;
  status?: Device['status'];
  lastSeenBefore?: Date;
  lastSeenAfter?: Date;
  /** The last id of the previous page (ids ascend). */
  afterId?: number;
  limit: number;
  /** Only devices marked testbed (true), or only the others (false). */
  testbed?: boolean;
}

/** One page of devices matching every filter given, by id. */
export async function listDevices(q: Queryable, f: DeviceFilter): Promise<Device[]> {
  const params: unknown[] = [f.afterId ?? 0];
  const where = ['id > $1'];
  const add = (sql: string, v: unknown) => { params.push(v); where.push(sql.replace('?', `$${params.length}`)); };
  if (f.hardwareClass !== undefined) add('hardware_class = ?', f.hardwareClass);
  if (f.firmwareVersion !== undefined) add('firmware_version = ?', f.firmwareVersion);
  if (f.status !== undefined) add('status = ?', f.status);
  if (f.lastSeenBefore !== undefined) add('last_seen < ?', f.lastSeenBefore);
  if (f.lastSeenAfter !== undefined) add('last_seen > ?', f.lastSeenAfter);
  if (f.testbed !== undefined) add('testbed = ?', f.testbed);
  params.push(f.limit);
  const res = await q.query(`SELECT ${COLUMNS} FROM devices WHERE ${where.join(' AND ')} ORDER BY id LIMIT $${params.length}`, params);
  return res.rows.map(toDevice);
}

/** Replaces a device's tags (campaign targets select by tag); null when there is no such device. */
export async function setTags(db: Db, endpoint: string, tags: readonly string[], actor = 'api'): Promise<Device | null> {
  return db.transaction(async (tx) => {
    const res = await tx.query(`UPDATE devices SET tags = $2::text[] WHERE endpoint = $1 RETURNING ${COLUMNS}`, [endpoint, [...new Set(tags)].sort()]);
    if (!res.rows[0]) return null;
    const device = toDevice(res.rows[0]);
    await recordEvent(tx, { kind: 'device.tags', actor, deviceId: device.id, data: { tags: device.tags } });
    return device;
  });
}

/**
 * Device rows for endpoints provisioned before they have registered (credentials made for a
 * factory batch), in the caller's transaction: an endpoint without a row gets one, status
 * 'provisioned', with no registration (no lifetime, registration time, expiry nor last contact),
 * and a `device.provisioned` event; its Register later takes that same row (registerMany's upsert
 * by endpoint). Endpoints must be distinct and valid names (endpointNameProblem). Returns each
 * endpoint's device id and the endpoints whose rows were made now.
 */
export async function provisionDevices(q: Queryable, endpoints: readonly string[], actor: string): Promise<{ ids: Map<string, number>; created: string[] }> {
  if (endpoints.length === 0) return { ids: new Map(), created: [] };
  // In one fixed order: two batches that share endpoints wait for each other rather than deadlock.
  const sorted = [...endpoints].sort();
  const made = await q.query<{ id: string | number; endpoint: string }>(
    `INSERT INTO devices (endpoint, status, lifetime, registered_at, last_seen, expires_at)
     SELECT ep, 'provisioned', NULL, NULL, NULL, NULL FROM unnest($1::text[]) WITH ORDINALITY AS t(ep, n) ORDER BY n
     ON CONFLICT (endpoint) DO NOTHING RETURNING id, endpoint`, [sorted]);
  const created = made.rows.map((r) => ({ id: Number(r.id), endpoint: r.endpoint })).sort((a, b) => a.id - b.id);
  await recordEvents(q, created.map((d) => ({ kind: 'device.provisioned', actor, deviceId: d.id, endpoint: d.endpoint })));
  const all = await q.query<{ id: string | number; endpoint: string }>('SELECT id, endpoint FROM devices WHERE endpoint = ANY($1::text[])', [sorted]);
  return { ids: new Map(all.rows.map((r) => [r.endpoint, Number(r.id)])), created: created.map((d) => d.endpoint) };
}

/**
 * Deletes a device provisioned and never registered once nothing of KEEPS_DEVICE holds it (its
 * credentials deleted): provisioning undone leaves no row behind. True when it was deleted.
 */
export async function dropProvisioned(q: Queryable, deviceId: number): Promise<boolean> {
  const res = await q.query(
    `DELETE FROM devices d WHERE d.id = $1 AND d.status = 'provisioned' AND NOT (${KEEPS_DEVICE.join(' OR ')})`, [deviceId]);
  return res.rowCount > 0;
}

/** Which of `endpoints` have a device row (any status, 'provisioned' too): those are known and pass the Register limits. */
export async function knownEndpoints(q: Queryable, endpoints: readonly string[]): Promise<boolean[]> {
  if (endpoints.length === 0) return [];
  const res = await q.query<{ endpoint: string }>('SELECT endpoint FROM devices WHERE endpoint = ANY($1::text[])', [endpoints]);
  const known = new Set(res.rows.map((r) => r.endpoint));
  return endpoints.map((e) => known.has(e));
}

/**
 * What keeps a device that left (expired or de-registered) from being purged, whatever its age,
 * and a provisioned one from being dropped with its credentials (dropProvisioned): each line is
 * true of a device `d` that holds something worth keeping. A table that comes to hold more of a
 * device adds its line here.
 */
export const KEEPS_DEVICE: readonly string[] = [
  'EXISTS (SELECT 1 FROM device_updates u WHERE u.device_id = d.id)',     // an update history
  'EXISTS (SELECT 1 FROM campaign_devices c WHERE c.device_id = d.id)',   // a campaign's member
  "d.tags <> '{}'",                                                        // tagged by an operator
  'EXISTS (SELECT 1 FROM device_credentials k WHERE k.device_id = d.id)', // provisioned with a PSK
];

/**
 * When a device left: an expired registration at its expiry, a de-registered one at its
 * De-register (last_seen). Never before last_seen (expires_at is last_seen + lifetime), so the
 * last_seen index narrows the search.
 */
const LEFT_AT = "CASE WHEN d.status = 'expired' THEN d.expires_at ELSE d.last_seen END";

export interface PurgeOptions {
  /** A device gone this long (seconds) and holding nothing of KEEPS_DEVICE is deleted. */
  retentionSeconds: number;
  /** Devices deleted per transaction. */
  batchSize?: number;
  /** Transactions per call at most; what remains waits for the next call. */
  maxBatches?: number;
}

export interface PurgedDevice { id: number; endpoint: string }

/**
 * Deletes devices that expired or de-registered more than `retentionSeconds` ago, never came
 * back and hold nothing (KEEPS_DEVICE): a flood of made-up endpoint names does not stay forever.
 * A device provisioned and not yet registered has not left: it stays, however old.
 * In batches, each its own transaction, rows another transaction holds skipped (a device
 * registering again meanwhile stays). Their events stay, with the endpoint as text; each batch
 * adds one `device.purged` event naming (some of) the endpoints.
 */
export async function purgeLeftDevices(db: Db, o: PurgeOptions): Promise<PurgedDevice[]> {
  const batchSize = o.batchSize ?? 500;
  const purged: PurgedDevice[] = [];
  for (let batch = 0; batch < (o.maxBatches ?? 20); batch++) {
    const gone = await db.transaction(async (tx) => {
      const res = await tx.query<{ id: string | number; endpoint: string }>(
        `DELETE FROM devices WHERE id IN (
           SELECT d.id FROM devices d
           WHERE d.status IN ('expired', 'deregistered')
             AND d.last_seen < now() - make_interval(secs => $1) AND ${LEFT_AT} < now() - make_interval(secs => $1)
             AND NOT (${KEEPS_DEVICE.join(' OR ')})
           ORDER BY d.id LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING id, endpoint`,
        [o.retentionSeconds, batchSize]);
      const rows = res.rows.map((r) => ({ id: Number(r.id), endpoint: r.endpoint })).sort((a, b) => a.id - b.id);
      if (rows.length > 0) {
        const named = rows.slice(0, 20).map((r) => r.endpoint);
        await recordEvent(tx, {
          kind: 'device.purged',
          data: { count: rows.length, retentionSeconds: o.retentionSeconds, endpoints: named, ...(rows.length > named.length ? { more: rows.length - named.length } : {}) },
        });
      }
      return rows;
    });
    purged.push(...gone);
    if (gone.length < batchSize) break;
  }
  return purged;
}

/**
 * The retention sweep: purgeLeftDevices at most once per `everyMs` (default a minute, or the
 * retention itself when shorter), however often it is called; a no-op when retention is 0 (off).
 */
export function retentionSweep(db: Db, o: PurgeOptions & { everyMs?: number }): () => Promise<PurgedDevice[]> {
  const everyMs = o.everyMs ?? Math.min(60_000, o.retentionSeconds * 1000);
  let next = 0;
  return async () => {
    if (o.retentionSeconds <= 0 || Date.now() < next) return [];
    next = Date.now() + everyMs;
    return purgeLeftDevices(db, o);
  };
}
