/**
 * The audit log. Rows are written here without a sequence number or link, in one statement
 * however many; the audit chain's sealer (../audit/chain.ts) chains them once they are committed.
 */
import type { Queryable } from './db.ts';

export interface EventInput {
  kind: string;
  /** 'engine', 'device', or who acted through the API: 'token:<name>'. */
  actor?: string;
  deviceId?: number | null;
  /**
   * The device's endpoint name, kept as text so the event outlives the device (a purged device's
   * id is gone). Taken from devices by deviceId when not given.
   */
  endpoint?: string | null;
  updateId?: number | null;
  data?: Record<string, unknown>;
}

/** Appends one row to the audit log; call it inside the transaction that made the change. */
export async function recordEvent(q: Queryable, e: EventInput): Promise<void> {
  await recordEvents(q, [e]);
}

/** Many events in one statement (batched registrations); each about a device names its endpoint. */
export async function recordEvents(q: Queryable, events: readonly EventInput[]): Promise<void> {
  if (events.length === 0) return;
  await q.query(
    `INSERT INTO events (kind, actor, device_id, update_id, data, endpoint)
     SELECT k, a, d, u, x::jsonb, COALESCE(ep, (SELECT endpoint FROM devices WHERE id = d))
     FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::text[]) AS t(k, a, d, u, x, ep)`,
    [events.map((e) => e.kind), events.map((e) => e.actor ?? 'engine'), events.map((e) => e.deviceId ?? null),
      events.map((e) => e.updateId ?? null), events.map((e) => JSON.stringify(e.data ?? {})), events.map((e) => e.endpoint ?? null)],
  );
}

export interface EventRow {
  id: number;
  at: Date;
  actor: string;
  kind: string;
  deviceId: number | null;
  /** The device's endpoint, when the event is about one. */
  endpoint: string | null;
  updateId: number | null;
  data: Record<string, unknown>;
}

export interface EventFilter {
  deviceId?: number;
  /** Events about the device of this endpoint name, those of a purged device included. */
  endpoint?: string;
  updateId?: number;
  /** Kinds starting with this, e.g. "update." or "token.created". */
  kindPrefix?: string;
  actor?: string;
  since?: Date;
  until?: Date;
  /** The last id of the previous page, in the order asked for. */
  afterId?: number;
  /** By id: asc (oldest first, the default) or desc (newest first). */
  order?: 'asc' | 'desc';
  limit?: number;
}

const likePrefix = (s: string): string => `${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

export async function listEvents(q: Queryable, filter: EventFilter): Promise<EventRow[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (sql: string, v: unknown) => { params.push(v); where.push(sql.replace('?', `$${params.length}`)); };
  const desc = filter.order === 'desc';
  if (filter.deviceId !== undefined) add('e.device_id = ?', filter.deviceId);
  if (filter.endpoint !== undefined) add('e.endpoint = ?', filter.endpoint);
  if (filter.updateId !== undefined) add('e.update_id = ?', filter.updateId);
  if (filter.kindPrefix !== undefined) add('e.kind LIKE ?', likePrefix(filter.kindPrefix));
  if (filter.actor !== undefined) add('e.actor = ?', filter.actor);
  if (filter.since !== undefined) add('e.at >= ?', filter.since);
  if (filter.until !== undefined) add('e.at < ?', filter.until);
  if (filter.afterId !== undefined) add(desc ? 'e.id < ?' : 'e.id > ?', filter.afterId);
  params.push(filter.limit ?? 200);
  const res = await q.query<EventRow>(
    `SELECT e.id, e.at, e.actor, e.kind, e.device_id AS "deviceId", COALESCE(e.endpoint, d.endpoint) AS endpoint, e.update_id AS "updateId", e.data
     FROM events e LEFT JOIN devices d ON d.id = e.device_id
     ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY e.id ${desc ? 'DESC' : ''} LIMIT $${params.length}`,
    params,
  );
  return res.rows;
}
