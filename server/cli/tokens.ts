/** `ferry tokens ls|create|revoke`: API tokens through the admin API (admin role). */
import { CommandUsageError } from '../errors.ts';
import { nounCommand, positive, str, table, when } from './command.ts';

const HELP = `Usage: ferry tokens <command> [options]

API tokens through the admin API at FERRY_URL (default http://127.0.0.1:8080) with the token in
FERRY_TOKEN (admin role).

  ls                  every token (never its secret): id, name, role, user, expiry, last use
  create NAME --role R [--user U] [--expires-in 30d]
                      a new token of role R (viewer, operator, admin, approver) belonging to user
                      U (default: a user named NAME); --expires-in: seconds or 90s, 15m, 12h, 30d.
                      The secret goes to stdout, alone on its line, and is shown only this once.
  revoke ID           revoke a token at once (it stays listed)

  --json              the API's answer as JSON
Exit codes: 0 done, 1 refused or unreachable, 2 usage error.
`;

interface Token {
  id: number; name: string; role: string; user: string; prefix: string; createdAt: string;
  lastUsedAt: string | null; revokedAt: string | null; expiresAt: string | null; token?: string;
}

const described = (t: Token): string => `token ${t.id} ${t.name} (${t.role}, user ${t.user}), expires ${t.expiresAt === null ? 'never' : when(t.expiresAt)}`;

export const tokensCommand = nounCommand('tokens', HELP, {
  ls: {
    role: 'admin',
    run: async (c) => c.show(await c.api().list<Token>('/api/v1/tokens'), (ts) => table(
      ['ID', 'NAME', 'ROLE', 'USER', 'PREFIX', 'CREATED', 'EXPIRES', 'LAST USED', 'REVOKED'],
      ts.map((t) => [t.id, t.name, t.role, t.user, t.prefix, when(t.createdAt), when(t.expiresAt), when(t.lastUsedAt), when(t.revokedAt)]), [0])),
  },
  create: {
    args: ['NAME'], role: 'admin', options: { role: { type: 'string' }, user: { type: 'string' }, 'expires-in': { type: 'string' } },
    run: async (c) => {
      const role = str(c, 'role');
      if (role === undefined) throw new CommandUsageError('tokens create needs --role R');
      const expiresIn = str(c, 'expires-in');
      const t = await c.api().call<Token>('POST', '/api/v1/tokens', { json: { name: c.args[0], role, user: str(c, 'user'), expiresIn } });
      if (c.json) return c.show(t, () => '');
      c.io.err(`created ${described(t)}; its secret, shown only now:\n`);
      c.io.out(`${t.token}\n`);
    },
  },
  revoke: {
    args: ['ID'], role: 'admin',
    run: async (c) => c.show(await c.api().call<Token>('DELETE', `/api/v1/tokens/${positive(c.args[0], 'ID')}`), (t) => `revoked ${described(t)}\n`),
  },
});
