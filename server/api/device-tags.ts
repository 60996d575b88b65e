/** PUT /api/v1/devices/:endpoint/tags: a device's tags, which campaign targets select by. */
import type { FastifyInstance } from 'fastify';
import { DeviceNotFoundError } from '../errors.ts';
import type { Db } from '../store/db.ts';
import { setTags } from '../store/devices.ts';
import { actorOf } from './auth.ts';
import { endpointParams, errorBody } from './schemas.ts';

const tag = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[\\x21-\\x7e]+$' } as const;

export function deviceTagRoutes(app: FastifyInstance, deps: { db: Db }): void {
  app.put<{ Params: { endpoint: string }; Body: { tags: string[] } }>('/api/v1/devices/:endpoint/tags', {
    schema: {
      summary: 'Replace a device\'s tags (campaign targets select by tag)',
      params: endpointParams,
      body: { type: 'object', required: ['tags'], additionalProperties: false, properties: { tags: { type: 'array', items: tag, maxItems: 32 } } },
      response: { 200: { type: 'object', properties: { endpoint: { type: 'string' }, tags: { type: 'array', items: { type: 'string' } } } }, '4xx': errorBody },
    },
  }, async (req) => {
    const device = await setTags(deps.db, req.params.endpoint, req.body.tags, actorOf(req));
    if (!device) throw new DeviceNotFoundError(`no device ${req.params.endpoint}`);
    return { endpoint: device.endpoint, tags: device.tags };
  });
}
