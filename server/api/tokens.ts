/** /api/v1/tokens (admin): create a bearer token (its secret shown once), list them (never a secret), revoke one. */
import type { FastifyInstance } from 'fastify';
import type { Db } from '../store/db.ts';
import { CONFIGURED_ADMIN, createToken, listTokens, revokeToken, ROLES, type Role } from '../store/tokens.ts';
import { actorOf } from './auth.ts';
import { HttpError } from './errors.ts';
import { dateTime, errorBody, idParams, nullableDateTime } from './schemas.ts';

export const tokenBody = {
  type: 'object',
  properties: {
    id: { type: 'integer' }, name: { type: 'string' }, role: { type: 'string', enum: ROLES }, prefix: { type: 'string' },
    createdAt: dateTime, createdBy: { type: 'string' }, lastUsedAt: nullableDateTime, revokedAt: nullableDateTime,
  },
} as const;

export function tokenRoutes(app: FastifyInstance, deps: { db: Db }): void {
  const { db } = deps;
  app.post<{ Body: { name: string; role: Role } }>('/api/v1/tokens', {
    config: { role: 'admin' },
    schema: {
      summary: 'Create a bearer token; its secret is in this answer only',
      body: {
        type: 'object', required: ['name', 'role'], additionalProperties: false,
        properties: { name: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._@-]+$' }, role: { type: 'string', enum: ROLES } },
      },
      response: { 201: { ...tokenBody, properties: { ...tokenBody.properties, token: { type: 'string' } } }, '4xx': errorBody },
    },
  }, async (req, reply) => {
    if (req.body.name === CONFIGURED_ADMIN) throw new HttpError('FERRY_TOKEN_NAME_RESERVED', `${CONFIGURED_ADMIN} is the name of the configured admin token`);
    const { token, row } = await createToken(db, { name: req.body.name, role: req.body.role, createdBy: actorOf(req) });
    req.log.info({ tokenId: row.id, name: row.name, role: row.role, by: actorOf(req) }, 'token created');
    return reply.code(201).send({ ...row, token });
  });

  app.get('/api/v1/tokens', {
    config: { role: 'admin' },
    schema: { summary: 'List tokens (never their secrets)', querystring: { type: 'object', additionalProperties: false }, response: { 200: { type: 'array', items: tokenBody }, '4xx': errorBody } },
  }, async () => listTokens(db));

  app.delete<{ Params: { id: number } }>('/api/v1/tokens/:id', {
    config: { role: 'admin' },
    schema: {
      summary: 'Revoke a token (at once; it stays listed)',
      params: idParams,
      response: { 200: tokenBody, '4xx': errorBody },
    },
  }, async (req) => {
    const row = await revokeToken(db, req.params.id, actorOf(req));
    if (!row) throw new HttpError('FERRY_TOKEN_NOT_FOUND', `no token ${req.params.id}`);
    req.log.info({ tokenId: row.id, name: row.name, by: actorOf(req) }, 'token revoked');
    return row;
  });
}
