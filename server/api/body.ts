/**
 * Bodies that may be left out: an action route (a campaign's start, an update's cancel) takes no
 * body, an empty one, or `{}` alike, with or without a JSON Content-Type, as curl sends them.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';

/** A route's preValidation: no body is the same as {}. */
export const optionalBody = async (req: FastifyRequest): Promise<void> => { if (req.body === undefined || req.body === null) req.body = {}; };

/**
 * Fastify's JSON parser (prototype poisoning refused), but an empty body with a JSON Content-Type
 * is no body rather than a 400: a route that needs one still refuses it (`body must be object`).
 */
export function acceptEmptyJson(app: FastifyInstance): void {
  const json = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (typeof body === 'string' && body.trim() === '') { done(null, undefined); return; }
    json(req, body.toString(), done);
  });
}
