/** /api/v1/alerts: what the engine and the campaigns raised, filtered and paged, and acknowledged by operators. */
import type { FastifyInstance } from 'fastify';
import { ALERT_KINDS, SEVERITIES, type AlertKind } from '../alerts/kinds.ts';
import { acknowledgeAlert, listAlerts, type Alert } from '../store/alerts.ts';
import type { Db } from '../store/db.ts';
import { HttpError } from './errors.ts';
import { afterParam, errorBody, idParams, limitParam, nullableDateTime, page, pageBody } from './schemas.ts';

const nullableId = { type: ['integer', 'null'] } as const;

export const alertBody = {
  type: 'object',
  properties: {
    id: { type: 'integer' }, at: { type: 'string', format: 'date-time' }, kind: { type: 'string' },
    severity: { type: 'string', enum: SEVERITIES }, campaignId: nullableId, deviceId: nullableId,
    endpoint: { type: ['string', 'null'] }, updateId: nullableId, message: { type: 'string' },
    data: { type: 'object', additionalProperties: true }, acknowledgedAt: nullableDateTime,
    webhook: {
      type: 'object',
      properties: {
        state: { type: 'string', enum: ['none', 'pending', 'delivered', 'failed'] }, attempts: { type: 'integer' },
        nextAttemptAt: nullableDateTime, deliveredAt: nullableDateTime, lastError: { type: ['string', 'null'] },
      },
    },
  },
} as const;

/** The API's shape: the delivery columns grouped under `webhook`. */
function present(a: Alert) {
  const { webhook, attempts, nextAttemptAt, deliveredAt, lastError, ...rest } = a;
  return { ...rest, webhook: { state: webhook, attempts, nextAttemptAt, deliveredAt, lastError } };
}

/** Timestamps Postgres stores: a date-time outside years 1–9999 is refused rather than sent to the database. */
function sinceDate(text: string): Date {
  const d = new Date(text);
  const year = d.getUTCFullYear();
  if (Number.isNaN(d.getTime()) || year < 1 || year > 9999) throw new HttpError('FERRY_VALIDATION', `querystring/since: ${text} is not a date-time from year 1 to 9999`);
  return d;
}

interface ListQuery { kind?: AlertKind; since?: string; acknowledged?: boolean; limit?: number; after?: number }

export function alertRoutes(app: FastifyInstance, deps: { db: Db }): void {
  const { db } = deps;

  app.get<{ Querystring: ListQuery }>('/api/v1/alerts', {
    schema: {
      summary: 'Alerts, by id, filtered by kind, time and acknowledgement; cursor-paginated (?after= the previous page\'s next)',
      querystring: {
        type: 'object', additionalProperties: false,
        properties: {
          kind: { type: 'string', enum: ALERT_KINDS },
          since: { type: 'string', format: 'date-time', maxLength: 64, description: 'alerts raised at or after this time' },
          acknowledged: { type: 'boolean' },
          limit: limitParam,
          after: afterParam,
        },
      },
      response: { 200: pageBody(alertBody), '4xx': errorBody },
    },
  }, async (req) => {
    const q = req.query;
    const limit = q.limit ?? 100;
    const rows = await listAlerts(db, {
      limit,
      ...(q.kind !== undefined ? { kind: q.kind } : {}),
      ...(q.since !== undefined ? { since: sinceDate(q.since) } : {}),
      ...(q.acknowledged !== undefined ? { acknowledged: q.acknowledged } : {}),
      ...(q.after ? { afterId: q.after } : {}),
    });
    return page(rows.map(present), limit);
  });

  app.post<{ Params: { id: number } }>('/api/v1/alerts/:id/ack', {
    schema: {
      summary: 'Acknowledge an alert. Body optional',
      params: idParams,
      body: { type: ['object', 'null'], additionalProperties: false, properties: {} },
      response: { 200: alertBody, '4xx': errorBody },
    },
  }, async (req) => {
    const alert = await acknowledgeAlert(db, req.params.id);
    if (!alert) throw new HttpError('FERRY_ALERT_NOT_FOUND', `no alert ${req.params.id}`);
    return present(alert);
  });
}
