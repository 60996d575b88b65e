/** Firmware versions marked vulnerable (vulnerable_versions): marked and cleared by operators, audited. */
import type { Db, Queryable } from './db.ts';
import { recordEvent } from './events.ts';
import { camelRow } from './rows.ts';

export const ADVISORY_SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type AdvisorySeverity = (typeof ADVISORY_SEVERITIES)[number];

/** What an operator says of a version: its advisories, how bad, by when it must be gone. */
export interface Advisory {
  hardwareClass: string;
  version: string;
  advisories: string[];
  severity: AdvisorySeverity;
  /** Past it, devices still running the version raise a compliance.vulnerable alert. */
  deadline: Date | null;
  note: string | null;
}

export interface Vulnerability extends Advisory {
  id: number;
  markedAt: Date;
  /** The user who marked it (last). */
  markedBy: string;
  /** Devices (registered at least once) that report running it now. */
  devices: number;
}

/** Devices of a class running a version: every one but those provisioned and never registered. */
export const RUNNING = (v: string) => `d.hardware_class = ${v}.hardware_class AND d.firmware_version = ${v}.version AND d.status <> 'provisioned'`;

const COLUMNS = `v.id, v.hardware_class, v.version, v.advisories, v.severity, v.deadline, v.note, v.marked_at, v.marked_by,
  (SELECT count(*)::int FROM devices d WHERE ${RUNNING('v')}) AS devices`;

export interface Marking extends Advisory {
  /** 'token:<name>' */
  actor: string;
  /** The user's name. */
  user: string;
}

/**
 * Marks a version vulnerable, or replaces its marking (advisories, severity, deadline, note): a
 * new marking may alert again at once when its deadline has passed. Audited: vulnerability.marked.
 */
export async function markVulnerable(db: Db, m: Marking): Promise<Vulnerability> {
  return db.transaction(async (tx) => {
    const res = await tx.query<{ id: number }>(
      `INSERT INTO vulnerable_versions (hardware_class, version, advisories, severity, deadline, note, marked_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (hardware_class, version) DO UPDATE SET advisories = EXCLUDED.advisories, severity = EXCLUDED.severity,
         deadline = EXCLUDED.deadline, note = EXCLUDED.note, marked_at = now(), marked_by = EXCLUDED.marked_by, alerted_at = NULL
       RETURNING id`,
      [m.hardwareClass, m.version, m.advisories, m.severity, m.deadline, m.note, m.user]);
    await recordEvent(tx, {
      kind: 'vulnerability.marked', actor: m.actor,
      data: {
        hardwareClass: m.hardwareClass, version: m.version, advisories: m.advisories, severity: m.severity,
        deadline: m.deadline?.toISOString() ?? null, note: m.note, user: m.user,
      },
    });
    return (await listVulnerabilities(tx, { id: Number(res.rows[0]!.id), limit: 1 }))[0]!;
  });
}

/** Clears a marking; null when the version was not marked. Audited: vulnerability.cleared. */
export async function clearVulnerable(db: Db, c: { hardwareClass: string; version: string; actor: string; user: string }): Promise<Vulnerability | null> {
  return db.transaction(async (tx) => {
    const [found] = await listVulnerabilities(tx, { hardwareClass: c.hardwareClass, version: c.version, limit: 1 });
    if (found === undefined) return null;
    await tx.query('DELETE FROM vulnerable_versions WHERE id = $1', [found.id]);
    await recordEvent(tx, {
      kind: 'vulnerability.cleared', actor: c.actor,
      data: { hardwareClass: c.hardwareClass, version: c.version, advisories: found.advisories, severity: found.severity, user: c.user },
    });
    return found;
  });
}

export interface VulnerabilityFilter {
  id?: number;
  hardwareClass?: string;
  version?: string;
  /** The last id of the previous page. */
  afterId?: number;
  limit: number;
}

/** By id. */
export async function listVulnerabilities(q: Queryable, f: VulnerabilityFilter): Promise<Vulnerability[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (column: string, op: string, value: unknown) => { params.push(value); where.push(`v.${column} ${op} $${params.length}`); };
  if (f.id !== undefined) add('id', '=', f.id);
  if (f.hardwareClass !== undefined) add('hardware_class', '=', f.hardwareClass);
  if (f.version !== undefined) add('version', '=', f.version);
  if (f.afterId !== undefined) add('id', '>', f.afterId);
  params.push(f.limit);
  const res = await q.query(
    `SELECT ${COLUMNS} FROM vulnerable_versions v ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY v.id LIMIT $${params.length}`, params);
  return res.rows.map((r) => camelRow<Vulnerability>(r));
}

/** How long a version past its deadline goes between two alerts. */
export const REALERT_AFTER = '1 day';

/**
 * The versions past their deadline that devices still run and that have not alerted within
 * REALERT_AFTER, each marked as alerted now (a second node running the same sweep finds it
 * claimed). Call it in the transaction that stores the alerts.
 */
export async function claimOverdue(tx: Queryable): Promise<Vulnerability[]> {
  const due = `v.deadline < now() AND (v.alerted_at IS NULL OR v.alerted_at < now() - interval '${REALERT_AFTER}')`;
  const res = await tx.query(
    `WITH due AS (
       SELECT v.id, count(*)::int AS devices FROM vulnerable_versions v JOIN devices d ON ${RUNNING('v')}
        WHERE ${due} GROUP BY v.id)
     UPDATE vulnerable_versions v SET alerted_at = now() FROM due WHERE v.id = due.id AND ${due}
     RETURNING v.id, v.hardware_class, v.version, v.advisories, v.severity, v.deadline, v.note, v.marked_at, v.marked_by, due.devices`);
  return res.rows.map((r) => camelRow<Vulnerability>(r));
}
