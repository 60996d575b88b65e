/**
 * What the update engine asks of a device: the LwM2M Device Management operations (Read, Write,
 * Execute, Observe) it sends to Object 5 and /3/0/3, and how one can fail, as values of its own.
 * The engine knows no transport: the CoAP layer puts its DM client behind this interface.
 */

/** Where requests to one registered device go: the address and port it registered from, under the alternate root path it announced. */
export interface DeviceAddress {
  endpoint: string;
  address: string;
  port: number;
  /** The registration's alternate root path ('/' unless the device named one). */
  rootPath?: string;
  /** The device registered over DTLS: requests go through its session, and its Package URI is coaps://. */
  secure?: boolean;
}

/** Where requests to the device go; undefined when it has no address (not registered). */
export function addressOf(d: { endpoint: string; address: string | null; port: number | null; rootPath: string; securityMode?: string }): DeviceAddress | undefined {
  if (!d.address || !d.port) return undefined;
  return { endpoint: d.endpoint, address: d.address, port: d.port, rootPath: d.rootPath, secure: d.securityMode === 'psk' };
}

/** A value as the device sent it: the payload, in its Content-Format. */
export interface DeviceContent {
  contentFormat?: number;
  payload: Buffer;
}

/**
 * Why a request got no success: no answer in time ('timeout'); an error answer ('refused', e.g.
 * 4.04 for a resource the device lacks, 4.00 for a package it will not take); the request could not
 * go out ('transport'); or it was called off before it went ('cancelled': the device left, the
 * server is shutting down).
 */
export type DeviceErrorKind = 'timeout' | 'refused' | 'transport' | 'cancelled';

export class DeviceError extends Error {
  readonly kind: DeviceErrorKind;
  /** The CoAP response code of a 'refused', e.g. '4.04'. */
  readonly code?: string;
  constructor(kind: DeviceErrorKind, message: string, code?: string) {
    super(message);
    this.name = 'DeviceError';
    this.kind = kind;
    if (code !== undefined) this.code = code;
  }
}

/** The operations on one device; each fails with a DeviceError (or a DecodeError the caller makes of a value). */
export interface DevicePort {
  /** Read: the resource's value, in the format asked for where the device has it. */
  read(to: DeviceAddress, path: string, accept: number): Promise<DeviceContent>;
  /** Write (replace): the device answered 2.04 Changed. */
  write(to: DeviceAddress, path: string, payload: Buffer, contentFormat: number): Promise<void>;
  /** Write (replace) block by block (Block1, RFC 7959 §2.3); `onBlock` runs after each block the device answered. */
  writeBlockwise(
    to: DeviceAddress, path: string, payload: Buffer, contentFormat: number, onBlock?: () => void,
  ): Promise<{ blocks: number; szx: number }>;
  /** Execute: the device answered 2.04 Changed. */
  execute(to: DeviceAddress, path: string): Promise<void>;
  /** Observe (RFC 7641): resolves with the first value; every value, the first included, goes to `onValue`. */
  observe(to: DeviceAddress, path: string, accept: number, onValue: (v: DeviceContent) => void): Promise<DeviceContent>;
  /** Cancel Observe of `path`; false when there was none. */
  cancelObserve(endpoint: string, path: string): boolean;
  /** Requests held for a queue-mode device asleep (LwM2M Core §6.5): they go out when it next talks. */
  heldFor(endpoint: string): number;
}

/** The bytes a device receives for an image (the whole package, or only its payload); undefined when the image is gone. */
export interface PackageSource {
  get(id: number): Promise<{ payload: Buffer } | undefined>;
}
