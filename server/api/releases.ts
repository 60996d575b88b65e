/**
 * A release's life through the API: approve (approver; four-eyes, testbed evidence), deprecate and
 * revoke (operator; a revocation pauses the campaigns rolling the image out, with alerts), and the
 * image's testbed evidence. Each change is audited (firmware.state_changed, with the user and reason).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AlertSink } from '../alerts/kinds.ts';
import { changeRelease, releaseEvidence, revokeRelease } from '../governance/releases.ts';
import type { Db } from '../store/db.ts';
import { actorOf } from './auth.ts';
import { optionalBody } from './body.ts';
import { errorBody, firmwareBody, freeText, idParams, nullableDateTime, policyBody } from './schemas.ts';

const evidenceBody = {
  type: 'object',
  properties: {
    firmwareId: { type: 'integer' }, version: { type: 'string' }, hardwareClass: { type: 'string' }, policy: policyBody,
    campaignIds: { type: 'array', items: { type: 'integer' }, description: 'the completed testbed campaigns of this image' },
    devices: {
      type: 'object',
      properties: {
        attempted: { type: 'integer' }, succeeded: { type: 'integer' }, failed: { type: 'integer' },
        notCounted: { type: 'array', items: { type: 'object', properties: { endpoint: { type: 'string' }, why: { type: 'string' } } } },
      },
    },
    byResult: { type: 'object', additionalProperties: { type: 'integer' }, description: 'devices by their last Update Result (Object 5 res. 5)' },
    successRate: { type: ['number', 'null'] },
    soak: { type: 'object', properties: { startedAt: nullableDateTime, endsAt: nullableDateTime, done: { type: 'boolean' } } },
    unhealthy: { type: 'array', items: { type: 'object', properties: { endpoint: { type: 'string' }, why: { type: 'array', items: { type: 'string' } } } } },
    sufficient: { type: 'boolean', description: 'enough for an approval' },
    missing: { type: 'array', items: { type: 'string' }, description: 'what an approval still needs' },
  },
} as const;

interface Change { Params: { id: number }; Body: { reason?: string } }

export function releaseRoutes(app: FastifyInstance, deps: { db: Db; alerts?: AlertSink | undefined }): void {
  const who = (req: FastifyRequest) => ({ actor: actorOf(req), user: req.token?.user, userId: req.token?.userId });

  for (const action of ['approve', 'deprecate'] as const) {
    app.post<Change>(`/api/v1/firmware/:id/${action}`, {
      preValidation: optionalBody,
      schema: {
        summary: action === 'approve'
          ? 'Approve a release in testing: an approver who did not upload it, with the testbed evidence its class\'s policy asks for'
          : 'Deprecate an approved release: no new campaign or direct update to production takes it',
        params: idParams,
        body: { type: 'object', additionalProperties: false, properties: { reason: freeText(500) } },
        response: { 200: firmwareBody, '4xx': errorBody },
      },
    }, async (req) => {
      const image = await changeRelease(deps.db, action, { firmwareId: req.params.id, reason: req.body.reason, ...who(req) });
      req.log.info({ firmwareId: image.id, version: image.version, state: image.state, user: req.token?.user }, `firmware ${action}d`);
      return image;
    });
  }

  app.post<Change & { Body: { reason: string } }>('/api/v1/firmware/:id/revoke', {
    schema: {
      summary: 'Revoke a release: it starts no update any more, and the campaigns rolling it out pause, each with a critical alert',
      params: idParams,
      body: { type: 'object', additionalProperties: false, required: ['reason'], properties: { reason: freeText(500) } },
      response: { 200: { ...firmwareBody, properties: { ...firmwareBody.properties, pausedCampaigns: { type: 'array', items: { type: 'integer' } } } }, '4xx': errorBody },
    },
  }, async (req) => {
    const { image, pausedCampaigns } = await revokeRelease(deps.db, deps.alerts, { firmwareId: req.params.id, reason: req.body.reason, ...who(req) });
    req.log.warn({ firmwareId: image.id, version: image.version, pausedCampaigns, user: req.token?.user }, 'firmware revoked');
    return { ...image, pausedCampaigns };
  });

  app.get<{ Params: { id: number } }>('/api/v1/firmware/:id/evidence', {
    schema: {
      summary: 'The release\'s testbed evidence, judged against its class\'s testbed policy: what an approval would find, and what is missing',
      params: idParams, response: { 200: evidenceBody, '4xx': errorBody },
    },
  }, async (req) => releaseEvidence(deps.db, req.params.id));
}
