/** The alerts table: the alerts themselves, and the state of each one's webhook delivery. */
import type { AlertKind, Severity } from '../alerts/kinds.ts';
import type { Db, Queryable } from './db.ts';
import { recordEvent } from './events.ts';
import { camelRow } from './rows.ts';

export type WebhookState = 'none' | 'pending' | 'delivered' | 'failed';

export interface Alert {
  id: number;
  at: Date;
  kind: AlertKind;
  severity: Severity;
  campaignId: number | null;
  deviceId: number | null;
  /** The device's endpoint name, joined in. */
  endpoint: string | null;
  updateId: number | null;
  message: string;
  data: Record<string, unknown>;
  acknowledgedAt: Date | null;
  webhook: WebhookState;
  attempts: number;
  nextAttemptAt: Date | null;
  deliveredAt: Date | null;
  lastError: string | null;
}

const COLUMNS = `a.id, a.at, a.kind, a.severity, a.campaign_id, a.device_id, d.endpoint, a.update_id, a.message, a.data,
  a.acknowledged_at, a.webhook, a.attempts, a.next_attempt_at, a.delivered_at, a.last_error`;
/** `a` is a CTE or the table; the endpoint comes from devices. */
const FROM = (a: string) => `FROM ${a} a LEFT JOIN devices d ON d.id = a.device_id`;
const toAlert = (row: Record<string, unknown>): Alert => camelRow<Alert>(row);

export interface NewAlert {
  kind: AlertKind;
  severity: Severity;
  campaignId: number | null;
  deviceId: number | null;
  updateId: number | null;
  message: string;
  data: object;
  /** 'pending' when a webhook is configured: due at once. */
  webhook: 'none' | 'pending';
}

export async function insertAlert(q: Queryable, a: NewAlert): Promise<Alert> {
  const res = await q.query(
    `WITH a AS (
       INSERT INTO alerts (kind, severity, campaign_id, device_id, update_id, message, data, webhook, next_attempt_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CASE WHEN $8 = 'pending' THEN now() END) RETURNING *)
     SELECT ${COLUMNS} ${FROM('a')}`,
    [a.kind, a.severity, a.campaignId, a.deviceId, a.updateId, a.message, JSON.stringify(a.data), a.webhook]);
  return toAlert(res.rows[0]!);
}

export interface AlertFilter {
  kind?: AlertKind;
  since?: Date;
  acknowledged?: boolean;
  afterId?: number;
  limit: number;
}

/** Oldest first, by id: `afterId` is the last id of the previous page. */
export async function listAlerts(q: Queryable, f: AlertFilter): Promise<Alert[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (sql: (p: string) => string, value: unknown) => { params.push(value); where.push(sql(`$${params.length}`)); };
  if (f.kind !== undefined) add((p) => `a.kind = ${p}`, f.kind);
  if (f.since !== undefined) add((p) => `a.at >= ${p}`, f.since);
  if (f.acknowledged !== undefined) where.push(`a.acknowledged_at IS ${f.acknowledged ? 'NOT ' : ''}NULL`);
  if (f.afterId !== undefined) add((p) => `a.id > ${p}`, f.afterId);
  params.push(f.limit);
  const res = await q.query(
    `SELECT ${COLUMNS} ${FROM('alerts')} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY a.id LIMIT $${params.length}`,
    params);
  return res.rows.map(toAlert);
}

export async function getAlert(q: Queryable, id: number): Promise<Alert | null> {
  const res = await q.query(`SELECT ${COLUMNS} ${FROM('alerts')} WHERE a.id = $1`, [id]);
  return res.rows[0] ? toAlert(res.rows[0]) : null;
}

/** Acknowledges once (an audit event, in the same transaction); again is a no-op. Null: no such alert. */
export async function acknowledgeAlert(db: Db, id: number): Promise<Alert | null> {
  return db.transaction(async (tx) => {
    const res = await tx.query<{ device_id: number | null; update_id: number | null }>(
      'UPDATE alerts SET acknowledged_at = now() WHERE id = $1 AND acknowledged_at IS NULL RETURNING device_id, update_id', [id]);
    const row = res.rows[0];
    if (row) await recordEvent(tx, { kind: 'alert.acknowledged', actor: 'api', deviceId: row.device_id, updateId: row.update_id, data: { alertId: id } });
    return getAlert(tx, id);
  });
}

/**
 * Claims up to `limit` due deliveries: their next attempt moves `leaseMs` ahead, so another pump
 * (or another server on this database) leaves them alone while the attempt runs; a process that
 * dies mid-attempt leaves them due again once the lease ends.
 */
export async function claimDueDeliveries(db: Db, limit: number, leaseMs: number): Promise<Alert[]> {
  const res = await db.query(
    `WITH a AS (
       UPDATE alerts SET next_attempt_at = now() + $2::double precision * interval '1 millisecond'
        WHERE id IN (SELECT id FROM alerts WHERE webhook = 'pending' AND next_attempt_at <= now()
                      ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED)
       RETURNING *)
     SELECT ${COLUMNS} ${FROM('a')} ORDER BY a.id`,
    [limit, leaseMs]);
  return res.rows.map(toAlert);
}

/** Milliseconds until the next pending delivery is due (0 when one is), or null when none is pending. */
export async function nextDeliveryInMs(q: Queryable): Promise<number | null> {
  const res = await q.query<{ ms: number | null }>(
    `SELECT GREATEST(0, ceil(extract(epoch FROM min(next_attempt_at) - now()) * 1000))::float8 AS ms
       FROM alerts WHERE webhook = 'pending'`);
  return res.rows[0]?.ms ?? null;
}

export type AttemptResult =
  | { state: 'delivered' }
  | { state: 'failed'; error: string }
  | { state: 'pending'; error: string; retryInMs: number };

/** Records one attempt's outcome. */
export async function recordAttempt(q: Queryable, id: number, r: AttemptResult): Promise<void> {
  await q.query(
    `UPDATE alerts SET attempts = attempts + 1, webhook = $2, last_error = $3,
       delivered_at = CASE WHEN $2 = 'delivered' THEN now() END,
       next_attempt_at = CASE WHEN $2 = 'pending' THEN now() + $4::double precision * interval '1 millisecond' END
     WHERE id = $1 AND webhook = 'pending'`,
    [id, r.state, r.state === 'delivered' ? null : r.error, r.state === 'pending' ? r.retryInMs : null]);
}

/** An attempt cut short by shutdown: not counted, due again at once (after the restart). */
export async function releaseDelivery(q: Queryable, id: number): Promise<void> {
  await q.query(`UPDATE alerts SET next_attempt_at = now() WHERE id = $1 AND webhook = 'pending'`, [id]);
}
