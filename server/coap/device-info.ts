/**
 * The follow-up Read of a registration: /3/0 (LwM2M Device object) as TLV, decoded into the
 * inventory fields, and the device's hardware class derived from them.
 */
import { ContentFormat } from '../../protocols/content-format.ts';
import { Device } from '../../protocols/objects.ts';
import { decodeTlvString, tlvResources } from '../../protocols/tlv.ts';
import type { DeviceInfo } from '../store/devices.ts';
import type { DmClient, Target } from './dm-client.ts';

export type HardwareClassSource = 'model' | 'manufacturer-model' | 'hardware-version';
export const HARDWARE_CLASS_SOURCES: readonly HardwareClassSource[] = ['model', 'manufacturer-model', 'hardware-version'];

export async function readDeviceInfo(dm: DmClient, target: Target, classFrom: HardwareClassSource): Promise<DeviceInfo> {
  const res = await dm.read(target, `/${Device.OBJECT_ID}/0`, ContentFormat.TLV);
  if (res.contentFormat !== ContentFormat.TLV) {
    throw new Error(`device answered /3/0 in content-format ${res.contentFormat ?? 'none'}, not TLV`);
  }
  const resources = tlvResources(res.payload);
  const text = (id: number): string | null => {
    const v = resources.get(id)?.value;
    return v === undefined ? null : decodeTlvString(v);
  };
  const manufacturer = text(Device.MANUFACTURER);
  const modelNumber = text(Device.MODEL_NUMBER);
  const hardwareVersion = text(Device.HARDWARE_VERSION);
  const firmwareVersion = text(Device.FIRMWARE_VERSION);
  return { manufacturer, modelNumber, hardwareVersion, firmwareVersion, hardwareClass: hardwareClass(classFrom, manufacturer, modelNumber, hardwareVersion) };
}

function hardwareClass(from: HardwareClassSource, manufacturer: string | null, model: string | null, hw: string | null): string | null {
  switch (from) {
    case 'model': return model;
    case 'hardware-version': return hw;
    case 'manufacturer-model': return manufacturer !== null && model !== null ? `${manufacturer}/${model}` : null;
  }
}
