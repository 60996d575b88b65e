/**
 * Named users. Every API token belongs to one; a user holds roles, a token carries one of them.
 * The levels viewer < operator < admin include the ones below (a user holding admin may have an
 * operator token); `approver` stands apart, neither above nor below: it approves releases, and the
 * approving user must not be the uploading one, whichever of their tokens they use. Creating a
 * user, changing its roles and disabling it are audit events.
 */
import { UserError } from '../errors.ts';
import type { Queryable } from './db.ts';
import { recordEvent } from './events.ts';
import { camelRow } from './rows.ts';

export const USER_ROLES = ['viewer', 'operator', 'admin', 'approver'] as const;
export type UserRole = (typeof USER_ROLES)[number];
/** The ordered levels: each includes those before it. */
export const LEVELS = ['viewer', 'operator', 'admin'] as const;
export const USER_NAME = /^[A-Za-z0-9._@-]{1,64}$/;

export interface User {
  id: number;
  name: string;
  roles: UserRole[];
  createdAt: Date;
  createdBy: string;
  disabledAt: Date | null;
}

const COLUMNS = 'id, name, roles, created_at, created_by, disabled_at';
const levelOf = (r: string): number => (LEVELS as readonly string[]).indexOf(r);

/** Whether a user holding `roles` may carry a token of `role`: the role itself, or a level below one held. */
export function mayCarry(roles: readonly string[], role: string): boolean {
  if (roles.includes(role)) return true;
  const want = levelOf(role);
  return want >= 0 && roles.some((r) => levelOf(r) > want);
}

/** Roles in the stored order, without repeats. */
const normalised = (roles: readonly UserRole[]): UserRole[] => USER_ROLES.filter((r) => roles.includes(r));

export async function getUser(q: Queryable, name: string): Promise<User | null> {
  const res = await q.query(`SELECT ${COLUMNS} FROM users WHERE name = $1`, [name]);
  return res.rows[0] ? camelRow<User>(res.rows[0]) : null;
}

export async function getUserById(q: Queryable, id: number): Promise<User | null> {
  const res = await q.query(`SELECT ${COLUMNS} FROM users WHERE id = $1`, [id]);
  return res.rows[0] ? camelRow<User>(res.rows[0]) : null;
}

export async function listUsers(q: Queryable): Promise<User[]> {
  const res = await q.query(`SELECT ${COLUMNS} FROM users ORDER BY id`);
  return res.rows.map((r) => camelRow<User>(r));
}

/** A new user; FERRY_USER_EXISTS when the name is taken. Audited as user.created. */
export async function createUser(q: Queryable, u: { name: string; roles: readonly UserRole[]; actor: string }): Promise<User> {
  const res = await q.query(`INSERT INTO users (name, roles, created_by) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING RETURNING ${COLUMNS}`,
    [u.name, normalised(u.roles), u.actor]);
  if (!res.rows[0]) throw new UserError('FERRY_USER_EXISTS', `a user is already named ${u.name}`);
  const user = camelRow<User>(res.rows[0]);
  await recordEvent(q, { kind: 'user.created', actor: u.actor, data: { userId: user.id, user: user.name, roles: user.roles } });
  return user;
}

/** Grants and withdraws roles (the new set replaces the old); audited as user.roles_changed with both sets. */
export async function setUserRoles(q: Queryable, name: string, roles: readonly UserRole[], actor: string): Promise<User> {
  const old = await q.query<{ roles: string[] }>('SELECT roles FROM users WHERE name = $1 FOR UPDATE', [name]);
  if (!old.rows[0]) throw new UserError('FERRY_USER_NOT_FOUND', `no user ${name}`);
  const res = await q.query(`UPDATE users SET roles = $2 WHERE name = $1 RETURNING ${COLUMNS}`, [name, normalised(roles)]);
  const user = camelRow<User>(res.rows[0]!);
  const from = old.rows[0].roles;
  await recordEvent(q, {
    kind: 'user.roles_changed', actor,
    data: { userId: user.id, user: user.name, from, to: user.roles, granted: user.roles.filter((r) => !from.includes(r)), withdrawn: from.filter((r) => !(user.roles as string[]).includes(r)) },
  });
  return user;
}

/** Disables a user: every token of theirs is refused from now on. Audited as user.disabled. */
export async function disableUser(q: Queryable, name: string, actor: string): Promise<User> {
  const res = await q.query(`UPDATE users SET disabled_at = coalesce(disabled_at, now()) WHERE name = $1 RETURNING ${COLUMNS}`, [name]);
  if (!res.rows[0]) throw new UserError('FERRY_USER_NOT_FOUND', `no user ${name}`);
  const user = camelRow<User>(res.rows[0]);
  await recordEvent(q, { kind: 'user.disabled', actor, data: { userId: user.id, user: user.name } });
  return user;
}

/**
 * The user a new token belongs to: the named one (it must hold the role, and not be disabled), or,
 * with no name given, the user named as the token, created holding that role when there is none.
 */
export async function userForToken(q: Queryable, t: { user?: string | undefined; name: string; role: UserRole; actor: string }): Promise<User> {
  const name = t.user ?? t.name;
  const user = await getUser(q, name) ?? (t.user === undefined ? await createUser(q, { name, roles: [t.role], actor: t.actor }) : null);
  if (!user) throw new UserError('FERRY_USER_NOT_FOUND', `no user ${name}: create it first (POST /api/v1/users)`);
  if (user.disabledAt) throw new UserError('FERRY_USER_DISABLED', `user ${name} is disabled`);
  if (!mayCarry(user.roles, t.role)) throw new UserError('FERRY_USER_ROLE', `user ${name} holds ${user.roles.join(', ') || 'no role'}, not ${t.role}: grant it first (PUT /api/v1/users/${name}/roles)`);
  return user;
}
