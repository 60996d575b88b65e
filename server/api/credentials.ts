/**
 * /api/v1/devices/:endpoint/credentials and /api/v1/credentials/import: a device's DTLS PSK
 * identity and key, for admins only (roles.ts): a key lets whoever holds it speak as the device.
 * A key is never answered, except a generated one, once, in the answer of the request that made
 * it. Every change is in the audit log (who, which identity; never a key).
 */
import type { FastifyInstance } from 'fastify';
import type { CredentialService, KeySource } from '../credentials/service.ts';
import { parseCsvImport, parseJsonImport, MAX_IMPORT_ENTRIES } from '../credentials/import.ts';
import { MAX_KEY_BYTES } from '../credentials/psk.ts';
import { actorOf } from './auth.ts';
import { HttpError } from './errors.ts';
import { dateTime, endpointParams, errorBody, nullableDateTime } from './schemas.ts';

const identity = { type: 'string', minLength: 1, maxLength: 128, description: 'the PSK identity: 1 to 128 printable characters without spaces' } as const;
const keyHex = { type: 'string', maxLength: MAX_KEY_BYTES * 2, description: 'the key in hex: 16 to 64 bytes' } as const;

const keyBody = {
  type: 'object', required: ['identity'], additionalProperties: false,
  description: '{ identity, key } with the key in hex, or { identity, generate: true } for a random 32-byte key returned once',
  properties: { identity, key: keyHex, generate: { type: 'boolean', enum: [true] } },
} as const;

const changedBody = {
  type: 'object', required: ['endpoint', 'identity'], additionalProperties: false,
  properties: { endpoint: { type: 'string' }, identity: { type: 'string' }, key: { type: 'string', description: 'the generated key in hex, present only when generate was asked: shown this once' } },
} as const;

const infoBody = {
  type: 'object', additionalProperties: false,
  properties: {
    endpoint: { type: 'string' }, identity: { type: 'string' },
    previousIdentity: { type: ['string', 'null'], description: 'the identity of the key a rotation replaced, kept until the device completes a handshake with the new one' },
    createdAt: dateTime, rotatedAt: nullableDateTime, lastHandshakeAt: nullableDateTime,
  },
} as const;

interface KeyRequest { identity: string; key?: string; generate?: true }

/** The body's key source: exactly one of key and generate. */
function sourceOf(body: KeyRequest): KeySource {
  if ((body.key === undefined) === (body.generate === undefined)) throw new HttpError('FERRY_VALIDATION', 'body must have either key (hex) or generate: true');
  return body.key !== undefined ? { key: body.key } : { generate: true };
}

export function credentialRoutes(app: FastifyInstance, deps: { credentials: CredentialService }): void {
  const { credentials } = deps;
  app.addContentTypeParser('text/csv', { parseAs: 'string' }, (_req, body, done) => done(null, body));

  const change = (how: 'put' | 'rotate') => async (req: { params: { endpoint: string }; body: KeyRequest } & Parameters<typeof actorOf>[0]) => {
    const { endpoint } = req.params;
    const { generated } = await credentials[how](endpoint, req.body.identity, sourceOf(req.body), actorOf(req));
    return { endpoint, identity: req.body.identity, ...(generated ? { key: generated.toString('hex') } : {}) };
  };

  app.put<{ Params: { endpoint: string }; Body: KeyRequest }>('/api/v1/devices/:endpoint/credentials', {
    schema: {
      summary: 'Create or replace the device\'s PSK identity and key (a previous key is dropped)',
      description: 'An endpoint that has never registered is added as a device with status provisioned; its Register later takes that device. Deleting its credentials before then deletes it too, unless it holds something else (a tag, an update).',
      params: endpointParams, body: keyBody, response: { 200: changedBody, '4xx': errorBody },
    },
  }, change('put'));

  app.post<{ Params: { endpoint: string }; Body: KeyRequest }>('/api/v1/devices/:endpoint/credentials/rotate', {
    schema: {
      summary: 'A new PSK for the device; the old one stays usable until a handshake with the new one completes',
      params: endpointParams, body: keyBody, response: { 200: changedBody, '4xx': errorBody },
    },
  }, change('rotate'));

  app.delete<{ Params: { endpoint: string } }>('/api/v1/devices/:endpoint/credentials', {
    schema: { summary: 'Delete the device\'s credentials', params: endpointParams, response: { 204: { type: 'null' }, '4xx': errorBody } },
  }, async (req, reply) => {
    await credentials.remove(req.params.endpoint, actorOf(req));
    return reply.code(204).send();
  });

  app.get<{ Params: { endpoint: string } }>('/api/v1/devices/:endpoint/credentials', {
    schema: { summary: 'The device\'s PSK identity and its times (never the key)', params: endpointParams, response: { 200: infoBody, '4xx': errorBody } },
  }, async (req) => credentials.info(req.params.endpoint));

  app.post<{ Body: unknown }>('/api/v1/credentials/import', {
    schema: {
      summary: 'Create or replace many devices\' credentials in one transaction: all or nothing',
      description: 'A JSON array of { endpoint, identity, key (hex) }, or text/csv lines endpoint,identity,key_hex (an optional header line). A bad line refuses the whole batch (422, each bad line named). Endpoints that have never registered are added as devices with status provisioned, in the same transaction.',
      body: {
        content: {
          'application/json': { schema: { type: 'array', maxItems: MAX_IMPORT_ENTRIES, items: { type: 'object' } } },
          'text/csv': { schema: { type: 'string' } },
        },
      },
      response: { 200: { type: 'object', required: ['imported'], additionalProperties: false, properties: { imported: { type: 'integer' } } }, '4xx': errorBody },
    },
  }, async (req) => {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (typeof req.body === 'string' && type !== 'text/csv') throw new HttpError('FERRY_UNSUPPORTED_MEDIA_TYPE', 'send a JSON array (application/json) or CSV (text/csv)');
    const entries = typeof req.body === 'string' ? parseCsvImport(req.body) : parseJsonImport(req.body);
    return { imported: await credentials.importAll(entries, actorOf(req)) };
  });
}
