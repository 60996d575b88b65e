/** JSON schemas shared by the routes (Fastify validates requests and serialises responses with them). */
import { DEVICE_STATUSES, RELEASE_STATES } from '../store/rows.ts';
import { HttpError } from './errors.ts';
/** Ids are bigint in the store and exact in JSON only up to 2^53 − 1: every id the API takes is in 1 … MAX_ID. */
export const MAX_ID = Number.MAX_SAFE_INTEGER;
export const id = { type: 'integer', minimum: 1, maximum: MAX_ID } as const;
/** An id in the path (text, coerced to an integer). */
export const idParam = id;
/** No control characters (C0, DEL, C1): PostgreSQL text and jsonb refuse NUL, and the rest has no place in a name. */
const NO_CONTROLS = '^[^\\u0000-\\u001f\\u007f-\\u009f]+$';
/** A name or a note an operator writes (a campaign's name, a pause reason): 1 to `max` characters, no control characters. */
export const freeText = (max: number) => ({ type: 'string', minLength: 1, maxLength: max, pattern: NO_CONTROLS }) as const;
/** As the registration interface takes `ep`: 1 to 255 characters, no control characters (Postgres text refuses NUL). */
export const endpointParam = freeText(255);
/** Path parameters: `:id`, `:endpoint`. */
export const idParams = { type: 'object', required: ['id'], additionalProperties: false, properties: { id: idParam } } as const;
export const endpointParams = { type: 'object', required: ['endpoint'], additionalProperties: false, properties: { endpoint: endpointParam } } as const;
/** A version or hardware class: printable ASCII, no spaces. */
export const label = { type: 'string', minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]+$' } as const;
/** An instant in a querystring or a body (RFC 3339 with its offset), years 1000 to 2999 so the database takes every one. */
export const instantParam = { type: 'string', format: 'date-time', maxLength: 40, pattern: '^[12][0-9]{3}-' } as const;
/** A page size. */
export const limitParam = { type: 'integer', minimum: 1, maximum: 1000 } as const;
/** The cursor: the last id of the previous page. */
export const afterParam = { ...id, minimum: 0, description: 'the last id of the previous page (its `next`)' } as const;

/** An instantParam as a Date; a 400 for one JavaScript cannot represent (a leap second). */
export function instant(v: string | undefined, name: string): Date | undefined {
  if (v === undefined) return undefined;
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new HttpError('FERRY_VALIDATION', `${name}: ${v} is not an instant this server can use`);
  return d;
}

/** A page of `items`, and the cursor of the next one (null on the last page). */
export function page<T extends { id: number }>(items: T[], limit: number): { items: T[]; next: number | null } {
  return { items, next: items.length === limit ? items[items.length - 1]!.id : null };
}
export const pageBody = (item: object) => ({
  type: 'object', properties: { items: { type: 'array', items: item }, next: { type: ['integer', 'null'], description: 'pass as ?after= for the next page' } },
} as const);

const nullableString = { type: ['string', 'null'] } as const;
export const dateTime = { type: 'string', format: 'date-time' } as const;
export const nullableDateTime = { type: ['string', 'null'], format: 'date-time' } as const;

/** Every error answer's body; `code` is stable (the README lists them), the message is for people. */
export const errorBody = {
  type: 'object',
  properties: {
    statusCode: { type: 'integer' }, error: { type: 'string' }, message: { type: 'string' },
    code: { type: 'string', pattern: '^FERRY_[A-Z0-9_]+$', description: 'what went wrong, e.g. FERRY_DEVICE_NOT_FOUND (see the README\'s error codes)' },
  },
} as const;

export const firmwareBody = {
  type: 'object',
  properties: {
    id: { type: 'integer' }, version: { type: 'string' }, hardwareClass: { type: 'string' },
    size: { type: 'integer' }, sha256: { type: 'string' }, delivery: { type: 'string' }, createdAt: dateTime,
    sequence: { type: ['integer', 'null'] }, vendorId: nullableString, keyId: nullableString,
    keyName: { ...nullableString, description: 'the signing key\'s name in the trusted keys registry (GET /api/v1/keys); server-signing: this server signed a raw upload (--signing-key); null: no key of that kid is listed' },
    downloadName: { type: 'string', description: 'the unguessable name devices fetch the image by: GET /fw/<downloadName> (over DTLS, only within the session of a device updating with it)' },
    state: { type: 'string', enum: RELEASE_STATES, description: 'the release\'s life: uploaded → testing (a testbed campaign runs it) → approved (by an approver other than its uploader, with testbed evidence) → deprecated or revoked' },
    stateChangedAt: nullableDateTime,
    signedBy: { type: 'string', enum: ['uploader', 'server'], description: 'uploader: the package came signed from the release machine; server: this server signed a raw image (--signing-key, a lab mode)' },
    uploadedBy: { type: ['integer', 'null'], description: 'the id of the user who uploaded it' },
    uploadedByUser: { ...nullableString, description: 'that user\'s name (null for images stored before users existed)' },
    reissueOf: { type: ['integer', 'null'], description: 'a re-issue: the original image whose payload this one signs again with a higher sequence number (for a revert past anti-rollback)' },
  },
} as const;

