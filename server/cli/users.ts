/** `ferry users ls|create|roles|disable`: who holds which roles, through the admin API (admin role). */
import { CommandUsageError } from '../errors.ts';
import { nounCommand, seg, strs, table, when, type Ctx } from './command.ts';

const HELP = `Usage: ferry users <command> [options]

Users and their roles through the admin API at FERRY_URL (default http://127.0.0.1:8080) with the
token in FERRY_TOKEN (admin role). Every token belongs to a user; roles: viewer < operator < admin,
and approver (approves releases, never its own user's uploads).

  ls                         every user: name, roles, created, disabled
  create NAME --roles a,b    a new user holding these roles
  roles NAME --roles a,b     set a user's roles (all of them: the list replaces the old one)
  disable NAME               disable a user: none of its tokens is accepted any more

  --json                     the API's answer as JSON
Exit codes: 0 done, 1 refused or unreachable, 2 usage error.
`;

interface User { id: number; name: string; roles: string[]; createdAt: string; createdBy: string; disabledAt: string | null }

const described = (u: User): string => `user ${u.name}: ${u.roles.join(', ') || 'no roles'}${u.disabledAt === null ? '' : `, disabled ${when(u.disabledAt)}`}\n`;

function rolesOf(c: Ctx): string[] {
  const roles = strs(c, 'roles');
  if (roles.length === 0) throw new CommandUsageError('give --roles, e.g. --roles viewer,approver');
  return roles;
}

const ROLES = { roles: { type: 'string', multiple: true } } as const;

export const usersCommand = nounCommand('users', HELP, {
  ls: {
    role: 'admin',
    run: async (c) => c.show(await c.api().list<User>('/api/v1/users'), (us) => table(
      ['NAME', 'ROLES', 'CREATED', 'BY', 'DISABLED'], us.map((u) => [u.name, u.roles.join(','), when(u.createdAt), u.createdBy, when(u.disabledAt)]))),
  },
  create: {
    args: ['NAME'], role: 'admin', options: ROLES,
    run: async (c) => c.show(await c.api().call<User>('POST', '/api/v1/users', { json: { name: c.args[0], roles: rolesOf(c) } }), described),
  },
  roles: {
    args: ['NAME'], role: 'admin', options: ROLES,
    run: async (c) => c.show(await c.api().call<User>('PUT', `/api/v1/users/${seg(c.args[0]!)}/roles`, { json: { roles: rolesOf(c) } }), described),
  },
  disable: {
    args: ['NAME'], role: 'admin',
    run: async (c) => c.show(await c.api().call<User>('POST', `/api/v1/users/${seg(c.args[0]!)}/disable`), described),
  },
});
