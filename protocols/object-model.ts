/**
 * Resource types of the objects Ferry reads and writes: 0 Security, 1 Server, 3 Device and
 * 5 Firmware Update, version 1.1 of each (OMA LwM2M registry; LwM2M 1.1 Core Appendix E), and
 * 19 BinaryAppDataContainer 1.0 (OMA LwM2M registry).
 * TLV and plain text carry untyped bytes, so their decoders need this; the self-describing
 * formats use it to check values. `none` marks an executable resource.
 */
import type { ResourceType, TypeOf } from './lwm2m-node.ts';
import type { Lwm2mPath } from './path.ts';

export interface ResourceModel {
  name: string;
  type: ResourceType | 'none';
  multiple: boolean;
}

type Row = [id: number, name: string, type: ResourceType | 'none', multiple?: 'multiple'];

const SECURITY: Row[] = [
  [0, 'LwM2M Server URI', 'string'],
  [1, 'Bootstrap-Server', 'boolean'],
  [2, 'Security Mode', 'integer'],
  [3, 'Public Key or Identity', 'opaque'],
  [4, 'Server Public Key', 'opaque'],
  [5, 'Secret Key', 'opaque'],
  [6, 'SMS Security Mode', 'integer'],
  [7, 'SMS Binding Key Parameters', 'opaque'],
  [8, 'SMS Binding Secret Key(s)', 'opaque'],
  [9, 'LwM2M Server SMS Number', 'string'],
  [10, 'Short Server ID', 'integer'],
  [11, 'Client Hold Off Time', 'integer'],
  [12, 'Bootstrap-Server Account Timeout', 'integer'],
  [13, 'Matching Type', 'unsignedInteger'],
  [14, 'SNI', 'string'],
  [15, 'Certificate Usage', 'unsignedInteger'],
  [16, 'DTLS/TLS Ciphersuite', 'unsignedInteger', 'multiple'],
  [17, 'OSCORE Security Mode', 'objlnk'],
];

const SERVER: Row[] = [
  [0, 'Short Server ID', 'integer'],
  [1, 'Lifetime', 'integer'],
  [2, 'Default Minimum Period', 'integer'],
  [3, 'Default Maximum Period', 'integer'],
  [4, 'Disable', 'none'],
  [5, 'Disable Timeout', 'integer'],
  [6, 'Notification Storing When Disabled or Offline', 'boolean'],
  [7, 'Binding', 'string'],
  [8, 'Registration Update Trigger', 'none'],
  [9, 'Bootstrap-Request Trigger', 'none'],
  [10, 'APN Link', 'objlnk'],
  [11, 'TLS-DTLS Alert Code', 'unsignedInteger'],
  [12, 'Last Bootstrapped', 'time'],
  [13, 'Registration Priority Order', 'unsignedInteger'],
  [14, 'Initial Registration Delay Timer', 'unsignedInteger'],
  [15, 'Registration Failure Block', 'boolean'],
  [16, 'Bootstrap on Registration Failure', 'boolean'],
  [17, 'Communication Retry Count', 'unsignedInteger'],
  [18, 'Communication Retry Timer', 'unsignedInteger'],
  [19, 'Communication Sequence Delay Timer', 'unsignedInteger'],
  [20, 'Communication Sequence Retry Count', 'unsignedInteger'],
  [21, 'Trigger', 'boolean'],
  [22, 'Preferred Transport', 'string'],
  [23, 'Mute Send', 'boolean'],
];

const DEVICE: Row[] = [
  [0, 'Manufacturer', 'string'],
  [1, 'Model Number', 'string'],
  [2, 'Serial Number', 'string'],
  [3, 'Firmware Version', 'string'],
  [4, 'Reboot', 'none'],
  [5, 'Factory Reset', 'none'],
  [6, 'Available Power Sources', 'integer', 'multiple'],
  [7, 'Power Source Voltage', 'integer', 'multiple'],
  [8, 'Power Source Current', 'integer', 'multiple'],
  [9, 'Battery Level', 'integer'],
  [10, 'Memory Free', 'integer'],
  [11, 'Error Code', 'integer', 'multiple'],
  [12, 'Reset Error Code', 'none'],
  [13, 'Current Time', 'time'],
  [14, 'UTC Offset', 'string'],
  [15, 'Timezone', 'string'],
  [16, 'Supported Binding and Modes', 'string'],
  [17, 'Device Type', 'string'],
  [18, 'Hardware Version', 'string'],
  [19, 'Software Version', 'string'],
  [20, 'Battery Status', 'integer'],
  [21, 'Memory Total', 'integer'],
  [22, 'ExtDevInfo', 'objlnk', 'multiple'],
];

const FIRMWARE_UPDATE: Row[] = [
  [0, 'Package', 'opaque'],
  [1, 'Package URI', 'string'],
  [2, 'Update', 'none'],
  [3, 'State', 'integer'],
  [5, 'Update Result', 'integer'],
  [6, 'PkgName', 'string'],
  [7, 'PkgVersion', 'string'],
  [8, 'Firmware Update Protocol Support', 'integer', 'multiple'],
  [9, 'Firmware Update Delivery Method', 'integer'],
  [10, 'Cancel', 'none'],
  [11, 'Severity', 'integer'],
  [12, 'Last State Change Time', 'time'],
  [13, 'Maximum Defer Period', 'unsignedInteger'],
];

const APP_DATA: Row[] = [
  [0, 'Data', 'opaque', 'multiple'],
  [1, 'Data Priority', 'integer'],
  [2, 'Data Creation Time', 'time'],
  [3, 'Data Description', 'string'],
  [4, 'Data Format', 'string'],
  [5, 'App ID', 'integer'],
];

const table = (rows: Row[]): ReadonlyMap<number, ResourceModel> =>
  new Map(rows.map(([id, name, type, multiple]) => [id, { name, type, multiple: multiple === 'multiple' }]));

const OBJECTS: ReadonlyMap<number, ReadonlyMap<number, ResourceModel>> = new Map([
  [0, table(SECURITY)],
  [1, table(SERVER)],
  [3, table(DEVICE)],
  [5, table(FIRMWARE_UPDATE)],
  [19, table(APP_DATA)],
]);

/** The model of one resource of objects 0, 1, 3, 5 or 19; undefined for anything else. */
export function resourceModel(objectId: number, resourceId: number): ResourceModel | undefined {
  return OBJECTS.get(objectId)?.get(resourceId);
}

/** The built-in TypeOf: the type of a resource (or resource instance) path of objects 0, 1, 3, 5, 19. */
export const defaultTypeOf: TypeOf = (path: Lwm2mPath) => {
  if (path.resourceId === undefined) return undefined;
  const model = resourceModel(path.objectId, path.resourceId);
  return model === undefined || model.type === 'none' ? undefined : model.type;
};
