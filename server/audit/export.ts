/**
 * The audit log of a period as NDJSON or CSV, archived events included, produced a page at a time
 * (keyset by id) so a year of events streams through a bounded buffer. Each line carries the sequence number and link, so
 * an export can be checked against the chain later. CSV cells that a spreadsheet would take for a
 * formula (starting with = + - @, a tab or a carriage return) are prefixed with an apostrophe:
 * endpoint names and event data come from devices.
 */
import type { Queryable } from '../store/db.ts';

export type ExportFormat = 'ndjson' | 'csv';

export interface ExportedEvent {
  id: number;
  seq: number | null;
  at: string;
  actor: string;
  kind: string;
  endpoint: string | null;
  deviceId: number | null;
  updateId: number | null;
  data: unknown;
  link: string | null;
}

const CSV_COLUMNS = ['id', 'seq', 'at', 'actor', 'kind', 'endpoint', 'device_id', 'update_id', 'data', 'link'] as const;

/** The events with since <= at < until, oldest id first, `pageSize` rows a query. */
export async function* exportEvents(q: Queryable, period: { since?: Date; until?: Date }, pageSize = 500): AsyncGenerator<ExportedEvent> {
  let after = 0;
  for (;;) {
    // Archived events too (--audit-retention): they keep their ids, so one keyset runs over both.
    const { rows } = await q.query<ExportedEvent & { at: Date }>(
      `SELECT * FROM (
         SELECT e.id, e.seq, e.at, e.actor, e.kind, COALESCE(e.endpoint, d.endpoint) AS endpoint, e.device_id AS "deviceId",
                e.update_id AS "updateId", e.data, e.link
           FROM events e LEFT JOIN devices d ON d.id = e.device_id
          WHERE e.id > $1 AND ($2::timestamptz IS NULL OR e.at >= $2) AND ($3::timestamptz IS NULL OR e.at < $3)
         UNION ALL
         SELECT a.id, a.seq, a.at, a.actor, a.kind, a.endpoint, a.device_id, a.update_id, a.data, a.link
           FROM events_archive a
          WHERE a.id > $1 AND ($2::timestamptz IS NULL OR a.at >= $2) AND ($3::timestamptz IS NULL OR a.at < $3)
       ) x ORDER BY id LIMIT $4`, [after, period.since ?? null, period.until ?? null, pageSize]);
    for (const r of rows) {
      yield { ...r, id: Number(r.id), seq: r.seq === null ? null : Number(r.seq), at: r.at.toISOString(),
        deviceId: r.deviceId === null ? null : Number(r.deviceId), updateId: r.updateId === null ? null : Number(r.updateId) };
    }
    if (rows.length < pageSize) return;
    after = Number(rows[rows.length - 1]!.id);
  }
}

/** The export as text chunks of the format: NDJSON lines, or a CSV header and rows (RFC 4180). */
export async function* exportText(events: AsyncIterable<ExportedEvent>, format: ExportFormat): AsyncGenerator<string> {
  if (format === 'csv') yield `${CSV_COLUMNS.join(',')}\r\n`;
  let chunk = '';
  for await (const e of events) {
    chunk += format === 'ndjson' ? `${JSON.stringify(e)}\n` : `${csvRow(e)}\r\n`;
    if (chunk.length >= 16_384) { yield chunk; chunk = ''; }
  }
  if (chunk !== '') yield chunk;
}

function csvRow(e: ExportedEvent): string {
  return [e.id, e.seq, e.at, e.actor, e.kind, e.endpoint, e.deviceId, e.updateId, JSON.stringify(e.data), e.link].map(csvCell).join(',');
}

export function csvCell(v: string | number | null): string {
  if (v === null) return '';
  let s = String(v);
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
