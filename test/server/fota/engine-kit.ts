/**
 * What the update engine's tests share: a registered device row and a firmware row made through
 * the store, the in-memory Object 5 device behind the engine's device port, an engine on them,
 * and the update's recorded events and rows as the tests read them.
 */
import { DeviceActivity } from '../../../server/fota/activity.ts';
import type { Db } from '../../../server/store/db.ts';
import * as devices from '../../../server/store/devices.ts';
import { insertFirmware, loadFirmwarePayload } from '../../../server/store/firmware.ts';
import { listEvents } from '../../../server/store/events.ts';
import type { Device, FirmwareImage } from '../../../server/store/rows.ts';
import { UpdateEngine } from '../../../server/fota/engine.ts';
import { silentLogger } from '../../../server/log.ts';
import { Object5Device, type Object5Setup } from '../../helpers/object5-device.ts';

export const ENDPOINT = 'dev-1';
export const ADDRESS = { address: '192.0.2.10', port: 5683 };
export const DOWNLOAD_BASE = 'coap://ferry.test:5685';
export const SECURE_DOWNLOAD_BASE = 'coaps://ferry.test:5686';
/** The image's download name (/fw/<name>), fixed so the tables can name the Package URI. */
export const DOWNLOAD_NAME = '0123456789abcdef0123456789abcdef';
/** The image's bytes: three blocks of a push. */
export const PACKAGE = Buffer.alloc(3000, 0x5a);

export interface Setup {
  /** The version of Object 5 the device registered (default 1.0). */
  object5?: '1.0' | '1.1';
  queueMode?: boolean;
  /** Registered (default) or de-registered: no request goes out to a device that left. */
  registered?: boolean;
  /** Registered over DTLS (Security Mode psk): its Package URI is coaps://. */
  secure?: boolean;
  device?: Object5Setup;
}

export interface Bench {
  row: Device;
  image: FirmwareImage;
  device: Object5Device;
  engine: UpdateEngine;
  /** When the device was last heard from, as the sockets would record it. */
  activity: DeviceActivity;
}

export async function bench(db: Db, s: Setup = {}): Promise<Bench> {
  const { device: row } = await devices.register(db, {
    endpoint: ENDPOINT, registrationId: `r-${ENDPOINT}`, lifetime: 300, lwm2mVersion: '1.1', binding: 'U', queueMode: s.queueMode ?? false,
    objectLinks: '</3/0>,</5/0>', objects: [{ objectId: 3, instances: [0] }, { objectId: 5, instances: [0], ...(s.object5 === '1.1' ? { version: '1.1' } : {}) }],
    ...ADDRESS, ...(s.secure === true ? { securityMode: 'psk' as const } : {}),
  });
  await devices.setDeviceInfo(db, row.id, { manufacturer: 'Ferry tests', modelNumber: 'sim-1', hardwareVersion: null, firmwareVersion: '1.0.0', hardwareClass: 'sim-1' });
  if (s.registered === false) await devices.deregister(db, `r-${ENDPOINT}`);
  const inserted = await insertFirmware(db, { version: '2.0.0', hardwareClass: 'sim-1', payload: PACKAGE });
  await db.query('UPDATE firmware_images SET download_name = $1 WHERE id = $2', [DOWNLOAD_NAME, inserted.id]);
  const image = { ...inserted, downloadName: DOWNLOAD_NAME };
  const device = new Object5Device(s.device);
  const activity = new DeviceActivity();
  return { row, image, device, activity, engine: engineOn(db, device, activity) };
}

/** An engine of its own on the device: a second process, which follows nothing yet. */
export function engineOn(db: Db, device: Object5Device, activity = new DeviceActivity()): UpdateEngine {
  return new UpdateEngine({
    db, dm: device, activity, log: silentLogger(), downloadBase: DOWNLOAD_BASE, secureDownloadBase: SECURE_DOWNLOAD_BASE, updateTimeoutSeconds: 60, pokeAfterSeconds: 5, nodeId: () => 'node-a', releaseApproval: 'off',
    images: { get: async (id) => (await loadFirmwarePayload(db, id)) ?? undefined },
  });
}

/** The update's events, short: 'created', 'delivery pull', 'sent (on written)', … */
export async function eventsOf(db: Db, updateId: number): Promise<string[]> {
  return (await listEvents(db, { updateId })).map((e) => {
    const d = e.data;
    if (e.kind === 'update.created') return 'created';
    if (e.kind === 'update.delivery') return `delivery ${String(d['delivery'])}`;
    if (e.kind === 'update.state') return `${String(d['state'])} (on ${String(d['on'])})`;
    return e.kind;
  });
}

/** The device's requests from `from` on. */
export function requestsSince(device: Object5Device, from: number): string[] {
  return device.requests.slice(from);
}

/** Makes the update look unchanged for an hour (the watchdog's quiet updates). */
export async function quietFor(db: Db, updateId: number): Promise<void> {
  await db.query("UPDATE device_updates SET updated_at = now() - interval '1 hour' WHERE id = $1", [updateId]);
}

/** Makes the update overdue (its deadline passed). */
export async function overdue(db: Db, updateId: number): Promise<void> {
  await db.query("UPDATE device_updates SET deadline = now() - interval '1 second' WHERE id = $1", [updateId]);
}

/** The update's deadline lies ahead. */
export async function deadlineAhead(db: Db, updateId: number): Promise<boolean> {
  const { rows } = await db.query<{ ahead: boolean }>('SELECT deadline > now() AS ahead FROM device_updates WHERE id = $1', [updateId]);
  return rows[0]?.ahead === true;
}
