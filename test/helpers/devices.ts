/** Devices put straight into the store for API tests. */
import type { Db } from '../../server/store/db.ts';
import * as devices from '../../server/store/devices.ts';
import type { Device } from '../../server/store/rows.ts';

/** A device that is known (model and version read) but offline, so no request goes out to it. */
export async function offlineDevice(db: Db, endpoint: string, hardwareClass: string | null = 'sim-1'): Promise<Device> {
  const { device } = await devices.register(db, {
    endpoint, registrationId: `r-${endpoint}`, lifetime: 60, lwm2mVersion: '1.1', binding: 'U', queueMode: false,
    objectLinks: '</5/0>', address: '127.0.0.1', port: 9,
  });
  await devices.setDeviceInfo(db, device.id, { manufacturer: 'm', modelNumber: hardwareClass, hardwareVersion: null, firmwareVersion: '1.0.0', hardwareClass });
  await devices.deregister(db, `r-${endpoint}`);
  return device;
}
