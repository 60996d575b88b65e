/**
 * The update engine's device port (fota/device-port.ts) over the DM client: requests queued and
 * observations shared as dm-client.ts does it (the engine observes as owner 'engine'), and a
 * DmError turned into a DeviceError of the same kind (an error answer, 'response', is 'refused').
 */
import { DeviceError, type DeviceErrorKind, type DevicePort } from '../fota/device-port.ts';
import { DmError, type DmClient } from './dm-client.ts';

const KINDS: Record<DmError['kind'], DeviceErrorKind> = { timeout: 'timeout', response: 'refused', transport: 'transport', cancelled: 'cancelled' };

export function dmDevicePort(dm: DmClient): DevicePort {
  return {
    read: (to, path, accept) => settle(dm.read(to, path, accept)),
    write: async (to, path, payload, contentFormat) => { await settle(dm.write(to, path, payload, contentFormat)); },
    writeBlockwise: (to, path, payload, contentFormat, onBlock) =>
      settle(dm.writeBlockwise(to, path, payload, contentFormat, onBlock ? { onBlock } : {})),
    execute: async (to, path) => { await settle(dm.execute(to, path)); },
    observe: (to, path, accept, onValue) => settle(dm.observe(to, path, accept, onValue)),
    cancelObserve: (endpoint, path) => dm.cancelObserve(endpoint, path),
    heldFor: (endpoint) => dm.heldFor(endpoint),
  };
}

export function deviceError(err: DmError): DeviceError {
  return new DeviceError(KINDS[err.kind], err.message, err.coapCode);
}

function settle<T>(request: Promise<T>): Promise<T> {
  return request.catch((err: unknown) => { throw err instanceof DmError ? deviceError(err) : err; });
}
