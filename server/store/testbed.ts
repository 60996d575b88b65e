/**
 * Testbeds in the database: the devices an operator marked, each hardware class's testbed policy,
 * and the facts testbed evidence is judged on (../governance/evidence.ts judges them).
 */
import { DEFAULT_POLICY, type EvidenceFacts, type TestbedPolicy } from '../governance/evidence.ts';
import type { Db, Queryable } from './db.ts';
import { recordEvent } from './events.ts';
import type { FirmwareImage, SecurityMode } from './rows.ts';

/** Who acts, for the audit log, and the user behind the token. */
export interface Acting { actor: string; user?: string | undefined }

const who = (a: Acting): Record<string, string> => (a.user ? { user: a.user } : {});

/** Marks or unmarks a device as a testbed (an operator's word, never the device's); null when there is no such device. */
export async function setTestbed(db: Db, endpoint: string, testbed: boolean, a: Acting): Promise<{ endpoint: string; testbed: boolean } | null> {
  return db.transaction(async (tx) => {
    const old = await tx.query<{ id: number; testbed: boolean }>('SELECT id, testbed FROM devices WHERE endpoint = $1 FOR UPDATE', [endpoint]);
    const row = old.rows[0];
    if (!row) return null;
    if (row.testbed !== testbed) {
      await tx.query('UPDATE devices SET testbed = $2 WHERE id = $1', [row.id, testbed]);
      await recordEvent(tx, { kind: 'device.testbed', actor: a.actor, deviceId: Number(row.id), data: { testbed, was: row.testbed, ...who(a) } });
    }
    return { endpoint, testbed };
  });
}

const POLICY_COLUMNS = 'hardware_class, min_devices, soak_seconds, min_success_rate, require_credentials';

function toPolicy(r: { hardware_class: string; min_devices: number; soak_seconds: number; min_success_rate: number | string; require_credentials: boolean }): TestbedPolicy {
  return { hardwareClass: r.hardware_class, minDevices: r.min_devices, soakSeconds: r.soak_seconds, minSuccessRate: Number(r.min_success_rate), requireCredentials: r.require_credentials };
}

/** The class's policy, or the defaults when none was set (`stored` says which). */
export async function getPolicy(q: Queryable, hardwareClass: string): Promise<TestbedPolicy & { stored: boolean }> {
  const res = await q.query<Parameters<typeof toPolicy>[0]>(`SELECT ${POLICY_COLUMNS} FROM testbed_policies WHERE hardware_class = $1`, [hardwareClass]);
  return res.rows[0] ? { ...toPolicy(res.rows[0]), stored: true } : { hardwareClass, ...DEFAULT_POLICY, stored: false };
}

/** Sets the class's policy (what is not given keeps its value, or the default), audited. */
export async function setPolicy(db: Db, hardwareClass: string, p: Partial<Omit<TestbedPolicy, 'hardwareClass'>>, a: Acting): Promise<TestbedPolicy> {
  return db.transaction(async (tx) => {
    const { stored: _, ...before } = await getPolicy(tx, hardwareClass);
    const next = { ...before, ...p, hardwareClass };
    const res = await tx.query<Parameters<typeof toPolicy>[0]>(
      `INSERT INTO testbed_policies (${POLICY_COLUMNS}, updated_by) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (hardware_class) DO UPDATE SET min_devices = $2, soak_seconds = $3, min_success_rate = $4, require_credentials = $5,
         updated_at = now(), updated_by = $6
       RETURNING ${POLICY_COLUMNS}`,
      [hardwareClass, next.minDevices, next.soakSeconds, next.minSuccessRate, next.requireCredentials, a.actor]);
    const policy = toPolicy(res.rows[0]!);
    await recordEvent(tx, { kind: 'testbed_policy.updated', actor: a.actor, data: { ...policy, before, ...who(a) } });
    return policy;
  });
}

/** What evidence is judged on: the image's completed testbed campaigns, their devices' last outcomes and how those devices are now. */
export async function evidenceFacts(q: Queryable, image: Pick<FirmwareImage, 'id' | 'version' | 'hardwareClass'>): Promise<EvidenceFacts> {
  const { stored: _, ...policy } = await getPolicy(q, image.hardwareClass);
  const campaigns = await q.query<{ id: string | number }>(
    `SELECT id FROM campaigns WHERE firmware_id = $1 AND testbed AND state = 'completed' ORDER BY id`, [image.id]);
  const campaignIds = campaigns.rows.map((r) => Number(r.id));
  const times = await q.query<{ last: Date | null; now: Date }>(
    `SELECT COALESCE((SELECT max(finished_at) FROM device_updates WHERE campaign_id = ANY($1::bigint[])),
                     (SELECT max(finished_at) FROM campaigns WHERE id = ANY($1::bigint[]))) AS last, clock_timestamp() AS now`, [campaignIds]);
  const devices = await q.query<{
    endpoint: string; outcome: 'succeeded' | 'failed'; result_code: number | null; hardware_class: string | null; security_mode: SecurityMode;
    status: string; last_seen: Date | null; firmware_version: string | null; last_failure_at: Date | null;
  }>(
    `SELECT DISTINCT ON (cd.device_id) d.endpoint, cd.state AS outcome, cd.result_code, d.hardware_class, d.security_mode, d.status,
       d.last_seen, d.firmware_version,
       (SELECT max(u.finished_at) FROM device_updates u WHERE u.device_id = d.id AND u.state = 'failed') AS last_failure_at
     FROM campaign_devices cd JOIN devices d ON d.id = cd.device_id
     WHERE cd.campaign_id = ANY($1::bigint[]) AND cd.state IN ('succeeded', 'failed')
     ORDER BY cd.device_id, cd.campaign_id DESC`, [campaignIds]);
  return {
    image: { id: image.id, version: image.version, hardwareClass: image.hardwareClass }, policy, campaignIds,
    devices: devices.rows.map((r) => ({
      endpoint: r.endpoint, outcome: r.outcome, resultCode: r.result_code, hardwareClass: r.hardware_class, securityMode: r.security_mode,
      status: r.status, lastSeen: r.last_seen, firmwareVersion: r.firmware_version, lastFailureAt: r.last_failure_at,
    })),
    lastFinishedAt: times.rows[0]?.last ?? null, now: times.rows[0]!.now,
  };
}
