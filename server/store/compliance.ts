/**
 * Compliance: the per-class policies (compliance_policies), what the verdicts of a class's devices
 * depend on (its releases, policy and vulnerable versions), and the devices grouped in SQL by
 * class × version × staleness, so a report never loads the devices table.
 */
import { DEFAULT_STALE_DAYS, type ClassFacts, type Release } from '../compliance/verdict.ts';
import { FerryError } from '../errors.ts';
import type { Db, Queryable } from './db.ts';
import { recordEvent } from './events.ts';
import { camelRow } from './rows.ts';

export interface Policy {
  id: number;
  hardwareClass: string;
  minimumVersion: string | null;
  /** null: the class's images in state 'approved'. */
  approvedVersions: string[] | null;
  staleDays: number;
  updatedAt: Date;
  /** The user who set it. */
  updatedBy: string;
}

export interface PolicyInput {
  hardwareClass: string;
  minimumVersion: string | null;
  approvedVersions: string[] | null;
  staleDays: number;
  actor: string;
  user: string;
}

const POLICY_COLUMNS = 'id, hardware_class, minimum_version, approved_versions, stale_days, updated_at, updated_by';

/**
 * Sets a class's policy (the whole of it: what is not given is cleared). The minimum must be a
 * release of the class with a sequence number, deleted images included, or there is nothing to
 * order devices' releases against (FERRY_COMPLIANCE_POLICY_INVALID). Audited: compliance.policy_set.
 */
export async function setPolicy(db: Db, p: PolicyInput): Promise<Policy> {
  return db.transaction(async (tx) => {
    if (p.minimumVersion !== null) {
      const res = await tx.query<{ seq: number | null }>(
        'SELECT max(sequence) AS seq FROM firmware_images WHERE hardware_class = $1 AND version = $2', [p.hardwareClass, p.minimumVersion]);
      if (res.rows[0]?.seq === null || res.rows[0]?.seq === undefined) {
        throw new FerryError('FERRY_COMPLIANCE_POLICY_INVALID',
          `minimumVersion ${p.minimumVersion} is not a release of class ${p.hardwareClass} with a sequence number (no signed image of that version was uploaded)`);
      }
    }
    const res = await tx.query(
      `INSERT INTO compliance_policies (hardware_class, minimum_version, approved_versions, stale_days, updated_by) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (hardware_class) DO UPDATE SET minimum_version = EXCLUDED.minimum_version, approved_versions = EXCLUDED.approved_versions,
         stale_days = EXCLUDED.stale_days, updated_at = now(), updated_by = EXCLUDED.updated_by
       RETURNING ${POLICY_COLUMNS}`,
      [p.hardwareClass, p.minimumVersion, p.approvedVersions, p.staleDays, p.user]);
    await recordEvent(tx, {
      kind: 'compliance.policy_set', actor: p.actor,
      data: { hardwareClass: p.hardwareClass, minimumVersion: p.minimumVersion, approvedVersions: p.approvedVersions, staleDays: p.staleDays, user: p.user },
    });
    return camelRow<Policy>(res.rows[0]!);
  });
}

/** By id; `afterId` is the last id of the previous page. */
export async function listPolicies(q: Queryable, f: { afterId?: number; limit: number }): Promise<Policy[]> {
  const res = await q.query(`SELECT ${POLICY_COLUMNS} FROM compliance_policies WHERE id > $1 ORDER BY id LIMIT $2`, [f.afterId ?? 0, f.limit]);
  return res.rows.map((r) => camelRow<Policy>(r));
}

/** Joined as `p` to devices `d`: whether the device has not been seen for its class's staleDays. */
const STALE = `d.last_seen < now() - make_interval(days => COALESCE(p.stale_days, ${DEFAULT_STALE_DAYS}))`;
const DEVICES = `devices d LEFT JOIN compliance_policies p ON p.hardware_class = d.hardware_class`;
/** Devices provisioned and never registered have run nothing yet: they are left out of compliance. */
const JUDGED = "d.status <> 'provisioned'";

/** Devices of one class (null: of none), version and staleness. */
export interface DeviceGroup {
  hardwareClass: string | null;
  version: string | null;
  stale: boolean;
  devices: number;
  oldestLastSeen: Date | null;
}

