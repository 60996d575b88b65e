/** GET /api/v1/events: the audit log (who, what, when, about which device), filtered and cursor-paginated. */
import type { FastifyInstance } from 'fastify';
import type { Db } from '../store/db.ts';
import { listEvents } from '../store/events.ts';
import { afterParam, endpointParam, errorBody, eventBody, instant, instantParam, limitParam, page, pageBody } from './schemas.ts';

interface EventQuery {
  kind?: string; endpoint?: string; actor?: string; since?: string; until?: string;
  order?: 'asc' | 'desc'; after?: number; limit?: number;
}

export function eventRoutes(app: FastifyInstance, deps: { db: Db }): void {
  app.get<{ Querystring: EventQuery }>('/api/v1/events', {
    schema: {
      summary: 'The audit log: every change an operator, a device or the engine made, by id',
      querystring: {
        type: 'object', additionalProperties: false,
        properties: {
          kind: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[a-z0-9._-]+$', description: 'kinds starting with this, e.g. update. or token.created' },
          endpoint: endpointParam,
          actor: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]+$', description: 'engine, device, or token:<name>' },
          since: { ...instantParam, description: 'at or after this instant' },
          until: { ...instantParam, description: 'before this instant' },
          order: { type: 'string', enum: ['asc', 'desc'], description: 'oldest first (asc, the default) or newest first' },
          after: afterParam, limit: limitParam,
        },
      },
      response: { 200: pageBody(eventBody), '4xx': errorBody },
    },
  }, async (req) => {
    const { kind, endpoint, actor, since, until, order, after, limit = 100 } = req.query;
    const from = instant(since, 'since');
    const to = instant(until, 'until');
    return page(await listEvents(deps.db, {
      // By the endpoint name events keep: a purged device's events are still found.
      limit, ...(endpoint === undefined ? {} : { endpoint }), ...(kind === undefined ? {} : { kindPrefix: kind }),
      ...(actor === undefined ? {} : { actor }), ...(from ? { since: from } : {}), ...(to ? { until: to } : {}),
      ...(order ? { order } : {}), ...(after ? { afterId: after } : {}),
    }), limit);
  });
}
