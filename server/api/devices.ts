/** /api/v1/devices and /api/v1/updates: the inventory, and one update for one device. */
import type { FastifyInstance } from 'fastify';
import { DeviceNotFoundError } from '../errors.ts';
import type { UpdateEngine } from '../fota/engine.ts';
import type { Db } from '../store/db.ts';
import * as devices from '../store/devices.ts';
import { listEvents } from '../store/events.ts';
import type { DeviceStatus } from '../store/rows.ts';
import { activeUpdateForDevice, getUpdate } from '../store/updates.ts';
import { actorOf } from './auth.ts';
import { HttpError } from './errors.ts';
import {
  afterParam, deviceBody, deviceStatus, endpointParams, errorBody, eventBody, id, idParams, instant, instantParam, label, limitParam, page, pageBody, registeredObjectsBody, updateBody,
} from './schemas.ts';

interface DeviceQuery {
  hardwareClass?: string; firmwareVersion?: string; status?: DeviceStatus;
  lastSeenBefore?: string; lastSeenAfter?: string; limit?: number; after?: number; testbed?: boolean;
}

export function deviceRoutes(app: FastifyInstance, deps: { db: Db; engine: UpdateEngine }): void {
  const { db, engine } = deps;

  app.get<{ Querystring: DeviceQuery }>('/api/v1/devices', {
    schema: {
      summary: 'Devices, by id, filtered; cursor-paginated (?after= the previous page\'s next)',
      querystring: {
        type: 'object', additionalProperties: false,
        properties: {
          hardwareClass: label, firmwareVersion: label, status: deviceStatus,
          lastSeenBefore: instantParam, lastSeenAfter: instantParam, limit: limitParam, after: afterParam,
          testbed: { type: 'boolean', description: 'true: only devices marked testbed; false: only the others' },
        },
      },
      response: { 200: pageBody(deviceBody), '4xx': errorBody },
    },
  }, async (req) => {
    const { limit = 100, after, lastSeenBefore, lastSeenAfter, ...exact } = req.query;
    const before = instant(lastSeenBefore, 'lastSeenBefore');
    const since = instant(lastSeenAfter, 'lastSeenAfter');
    return page(await devices.listDevices(db, {
      ...exact, limit, ...(after ? { afterId: after } : {}), ...(before ? { lastSeenBefore: before } : {}), ...(since ? { lastSeenAfter: since } : {}),
    }), limit);
  });

  app.get<{ Params: { endpoint: string } }>('/api/v1/devices/:endpoint', {
    schema: {
      summary: 'One device: its inventory, the objects its LwM2M client registered, its active update and latest history',
      params: endpointParams,
      response: {
        200: { ...deviceBody, properties: { ...deviceBody.properties, objects: registeredObjectsBody, activeUpdate: { ...updateBody, nullable: true }, events: { type: 'array', items: eventBody } } },
        '4xx': errorBody,
      },
    },
  }, async (req) => {
    const device = await devices.findByEndpoint(db, req.params.endpoint);
    if (!device) throw new DeviceNotFoundError(`no device ${req.params.endpoint}`);
    const active = await activeUpdateForDevice(db, device.id);
    // Its latest history, oldest first; GET /api/v1/events?endpoint= has all of it.
    const events = (await listEvents(db, { deviceId: device.id, order: 'desc', limit: 100 })).reverse();
    return { ...device, activeUpdate: active ? { ...active, endpoint: device.endpoint } : null, events };
  });

  app.post<{ Params: { endpoint: string }; Body: { firmwareId: number } }>('/api/v1/devices/:endpoint/update', {
    schema: {
      summary: 'Update one device to one image: a queued update (202), which starts when the device is registered',
      params: endpointParams,
      body: {
        type: 'object', required: ['firmwareId'], additionalProperties: false,
        properties: { firmwareId: id },
      },
      response: { 202: updateBody, '4xx': errorBody },
    },
  }, async (req, reply) => {
    const update = await engine.requestUpdate(req.params.endpoint, req.body.firmwareId, { actor: actorOf(req) });
    return reply.code(202).send({ ...update, endpoint: req.params.endpoint });
  });

  app.get<{ Params: { id: number } }>('/api/v1/updates/:id', {
    schema: {
      summary: 'One update: its state, result and history',
      params: idParams,
      response: { 200: { ...updateBody, properties: { ...updateBody.properties, events: { type: 'array', items: eventBody } } }, '4xx': errorBody },
    },
  }, async (req) => {
    const update = await getUpdate(db, req.params.id);
    if (!update) throw new HttpError('FERRY_UPDATE_NOT_FOUND', `no update ${req.params.id}`);
    const device = await devices.findById(db, update.deviceId);
    const events = await listEvents(db, { updateId: update.id });
    return { ...update, endpoint: device?.endpoint ?? null, events };
  });
}