/** A device's registration status; 'provisioned': its credentials were made before it ever registered. */
export const deviceStatus = {
  type: 'string', enum: DEVICE_STATUSES,
  description: 'registered; expired or deregistered (it left); provisioned (its credentials were made before it ever registered: no registration yet, so lifetime, registeredAt, lastSeen and expiresAt are null); decommissioned (taken out of the fleet for good: its Registers are refused)',
} as const;

export const deviceBody = {
  type: 'object',
  properties: {
    id: { type: 'integer' }, endpoint: { type: 'string' }, status: deviceStatus, registrationId: nullableString,
    hardwareClass: nullableString, firmwareVersion: nullableString, manufacturer: nullableString,
    modelNumber: nullableString, hardwareVersion: nullableString, lwm2mVersion: { type: 'string' },
    binding: { type: 'string' }, queueMode: { type: 'boolean' }, lifetime: { type: ['integer', 'null'] },
    address: nullableString, port: { type: ['integer', 'null'] },
    registeredAt: nullableDateTime, lastSeen: nullableDateTime, expiresAt: nullableDateTime,
    testbed: { type: 'boolean', description: 'marked a testbed by an operator (PUT /api/v1/devices/:endpoint/testbed): testbed campaigns update only these' },
    decommissionedAt: nullableDateTime, decommissionReason: nullableString,
  },
} as const;

/** The objects and instances a device's LwM2M client registered (its link-format payload, parsed). */
export const registeredObjectsBody = {
  type: 'array', description: 'the objects and instances the LwM2M client registered (its link-format payload)',
  items: {
    type: 'object', required: ['objectId', 'instances'],
    properties: {
      objectId: { type: 'integer' }, version: { type: 'string', description: 'the object\'s version (ver=), when the client gave one' },
      instances: { type: 'array', items: { type: 'integer' } },
    },
  },
} as const;

export const updateBody = {
  type: 'object',
  properties: {
    id: { type: 'integer' }, endpoint: { type: 'string' }, firmwareId: { type: 'integer' }, state: { type: 'string' },
    resultCode: { type: ['integer', 'null'] }, reason: nullableString, reportedVersion: nullableString,
    versionMismatch: { type: 'boolean' }, delivery: nullableString, createdAt: dateTime, updatedAt: dateTime,
    deadline: nullableDateTime, finishedAt: nullableDateTime,
    campaignId: { type: ['integer', 'null'] }, severity: { type: ['integer', 'null'], description: 'Object 5 res. 11 written before the package (0 critical, 1 mandatory, 2 optional)' },
    maxDeferSeconds: { type: ['integer', 'null'], description: 'Object 5 res. 13 (LwM2M 1.1) as the device reported it when the update started' },
    fromVersion: { ...nullableString, description: 'the device\'s firmware version when the update was made (what a revert takes it back to)' },
    fromFirmwareId: { type: ['integer', 'null'], description: 'the original image of that version, when Ferry holds one' },
  },
} as const;

export const eventBody = {
  type: 'object',
  properties: {
    id: { type: 'integer' }, at: dateTime, actor: { type: 'string' }, kind: { type: 'string' },
    deviceId: { type: ['integer', 'null'] }, endpoint: nullableString, updateId: { type: ['integer', 'null'] }, data: { type: 'object', additionalProperties: true },
  },
} as const;

/** A hardware class's testbed policy: the evidence a release of it needs before an approval. */
export const policyBody = {
  type: 'object',
  properties: {
    hardwareClass: { type: 'string' }, minDevices: { type: 'integer' }, soakSeconds: { type: 'integer' },
    minSuccessRate: { type: 'number' }, requireCredentials: { type: 'boolean' },
  },
} as const;
