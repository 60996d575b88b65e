/**
 * The audit log's integrity and its export (their roles are in roles.ts):
 * - GET /api/v1/audit/verify (admin): seals what has committed, then recomputes the chain and names
 *   the first row changed, missing, out of order, or the tail cut off (../audit/verify.ts).
 * - GET /api/v1/events/export (operator): the events of a period as NDJSON or CSV, streamed a page
 *   at a time (../audit/export.ts).
 */
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { sealPending } from '../audit/chain.ts';
import { exportEvents, exportText, type ExportFormat } from '../audit/export.ts';
import type { AuditSigner } from '../audit/signer.ts';
import { verifyChain } from '../audit/verify.ts';
import type { Db } from '../store/db.ts';
import { HttpError } from './errors.ts';
import { errorBody, instant, instantParam } from './schemas.ts';

export interface AuditDeps {
  db: Db;
  audit: { signer: AuditSigner; checkpointFile?: string };
}

const seqRef = { type: 'object', additionalProperties: false, required: ['sequence', 'at'], properties: { sequence: { type: 'integer' }, at: { type: 'string' } } } as const;
const verifyBody = {
  type: 'object', additionalProperties: false, required: ['ok', 'checked', 'keyed', 'from', 'through', 'unsealed', 'forgedCheckpoints'],
  properties: {
    ok: { type: 'boolean' },
    checked: { type: 'integer', description: 'sealed events recomputed' },
    keyed: { type: 'boolean', description: 'HMAC under the master key; false: plain SHA-256, evident only against accidents' },
    from: { type: 'integer', description: 'the archive boundary the check started after' },
    through: { type: 'integer', description: 'the last sequence number found' },
    unsealed: { type: 'integer', description: 'events committed since the check began, not yet sealed' },
    checkpoint: seqRef,
    forgedCheckpoints: { type: 'integer', description: 'checkpoints whose MAC is not this server\'s' },
    firstBad: {
      type: 'object', additionalProperties: false, required: ['sequence', 'id', 'problem'],
      properties: {
        sequence: { type: 'integer' }, id: { type: ['integer', 'null'] },
        problem: { type: 'string', enum: ['changed', 'missing', 'out-of-order', 'truncated'] },
      },
    },
    error: { type: 'string', description: 'why the chain could not be checked (another master key)' },
  },
} as const;

interface ExportQuery { since?: string; until?: string; format?: ExportFormat }

export function auditRoutes(app: FastifyInstance, deps: AuditDeps): void {
  const { db, audit } = deps;
  app.get('/api/v1/audit/verify', {
    schema: {
      summary: 'Recompute the audit log\'s chain and name the first event changed, missing, out of order, or the tail cut off',
      response: { 200: verifyBody, '4xx': errorBody },
    },
  }, async () => {
    await sealPending(db, audit.signer);
    return verifyChain(db, audit.signer, audit.checkpointFile === undefined ? {} : { checkpointFile: audit.checkpointFile });
  });

  app.get<{ Querystring: ExportQuery }>('/api/v1/events/export', {
    schema: {
      summary: 'The audit log of a period, streamed as NDJSON (one event a line) or CSV, with each event\'s sequence number and link',
      querystring: {
        type: 'object', additionalProperties: false,
        properties: {
          since: { ...instantParam, description: 'at or after this instant' },
          until: { ...instantParam, description: 'before this instant' },
          format: { type: 'string', enum: ['ndjson', 'csv'], description: 'ndjson (the default) or csv' },
        },
      },
      response: { 200: { type: 'string', description: 'application/x-ndjson or text/csv' }, '4xx': errorBody },
    },
  }, async (req, reply) => {
    const since = instant(req.query.since, 'since');
    const until = instant(req.query.until, 'until');
    if (since && until && since.getTime() >= until.getTime()) {
      throw new HttpError('FERRY_EXPORT_PERIOD', `since (${req.query.since}) must be before until (${req.query.until})`);
    }
    const format = req.query.format ?? 'ndjson';
    const text = exportText(exportEvents(db, { ...(since ? { since } : {}), ...(until ? { until } : {}) }), format);
    reply.type(format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8');
    reply.header('content-disposition', `attachment; filename="ferry-events.${format === 'csv' ? 'csv' : 'ndjson'}"`);
    return reply.send(Readable.from(text));
  });
}
