/**
 * GET /metrics: Prometheus text format. It tells the fleet's firmware versions, device statuses,
 * update outcomes and traffic: nothing secret, but a map of the fleet. Open, like /healthz, unless
 * a metrics token is set (--metrics-token): then the scraper sends `Authorization: Bearer <that
 * token>`, or any API token that is live and unexpired (every role may read metrics, as viewers
 * read the inventory). Without one: 401, JSON, with WWW-Authenticate. The metrics token is
 * compared in constant time: both sides are hashed first, so neither its length nor its bytes
 * show in how long a refusal takes.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../metrics.ts';
import type { Db } from '../store/db.ts';
import { authenticate, bearerOf } from './auth.ts';
import { errorBody } from './schemas.ts';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

export function metricsRoute(app: FastifyInstance, deps: { metrics: Metrics; db: Db; metricsToken?: string | undefined; now?: () => number }): void {
  const { metrics } = deps;
  const expected = deps.metricsToken === undefined ? undefined : digest(deps.metricsToken);
  const auth = { db: deps.db, now: deps.now ?? Date.now };
  app.get('/metrics', {
    schema: {
      summary: 'Prometheus metrics (text exposition format)',
      description: 'The fleet\'s firmware versions, device statuses, updates and traffic. Open unless the server has a metrics token (--metrics-token): then it needs "Authorization: Bearer <metrics token>" or any valid API token.',
      querystring: { type: 'object', additionalProperties: false },
      ...(expected ? { security: [{ bearer: [] }], response: { '4xx': errorBody } } : {}),
    },
    ...(expected ? {
      onRequest: async (req) => {
        const secret = bearerOf(req);
        if (timingSafeEqual(digest(secret), expected)) return;
        await authenticate(req, auth, secret);
      },
    } : {}),
  }, async (_req, reply) => {
    const text = await metrics.scrape();
    return reply.type(metrics.registry.contentType).send(text);
  });
}
