/**
 * API bearer tokens: `fry_` + base64url of 32 random bytes. Only the SHA-256 of a token is stored
 * (the token has 256 bits of entropy: a slow password hash would add nothing); the first
 * characters are kept as its `prefix` for listings. The token itself is shown once, at creation.
 */
import { createHash, randomBytes } from 'node:crypto';
import { DuplicateTokenNameError } from '../errors.ts';
import type { Db, Queryable } from './db.ts';
import { recordEvent } from './events.ts';
import { camelRow } from './rows.ts';
import { mayCarry, USER_ROLES, userForToken, type UserRole } from './users.ts';

/** The roles a token may carry: the levels viewer < operator < admin, and approver beside them. */
export const ROLES = USER_ROLES;
export type Role = UserRole;

export interface ApiToken {
  id: number;
  name: string;
  role: Role;
  prefix: string;
  createdAt: Date;
  createdBy: string;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  /** Past this instant the token is refused (FERRY_TOKEN_EXPIRED); null: it never expires. */
  expiresAt: Date | null;
  /** The user the token belongs to. */
  userId: number;
  user: string;
}

/** What authentication needs besides the token: whether its user still may carry it. */
export interface LiveToken extends ApiToken {
  userRoles: UserRole[];
  userDisabledAt: Date | null;
}

const COLUMNS = 't.id, t.name, t.role, t.prefix, t.created_at, t.created_by, t.last_used_at, t.revoked_at, t.expires_at, t.user_id, u.name AS "user"';
const FROM = 'api_tokens t JOIN users u ON u.id = t.user_id';
/** The same, over a CTE named t (an INSERT or UPDATE … RETURNING *). */
const FROM_CHANGED = 't JOIN users u ON u.id = t.user_id';
/** `fry_` and the first 4 characters of the random part: enough to tell tokens apart, nothing to guess with. */
const PREFIX_LENGTH = 8;

export const generateToken = (): string => `fry_${randomBytes(32).toString('base64url')}`;
export const hashToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

interface NewToken {
  name: string;
  role: Role;
  createdBy: string;
  expiresAt?: Date | null;
  /** The user it belongs to; none: the user named as the token (made, with this role, when there is none). */
  user?: string | undefined;
}

async function insertToken(q: Queryable, t: NewToken & { token: string }): Promise<ApiToken> {
  const taken = await q.query('SELECT 1 FROM api_tokens WHERE name = $1 AND revoked_at IS NULL', [t.name]);
  if (taken.rows.length > 0) throw new DuplicateTokenNameError(t.name);
  const user = await userForToken(q, { user: t.user, name: t.name, role: t.role, actor: t.createdBy });
  const res = await q.query(
    `WITH t AS (INSERT INTO api_tokens (name, role, token_hash, prefix, created_by, expires_at, user_id) VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (name) WHERE revoked_at IS NULL DO NOTHING RETURNING *) SELECT ${COLUMNS} FROM ${FROM_CHANGED}`,
    [t.name, t.role, hashToken(t.token), t.token.slice(0, PREFIX_LENGTH), t.createdBy, t.expiresAt ?? null, user.id]);
  if (!res.rows[0]) throw new DuplicateTokenNameError(t.name);
  const row = camelRow<ApiToken>(res.rows[0]);
  await recordEvent(q, {
    kind: 'token.created', actor: t.createdBy,
    data: { tokenId: row.id, name: row.name, role: row.role, prefix: row.prefix, user: row.user, ...(row.expiresAt ? { expiresAt: row.expiresAt.toISOString() } : {}) },
  });
  return row;
}

/** A new token, expiring at `expiresAt` (none: never); its secret is returned here and never again. */
export async function createToken(db: Db, t: NewToken): Promise<{ token: string; row: ApiToken }> {
  const token = generateToken();
  const row = await db.transaction((tx) => insertToken(tx, { ...t, token }));
  return { token, row };
}

/** The tokens by id; a page of them with `limit` (after `afterId`), all without. */
export async function listTokens(q: Queryable, p: { limit?: number; afterId?: number } = {}): Promise<ApiToken[]> {
  const res = await q.query(`SELECT ${COLUMNS} FROM ${FROM} WHERE t.id > $1 ORDER BY t.id LIMIT $2`, [p.afterId ?? 0, p.limit ?? null]);
  return res.rows.map((r) => camelRow<ApiToken>(r));
}

