/**
 * /api/v1/campaigns: create, list, progress, and the operator actions start, pause, resume,
 * abort, revert. Reads are for viewers, writes for operators (roles.ts).
 * A refused state change is a 409 naming the state the campaign is in.
 */
import type { FastifyInstance } from 'fastify';
import type { CampaignDriver } from '../fota/campaigns.ts';
import type { CampaignPolicy, CampaignState, WaveSpec } from '../fota/model.ts';
import type { CampaignTarget } from '../store/rows.ts';
import { actorOf } from './auth.ts';
import { optionalBody } from './body.ts';
import { afterParam, endpointParam, errorBody, freeText, id, idParams, instant, instantParam, label, limitParam, page, pageBody } from './schemas.ts';

const STATES = ['draft', 'scheduled', 'running', 'paused', 'completed', 'aborted'] as const;
const labels = (max: number) => ({ type: 'array', items: label, minItems: 1, maxItems: max, uniqueItems: true }) as const;
const hour = { type: 'integer', minimum: 0, maximum: 23 } as const;

const target = {
  type: 'object', additionalProperties: false,
  properties: { hardwareClass: label, tags: labels(32), firmwareVersions: labels(100), endpoints: { ...labels(10_000), items: endpointParam } },
} as const;

const policy = {
  type: 'object', additionalProperties: false, required: ['waves'],
  properties: {
    // Cumulative: "10%" of the target (rounded up) or a count of devices; the last wave takes everyone left.
    waves: {
      type: 'array', minItems: 1, maxItems: 20,
      items: { anyOf: [{ type: 'integer', minimum: 1, maximum: 100_000_000 }, { type: 'string', pattern: '^\\d{1,3}(\\.\\d+)?%$' }] },
    },
    soakSeconds: { type: 'integer', minimum: 0, maximum: 30 * 86400 },
    concurrency: { type: 'integer', minimum: 1, maximum: 100_000 },
    failureThreshold: { type: 'number', minimum: 0, maximum: 1 },
    retries: {
      type: 'object', additionalProperties: false,
      properties: { max: { type: 'integer', minimum: 0, maximum: 20 }, backoffSeconds: { type: 'integer', minimum: 0, maximum: 86400 }, factor: { type: 'number', minimum: 1, maximum: 10 } },
    },
    window: { type: 'object', additionalProperties: false, required: ['startHour', 'endHour'], properties: { startHour: hour, endHour: hour } },
    delivery: { type: 'string', enum: ['pull', 'push', 'device'] },
    severity: { type: 'string', enum: ['critical', 'mandatory', 'optional'] },
    autoRevert: { type: 'boolean', description: 'when the failure threshold pauses the campaign, also revert the devices it updated (needs the re-issued packages uploaded; POST /campaigns/:id/revert)' },
  },
} as const;

const counts = {
  type: 'object',
  properties: Object.fromEntries(['pending', 'claimed', 'in_progress', 'succeeded', 'failed', 'skipped', 'cancelled', 'deferred', 'total'].map((k) => [k, { type: 'integer' }])),
} as const;

const campaignBody = {
  type: 'object',
  properties: {
    id: { type: 'integer' }, name: { type: 'string' }, firmwareId: { type: 'integer' }, state: { type: 'string' },
    target: { type: 'object', additionalProperties: true }, policy: { type: 'object', additionalProperties: true },
    currentWave: { type: 'integer' }, pauseReason: { type: ['string', 'null'] }, startAt: { type: ['string', 'null'], format: 'date-time' },
    createdBy: { type: 'string' }, createdAt: { type: 'string', format: 'date-time' },
    startedAt: { type: ['string', 'null'], format: 'date-time' }, finishedAt: { type: ['string', 'null'], format: 'date-time' },
    reverts: { type: ['integer', 'null'], description: 'a revert campaign: the campaign it undoes' },
    revertOfRelease: { type: ['string', 'null'], description: 'a revert campaign: the version it takes the devices back to' },
    revertPending: { type: 'boolean', description: 'paused by its failure threshold with autoRevert: it reverts once its updates in flight have finished' },
    testbed: { type: 'boolean', description: 'testbed-only: only devices marked testbed take part' },
  },
} as const;

const progressBody = {
  ...campaignBody,
  properties: {
    ...campaignBody.properties,
    waves: { type: 'array', items: { type: 'object', properties: { wave: { type: 'integer' }, devices: { type: 'integer' }, counts } } },
    warnings: { type: 'array', items: { type: 'string' }, description: 'e.g. a campaign started with {"allowEmpty": true} that no device has joined yet' },
    counts, byResult: { type: 'object', additionalProperties: { type: 'integer' } },
    retries: { type: 'integer' }, joinedLate: { type: 'integer' },
  },
} as const;

interface CreateBody {
  name: string;
  firmwareId: number;
  target?: CampaignTarget;
  policy: Partial<Omit<CampaignPolicy, 'retries'>> & { waves: WaveSpec[]; retries?: Partial<CampaignPolicy['retries']> };
  startAt?: string;
  testbed?: boolean;
}

/** The policy with every default filled in (documented here, at the one place they are set). */
export function policyWithDefaults(p: CreateBody['policy']): CampaignPolicy {
  return {
    waves: p.waves, soakSeconds: p.soakSeconds ?? 0, concurrency: p.concurrency ?? 10, failureThreshold: p.failureThreshold ?? 0.05,
    retries: { max: p.retries?.max ?? 2, backoffSeconds: p.retries?.backoffSeconds ?? 60, factor: p.retries?.factor ?? 2 },
    ...(p.window === undefined ? {} : { window: p.window }),
    delivery: p.delivery ?? 'device', severity: p.severity ?? 'mandatory', autoRevert: p.autoRevert ?? false,
  };
}


