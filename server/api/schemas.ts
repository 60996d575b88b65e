/** JSON schemas shared by the routes (Fastify validates requests and serialises responses with them). */
/** Ids are bigint in the store and exact in JSON only up to 2^53 − 1: every id the API takes is in 1 … MAX_ID. */
export const MAX_ID = Number.MAX_SAFE_INTEGER;
export const id = { type: 'integer', minimum: 1, maximum: MAX_ID } as const;
/** An id in the path (text, coerced to an integer). */
export const idParam = id;
/** As the registration interface takes `ep`: 1 to 255 characters, no control characters (Postgres text refuses NUL). */
export const endpointParam = { type: 'string', minLength: 1, maxLength: 255, pattern: '^[^\\u0000-\\u001f\\u007f-\\u009f]+$' } as const;
const nullableString = { type: ['string', 'null'] } as const;
export const dateTime = { type: 'string', format: 'date-time' } as const;
export const nullableDateTime = { type: ['string', 'null'], format: 'date-time' } as const;

export const errorBody = {
  type: 'object',
  properties: { statusCode: { type: 'integer' }, error: { type: 'string' }, message: { type: 'string' } },
} as const;

export const firmwareBody = {
  type: 'object',
  properties: {
    id: { type: 'integer' }, version: { type: 'string' }, hardwareClass: { type: 'string' },
    size: { type: 'integer' }, sha256: { type: 'string' }, delivery: { type: 'string' }, createdAt: dateTime,
    sequence: { type: ['integer', 'null'] }, vendorId: nullableString, keyId: nullableString,
  },
} as const;

export const deviceBody = {
  type: 'object',
  properties: {
    id: { type: 'integer' }, endpoint: { type: 'string' }, status: { type: 'string' }, registrationId: nullableString,
    hardwareClass: nullableString, firmwareVersion: nullableString, manufacturer: nullableString,
    modelNumber: nullableString, hardwareVersion: nullableString, lwm2mVersion: { type: 'string' },
    binding: { type: 'string' }, queueMode: { type: 'boolean' }, lifetime: { type: 'integer' },
    address: nullableString, port: { type: ['integer', 'null'] },
    registeredAt: dateTime, lastSeen: dateTime, expiresAt: dateTime,
  },
} as const;

export const updateBody = {
  type: 'object',
  properties: {
    id: { type: 'integer' }, endpoint: { type: 'string' }, firmwareId: { type: 'integer' }, state: { type: 'string' },
    resultCode: { type: ['integer', 'null'] }, reason: nullableString, reportedVersion: nullableString,
    versionMismatch: { type: 'boolean' }, delivery: nullableString, createdAt: dateTime, updatedAt: dateTime,
    deadline: nullableDateTime, finishedAt: nullableDateTime,
  },
} as const;

export const eventBody = {
  type: 'object',
  properties: {
    id: { type: 'integer' }, at: dateTime, actor: { type: 'string' }, kind: { type: 'string' },
    updateId: { type: ['integer', 'null'] }, data: { type: 'object', additionalProperties: true },
  },
} as const;
