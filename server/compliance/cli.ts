/**
 * `ferry compliance`: the fleet's compliance report through the admin API at FERRY_URL (default
 * http://127.0.0.1:8080) with the token in FERRY_TOKEN (viewer role), as a table, JSON or CSV.
 * Exit codes: 0 done, 3 devices have a verdict --fail-on names, 1 the request failed (one line on
 * stderr: the API's code and message, or why it could not be reached), 2 usage error.
 */
import { parseArgs } from 'node:util';
import { AdminApi } from '../../simulator/admin-api.ts';
import { CommandUsageError } from '../errors.ts';
import { reportCsv, type Totals } from './report.ts';
import { NONCOMPLIANT, VERDICTS, type Verdict } from './verdict.ts';

export interface ComplianceCliIo { out: (text: string) => void; err: (text: string) => void; env: NodeJS.ProcessEnv }
const defaultIo: ComplianceCliIo = { out: (t) => void process.stdout.write(t), err: (t) => void process.stderr.write(t), env: process.env };

const HELP = `Usage: ferry compliance [options]

The fleet's compliance report through the admin API at FERRY_URL (default http://127.0.0.1:8080)
with the token in FERRY_TOKEN (viewer role): devices by hardware class, version and verdict.
Verdicts, first that applies: vulnerable, unknown, outdated, stale, compliant.

  --hardware-class CLASS  only this hardware class
  --verdict VERDICT       only this verdict
  --json                  the report as JSON (default: a table)
  --csv                   the groups as CSV
  --fail-on VERDICTS      exit 3 when any device has one of these verdicts (comma-separated,
                          repeatable; "noncompliant" is every verdict but compliant)

Exit codes: 0 done, 3 --fail-on found devices, 1 the request failed, 2 usage error.
`;

interface Group { hardwareClass: string | null; version: string | null; verdict: Verdict; devices: number; oldestLastSeen: string | null }
interface Report { generatedAt: string; totals: Totals; groups: Group[] }
interface Options { path: string; output: 'table' | 'json' | 'csv'; failOn: Set<Verdict> }

export async function complianceCommand(argv: string[], io: ComplianceCliIo = defaultIo): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) { io.out(HELP); return 0; }
  let o: Options;
  try {
    o = options(argv);
  } catch (err) {
    if (err instanceof CommandUsageError) { io.err(`ferry compliance: ${err.message}\n\n${HELP}`); return 2; }
    throw err;
  }
  const token = io.env['FERRY_TOKEN'];
  if (!token) { io.err('ferry compliance: set FERRY_TOKEN to an API token (viewer role)\n'); return 1; }
  const api = new AdminApi({ api: io.env['FERRY_URL'] ?? 'http://127.0.0.1:8080', token });
  const res = await api.send(o.path, { method: 'GET' });
  if (!(res instanceof Response)) { io.err(`ferry compliance: cannot reach ${api.base}: ${res.detail}\n`); return 1; }
  const text = await res.text();
  let report: Report | undefined;
  try {
    report = JSON.parse(text) as Report;
  } catch { /* said below */ }
  if (!res.ok) {
    const e = report as { code?: string; message?: string } | undefined;
    io.err(`ferry compliance: GET ${o.path}: ${res.status} ${e?.code !== undefined ? `${e.code}: ${e.message}` : text.replace(/\s+/g, ' ').slice(0, 200)}\n`);
    return 1;
  }
  if (!Array.isArray(report?.groups)) { io.err(`ferry compliance: GET ${o.path}: not a compliance report\n`); return 1; }
  io.out(o.output === 'json' ? `${JSON.stringify(report, null, 2)}\n` : o.output === 'csv' ? reportCsv(report.groups) : table(report));
  return report.groups.some((g) => o.failOn.has(g.verdict) && g.devices > 0) ? 3 : 0;
}

function options(argv: string[]): Options {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv, allowPositionals: false, strict: true,
      options: {
        'hardware-class': { type: 'string' }, verdict: { type: 'string' }, json: { type: 'boolean' }, csv: { type: 'boolean' },
        'fail-on': { type: 'string', multiple: true },
      },
    });
  } catch (err) {
    throw new CommandUsageError((err as Error).message);
  }
  const v = parsed.values;
  if (v.json && v.csv) throw new CommandUsageError('--json or --csv, not both');
  const isVerdict = (x: string): x is Verdict => (VERDICTS as readonly string[]).includes(x);
  if (v.verdict !== undefined && !isVerdict(v.verdict)) throw new CommandUsageError(`--verdict is one of ${VERDICTS.join(', ')}`);
  const failOn = new Set<Verdict>();
  for (const x of (v['fail-on'] ?? []).flatMap((s) => s.split(',')).map((s) => s.trim())) {
    if (x === 'noncompliant') for (const n of NONCOMPLIANT) failOn.add(n);
    else if (isVerdict(x)) failOn.add(x);
    else throw new CommandUsageError(`--fail-on takes ${[...VERDICTS, 'noncompliant'].join(', ')}; not "${x}"`);
  }
  const query = new URLSearchParams();
  if (v['hardware-class'] !== undefined) query.set('hardwareClass', v['hardware-class']);
  if (v.verdict !== undefined) query.set('verdict', v.verdict);
  const q = query.toString();
  return { path: `/api/v1/compliance${q === '' ? '' : `?${q}`}`, output: v.json ? 'json' : v.csv ? 'csv' : 'table', failOn };
}

/** Columns padded to their widest cell, then the totals. */
function table(r: Report): string {
  const rows = [
    ['CLASS', 'VERSION', 'VERDICT', 'DEVICES', 'OLDEST LAST SEEN'],
    ...r.groups.map((g) => [g.hardwareClass ?? '-', g.version ?? '-', g.verdict, String(g.devices), g.oldestLastSeen ?? '-']),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const lines = rows.map((row) => row.map((cell, i) => (i === 3 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ').trimEnd());
  const totals = VERDICTS.map((v) => `${v} ${r.totals[v] ?? 0}`).join(', ');
  return `${lines.join('\n')}\n\n${r.totals.devices ?? 0} devices: ${totals}\n`;
}
