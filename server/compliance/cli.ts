/**
 * `ferry compliance`: the fleet's compliance report through the admin API (viewer role; FERRY_URL,
 * FERRY_TOKEN, exit codes: server/cli/command.ts) as a table, JSON or CSV. Exit 3: devices have
 * a verdict --fail-on names.
 */
import { ApiError, query } from '../cli/api.ts';
import { singleCommand, str, strs, table, type Ctx } from '../cli/command.ts';
import { CommandUsageError } from '../errors.ts';
import { reportCsv, type Totals } from './report.ts';
import { NONCOMPLIANT, VERDICTS, type Verdict } from './verdict.ts';

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

const isVerdict = (x: string): x is Verdict => (VERDICTS as readonly string[]).includes(x);

function failOnOf(c: Ctx): Set<Verdict> {
  const failOn = new Set<Verdict>();
  for (const x of strs(c, 'fail-on')) {
    if (x === 'noncompliant') for (const n of NONCOMPLIANT) failOn.add(n);
    else if (isVerdict(x)) failOn.add(x);
    else throw new CommandUsageError(`--fail-on takes ${[...VERDICTS, 'noncompliant'].join(', ')}; not "${x}"`);
  }
  return failOn;
}

export const complianceCommand = singleCommand('compliance', HELP, {
  role: 'viewer',
  options: { 'hardware-class': { type: 'string' }, verdict: { type: 'string' }, csv: { type: 'boolean' }, 'fail-on': { type: 'string', multiple: true } },
  run: async (c) => {
    if (c.json && c.flags['csv']) throw new CommandUsageError('--json or --csv, not both');
    const verdict = str(c, 'verdict');
    if (verdict !== undefined && !isVerdict(verdict)) throw new CommandUsageError(`--verdict is one of ${VERDICTS.join(', ')}`);
    const failOn = failOnOf(c);
    const report = await c.api().get<Report>(`/api/v1/compliance${query({ hardwareClass: str(c, 'hardware-class'), verdict })}`);
    if (!Array.isArray(report?.groups)) throw new ApiError('the answer is not a compliance report', 200, undefined);
    c.show(report, (r) => (c.flags['csv'] ? reportCsv(r.groups) : text(r)));
    return report.groups.some((g) => failOn.has(g.verdict) && g.devices > 0) ? 3 : 0;
  },
});

/** Columns padded to their widest cell, then the totals. */
function text(r: Report): string {
  const rows = r.groups.map((g) => [g.hardwareClass, g.version, g.verdict, g.devices, g.oldestLastSeen]);
  const totals = VERDICTS.map((v) => `${v} ${r.totals[v] ?? 0}`).join(', ');
  return `${table(['CLASS', 'VERSION', 'VERDICT', 'DEVICES', 'OLDEST LAST SEEN'], rows, [3])}\n${r.totals.devices ?? 0} devices: ${totals}\n`;
}
