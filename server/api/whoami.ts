/** GET /api/v1/whoami: the calling token's name, role and user (the console offers what the role may do). */
import type { FastifyInstance } from 'fastify';
import { errorBody } from './schemas.ts';

export function whoamiRoutes(app: FastifyInstance): void {
  app.get('/api/v1/whoami', {
    schema: {
      summary: 'The token this request carries: its name, role and user',
      querystring: { type: 'object', additionalProperties: false },
      response: {
        200: { type: 'object', properties: { name: { type: 'string' }, role: { type: 'string' }, user: { type: 'string' } } },
        '4xx': errorBody,
      },
    },
  }, async (req) => ({ name: req.token!.name, role: req.token!.role, user: req.token!.user }));
}
