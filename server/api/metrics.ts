/** GET /metrics: Prometheus text format, open like /healthz (scrapers rarely hold a token; nothing secret is in it). */
import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../metrics.ts';

export function metricsRoute(app: FastifyInstance, metrics: Metrics): void {
  app.get('/metrics', { schema: { summary: 'Prometheus metrics (text exposition format)', querystring: { type: 'object', additionalProperties: false } } }, async (_req, reply) => {
    const text = await metrics.scrape();
    return reply.type(metrics.registry.contentType).send(text);
  });
}
