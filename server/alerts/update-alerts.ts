/** The alerts one update's transition raises: stalled past its timeout, or an integrity failure (pull or push). */
import { UpdateResult } from '../../protocols/objects.ts';
import type { UpdateEvent } from '../fota/decide.ts';
import type { UpdateState } from '../fota/model.ts';
import type { DeviceUpdate } from '../store/rows.ts';
import type { AlertInput } from './kinds.ts';

/** `moved`: the update as the transition left it; `from`: its state before. */
export function updateAlert(moved: DeviceUpdate, from: UpdateState, event: UpdateEvent, timeoutSeconds: number): AlertInput | undefined {
  if (moved.state !== 'failed') return undefined;
  const ids = { deviceId: moved.deviceId, updateId: moved.id };
  const data = { firmwareId: moved.firmwareId, from, delivery: moved.delivery, reason: moved.reason };
  if (event.type === 'timeout') {
    return { kind: 'update.stalled', ...ids, message: `update ${moved.id} stalled in ${from}: the device was silent for ${timeoutSeconds} s`, data: { ...data, timeoutSeconds } };
  }
  // LwM2M Object 5, resource 5 (Update Result) = 5: integrity check failure of the downloaded package.
  if (moved.resultCode === UpdateResult.INTEGRITY_CHECK_FAILURE) {
    return { kind: 'update.integrity', ...ids, message: `update ${moved.id}: the device reported an integrity check failure (Update Result 5)`, data: { ...data, resultCode: moved.resultCode } };
  }
  return undefined;
}
