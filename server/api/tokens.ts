/**
 * /api/v1/tokens (admin): create a bearer token (its secret shown once), list them (never a
 * secret), revoke one. A token may be made to expire, `expiresIn` from now or at `expiresAt`, at
 * most MAX_TOKEN_LIFETIME_S ahead; past it the token is refused (401, FERRY_TOKEN_EXPIRED). The
 * configured admin token and the first-start one never expire.
 */
import type { FastifyInstance } from 'fastify';
import type { Db } from '../store/db.ts';
import { CONFIGURED_ADMIN, createToken, listTokens, revokeToken, ROLES, type Role } from '../store/tokens.ts';
import { actorOf } from './auth.ts';
import { HttpError } from './errors.ts';
import { dateTime, errorBody, idParams, instantParam, nullableDateTime } from './schemas.ts';
import { pagedListRoute } from './paged.ts';

/** The furthest a token's expiry may be: 730 days (two years) from its creation. */
export const MAX_TOKEN_LIFETIME_S = 730 * 86_400;
const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;
const DURATION = /^([0-9]{1,12})(s|m|h|d)?$/;

export const tokenBody = {
  type: 'object',
  properties: {
    id: { type: 'integer' }, name: { type: 'string' }, role: { type: 'string', enum: ROLES }, prefix: { type: 'string' },
    userId: { type: 'integer' }, user: { type: 'string', description: 'the user the token belongs to' },
    createdAt: dateTime, createdBy: { type: 'string' }, lastUsedAt: nullableDateTime, revokedAt: nullableDateTime,
    expiresAt: { ...nullableDateTime, description: 'past this instant the token is refused (401, FERRY_TOKEN_EXPIRED); null: it never expires (FERRY_ADMIN_TOKEN and the first-start admin token never do)' },
  },
} as const;

interface CreateBody { name: string; role: Role; user?: string; expiresIn?: number | string; expiresAt?: string }

const invalid = (message: string): HttpError => new HttpError('FERRY_TOKEN_EXPIRY_INVALID', message);

/** `expiresIn` (seconds, or "90s", "15m", "12h", "30d") as seconds: 1 to MAX_TOKEN_LIFETIME_S. */
export function parseExpiresIn(v: number | string): number {
  const m = typeof v === 'string' ? DURATION.exec(v) : null;
  const s = typeof v === 'number' ? v : m ? Number(m[1]) * UNIT_SECONDS[(m[2] ?? 's') as keyof typeof UNIT_SECONDS] : NaN;
  if (Number.isNaN(s)) throw invalid(`expiresIn: "${String(v).slice(0, 40)}" is not a duration: give seconds (3600) or a number and a unit (90s, 15m, 12h, 30d)`);
  if (!Number.isSafeInteger(s) || s < 1 || s > MAX_TOKEN_LIFETIME_S) throw invalid(`expiresIn must be from 1 s to ${MAX_TOKEN_LIFETIME_S} s (730 days), got ${String(v).slice(0, 40)}`);
  return s;
}

/** The instant a new token expires at, by the body and the clock; null: never. */
export function expiryOf(body: { expiresIn?: number | string; expiresAt?: string }, now: number): Date | null {
  if (body.expiresIn !== undefined && body.expiresAt !== undefined) throw invalid('give expiresIn or expiresAt, not both');
  if (body.expiresIn !== undefined) return new Date(now + parseExpiresIn(body.expiresIn) * 1000);
  if (body.expiresAt === undefined) return null;
  const at = new Date(body.expiresAt);
  if (Number.isNaN(at.getTime())) throw invalid(`expiresAt: ${body.expiresAt.slice(0, 40)} is not an instant this server can use`);
  if (at.getTime() <= now) throw invalid(`expiresAt ${at.toISOString()} is not in the future`);
  if (at.getTime() > now + MAX_TOKEN_LIFETIME_S * 1000) throw invalid(`expiresAt ${at.toISOString()} is more than 730 days ahead`);
  return at;
}

export function tokenRoutes(app: FastifyInstance, deps: { db: Db; now?: () => number }): void {
  const { db } = deps;
  const now = deps.now ?? Date.now;
  app.post<{ Body: CreateBody }>('/api/v1/tokens', {
    schema: {
      summary: 'Create a bearer token; its secret is in this answer only',
      description: 'Without expiresIn or expiresAt the token lasts until it is revoked. A bad expiry is a 400, FERRY_TOKEN_EXPIRY_INVALID.',
      body: {
        type: 'object', required: ['name', 'role'], additionalProperties: false,
        properties: {
          name: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._@-]+$' }, role: { type: 'string', enum: ROLES },
          user: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._@-]+$', description: 'the user the token belongs to, who must hold the role (or a level above it). Left out: the user named as the token, made holding the role if there is none.' },
          expiresIn: { anyOf: [{ type: 'integer' }, { type: 'string', maxLength: 16 }], description: `the token expires this long after its creation: seconds (3600), or a number and a unit s, m, h or d ("30d"); at most ${MAX_TOKEN_LIFETIME_S} s (730 days). Not with expiresAt.` },
          expiresAt: { ...instantParam, description: 'the instant the token expires (RFC 3339), in the future and at most 730 days ahead. Not with expiresIn.' },
        },
      },
      response: { 201: { ...tokenBody, properties: { ...tokenBody.properties, token: { type: 'string' } } }, '4xx': errorBody },
    },
  }, async (req, reply) => {
    if (req.body.name === CONFIGURED_ADMIN) throw new HttpError('FERRY_TOKEN_NAME_RESERVED', `${CONFIGURED_ADMIN} is the name of the configured admin token`);
    const expiresAt = expiryOf(req.body, now());
    const { token, row } = await createToken(db, { name: req.body.name, role: req.body.role, user: req.body.user, createdBy: actorOf(req), expiresAt });
    req.log.info({ tokenId: row.id, name: row.name, role: row.role, expiresAt: row.expiresAt, by: actorOf(req) }, 'token created');
    return reply.code(201).send({ ...row, token });
  });

  pagedListRoute(app, '/api/v1/tokens', { summary: 'List tokens (never their secrets)', item: tokenBody, list: (p) => listTokens(db, p) });

  app.delete<{ Params: { id: number } }>('/api/v1/tokens/:id', {
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