/** Revokes a live token: the row, or null when there is no such token; a revoked one is returned as it is. */
export async function revokeToken(db: Db, id: number, actor: string): Promise<ApiToken | null> {
  return db.transaction(async (tx) => {
    const res = await tx.query(`WITH t AS (UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING *) SELECT ${COLUMNS} FROM ${FROM_CHANGED}`, [id]);
    if (!res.rows[0]) {
      const old = await tx.query(`SELECT ${COLUMNS} FROM ${FROM} WHERE t.id = $1`, [id]);
      return old.rows[0] ? camelRow<ApiToken>(old.rows[0]) : null;
    }
    const row = camelRow<ApiToken>(res.rows[0]);
    await recordEvent(tx, { kind: 'token.revoked', actor, data: { tokenId: row.id, name: row.name, role: row.role, prefix: row.prefix, user: row.user } });
    return row;
  });
}

/**
 * The token with this secret that is not revoked, or null (unknown or revoked). An expired one is
 * returned: whether it has expired is the caller's to say, by its clock (the API answers it apart).
 */
export async function findLiveToken(q: Queryable, token: string): Promise<LiveToken | null> {
  const res = await q.query(`SELECT ${COLUMNS}, u.roles AS user_roles, u.disabled_at AS user_disabled_at FROM ${FROM} WHERE t.token_hash = $1 AND t.revoked_at IS NULL`, [hashToken(token)]);
  return res.rows[0] ? camelRow<LiveToken>(res.rows[0]) : null;
}

/** Whether the token's user may still carry it: not disabled, and still holding its role (or a level above). */
export const userStillCarries = (t: LiveToken): boolean => t.userDisabledAt === null && mayCarry(t.userRoles, t.role);

/** Whether the token is past its expiry at `now` (ms since the epoch); one without never is. */
export const hasExpired = (t: ApiToken, now: number): boolean => t.expiresAt !== null && t.expiresAt.getTime() <= now;

/** Records that a token was used; at most one write a minute per token. */
export async function touchToken(q: Queryable, id: number): Promise<void> {
  await q.query("UPDATE api_tokens SET last_used_at = now() WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')", [id]);
}

/** The name the configured admin token (FERRY_ADMIN_TOKEN) is stored under. */
export const CONFIGURED_ADMIN = 'FERRY_ADMIN_TOKEN';
const FIRST_START_ADMIN = 'first-admin';

/**
 * The first admin token, at start-up (nodes starting together queue on a lock); neither kind expires:
 * - with a configured token: stored (hashed) under FERRY_ADMIN_TOKEN unless already there; a
 *   different, earlier configured token is revoked (rotation); one an admin revoked stays revoked;
 * - without one, when the table is empty: a token is generated and returned, to be shown once.
 */
export async function ensureAdminToken(db: Db, configured: string | undefined): Promise<{ generated?: string; revokedConfigured?: boolean }> {
  return db.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock(hashtext('ferry.api_tokens'))");
    if (configured !== undefined) {
      const same = await tx.query<{ revoked_at: Date | null }>('SELECT revoked_at FROM api_tokens WHERE token_hash = $1', [hashToken(configured)]);
      if (same.rows[0]) return same.rows[0].revoked_at === null ? {} : { revokedConfigured: true };
      await tx.query("UPDATE api_tokens SET revoked_at = now() WHERE name = $1 AND created_by = 'config' AND revoked_at IS NULL", [CONFIGURED_ADMIN]);
      await insertToken(tx, { name: CONFIGURED_ADMIN, role: 'admin', token: configured, createdBy: 'config' });
      return {};
    }
    const any = await tx.query('SELECT 1 FROM api_tokens LIMIT 1');
    if (any.rows.length > 0) return {};
    const token = generateToken();
    await insertToken(tx, { name: FIRST_START_ADMIN, role: 'admin', token, createdBy: 'first-start' });
    return { generated: token };
  });
}
