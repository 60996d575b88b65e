/**
 * Object 3, Device, instance 0 (LwM2M 1.1 Core, Appendix E.4). Read-only identity and status,
 * plus Reboot (/3/0/4), which the device runs after the 2.04 has gone out.
 */
import { Device } from '../../protocols/objects.ts';
import { fail, int, ok, str } from './model.ts';
import type { DmResult, ObjectInstance, ResourceDef, ResourceValue } from './model.ts';

const ERROR_CODE = 11;
const SUPPORTED_BINDINGS = 16;
const DEVICE_TYPE = 17;

export interface DeviceInfo {
  manufacturer: string;
  modelNumber: string;
  serialNumber: string;
  hardwareVersion: string;
  firmwareVersion: string;
  batteryLevel: number;
  memoryFreeKiB: number;
}

export class DeviceObject implements ObjectInstance {
  readonly objectId = Device.OBJECT_ID;
  readonly instanceId = 0;
  readonly objectVersion = '1.1';
  readonly resources: readonly ResourceDef[] = [
    { id: Device.MANUFACTURER, kind: 'string', ops: 'R' },
    { id: Device.MODEL_NUMBER, kind: 'string', ops: 'R' },
    { id: Device.SERIAL_NUMBER, kind: 'string', ops: 'R' },
    { id: Device.FIRMWARE_VERSION, kind: 'string', ops: 'R' },
    { id: Device.REBOOT, kind: 'string', ops: 'E' },
    { id: Device.BATTERY_LEVEL, kind: 'integer', ops: 'R' },
    { id: Device.MEMORY_FREE, kind: 'integer', ops: 'R' },
    { id: ERROR_CODE, kind: 'integers', ops: 'R' },
    { id: SUPPORTED_BINDINGS, kind: 'string', ops: 'R' },
    { id: DEVICE_TYPE, kind: 'string', ops: 'R' },
    { id: Device.HARDWARE_VERSION, kind: 'string', ops: 'R' },
    { id: Device.SOFTWARE_VERSION, kind: 'string', ops: 'R' },
  ];
  readonly info: DeviceInfo;
  readonly #reboot: () => void;

  constructor(info: DeviceInfo, reboot: () => void) {
    this.info = info;
    this.#reboot = reboot;
  }

  read(id: number): ResourceValue | undefined {
    const i = this.info;
    switch (id) {
      case Device.MANUFACTURER:
        return str(i.manufacturer);
      case Device.MODEL_NUMBER:
        return str(i.modelNumber);
      case Device.SERIAL_NUMBER:
        return str(i.serialNumber);
      case Device.FIRMWARE_VERSION:
      case Device.SOFTWARE_VERSION:
        return str(i.firmwareVersion);
      case Device.BATTERY_LEVEL:
        return int(i.batteryLevel);
      case Device.MEMORY_FREE:
        return int(i.memoryFreeKiB);
      case ERROR_CODE:
        return { kind: 'integers', value: [0] }; // 0 = no error
      case SUPPORTED_BINDINGS:
        return str('U');
      case DEVICE_TYPE:
        return str('simulator');
      case Device.HARDWARE_VERSION:
        return str(i.hardwareVersion);
      default:
        return undefined;
    }
  }

  write(id: number): DmResult {
    return fail('4.05', `/3/0/${id} is read-only`);
  }

  execute(id: number): DmResult {
    if (id !== Device.REBOOT) return fail('4.05', `/3/0/${id} is not executable`);
    return ok(() => this.#reboot());
  }
}
