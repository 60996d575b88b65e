/**
 * What an operator does to one update or one device beyond updating it: cancel one update
 * (POST /api/v1/updates/:id/cancel) and decommission a device (POST /api/v1/devices/:endpoint/decommission).
 * Both are audited with the token's user and the reason given.
 */
import type { FastifyInstance } from 'fastify';
import { FerryError } from '../errors.ts';
import type { UpdateEngine } from '../fota/engine.ts';
import { hasObject5v11 } from '../fota/object5.ts';
import type { Db } from '../store/db.ts';
import { decommissionDevice } from '../store/decommission.ts';
import * as devices from '../store/devices.ts';
import { recordEvent } from '../store/events.ts';
import { getUpdate, transitionUpdate } from '../store/updates.ts';
import { actorOf, userOf } from './auth.ts';
import { HttpError } from './errors.ts';
import { optionalBody } from './body.ts';
import { endpointParams, errorBody, freeText, idParams, updateBody } from './schemas.ts';

export interface DeviceActionDeps {
  db: Db;
  engine: UpdateEngine;
  /** After a device was decommissioned (committed): end the DTLS sessions of its deleted PSK identities, drop what is kept of it. */
  onDecommissioned?: ((endpoint: string, identities: readonly string[]) => void) | undefined;
}

const reasonBody = (required: boolean) => ({
  type: 'object', additionalProperties: false, ...(required ? { required: ['reason'] } : {}),
  properties: { reason: { ...freeText(500), description: 'why, for the audit log' } },
}) as const;

/** Why an update in `state` cannot be cancelled; undefined when it can (queued at once, sent to downloaded by /5/0/10). */
function notCancellable(state: string, canCancel: boolean): string | undefined {
  if (state === 'succeeded' || state === 'failed' || state === 'cancelled') return `it has finished (${state})`;
  if (state === 'updating') return 'the device is installing it: it finishes or times out';
  if (state !== 'queued' && !canCancel) return `it is ${state} and the device has no Object 5 Cancel (/5/0/10, LwM2M 1.1): it finishes or times out`;
  return undefined;
}

export function deviceActionRoutes(app: FastifyInstance, deps: DeviceActionDeps): void {
  const { db, engine } = deps;

  app.post<{ Params: { id: number }; Body: { reason?: string } }>('/api/v1/updates/:id/cancel', {
    preValidation: optionalBody,
    schema: {
      tags: ['updates'],
      summary: 'Cancel one update: a queued one at once (200, state cancelled); one the device is downloading through Object 5 Cancel '
        + '(/5/0/10, LwM2M 1.1 devices; 202, it moves to cancelled when the device acknowledges). 409 FERRY_UPDATE_NOT_CANCELLABLE when it '
        + 'has finished, is installing, or the device cannot cancel. Body optional',
      params: idParams,
      body: reasonBody(false),
      response: { 200: updateBody, 202: updateBody, '4xx': errorBody },
    },
  }, async (req, reply) => {
    const update = await getUpdate(db, req.params.id);
    if (!update) throw new HttpError('FERRY_UPDATE_NOT_FOUND', `no update ${req.params.id}`);
    const device = await devices.findById(db, update.deviceId);
    const why = notCancellable(update.state, hasObject5v11(device));
    if (why !== undefined) throw new FerryError('FERRY_UPDATE_NOT_CANCELLABLE', `update ${update.id} cannot be cancelled: ${why}`);
    const reason = req.body.reason ?? `cancelled by ${userOf(req)}`;
    const endpoint = device?.endpoint ?? null;
    if (update.state === 'queued') {
      const moved = await transitionUpdate(db, update.id, {
        to: 'cancelled', from: ['queued'], reason, actor: actorOf(req), data: { on: 'cancel', user: userOf(req) },
      });
      if (moved) return { ...moved, endpoint };
      // It moved on meanwhile (the device registered and took it): the engine's path below.
    }
    await recordEvent(db, { kind: 'update.cancel_requested', actor: actorOf(req), deviceId: update.deviceId, updateId: update.id, data: { user: userOf(req), reason } });
    engine.cancelUpdate(update.id, reason);
    return reply.code(202).send({ ...(await getUpdate(db, update.id))!, endpoint });
  });

  app.post<{ Params: { endpoint: string }; Body: { reason: string } }>('/api/v1/devices/:endpoint/decommission', {
    schema: {
      tags: ['devices'],
      summary: 'Decommission a device for good: status decommissioned (its row and history stay), its active update cancelled, '
        + 'taken out of live campaigns, its DTLS credentials deleted and its DTLS session ended; a Register under its endpoint is '
        + 'refused from then on (4.03 FERRY_RD_DECOMMISSIONED)',
      params: endpointParams,
      body: reasonBody(true),
      response: {
        200: {
          type: 'object',
          properties: {
            endpoint: { type: 'string' }, status: { type: 'string' },
            cancelledUpdate: { type: ['integer', 'null'], description: 'the update it had queued or under way, now cancelled' },
            campaigns: { type: 'array', items: { type: 'integer' }, description: 'the live campaigns it was taken out of' },
            credentialsDeleted: { type: 'boolean' },
          },
        },
        '4xx': errorBody,
      },
    },
  }, async (req) => {
    const { endpoint } = req.params;
    const done = await decommissionDevice(db, { endpoint, reason: req.body.reason, actor: actorOf(req), user: userOf(req) });
    deps.onDecommissioned?.(endpoint, done.identities);
    req.log.info({ endpoint, campaigns: done.campaigns, cancelledUpdate: done.cancelledUpdate }, 'device decommissioned');
    return { endpoint, status: 'decommissioned', cancelledUpdate: done.cancelledUpdate, campaigns: done.campaigns, credentialsDeleted: done.identities.length > 0 };
  });
}
