/** A small fleet for compliance tests: devices (offline) with given classes, versions and last contact; images with sequences and states. */
import type { Db } from '../../../server/store/db.ts';
import { provisionDevices } from '../../../server/store/devices.ts';
import { insertFirmware } from '../../../server/store/firmware.ts';
import type { ReleaseState } from '../../../server/store/rows.ts';
import { offlineDevice } from '../../helpers/devices.ts';

export interface Image { version: string; sequence: number | null; state?: ReleaseState; deleted?: boolean }

/** Images of `hardwareClass` (state approved unless said; deleted ones soft-deleted). */
export async function images(db: Db, hardwareClass: string, list: Image[]): Promise<void> {
  for (const i of list) {
    const image = await insertFirmware(db, { version: i.version, hardwareClass, payload: Buffer.from(`${hardwareClass}/${i.version}`), ...(i.sequence === null ? {} : { sequence: i.sequence }) });
    await db.query('UPDATE firmware_images SET state = $2, deleted_at = CASE WHEN $3 THEN now() END WHERE id = $1', [image.id, i.state ?? 'approved', i.deleted === true]);
  }
}

export interface FleetDevice { endpoint: string; hardwareClass: string | null; version: string | null; daysAgo?: number }

/**
 * Offline devices with these classes, versions and last contact (days ago; default now); tagged,
 * as an operator's fleet is, so the server's retention sweep keeps those gone for weeks.
 */
export async function devices(db: Db, list: FleetDevice[]): Promise<void> {
  for (const d of list) {
    const device = await offlineDevice(db, d.endpoint, d.hardwareClass);
    await db.query(`UPDATE devices SET tags = '{fleet}', firmware_version = $2, last_seen = now() - make_interval(days => $3) WHERE id = $1`, [device.id, d.version, d.daysAgo ?? 0]);
  }
}

/** Provisioned, never registered: left out of compliance. */
export async function provisioned(db: Db, endpoint: string): Promise<void> {
  await db.transaction((tx) => provisionDevices(tx, [endpoint], 'test'));
}

/**
 * Class cam-1: releases 0.9 (deleted) < 1.0 < 1.1 < 2.0 approved, 2.1 only uploaded; devices on
 * each, two not seen for 40 days, one on a version never uploaded, one with none. Class cam-2:
 * one compliant device. One device with no class, one provisioned.
 */
export async function standardFleet(db: Db): Promise<void> {
  await images(db, 'cam-1', [
    { version: '0.9', sequence: 0, deleted: true }, { version: '1.0', sequence: 1 }, { version: '1.1', sequence: 2 },
    { version: '2.0', sequence: 3 }, { version: '2.1', sequence: 4, state: 'uploaded' },
  ]);
  await images(db, 'cam-2', [{ version: '3.0', sequence: 1 }]);
  await devices(db, [
    { endpoint: 'a1', hardwareClass: 'cam-1', version: '2.0' },
    { endpoint: 'a2', hardwareClass: 'cam-1', version: '2.0', daysAgo: 40 },
    { endpoint: 'a3', hardwareClass: 'cam-1', version: '1.1' },
    { endpoint: 'a4', hardwareClass: 'cam-1', version: '1.0' },
    { endpoint: 'a5', hardwareClass: 'cam-1', version: '2.1' },
    { endpoint: 'a6', hardwareClass: 'cam-1', version: '0.9' },
    { endpoint: 'a7', hardwareClass: 'cam-1', version: '9.9' },
    { endpoint: 'a8', hardwareClass: 'cam-1', version: null },
    { endpoint: 'a9', hardwareClass: 'cam-1', version: '1.1', daysAgo: 40 },
    { endpoint: 'b1', hardwareClass: 'cam-2', version: '3.0' },
    { endpoint: 'c1', hardwareClass: null, version: '3.0' },
  ]);
  await provisioned(db, 'p1');
}
