/**
 * The compliance report: devices grouped in SQL (class × version × staleness), each group judged
 * by verdictOf with its class's facts, then merged into class × version × verdict. Memory goes
 * with the number of groups, not of devices; the device list is read a page at a time.
 */
import { csvCell } from '../audit/export.ts';
import type { Queryable } from '../store/db.ts';
import { classFacts, deviceGroups, devicePage, type DeviceGroup } from '../store/compliance.ts';
import { VERDICTS, verdictOf, type ClassFacts, type Verdict } from './verdict.ts';

export interface ReportGroup {
  hardwareClass: string | null;
  version: string | null;
  verdict: Verdict;
  devices: number;
  /** The last contact of the group's device seen longest ago. */
  oldestLastSeen: Date | null;
}

export type Totals = Record<Verdict, number> & { devices: number };

export interface Report {
  generatedAt: Date;
  totals: Totals;
  groups: ReportGroup[];
}

export interface ReportFilter {
  hardwareClass?: string | undefined;
  verdict?: Verdict | undefined;
}

/** Every group of devices with its verdict, of every class or one (before merging stale and fresh). */
export async function judgedGroups(q: Queryable, f: ReportFilter): Promise<{ groups: DeviceGroup[]; verdicts: Verdict[]; facts: Map<string, ClassFacts> }> {
  const groups = await deviceGroups(q, { hardwareClass: f.hardwareClass });
  const classes = [...new Set(groups.flatMap((g) => (g.hardwareClass === null ? [] : [g.hardwareClass])))];
  const facts = await classFacts(q, classes);
  const verdicts = groups.map((g) => verdictOf(g, g.hardwareClass === null ? undefined : facts.get(g.hardwareClass)));
  return { groups, verdicts, facts };
}

/** The report: groups by class × version × verdict (of one verdict when asked), and their totals. */
export async function complianceReport(q: Queryable, f: ReportFilter): Promise<Report> {
  const { groups, verdicts } = await judgedGroups(q, f);
  const merged = new Map<string, ReportGroup>();
  groups.forEach((g, i) => {
    const verdict = verdicts[i]!;
    if (f.verdict !== undefined && verdict !== f.verdict) return;
    const key = JSON.stringify([g.hardwareClass, g.version, verdict]);
    const m = merged.get(key);
    if (m === undefined) {
      merged.set(key, { hardwareClass: g.hardwareClass, version: g.version, verdict, devices: g.devices, oldestLastSeen: g.oldestLastSeen });
    } else {
      m.devices += g.devices;
      if (g.oldestLastSeen !== null && (m.oldestLastSeen === null || g.oldestLastSeen < m.oldestLastSeen)) m.oldestLastSeen = g.oldestLastSeen;
    }
  });
  const out = [...merged.values()].sort(byClassVersionVerdict);
  const totals = Object.fromEntries([...VERDICTS, 'devices'].map((v) => [v, 0])) as Totals;
  for (const g of out) { totals[g.verdict] += g.devices; totals.devices += g.devices; }
  return { generatedAt: new Date(), totals, groups: out };
}

/** Classes, then versions, in text order (no class, no version last), then verdicts by precedence. */
function byClassVersionVerdict(a: ReportGroup, b: ReportGroup): number {
  const text = (x: string | null, y: string | null) => (x === y ? 0 : x === null ? 1 : y === null ? -1 : x < y ? -1 : 1);
  return text(a.hardwareClass, b.hardwareClass) || text(a.version, b.version) || VERDICTS.indexOf(a.verdict) - VERDICTS.indexOf(b.verdict);
}

export interface ReportDevice {
  id: number;
  endpoint: string;
  status: string;
  hardwareClass: string | null;
  version: string | null;
  verdict: Verdict;
  lastSeen: Date | null;
}

/** A page of the devices the report covers (of one verdict when asked), by id, each with its verdict. */
export async function complianceDevices(q: Queryable, f: ReportFilter & { afterId?: number | undefined; limit: number }): Promise<ReportDevice[]> {
  const { groups, verdicts, facts } = await judgedGroups(q, f);
  const of = f.verdict === undefined ? undefined : groups.filter((_, i) => verdicts[i] === f.verdict);
  if (of !== undefined && of.length === 0) return [];
  const rows = await devicePage(q, { hardwareClass: f.hardwareClass, afterId: f.afterId, limit: f.limit, ...(of === undefined ? {} : { groups: of }) });
  return rows.map(({ stale, ...d }) => ({
    ...d, verdict: verdictOf({ version: d.version, stale }, d.hardwareClass === null ? undefined : facts.get(d.hardwareClass)),
  }));
}

export const CSV_COLUMNS = ['hardware_class', 'version', 'verdict', 'devices', 'oldest_last_seen'] as const;

/** The groups as CSV (RFC 4180, CRLF), a header line first; from the report or from its JSON (dates as text). */
export function reportCsv(groups: ReadonlyArray<Omit<ReportGroup, 'oldestLastSeen'> & { oldestLastSeen: Date | string | null }>): string {
  const lines = groups.map((g) => [g.hardwareClass, g.version, g.verdict, g.devices, iso(g.oldestLastSeen)].map(csvCell).join(','));
  return [CSV_COLUMNS.join(','), ...lines].map((l) => `${l}\r\n`).join('');
}

const iso = (d: Date | string | null): string | null => (d === null ? null : typeof d === 'string' ? d : d.toISOString());

/** Non-compliant devices by class and verdict (the ferry_devices_noncompliant gauge). */
export async function noncompliantCounts(q: Queryable): Promise<Array<{ hardwareClass: string | null; verdict: Verdict; devices: number }>> {
  const counts = new Map<string, { hardwareClass: string | null; verdict: Verdict; devices: number }>();
  for (const g of (await complianceReport(q, {})).groups) {
    if (g.verdict === 'compliant') continue;
    const key = JSON.stringify([g.hardwareClass, g.verdict]);
    const c = counts.get(key) ?? { hardwareClass: g.hardwareClass, verdict: g.verdict, devices: 0 };
    c.devices += g.devices;
    counts.set(key, c);
  }
  return [...counts.values()];
}
