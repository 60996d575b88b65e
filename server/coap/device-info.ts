/**
 * The follow-up Read of a registration: /3/0 (LwM2M Device object) in the format the device
 * prefers (its `ct`, else SenML-CBOR for 1.1+, TLV for 1.0), decoded from whatever format it
 * answers in, into the inventory fields; and the device's hardware class derived from them.
 */
import { DeviceObject } from '../../protocols/objects.ts';
import type { DeviceInfo } from '../store/devices.ts';
import type { DmClient, Target } from './dm-client.ts';
import { Lwm2mOperations, type DeviceFormats } from './lwm2m-operations.ts';

export type HardwareClassSource = 'model' | 'manufacturer-model' | 'hardware-version';
export const HARDWARE_CLASS_SOURCES: readonly HardwareClassSource[] = ['model', 'manufacturer-model', 'hardware-version'];

export async function readDeviceInfo(dm: DmClient, target: Target, formats: DeviceFormats, classFrom: HardwareClassSource): Promise<DeviceInfo> {
  const { nodes } = await new Lwm2mOperations(dm).read(target, formats, { objectId: DeviceObject.OBJECT_ID, instanceId: 0 });
  const text = (id: number): string | null => {
    const v = nodes.find((n) => n.path.resourceId === id && n.path.resourceInstanceId === undefined)?.value;
    return typeof v === 'string' ? v : null;
  };
  const manufacturer = text(DeviceObject.MANUFACTURER);
  const modelNumber = text(DeviceObject.MODEL_NUMBER);
  const hardwareVersion = text(DeviceObject.HARDWARE_VERSION);
  const firmwareVersion = text(DeviceObject.FIRMWARE_VERSION);
  return { manufacturer, modelNumber, hardwareVersion, firmwareVersion, hardwareClass: hardwareClass(classFrom, manufacturer, modelNumber, hardwareVersion) };
}

/** The hardware class --hardware-class-from names, from the /3/0 fields; null when a field it needs is missing. */
export function hardwareClass(from: HardwareClassSource, manufacturer: string | null, model: string | null, hw: string | null): string | null {
  switch (from) {
    case 'model': return model;
    case 'hardware-version': return hw;
    case 'manufacturer-model': return manufacturer !== null && model !== null ? `${manufacturer}/${model}` : null;
  }
}
