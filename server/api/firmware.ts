/** /api/v1/firmware: upload (a signed package, or a raw image the server signs), list, get, delete. */
import type { FastifyInstance } from 'fastify';
import { SERVER_SIGNING_NOTICE, type KeyRegistry } from '../firmware/key-registry.ts';
import { FirmwareNotFoundError } from '../errors.ts';
import { uploadFirmware, type Delivery } from '../firmware/upload.ts';
import { releaseEvidence } from '../governance/releases.ts';
import { deleteFirmware, getFirmware, listFirmware } from '../store/firmware.ts';
import type { Db } from '../store/db.ts';
import { actorOf } from './auth.ts';
import { HttpError, sentType } from './errors.ts';
import { errorBody, firmwareBody, idParams, label } from './schemas.ts';
import { pagedListRoute } from './paged.ts';


const evidenceSummary = {
  type: 'object',
  description: 'its testbed evidence in short: enough for an approval, or what is missing (the whole of it at href)',
  properties: { href: { type: 'string' }, sufficient: { type: 'boolean' }, missing: { type: 'array', items: { type: 'string' } } },
} as const;

interface UploadQuery { version?: string; hardwareClass?: string; delivery?: Delivery; force?: boolean }

export function firmwareRoutes(app: FastifyInstance, deps: {
  db: Db; maxUploadBytes: number; imageCacheBytes?: number | undefined; keys: KeyRegistry; evictImage?: ((id: number) => void) | undefined;
}): void {
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: deps.maxUploadBytes },
    (_req, body, done) => done(null, body));

  app.post<{ Querystring: UploadQuery; Body: Buffer }>('/api/v1/firmware', {
    bodyLimit: deps.maxUploadBytes,
    schema: {
      summary: 'Upload a signed package (FRY1), or a raw image for this server to sign',
      description: `A package must be signed by a live trusted key (GET /api/v1/keys); one signed by a revoked or expired key is a 422 (FERRY_KEY_REVOKED, FERRY_KEY_EXPIRED). ${deps.keys.signingKey === undefined
        ? 'This server has no --signing-key: a raw image is refused (FERRY_UPLOAD_UNSIGNED).'
        : `A raw image (with ?version= and ?hardwareClass=) is signed here with the key server-signing: ${SERVER_SIGNING_NOTICE}.`}`,
      querystring: {
        type: 'object', additionalProperties: false,
        properties: {
          version: label, hardwareClass: label,
          delivery: { type: 'string', enum: ['package', 'payload'] },
          force: { type: 'boolean' },
        },
      },
      response: { 201: firmwareBody, '4xx': errorBody },
    },
  }, async (req, reply) => {
    if (!Buffer.isBuffer(req.body)) throw new HttpError('FERRY_UNSUPPORTED_MEDIA_TYPE', `send the image or package as application/octet-stream (got ${sentType(req)})`);
    const image = await uploadFirmware(deps.db, deps.keys, { body: req.body, ...req.query, imageCacheBytes: deps.imageCacheBytes, actor: actorOf(req), userId: req.token?.userId }, req.log);
    req.log.info({ firmwareId: image.id, version: image.version, hardwareClass: image.hardwareClass, sequence: image.sequence, size: image.size }, 'firmware uploaded');
    return reply.code(201).send(image);
  });

  pagedListRoute(app, '/api/v1/firmware', {
    summary: 'The firmware images (deleted ones left out)', item: firmwareBody, list: (p) => listFirmware(deps.db, p),
  });

  app.get<{ Params: { id: number } }>('/api/v1/firmware/:id', {
    schema: {
      summary: 'One firmware image (a deleted one is 404), with its release state and a summary of its testbed evidence',
      params: idParams, response: { 200: { ...firmwareBody, properties: { ...firmwareBody.properties, evidence: evidenceSummary } }, '4xx': errorBody },
    },
  }, async (req) => {
    const image = await getFirmware(deps.db, req.params.id);
    if (!image) throw new FirmwareNotFoundError(`no firmware image ${req.params.id}`);
    const e = await releaseEvidence(deps.db, image.id);
    return { ...image, evidence: { href: `/api/v1/firmware/${image.id}/evidence`, sufficient: e.sufficient, missing: e.missing } };
  });

  app.delete<{ Params: { id: number } }>('/api/v1/firmware/:id', {
    schema: {
      summary: 'Delete a firmware image: its bytes go, its record stays for the updates that used it; 409 while one in flight uses it',
      params: idParams, response: { '4xx': errorBody },
    },
  }, async (req, reply) => {
    const image = await deleteFirmware(deps.db, req.params.id, actorOf(req));
    if (!image) throw new FirmwareNotFoundError(`no firmware image ${req.params.id}`);
    deps.evictImage?.(image.id);
    req.log.info({ firmwareId: image.id, version: image.version, hardwareClass: image.hardwareClass, by: actorOf(req) }, 'firmware deleted');
    return reply.code(204).send();
  });
}