const ACTION_SUMMARIES = {
  start: 'Start a draft campaign: its devices (registered, matching the target) and waves are fixed; 409 FERRY_CAMPAIGN_EMPTY when none match, unless {"allowEmpty": true}. Body optional',
  pause: 'Pause a running campaign (no new device starts; updates under way go on). Body optional: {"reason": …}',
  resume: 'Resume a paused campaign; the current wave\'s failures so far are acknowledged. Body optional',
  abort: 'Abort a campaign: devices not started are cancelled, updates under way are cancelled where the device can. Body optional',
} as const;

export function campaignRoutes(app: FastifyInstance, deps: { campaigns: CampaignDriver }): void {
  const { campaigns } = deps;

  app.post<{ Body: CreateBody }>('/api/v1/campaigns', {
    schema: {
      summary: 'Create a campaign: a draft (start it with POST /api/v1/campaigns/:id/start), or scheduled with startAt',
      body: {
        type: 'object', additionalProperties: false, required: ['name', 'firmwareId', 'policy'],
        properties: {
          name: freeText(200), firmwareId: id, target, policy, startAt: { ...instantParam, description: 'when the campaign starts by itself' },
          testbed: {
            type: 'boolean',
            description: 'a testbed campaign: only devices marked testbed take part (those that join late too, and each is checked again when claimed); '
              + 'it takes images uploaded, testing or approved, and one still uploaded becomes testing when it starts. Default false: a production campaign, approved images only',
          },
        },
      },
      response: { 201: campaignBody, '4xx': errorBody },
    },
  }, async (req, reply) => {
    const b = req.body;
    const startAt = instant(b.startAt, 'startAt');
    const campaign = await campaigns.create({
      name: b.name, firmwareId: b.firmwareId, target: b.target ?? {}, policy: policyWithDefaults(b.policy),
      ...(startAt === undefined ? {} : { startAt }), testbed: b.testbed ?? false,
    }, actorOf(req));
    return reply.code(201).send(campaign);
  });

  app.get<{ Querystring: { state?: CampaignState[]; limit?: number; after?: number } }>('/api/v1/campaigns', {
    schema: {
      summary: 'Campaigns, by id, in the states given (?state=running&state=paused); cursor-paginated (?after= the previous page\'s next)',
      querystring: {
        type: 'object', additionalProperties: false,
        properties: { state: { type: 'array', items: { type: 'string', enum: STATES }, maxItems: STATES.length }, limit: limitParam, after: afterParam },
      },
      response: { 200: pageBody(campaignBody), '4xx': errorBody },
    },
  }, async (req) => {
    const { state, limit = 100, after = 0 } = req.query;
    return page(await campaigns.list(state, { limit, afterId: after }), limit);
  });

  app.get<{ Params: { id: string } }>('/api/v1/campaigns/:id', {
    schema: { summary: 'One campaign and its progress: devices by wave and state, results, warnings', params: idParams, response: { 200: progressBody, '4xx': errorBody } },
  }, async (req) => campaigns.progress(Number(req.params.id)));

  app.post<{ Params: { id: string }; Body: Record<string, never> }>('/api/v1/campaigns/:id/revert', {
    preValidation: optionalBody,
    schema: {
      summary: 'Revert a completed, paused or aborted campaign: the devices it updated go back to the release each ran before, '
        + 'through one started campaign per release (same policy), each with a re-issue of that release (its payload signed with a higher '
        + 'sequence number); a paused campaign is aborted. 409 FERRY_REVERT_PACKAGE_MISSING names what to sign and upload',
      params: idParams,
      body: { type: 'object', additionalProperties: false, properties: {} },
      response: {
        201: {
          type: 'object',
          properties: {
            reverted: campaignBody,
            campaigns: { type: 'array', items: campaignBody },
            notRevertible: {
              type: 'array', description: 'devices the campaign updated that are not taken back, and why (their version before is unknown, or they moved on since)',
              items: { type: 'object', properties: { endpoint: { type: 'string' }, reason: { type: 'string' } } },
            },
          },
        },
        '4xx': errorBody,
      },
    },
  }, async (req, reply) => {
    const r = await campaigns.revert(Number(req.params.id), actorOf(req), req.token?.user);
    return reply.code(201).send({ reverted: r.reverted, campaigns: r.campaigns, notRevertible: r.notRevertible });
  });

  for (const action of ['start', 'pause', 'resume', 'abort'] as const) {
    app.post<{ Params: { id: string }; Body: { reason?: string; allowEmpty?: boolean } }>(`/api/v1/campaigns/:id/${action}`, {
      preValidation: optionalBody,
      schema: {
        tags: ['campaigns'],
        summary: ACTION_SUMMARIES[action],
        params: idParams,
        body: {
          type: 'object', additionalProperties: false, description: 'optional: no body is the same as {}',
          properties: action === 'pause' ? { reason: freeText(500) }
            : action === 'start' ? { allowEmpty: { type: 'boolean', description: 'start even when the target matches no registered device (devices that register later join it); otherwise that is a 409 FERRY_CAMPAIGN_EMPTY' } } : {},
        },
        response: { 200: campaignBody, '4xx': errorBody },
      },
    }, async (req) => campaigns.act(Number(req.params.id), action, actorOf(req), req.body.reason, req.body.allowEmpty));
  }
}