/** The devices (every class, or one), grouped: one scan, one row per class × version × staleness. */
export async function deviceGroups(q: Queryable, f: { hardwareClass?: string | undefined }): Promise<DeviceGroup[]> {
  const res = await q.query(
    `SELECT d.hardware_class, d.firmware_version AS version, COALESCE(${STALE}, false) AS stale,
            count(*)::int AS devices, min(d.last_seen) AS oldest_last_seen
       FROM ${DEVICES} WHERE ${JUDGED} AND ($1::text IS NULL OR d.hardware_class = $1)
      GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
    [f.hardwareClass ?? null]);
  return res.rows.map((r) => camelRow<DeviceGroup>(r));
}

export interface JudgedDevice {
  id: number;
  endpoint: string;
  status: string;
  hardwareClass: string | null;
  version: string | null;
  stale: boolean;
  lastSeen: Date | null;
}

/**
 * A page of devices by id, of one class or every one, and — when `groups` is given — only those
 * in one of these groups (class × version × staleness: the groups of the verdict asked for).
 */
export async function devicePage(q: Queryable, f: {
  hardwareClass?: string | undefined; groups?: readonly DeviceGroup[]; afterId?: number | undefined; limit: number;
}): Promise<JudgedDevice[]> {
  const g = f.groups;
  const inGroups = g === undefined ? '' : `AND EXISTS (SELECT 1 FROM unnest($4::text[], $5::text[], $6::boolean[]) AS g(c, v, s)
    WHERE d.hardware_class IS NOT DISTINCT FROM g.c AND d.firmware_version IS NOT DISTINCT FROM g.v AND COALESCE(${STALE}, false) = g.s)`;
  const res = await q.query(
    `SELECT d.id, d.endpoint, d.status, d.hardware_class, d.firmware_version AS version, COALESCE(${STALE}, false) AS stale, d.last_seen
       FROM ${DEVICES} WHERE ${JUDGED} AND ($1::text IS NULL OR d.hardware_class = $1) AND d.id > $2 ${inGroups}
      ORDER BY d.id LIMIT $3`,
    [f.hardwareClass ?? null, f.afterId ?? 0, f.limit,
      ...(g === undefined ? [] : [g.map((x) => x.hardwareClass), g.map((x) => x.version), g.map((x) => x.stale)])]);
  return res.rows.map((r) => camelRow<JudgedDevice>(r));
}

/** What the verdicts of these classes' devices depend on: three queries, whatever the number of classes. */
export async function classFacts(q: Queryable, classes: readonly string[]): Promise<Map<string, ClassFacts>> {
  const [releases, policies, vulnerable] = await Promise.all([
    q.query<{ hardware_class: string; version: string; sequence: number | null; approved: boolean }>(
      `SELECT hardware_class, version, max(sequence) AS sequence, bool_or(state = 'approved') AS approved
         FROM firmware_images WHERE hardware_class = ANY($1::text[]) GROUP BY 1, 2`, [classes]),
    q.query<{ hardware_class: string; minimum_version: string | null; approved_versions: string[] | null }>(
      'SELECT hardware_class, minimum_version, approved_versions FROM compliance_policies WHERE hardware_class = ANY($1::text[])', [classes]),
    q.query<{ hardware_class: string; version: string }>(
      'SELECT hardware_class, version FROM vulnerable_versions WHERE hardware_class = ANY($1::text[])', [classes]),
  ]);
  const facts = new Map<string, { releases: Map<string, Release>; minimumVersion: string | null; approvedVersions: string[] | null; vulnerable: Set<string> }>(
    classes.map((c) => [c, { releases: new Map(), minimumVersion: null, approvedVersions: null, vulnerable: new Set() }]));
  for (const r of releases.rows) facts.get(r.hardware_class)?.releases.set(r.version, { sequence: r.sequence === null ? null : Number(r.sequence), approved: r.approved });
  for (const p of policies.rows) {
    const f = facts.get(p.hardware_class);
    if (f) { f.minimumVersion = p.minimum_version; f.approvedVersions = p.approved_versions; }
  }
  for (const v of vulnerable.rows) facts.get(v.hardware_class)?.vulnerable.add(v.version);
  return facts;
}
