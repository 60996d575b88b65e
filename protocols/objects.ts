/**
 * Resource IDs and codes of the LwM2M objects Ferry uses, named as the OMA object definitions
 * name them (LwM2M 1.1 Core Appendix E; OMA LwM2M registry, objects 0, 1, 3 and 5).
 */

/** Object 0, LwM2M Security. */
export const Security = { OBJECT_ID: 0 } as const;

/** Object 1, LwM2M Server. */
export const Server = { OBJECT_ID: 1, SHORT_SERVER_ID: 0, LIFETIME: 1, BINDING: 7 } as const;

/** Object 3, Device (named DeviceObject: a Device is an inventory row). */
export const DeviceObject = {
  OBJECT_ID: 3,
  MANUFACTURER: 0,
  MODEL_NUMBER: 1,
  SERIAL_NUMBER: 2,
  FIRMWARE_VERSION: 3,
  REBOOT: 4,
  BATTERY_LEVEL: 9,
  MEMORY_FREE: 10,
  HARDWARE_VERSION: 18,
  SOFTWARE_VERSION: 19,
} as const;

/** Object 5, Firmware Update. */
export const FirmwareUpdate = {
  OBJECT_ID: 5,
  PACKAGE: 0,
  PACKAGE_URI: 1,
  UPDATE: 2,
  STATE: 3,
  UPDATE_RESULT: 5,
  PKG_NAME: 6,
  PKG_VERSION: 7,
  PROTOCOL_SUPPORT: 8,
  DELIVERY_METHOD: 9,
  CANCEL: 10,
  SEVERITY: 11,
  LAST_STATE_CHANGE_TIME: 12,
  MAXIMUM_DEFER_PERIOD: 13,
} as const;

/** Object 5 resource 3, State. */
export const FirmwareState = { IDLE: 0, DOWNLOADING: 1, DOWNLOADED: 2, UPDATING: 3 } as const;

/** Object 5 resource 9, Firmware Update Delivery Method. */
export const DeliveryMethod = { PULL_ONLY: 0, PUSH_ONLY: 1, BOTH: 2 } as const;

/** Object 5 resource 8, Firmware Update Protocol Support: the protocols a device pulls over. */
export const FirmwareUpdateProtocol = { COAP: 0, COAPS: 1, HTTP: 2, HTTPS: 3, COAP_TCP: 4, COAP_TLS: 5 } as const;

const PROTOCOL_NAMES: readonly string[] = ['CoAP', 'CoAPS', 'HTTP 1.1', 'HTTPS 1.1', 'CoAP over TCP', 'CoAP over TLS'];

/** A short name for a resource 8 value: 'CoAP', 'HTTPS 1.1', 'unknown (9)'. */
export function protocolName(code: number): string {
  return (Number.isInteger(code) ? PROTOCOL_NAMES[code] : undefined) ?? `unknown (${code})`;
}

/** Object 5 resource 5, Update Result. */
export const UpdateResult = {
  INITIAL: 0,
  SUCCESS: 1,
  NOT_ENOUGH_FLASH: 2,
  OUT_OF_RAM: 3,
  CONNECTION_LOST: 4,
  INTEGRITY_CHECK_FAILURE: 5,
  UNSUPPORTED_PACKAGE_TYPE: 6,
  INVALID_URI: 7,
  UPDATE_FAILED: 8,
  UNSUPPORTED_PROTOCOL: 9,
  CANCELLED: 10,
  DEFERRED: 11,
} as const;

const UPDATE_RESULT_NAMES: readonly string[] = [
  'initial',
  'success',
  'not enough flash',
  'out of RAM',
  'connection lost',
  'integrity check failure',
  'unsupported package type',
  'invalid URI',
  'update failed',
  'unsupported protocol',
  'cancelled',
  'deferred',
];

/** A short human name for an Update Result code: 'success', 'integrity check failure', 'unknown (42)'. */
export function updateResultName(code: number): string {
  const name = Number.isInteger(code) ? UPDATE_RESULT_NAMES[code] : undefined;
  return name ?? `unknown (${code})`;
}
