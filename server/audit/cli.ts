/**
 * `ferry audit verify` and `ferry audit export` through the admin API at FERRY_URL (default
 * http://127.0.0.1:8080) with the token in FERRY_TOKEN. Exit codes: 0 the chain verifies (or the
 * export was written), 1 it does not, or the request failed (the API's code and message on
 * stderr), 2 usage error.
 */
import { parseArgs } from 'node:util';
import { CommandUsageError } from '../errors.ts';

export interface AuditCliIo { out: (text: string) => void; err: (text: string) => void; env: NodeJS.ProcessEnv }
const defaultIo: AuditCliIo = { out: (t) => void process.stdout.write(t), err: (t) => void process.stderr.write(t), env: process.env };

const HELP = `Usage: ferry audit <command> [options]

The audit log's integrity, through the admin API at FERRY_URL (default http://127.0.0.1:8080)
with the token in FERRY_TOKEN.

  verify           recompute the chain of events (admin role) and print the result as JSON:
                   { ok, checked, firstBad?: { sequence, id, problem } }; exits 1 when not ok
  export [--since INSTANT] [--until INSTANT] [--format ndjson|csv]
                   the events of a period on stdout (operator role), NDJSON by default
`;

export async function auditCommand(argv: string[], io: AuditCliIo = defaultIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') { io.out(HELP); return command === undefined ? 2 : 0; }
  let path: string;
  try {
    path = pathOf(command, rest);
  } catch (err) {
    if (err instanceof CommandUsageError) { io.err(`ferry audit: ${err.message}\n\n${HELP}`); return 2; }
    throw err;
  }
  const base = (io.env['FERRY_URL'] ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
  const token = io.env['FERRY_TOKEN'];
  if (!token) { io.err(`ferry audit: set FERRY_TOKEN to an API token (${command === 'verify' ? 'admin' : 'operator'} role)\n`); return 1; }
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(command === 'verify' ? 600_000 : 3_600_000) });
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause?.message;
    io.err(`ferry audit: cannot reach ${base}: ${cause ?? (err as Error).message}\n`);
    return 1;
  }
  if (!res.ok) {
    const text = await res.text();
    let shown = text.slice(0, 500);
    try {
      const e = JSON.parse(text) as { code?: string; message?: string };
      shown = `${e.code}: ${e.message}`;
    } catch { /* not JSON */ }
    io.err(`ferry audit: GET ${path}: ${res.status} ${shown}\n`);
    return 1;
  }
  if (command === 'export') {
    const decoder = new TextDecoder();
    for await (const chunk of res.body ?? []) io.out(decoder.decode(chunk as Uint8Array, { stream: true }));
    return 0;
  }
  const text = await res.text();
  io.out(`${text}\n`);
  try {
    return (JSON.parse(text) as { ok?: unknown }).ok === true ? 0 : 1;
  } catch {
    return 1;
  }
}

function pathOf(command: string, argv: string[]): string {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { since: { type: 'string' }, until: { type: 'string' }, format: { type: 'string' } }, allowPositionals: false, strict: true });
  } catch (err) {
    throw new CommandUsageError((err as Error).message);
  }
  const { values } = parsed;
  switch (command) {
    case 'verify':
      if (Object.keys(values).length > 0) throw new CommandUsageError('verify takes no options');
      return '/api/v1/audit/verify';
    case 'export': {
      if (values.format !== undefined && values.format !== 'ndjson' && values.format !== 'csv') throw new CommandUsageError('--format is ndjson or csv');
      const query = new URLSearchParams();
      for (const k of ['since', 'until', 'format'] as const) if (values[k] !== undefined) query.set(k, values[k]);
      const q = query.toString();
      return `/api/v1/events/export${q === '' ? '' : `?${q}`}`;
    }
    default:
      throw new CommandUsageError(`unknown command "${command}"`);
  }
}
