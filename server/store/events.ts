import type { Queryable } from './db.ts';

export interface EventInput {
  kind: string;
  /** 'engine', 'device', or who acted through the API: 'token:<name>'. */
  actor?: string;
  deviceId?: number | null;
  updateId?: number | null;
  data?: Record<string, unknown>;
}

/** Appends one row to the audit log; call it inside the transaction that made the change. */
export async function recordEvent(q: Queryable, e: EventInput): Promise<void> {
  await q.query(
    'INSERT INTO events (kind, actor, device_id, update_id, data) VALUES ($1, $2, $3, $4, $5)',
    [e.kind, e.actor ?? 'engine', e.deviceId ?? null, e.updateId ?? null, JSON.stringify(e.data ?? {})],
  );
}

/** Many events in one statement (batched registrations). */
export async function recordEvents(q: Queryable, events: readonly EventInput[]): Promise<void> {
  if (events.length === 0) return;
  await q.query(
    `INSERT INTO events (kind, actor, device_id, update_id, data)
     SELECT k, a, d, u, x::jsonb FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[]) AS t(k, a, d, u, x)`,
    [events.map((e) => e.kind), events.map((e) => e.actor ?? 'engine'), events.map((e) => e.deviceId ?? null),
      events.map((e) => e.updateId ?? null), events.map((e) => JSON.stringify(e.data ?? {}))],
  );
}

export interface EventRow {
  id: number;
  at: Date;
  actor: string;
  kind: string;
  deviceId: number | null;
  updateId: number | null;
  data: Record<string, unknown>;
}

export async function listEvents(
  q: Queryable,
  filter: { deviceId?: number; updateId?: number; limit?: number },
): Promise<EventRow[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.deviceId !== undefined) { params.push(filter.deviceId); where.push(`device_id = $${params.length}`); }
  if (filter.updateId !== undefined) { params.push(filter.updateId); where.push(`update_id = $${params.length}`); }
  params.push(filter.limit ?? 200);
  const res = await q.query<EventRow>(
    `SELECT id, at, actor, kind, device_id AS "deviceId", update_id AS "updateId", data FROM events
     ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id LIMIT $${params.length}`,
    params,
  );
  return res.rows;
}
