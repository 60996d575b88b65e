/**
 * Bearer-token authentication and roles for everything under /api/v1 (RFC 6750): one onRequest
 * hook. No token, an unknown or a revoked one: 401 with `WWW-Authenticate: Bearer`; a role below
 * the route's: 403. Each route declares its role in `config: { role }`; a route under /api/v1
 * without one is refused (fail closed). /healthz, /readyz, /docs and /metrics are not under it.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Db } from '../store/db.ts';
import { findLiveToken, touchToken, ROLES, type ApiToken, type Role } from '../store/tokens.ts';
import { HttpError } from './errors.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The least role that may call the route (viewer < operator < admin). */
    role?: Role;
  }
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
const rank = (r: Role): number => ROLES.indexOf(r);
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

const TOUCH_EVERY_MS = 60_000;

export function installAuth(app: FastifyInstance, deps: { db: Db }): void {
  app.decorateRequest('token', null);
  app.addHook('onRequest', async (req) => {
    // By the route matched, never the raw URL: /%61pi/v1/devices routes to /api/v1/devices.
    const url = req.is404 ? safeDecode(req.url.split('?')[0]!) : req.routeOptions.url ?? '';
    if (!underApi(url) && req.routeOptions.config?.role === undefined) return;
    const header = req.headers.authorization;
    if (header === undefined || header === '') throw unauthorized('send a bearer token: Authorization: Bearer fry_…');
    const m = BEARER.exec(header);
    if (!m) throw unauthorized('the Authorization header must be "Bearer <token>"', 'invalid_token');
    const token = await findLiveToken(deps.db, m[1]!);
    if (!token) throw unauthorized('the token is unknown or revoked', 'invalid_token');
    req.token = token;
    // Recorded before the request goes on (so a listing right after shows it), and only when the
    // stored last use is a minute old or missing: most requests cost no write at all.
    if (token.lastUsedAt === null || Date.now() - token.lastUsedAt.getTime() >= TOUCH_EVERY_MS) {
      await touchToken(deps.db, token.id).catch((err: unknown) => req.log.warn({ err }, 'could not record the token\'s last use'));
    }
    if (req.is404) return; // an authenticated caller learns the route does not exist
    const needed = req.routeOptions.config.role;
    if (needed === undefined) throw new HttpError('FERRY_FORBIDDEN', `${req.method} ${req.routeOptions.url} declares no role: refused`);
    if (rank(token.role) < rank(needed)) throw new HttpError('FERRY_FORBIDDEN', `this needs the ${needed} role; token ${token.name} is ${token.role}`);
  });
}

/** The routes under /api/v1 and the role each declares, as they were added (tests, the OpenAPI check). */
export interface ApiRoute { method: string; url: string; role: Role | undefined }

export function watchRoutes(app: FastifyInstance): ApiRoute[] {
  const routes: ApiRoute[] = [];
  app.addHook('onRoute', (route) => {
    if (!underApi(route.url)) return;
    for (const method of [route.method].flat()) routes.push({ method, url: route.url, role: route.config?.role });
  });
  return routes;
}
