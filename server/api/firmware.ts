/** /api/v1/firmware: upload (raw image + version + hardware class) and list. */
import type { FastifyInstance } from 'fastify';
import { insertFirmware, listFirmware } from '../store/firmware.ts';
import type { Db } from '../store/db.ts';
import { HttpError } from './errors.ts';
import { errorBody, firmwareBody } from './schemas.ts';

const label = { type: 'string', minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]+$' } as const;

export function firmwareRoutes(app: FastifyInstance, deps: { db: Db; maxUploadBytes: number }): void {
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: deps.maxUploadBytes },
    (_req, body, done) => done(null, body));

  app.post<{ Querystring: { version: string; hardwareClass: string }; Body: Buffer }>('/api/v1/firmware', {
    bodyLimit: deps.maxUploadBytes,
    schema: {
      querystring: {
        type: 'object', required: ['version', 'hardwareClass'], additionalProperties: false,
        properties: { version: label, hardwareClass: label },
      },
      response: { 201: firmwareBody, '4xx': errorBody },
    },
  }, async (req, reply) => {
    if (!Buffer.isBuffer(req.body)) throw new HttpError(415, 'send the image as application/octet-stream');
    if (req.body.length === 0) throw new HttpError(400, 'the image is empty');
    const image = await insertFirmware(deps.db, { version: req.query.version, hardwareClass: req.query.hardwareClass, payload: req.body });
    req.log.info({ firmwareId: image.id, version: image.version, size: image.size }, 'firmware uploaded');
    return reply.code(201).send(image);
  });

  app.get('/api/v1/firmware', {
    schema: { response: { 200: { type: 'array', items: firmwareBody } } },
  }, async () => listFirmware(deps.db));
}
