/**
 * One log line per request, when its answer is sent: method, URL, status, milliseconds, and for a
 * refusal its code and message (Fastify's own two lines per request are turned off in app.ts).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';

const refusals = new WeakMap<FastifyRequest, { code: string; reason: string }>();

/** A refusal's code and message, for the request's one line (errors.ts). */
export function noteRefusal(req: FastifyRequest, code: string, reason: string): void {
  refusals.set(req, { code, reason });
}

export function installRequestLog(app: FastifyInstance): void {
  app.addHook('onResponse', async (req, reply) => {
    const refused = refusals.get(req);
    req.log.info({
      method: req.method, url: req.url.length > 200 ? `${req.url.slice(0, 200)}…` : req.url, status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10, ...(refused ?? {}),
    }, 'request');
  });
}
