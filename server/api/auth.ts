/**
 * Bearer-token authentication and roles for everything under /api/v1 (RFC 6750): one onRequest
 * hook. No token, an unknown or a revoked one: 401 with `WWW-Authenticate: Bearer`; an expired
 * one: 401 too, with its own code (FERRY_TOKEN_EXPIRED); a role below the route's: 403. The role
 * of each route is in one table (roles.ts); a route under /api/v1 missing from it is refused
 * (fail closed). /healthz, /readyz, /docs and /metrics are not under it (/metrics may ask for a
 * token of its own: metrics.ts, with `authenticate` below).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Db } from '../store/db.ts';
import { findLiveToken, hasExpired, touchToken, userStillCarries, type ApiToken, type Role } from '../store/tokens.ts';
import { LEVELS } from '../store/users.ts';
import { HttpError } from './errors.ts';
import { roleOf } from './roles.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route under /api/v1 with its declared role. */
    apiRoutes: ApiRoute[];
  }
  interface FastifyRequest {
    /** The token the request was authenticated with (routes under /api/v1). */
    token: ApiToken | null;
  }
}

export const API_PREFIX = '/api/v1';
/** An approver token reads as a viewer does; only an approver token approves (no level includes it). */
const rank = (r: Role): number => r === 'approver' ? 0 : LEVELS.indexOf(r);
export const allows = (has: Role, needed: Role): boolean => needed === 'approver' ? has === 'approver' : rank(has) >= rank(needed);
const underApi = (url: string): boolean => url === API_PREFIX || url.startsWith(`${API_PREFIX}/`);
const safeDecode = (path: string): string => { try { return decodeURIComponent(path); } catch { return path; } };
const BEARER = /^Bearer ([\x21-\x7e]{1,200})$/i;

/** A 401 that tells the client how to authenticate (RFC 6750 §3). */
const unauthorized = (message: string, error?: 'invalid_token'): HttpError =>
  new HttpError('FERRY_UNAUTHORIZED', message, { 'www-authenticate': error ? `Bearer realm="ferry", error="${error}"` : 'Bearer realm="ferry"' });

/** Who acted, for the audit log: `token:<name>`. */
export function actorOf(req: FastifyRequest): string {
  return req.token ? `token:${req.token.name}` : 'api';
}

/** The user who acted (the token's user's name), for the audit log's data.user of governance changes. */
export function userOf(req: FastifyRequest): string {
  return req.token?.user ?? 'api';
}

const TOUCH_EVERY_MS = 60_000;

/** The raw bearer token of the Authorization header; a 401 when there is none or the header is malformed. */
export function bearerOf(req: FastifyRequest): string {
  const header = req.headers.authorization;
  if (header === undefined || header === '') throw unauthorized('send a bearer token: Authorization: Bearer fry_…');
  const m = BEARER.exec(header);
  if (!m) throw unauthorized('the Authorization header must be "Bearer <token>"', 'invalid_token');
  return m[1]!;
}

/**
 * The API token a request carries, live and unexpired by `now` (ms since the epoch), its last use
 * recorded; otherwise a 401 (FERRY_TOKEN_EXPIRED for an expired one). Sets `req.token`.
 */
export async function authenticate(req: FastifyRequest, deps: { db: Db; now: () => number }, secret: string = bearerOf(req)): Promise<ApiToken> {
  const token = await findLiveToken(deps.db, secret);
  if (!token) throw unauthorized('the token is unknown or revoked', 'invalid_token');
  const now = deps.now();
  if (hasExpired(token, now)) {
    throw new HttpError('FERRY_TOKEN_EXPIRED', `token ${token.name} expired at ${token.expiresAt!.toISOString()}: ask an admin for a new one`,
      { 'www-authenticate': 'Bearer realm="ferry", error="invalid_token", error_description="the token expired"' });
  }
  if (!userStillCarries(token)) {
    throw unauthorized(token.userDisabledAt ? `user ${token.user} is disabled` : `user ${token.user} no longer holds the ${token.role} role`, 'invalid_token');
  }
  req.token = token;
  // Recorded before the request goes on (so a listing right after shows it), and only when the
  // stored last use is a minute old or missing: most requests cost no write at all.
  if (token.lastUsedAt === null || now - token.lastUsedAt.getTime() >= TOUCH_EVERY_MS) {
    await touchToken(deps.db, token.id).catch((err: unknown) => req.log.warn({ err }, 'could not record the token\'s last use'));
  }
  return token;
}

/** Installs the hook; `now` is the clock expiry is judged by (tests move it). */
export function installAuth(app: FastifyInstance, deps: { db: Db; now?: () => number }): void {
  const auth = { db: deps.db, now: deps.now ?? Date.now };
  app.decorateRequest('token', null);
  app.addHook('onRequest', async (req) => {
    // By the route matched, never the raw URL: /%61pi/v1/devices routes to /api/v1/devices.
    const url = req.is404 ? safeDecode(req.url.split('?')[0]!) : req.routeOptions.url ?? '';
    if (!underApi(url)) return;
    const token = await authenticate(req, auth);
    if (req.is404) return; // an authenticated caller learns the route does not exist
    const needed = roleOf(req.method, url);
    if (needed === undefined) throw new HttpError('FERRY_FORBIDDEN', `${req.method} ${url} has no role in the role table: refused`);
    if (!allows(token.role, needed)) throw new HttpError('FERRY_FORBIDDEN', `this needs the ${needed} role; token ${token.name} is ${token.role}`);
  });
}

/** The routes under /api/v1 and the role the table gives each, as they were added (tests, the OpenAPI check). */
export interface ApiRoute { method: string; url: string; role: Role | undefined }

export function watchRoutes(app: FastifyInstance): ApiRoute[] {
  const routes: ApiRoute[] = [];
  app.addHook('onRoute', (route) => {
    if (!underApi(route.url)) return;
    for (const method of [route.method].flat()) routes.push({ method, url: route.url, role: roleOf(method, route.url) });
  });
  return routes;
}
