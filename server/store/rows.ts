/** Row shapes as the store returns them (snake_case columns mapped to the names the API uses). */
export type DeviceStatus = 'registered' | 'expired' | 'deregistered';

export interface RegisteredObject {
  objectId: number;
  version?: string;
  instances: number[];
}

export interface Device {
  id: number;
  endpoint: string;
  registrationId: string | null;
  status: DeviceStatus;
  lifetime: number;
  lwm2mVersion: string;
  binding: string;
  queueMode: boolean;
  smsNumber: string | null;
  objectLinks: string;
  address: string | null;
  port: number | null;
  manufacturer: string | null;
  modelNumber: string | null;
  hardwareVersion: string | null;
  firmwareVersion: string | null;
  hardwareClass: string | null;
  registeredAt: Date;
  lastSeen: Date;
  expiresAt: Date;
  rootPath: string;
  contentFormats: number[];
  objects: RegisteredObject[];
}

export type UpdateState =
  | 'queued' | 'sent' | 'downloading' | 'downloaded' | 'updating'
  | 'succeeded' | 'failed' | 'cancelled';

/** How a package reached the device: the device pulled the Package URI, or the server pushed /5/0/0. */
export type Delivery = 'pull' | 'push';

export const FINAL_STATES: readonly UpdateState[] = ['succeeded', 'failed', 'cancelled'];

export interface DeviceUpdate {
  id: number;
  deviceId: number;
  firmwareId: number;
  state: UpdateState;
  resultCode: number | null;
  reason: string | null;
  reportedVersion: string | null;
  versionMismatch: boolean;
  /** Null until the engine has read the device's Delivery Method. */
  delivery: Delivery | null;
  createdAt: Date;
  updatedAt: Date;
  deadline: Date | null;
  finishedAt: Date | null;
}

export interface FirmwareImage {
  id: number;
  version: string;
  hardwareClass: string;
  size: number;
  sha256: string;
  delivery: 'package' | 'payload';
  /** From the signed manifest; null for images stored before signing. */
  sequence: number | null;
  vendorId: string | null;
  /** COSE kid of the key that signed the manifest, hex. */
  keyId: string | null;
  createdAt: Date;
}

/** snake_case → camelCase for one row. */
export function camelRow<T>(row: Record<string, unknown>): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) out[k.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase())] = v;
  return out as T;
}
