/**
 * /api/v1/vulnerabilities: firmware versions of a hardware class marked vulnerable, with the
 * advisories that say so, a severity and an optional deadline (past it, devices still running the
 * version raise a compliance.vulnerable alert). Marked and cleared by operators, audited with the user.
 */
import type { FastifyInstance } from 'fastify';
import type { Db } from '../store/db.ts';
import { ADVISORY_SEVERITIES, clearVulnerable, listVulnerabilities, markVulnerable, type AdvisorySeverity } from '../store/vulnerabilities.ts';
import { actorOf, userOf } from './auth.ts';
import { HttpError } from './errors.ts';
import { afterParam, dateTime, errorBody, freeText, instant, instantParam, label, limitParam, nullableDateTime, page, pageBody } from './schemas.ts';

/**
 * An advisory id: a source's prefix, a dash, its id — CVE-2026-1234, GHSA-xxxx-xxxx-xxxx,
 * PYSEC-2024-12, a vendor's VENDOR-SA-2026-007. No spaces, at most 64 characters.
 */
export const advisory = {
  type: 'string', minLength: 5, maxLength: 64, pattern: '^[A-Za-z][A-Za-z0-9]{1,15}-[A-Za-z0-9][A-Za-z0-9._:-]*$',
  description: 'an advisory id, e.g. CVE-2026-1234 or GHSA-xxxx-xxxx-xxxx',
} as const;

/** Where a class and version are named in the path. */
export const classVersionParams = {
  type: 'object', required: ['hardwareClass', 'version'], additionalProperties: false,
  properties: { hardwareClass: label, version: label },
} as const;

const vulnerabilityBody = {
  type: 'object',
  properties: {
    id: { type: 'integer' }, hardwareClass: { type: 'string' }, version: { type: 'string' },
    advisories: { type: 'array', items: { type: 'string' } }, severity: { type: 'string', enum: ADVISORY_SEVERITIES },
    deadline: { ...nullableDateTime, description: 'past it, devices still running the version raise a compliance.vulnerable alert (critical), at most once a day' },
    note: { type: ['string', 'null'] }, markedAt: dateTime, markedBy: { type: 'string', description: 'the user who marked it' },
    devices: { type: 'integer', description: 'devices that report running it now' },
  },
} as const;

interface MarkBody { advisories: string[]; severity: AdvisorySeverity; deadline?: string | null; note?: string | null }

export function vulnerabilityRoutes(app: FastifyInstance, deps: { db: Db }): void {
  const { db } = deps;

  app.get<{ Querystring: { hardwareClass?: string; limit?: number; after?: number } }>('/api/v1/vulnerabilities', {
    schema: {
      summary: 'Versions marked vulnerable, by id; cursor-paginated (?after= the previous page\'s next)',
      querystring: { type: 'object', additionalProperties: false, properties: { hardwareClass: label, limit: limitParam, after: afterParam } },
      response: { 200: pageBody(vulnerabilityBody), '4xx': errorBody },
    },
  }, async (req) => {
    const { limit = 100, after, hardwareClass } = req.query;
    return page(await listVulnerabilities(db, { limit, ...(after ? { afterId: after } : {}), ...(hardwareClass ? { hardwareClass } : {}) }), limit);
  });

  app.put<{ Params: { hardwareClass: string; version: string }; Body: MarkBody }>('/api/v1/vulnerabilities/:hardwareClass/:version', {
    schema: {
      summary: 'Mark a version of a hardware class vulnerable (or replace its marking)',
      params: classVersionParams,
      body: {
        type: 'object', required: ['advisories', 'severity'], additionalProperties: false,
        properties: {
          advisories: { type: 'array', items: advisory, minItems: 1, maxItems: 32, uniqueItems: true },
          severity: { type: 'string', enum: ADVISORY_SEVERITIES },
          deadline: { anyOf: [instantParam, { type: 'null' }], description: 'past it, devices still running the version raise an alert' },
          note: { anyOf: [freeText(1000), { type: 'null' }] },
        },
      },
      response: { 200: vulnerabilityBody, '4xx': errorBody },
    },
  }, async (req) => {
    const { advisories, severity, deadline, note } = req.body;
    return markVulnerable(db, {
      ...req.params, advisories, severity, deadline: instant(deadline ?? undefined, 'body/deadline') ?? null, note: note ?? null,
      actor: actorOf(req), user: userOf(req),
    });
  });

  app.delete<{ Params: { hardwareClass: string; version: string } }>('/api/v1/vulnerabilities/:hardwareClass/:version', {
    schema: {
      summary: 'Clear a version\'s vulnerable marking',
      params: classVersionParams,
      response: { 200: vulnerabilityBody, '4xx': errorBody },
    },
  }, async (req) => {
    const cleared = await clearVulnerable(db, { ...req.params, actor: actorOf(req), user: userOf(req) });
    if (!cleared) throw new HttpError('FERRY_VULNERABILITY_NOT_FOUND', `version ${req.params.version} of class ${req.params.hardwareClass} is not marked vulnerable`);
    return cleared;
  });
}
