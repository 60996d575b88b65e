/**
 * /api/v1/compliance: the per-class policies (minimum release, approved releases, staleness) and
 * the fleet's compliance report — groups by class × version × verdict as JSON or CSV, or the
 * devices themselves a page at a time (../compliance/report.ts).
 */
import type { FastifyInstance } from 'fastify';
import { complianceDevices, complianceReport, reportCsv } from '../compliance/report.ts';
import { DEFAULT_STALE_DAYS, VERDICTS, type Verdict } from '../compliance/verdict.ts';
import type { Db } from '../store/db.ts';
import { listPolicies, setPolicy } from '../store/compliance.ts';
import { actorOf, userOf } from './auth.ts';
import { HttpError } from './errors.ts';
import { afterParam, dateTime, errorBody, label, limitParam, nullableDateTime, page, pageBody } from './schemas.ts';
import { pagedListRoute } from './paged.ts';

const nullableString = { type: ['string', 'null'] } as const;
const verdict = { type: 'string', enum: VERDICTS } as const;

const policyBody = {
  type: 'object',
  properties: {
    id: { type: 'integer' }, hardwareClass: { type: 'string' },
    minimumVersion: { ...nullableString, description: 'devices running a release ordered below it (by sequence number) are outdated' },
    approvedVersions: { type: ['array', 'null'], items: { type: 'string' }, description: 'null: the class\'s images in state approved' },
    staleDays: { type: 'integer' }, updatedAt: dateTime, updatedBy: { type: 'string', description: 'the user who set it' },
  },
} as const;

const groupBody = {
  type: 'object',
  properties: {
    hardwareClass: nullableString, version: nullableString, verdict, devices: { type: 'integer' }, oldestLastSeen: nullableDateTime,
  },
} as const;

const deviceBody = {
  type: 'object',
  properties: {
    id: { type: 'integer' }, endpoint: { type: 'string' }, status: { type: 'string' }, hardwareClass: nullableString,
    version: nullableString, verdict, lastSeen: nullableDateTime,
  },
} as const;

interface PolicyBody { minimumVersion?: string | null; approvedVersions?: string[] | null; staleDays?: number }
interface ReportQuery { hardwareClass?: string; verdict?: Verdict; format?: 'json' | 'csv'; devices?: boolean; limit?: number; after?: number }

export function complianceRoutes(app: FastifyInstance, deps: { db: Db }): void {
  const { db } = deps;

  pagedListRoute(app, '/api/v1/compliance/policies', {
    summary: 'Compliance policies of the hardware classes that have one', item: policyBody, list: (p) => listPolicies(db, p),
  });

  app.put<{ Params: { hardwareClass: string }; Body: PolicyBody }>('/api/v1/compliance/policies/:hardwareClass', {
    schema: {
      summary: 'Set a hardware class\'s compliance policy (the whole of it: what is left out is cleared)',
      params: { type: 'object', required: ['hardwareClass'], additionalProperties: false, properties: { hardwareClass: label } },
      body: {
        type: 'object', additionalProperties: false,
        properties: {
          minimumVersion: { anyOf: [label, { type: 'null' }], description: 'a release of the class with a sequence number' },
          approvedVersions: { anyOf: [{ type: 'array', items: label, maxItems: 256, uniqueItems: true }, { type: 'null' }], description: 'left out or null: the class\'s images in state approved' },
          staleDays: { type: 'integer', minimum: 1, maximum: 3650, description: `devices not seen for this many days are stale (default ${DEFAULT_STALE_DAYS})` },
        },
      },
      response: { 200: policyBody, '4xx': errorBody },
    },
  }, async (req) => setPolicy(db, {
    hardwareClass: req.params.hardwareClass, minimumVersion: req.body.minimumVersion ?? null, approvedVersions: req.body.approvedVersions ?? null,
    staleDays: req.body.staleDays ?? DEFAULT_STALE_DAYS, actor: actorOf(req), user: userOf(req),
  }));

  app.get<{ Querystring: ReportQuery }>('/api/v1/compliance', {
    schema: {
      summary: 'The fleet\'s compliance: devices by class × version × verdict (JSON, or CSV with ?format=csv), or with ?devices=true the devices, cursor-paginated',
      description: 'Verdicts, first that applies: vulnerable (runs a version marked vulnerable), unknown (no version or class, or a version that is no release of its class), '
        + 'outdated (below the class\'s minimum, or not approved), stale (not seen for the class\'s staleDays), compliant. Devices provisioned and never registered are left out.',
      querystring: {
        type: 'object', additionalProperties: false,
        properties: {
          hardwareClass: label, verdict,
          format: { type: 'string', enum: ['json', 'csv'], description: 'json (the default) or csv (text/csv of the groups)' },
          devices: { type: 'boolean', description: 'list the devices (a page of { items, next }) instead of the groups' },
          limit: limitParam, after: afterParam,
        },
      },
      response: {
        200: {
          type: 'object', description: 'the report ({ generatedAt, totals, groups }), or with ?devices=true a page ({ items, next }); text/csv with ?format=csv',
          properties: {
            generatedAt: dateTime,
            totals: { type: 'object', properties: Object.fromEntries([...VERDICTS, 'devices'].map((v) => [v, { type: 'integer' }])) },
            groups: { type: 'array', items: groupBody },
            ...pageBody(deviceBody).properties,
          },
        },
        '4xx': errorBody,
      },
    },
  }, async (req, reply) => {
    const { hardwareClass, verdict: v, format, devices, limit, after } = req.query;
    if (devices === true) {
      if (format === 'csv') throw new HttpError('FERRY_VALIDATION', 'querystring/format: csv is the groups\' format; the devices come as JSON pages');
      const n = limit ?? 100;
      return page(await complianceDevices(db, { hardwareClass, verdict: v, limit: n, afterId: after || undefined }), n);
    }
    if (limit !== undefined || after !== undefined) throw new HttpError('FERRY_VALIDATION', 'querystring: limit and after page the devices (?devices=true)');
    const report = await complianceReport(db, { hardwareClass, verdict: v });
    if (format !== 'csv') return report;
    return reply.type('text/csv; charset=utf-8').header('content-disposition', 'attachment; filename="ferry-compliance.csv"').send(reportCsv(report.groups));
  });
}
