/**
 * `ferry audit verify` and `ferry audit export` through the admin API (server/cli/command.ts:
 * FERRY_URL, FERRY_TOKEN, exit codes). verify exits 1 when the chain does not hold.
 */
import { query } from '../cli/api.ts';
import { nounCommand, str } from '../cli/command.ts';
import { CommandUsageError } from '../errors.ts';

const HELP = `Usage: ferry audit <command> [options]

The audit log's integrity, through the admin API at FERRY_URL (default http://127.0.0.1:8080)
with the token in FERRY_TOKEN.

  verify           recompute the chain of events (admin role) and print the result as JSON:
                   { ok, checked, firstBad?: { sequence, id, problem } }; exits 1 when not ok
  export [--since INSTANT] [--until INSTANT] [--format ndjson|csv]
                   the events of a period on stdout (operator role), NDJSON by default
Exit codes: 0 done (verify: the chain holds), 1 it does not, or the request failed, 2 usage error.
`;

export const auditCommand = nounCommand('audit', HELP, {
  verify: {
    role: 'admin',
    run: async (c) => {
      const result = await c.api().call<{ ok?: unknown }>('GET', '/api/v1/audit/verify', { timeoutMs: 600_000 });
      c.io.out(`${JSON.stringify(result)}\n`);
      return result?.ok === true ? 0 : 1;
    },
  },
  export: {
    role: 'operator', options: { since: { type: 'string' }, until: { type: 'string' }, format: { type: 'string' } },
    run: async (c) => {
      const format = str(c, 'format');
      if (format !== undefined && format !== 'ndjson' && format !== 'csv') throw new CommandUsageError('--format is ndjson or csv');
      const res = await c.api().respond('GET', `/api/v1/events/export${query({ since: str(c, 'since'), until: str(c, 'until'), format })}`, { timeoutMs: 3_600_000 });
      const decoder = new TextDecoder();
      for await (const chunk of res.body ?? []) c.io.out(decoder.decode(chunk as Uint8Array, { stream: true }));
    },
  },
});
