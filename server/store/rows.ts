/** Row shapes as the store returns them (snake_case columns mapped to the names the API uses). */
import { FINAL_STATES, type CampaignDeviceState, type CampaignPolicy, type CampaignState, type Delivery, type UpdateState } from '../fota/model.ts';

/**
 * A registration's state; 'provisioned': made by provisioning its credentials, never registered yet;
 * 'decommissioned': taken out of the fleet for good (its Registers are refused).
 */
export type DeviceStatus = 'registered' | 'expired' | 'deregistered' | 'provisioned' | 'decommissioned';
export const DEVICE_STATUSES: readonly DeviceStatus[] = ['registered', 'expired', 'deregistered', 'provisioned', 'decommissioned'];

/** LwM2M Security Mode of a registration: a DTLS session with a pre-shared key, or plain CoAP. */
export type SecurityMode = 'psk' | 'nosec';

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
  /** Null while 'provisioned' (never registered), as are registeredAt, lastSeen and expiresAt. */
  lifetime: number | null;
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
  registeredAt: Date | null;
  lastSeen: Date | null;
  expiresAt: Date | null;
  rootPath: string;
  contentFormats: number[];
  objects: RegisteredObject[];
  tags: string[];
  /** The node holding the device's UDP binding (several nodes share one database). */
  ownerNode: string | null;
  /** How the current (or last) registration came, and how requests to the device go. */
  securityMode: SecurityMode;
  /** Marked a testbed by an operator (never by the device): testbed campaigns update only these. */
  testbed: boolean;
  /** When and why it was decommissioned; null unless its status is 'decommissioned'. */
  decommissionedAt: Date | null;
  decommissionReason: string | null;
}

/** FINAL_STATES (model.ts) as an SQL list, for `state IN (…)` / `NOT IN (…)`. */
export const FINAL_STATES_SQL = FINAL_STATES.map((s) => `'${s}'`).join(', ');

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
  /** The campaign that started it; null for a one-off update. */
  campaignId: number | null;
  /** A delivery the campaign forces where the device can take it; null: the device's choice. */
  requestedDelivery: Delivery | null;
  /** Object 5 res. 11 to write before the Package URI (0 critical, 1 mandatory, 2 optional); null: none. */
  severity: number | null;
  /** Object 5 res. 13 (LwM2M 1.1), read when the update started; null: not read or not there. */
  maxDeferSeconds: number | null;
  /** The device's firmware version when the update was made (null: unknown), and that release's original image (null: Ferry holds none). */
  fromVersion: string | null;
  fromFirmwareId: number | null;
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
  /** The name of that key in the trusted keys registry (server-signing: this server signed it); null when the registry has no such key. */
  keyName: string | null;
  /** The unguessable name Package URIs give the image (/fw/<name>). */
  downloadName: string;
  createdAt: Date;
  /** Where the release is in its life: uploaded → testing → approved → deprecated | revoked. */
  state: ReleaseState;
  stateChangedAt: Date | null;
  /** Who signed the manifest: the release machine ('uploader') or this server ('server', --signing-key). */
  signedBy: 'uploader' | 'server';
  /** The user who uploaded it (id and name); null for images stored before users existed. */
  uploadedBy: number | null;
  uploadedByUser: string | null;
  /** A re-issue: the original image (same class, version and payload) this one signs again with a higher sequence number. */
  reissueOf: number | null;
}

export const RELEASE_STATES = ['uploaded', 'testing', 'approved', 'deprecated', 'revoked'] as const;
export type ReleaseState = (typeof RELEASE_STATES)[number];

/** snake_case → camelCase for one row. */
export function camelRow<T>(row: Record<string, unknown>): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) out[k.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase())] = v;
  return out as T;
}

export interface CampaignTarget {
  /** Must be the image's class when given; devices are always matched on the image's class. */
  hardwareClass?: string;
  /** Every tag must be on the device. */
  tags?: string[];
  /** The device's current firmware version is one of these. */
  firmwareVersions?: string[];
  endpoints?: string[];
}

export interface Campaign {
  id: number;
  name: string;
  firmwareId: number;
  target: CampaignTarget;
  policy: CampaignPolicy;
  state: CampaignState;
  currentWave: number;
  waveDoneAt: Date | null;
  ackedFailed: number;
  pauseReason: string | null;
  startAt: Date | null;
  createdBy: string;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  /** A revert campaign: the campaign it undoes, and the version it takes the devices back to. */
  reverts: number | null;
  revertOfRelease: string | null;
  /** Paused by its failure threshold with autoRevert: it reverts once its updates in flight have finished. */
  revertPending: boolean;
  /** A testbed campaign: only devices marked testbed take part; it tries images not approved yet. */
  testbed: boolean;
}
