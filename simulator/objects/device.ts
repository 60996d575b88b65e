/**
 * Object 3, Device, instance 0 (LwM2M 1.1 Core, Appendix E.4). Read-only identity and status,
 * plus Reboot (/3/0/4), which the device runs after the 2.04 has gone out.
 */
import { DeviceObject as Object3 } from '../../protocols/objects.ts';
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
  readonly objectId = Object3.OBJECT_ID;
  readonly instanceId = 0;
  readonly objectVersion = '1.1';
  readonly resources: readonly ResourceDef[] = [
    { id: Object3.MANUFACTURER, kind: 'string', ops: 'R' },
    { id: Object3.MODEL_NUMBER, kind: 'string', ops: 'R' },
    { id: Object3.SERIAL_NUMBER, kind: 'string', ops: 'R' },
    { id: Object3.FIRMWARE_VERSION, kind: 'string', ops: 'R' },
    { id: Object3.REBOOT, kind: 'string', ops: 'E' },
    { id: Object3.BATTERY_LEVEL, kind: 'integer', ops: 'R' },
    { id: Object3.MEMORY_FREE, kind: 'integer', ops: 'R' },
    { id: ERROR_CODE, kind: 'integers', ops: 'R' },
    { id: SUPPORTED_BINDINGS, kind: 'string', ops: 'R' },
    { id: DEVICE_TYPE, kind: 'string', ops: 'R' },
    { id: Object3.HARDWARE_VERSION, kind: 'string', ops: 'R' },
    { id: Object3.SOFTWARE_VERSION, kind: 'string', ops: 'R' },
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
      case Object3.MANUFACTURER:
        return str(i.manufacturer);
      case Object3.MODEL_NUMBER:
        return str(i.modelNumber);
      case Object3.SERIAL_NUMBER:
        return str(i.serialNumber);
      case Object3.FIRMWARE_VERSION:
      case Object3.SOFTWARE_VERSION:
        return str(i.firmwareVersion);
      case Object3.BATTERY_LEVEL:
        return int(i.batteryLevel);
      case Object3.MEMORY_FREE:
        return int(i.memoryFreeKiB);
      case ERROR_CODE:
        return { kind: 'integers', value: [0] }; // 0 = no error
      case SUPPORTED_BINDINGS:
        return str('U');
      case DEVICE_TYPE:
        return str('simulator');
      case Object3.HARDWARE_VERSION:
        return str(i.hardwareVersion);
      default:
        return undefined;
    }
  }

  write(id: number): DmResult {
    return fail('4.05', `/3/0/${id} is read-only`);
  }

  execute(id: number): DmResult {
    if (id !== Object3.REBOOT) return fail('4.05', `/3/0/${id} is not executable`);
    return ok(() => this.#reboot());
  }
}
