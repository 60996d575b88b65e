/**
 * Device management for operators: Read, Write, Execute, Discover, Write-Attributes, Create,
 * Delete and Observe on one device's path, values as JSON. Leshan's REST API has the same shape.
 * Every one needs the operator role (roles.ts), reads too: each is a request the device answers.
 *   GET    /api/v1/devices/:endpoint/lwm2m/5/0/3        Read            (?format=tlv|senml-cbor|…)
 *   PUT    /api/v1/devices/:endpoint/lwm2m/1/0/1        Write           ({ value } | { values: [{ path, value }] }, ?mode=update)
 *   POST   /api/v1/devices/:endpoint/lwm2m/9            Create          ({ values })
 *   DELETE /api/v1/devices/:endpoint/lwm2m/9/1          Delete
 *   POST   /api/v1/devices/:endpoint/execute/3/0/4      Execute         ({ arguments? })
 *   GET    /api/v1/devices/:endpoint/discover/3         Discover
 *   PUT    /api/v1/devices/:endpoint/attributes/3/0/9   Write-Attributes ({ pmin, pmax, … })
 *   POST|GET|DELETE /api/v1/devices/:endpoint/observe/3/0/9   Observe, its latest value, Cancel
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Attributes } from '../../protocols/attributes.ts';
import { ContentFormat } from '../../protocols/content-format.ts';
import { DecodeError } from '../../protocols/errors.ts';
import type { Lwm2mNodes, Lwm2mValue } from '../../protocols/lwm2m-node.ts';
import { formatPath, parsePath, type Lwm2mPath } from '../../protocols/path.ts';
import { DmError, targetOf, type Target } from '../coap/dm-client.ts';
import { DeviceNotFoundError, type FerryCode } from '../errors.ts';
import { preferredFormat, type DeviceFormats, type Lwm2mOperations, type ReadResult } from '../coap/lwm2m-operations.ts';
import { encodeContent } from '../../protocols/content.ts';
import type { Db } from '../store/db.ts';
import { findByEndpoint } from '../store/devices.ts';
import { recordEvent } from '../store/events.ts';
import { actorOf } from './auth.ts';
import { HttpError } from './errors.ts';
import { endpointParam, errorBody } from './schemas.ts';
import { valueFromJson, valueToJson } from '../../protocols/value-json.ts';
import { defaultTypeOf } from '../../protocols/object-model.ts';

const nodesToJson = (nodes: Lwm2mNodes) => nodes.map((n) => ({ path: formatPath(n.path), value: valueToJson(n.value) }));

const FORMATS: Record<string, number> = {
  text: ContentFormat.TEXT, opaque: ContentFormat.OPAQUE, tlv: ContentFormat.TLV, 'senml-json': ContentFormat.SENML_JSON,
  'senml-cbor': ContentFormat.SENML_CBOR, 'lwm2m-cbor': ContentFormat.LWM2M_CBOR,
};
const params = { type: 'object', required: ['endpoint', '*'], properties: { endpoint: endpointParam, '*': { type: 'string', maxLength: 64 } } } as const;
// Any JSON: valueFromJson checks it against the resource's type.
const jsonValue = {} as const;
const nodeBody = { type: 'object', required: ['path', 'value'], additionalProperties: false, properties: { path: { type: 'string', maxLength: 64 }, value: jsonValue } } as const;
const valuesBody = {
  type: 'object', additionalProperties: false,
  properties: { value: jsonValue, values: { type: 'array', maxItems: 1000, items: nodeBody } },
} as const;
const attributeNames = ['pmin', 'pmax', 'gt', 'lt', 'st', 'epmin', 'epmax'] as const;

/** What the device answered: each resource's value as JSON (a number, a string, a boolean, an object link `{objectId, instanceId}`, opaque as base64). */
const valuesAnswer = {
  type: 'object',
  properties: {
    path: { type: 'string' }, contentFormat: { type: 'integer', description: 'the CoAP Content-Format the device answered in' },
    values: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, value: {} } } },
  },
} as const;
const done = (status: 201 | 204, what: string) => ({ [status]: { type: 'null', description: what }, '4xx': errorBody, '5xx': errorBody });
const answered = (body: object) => ({ 200: body, '4xx': errorBody, '5xx': errorBody });
const linksAnswer = {
  type: 'object',
  properties: {
    path: { type: 'string' },
    links: { type: 'array', items: { type: 'object', properties: { uri: { type: 'string' }, params: { type: 'object', additionalProperties: true, description: 'link attributes (dim, ver, pmin, …): a value, or true for one without' } } } },
  },
} as const;
const observedAnswer = {
  type: 'object',
  properties: {
    ...valuesAnswer.properties, at: { type: 'string', format: 'date-time', description: 'when the latest notification came' },
    notifications: { type: 'integer', description: 'notifications since the Observe (0: only its first answer)' }, error: { type: 'string', description: 'why the observation ended, if it did' },
  },
} as const;
const tags = ['device management'];

/**
 * A request to a device is one CoAP message (Device Management sends no Block1), and without a
 * known path MTU that carries at most 1024 bytes of payload (RFC 7252 §4.6). A larger one is the
 * caller's to split: a 413 here, not the transport's refusal as a 502.
 */
const MAX_DM_PAYLOAD = 1024;
function fitsOneMessage(bytes: number, what: string): void {
  if (bytes > MAX_DM_PAYLOAD) throw new HttpError('FERRY_DM_PAYLOAD_TOO_LARGE', `${what} takes ${bytes} bytes; a request to a device carries at most ${MAX_DM_PAYLOAD} (RFC 7252 §4.6)`);
}

interface Latest { at: string; contentFormat: number; values: ReturnType<typeof nodesToJson>; notifications: number; error?: string }

/** The device's error answers the API mirrors (4.04 as 404, …); any other is FERRY_DM_REFUSED, a 502. */
const MIRRORED: Record<string, FerryCode> = {
  '4.00': 'FERRY_DM_BAD_REQUEST', '4.01': 'FERRY_DM_UNAUTHORIZED', '4.03': 'FERRY_DM_FORBIDDEN', '4.04': 'FERRY_DM_NOT_FOUND',
  '4.05': 'FERRY_DM_METHOD_NOT_ALLOWED', '4.06': 'FERRY_DM_NOT_ACCEPTABLE', '4.13': 'FERRY_DM_TOO_LARGE', '4.15': 'FERRY_DM_UNSUPPORTED_FORMAT',
};

/** A device's answer or silence, as an API error: its 4.xx mirrored, no answer FERRY_DM_TIMEOUT, anything else its DmError code. */
function deviceFailure(err: unknown): never {
  if (err instanceof DmError) {
    if (err.kind === 'timeout') throw new HttpError(err.code, `the device did not answer: ${err.message}`);
    const mirrored = err.kind === 'response' && err.coapCode !== undefined ? MIRRORED[err.coapCode] : undefined;
    throw new HttpError(mirrored ?? err.code, err.message);
  }
  if (err instanceof DecodeError) throw new HttpError('FERRY_DM_BAD_ANSWER', `the device's answer could not be decoded: ${err.reason}`);
  if (err instanceof RangeError) throw new HttpError('FERRY_LWM2M_VALUE', err.message);
  throw err;
}

export function lwm2mRoutes(app: FastifyInstance, deps: { db: Db; ops: Lwm2mOperations }): void {
  /** The latest value of each operator observation, by endpoint then path; gone with the device's observations. */
  const latest = new Map<string, Map<string, Latest>>();
  deps.ops.onForget((endpoint) => latest.delete(endpoint));
  const latestOf = (endpoint: string) => {
    let m = latest.get(endpoint);
    if (!m) latest.set(endpoint, (m = new Map()));
    return m;
  };

  async function resolve(req: FastifyRequest<{ Params: { endpoint: string; '*': string } }>, o: { registered: boolean } = { registered: true }): Promise<{ target: Target; formats: DeviceFormats; path: Lwm2mPath; deviceId: number }> {
    let path: Lwm2mPath;
    try {
      path = parsePath(`/${req.params['*']}`);
    } catch (err) {
      throw new HttpError('FERRY_LWM2M_PATH', err instanceof DecodeError ? err.reason : 'bad path');
    }
    const d = await findByEndpoint(deps.db, req.params.endpoint);
    if (!d) throw new DeviceNotFoundError(`no device ${req.params.endpoint}`);
    const target = d.status === 'registered' ? targetOf(d) : undefined;
    if (o.registered && !target) throw new HttpError('FERRY_DEVICE_NOT_REGISTERED', `device ${d.endpoint} is not registered (${d.status})`);
    return {
      target: target ?? { endpoint: d.endpoint, address: d.address ?? '', port: d.port ?? 0, rootPath: d.rootPath },
      formats: { lwm2mVersion: d.lwm2mVersion, contentFormats: d.contentFormats }, path, deviceId: d.id,
    };
  }
  /** An operator's change to a device, in the audit log. */
  const audit = (req: FastifyRequest, kind: string, deviceId: number, path: Lwm2mPath, data: Record<string, unknown> = {}) =>
    recordEvent(deps.db, { kind: `dm.${kind}`, actor: actorOf(req), deviceId, data: { path: formatPath(path), ...data } });
  const answer = (path: Lwm2mPath, r: ReadResult) => ({ path: formatPath(path), contentFormat: r.contentFormat, values: nodesToJson(r.nodes) });
  const nodesOf = (path: Lwm2mPath, body: { value?: unknown; values?: Array<{ path: string; value: unknown }> }): Lwm2mNodes => {
    try {
      if (body.values) return body.values.map((n) => { const p = parsePath(n.path); return { path: p, value: valueFromJson(n.value, defaultTypeOf(p), p) }; });
      if (body.value !== undefined) return [{ path, value: valueFromJson(body.value, defaultTypeOf(path), path) }];
    } catch (err) {
      throw new HttpError('FERRY_LWM2M_VALUE', err instanceof DecodeError ? err.reason : (err as Error).message);
    }
    throw new HttpError('FERRY_LWM2M_VALUE', 'give "value" for one resource or "values": [{ path, value }]');
  };

  app.get<{ Params: { endpoint: string; '*': string }; Querystring: { format?: string } }>('/api/v1/devices/:endpoint/lwm2m/*', {
    schema: {
      tags, summary: 'Read a path on the device (LwM2M Read); ?format= asks for a content format',
      params, querystring: { type: 'object', additionalProperties: false, properties: { format: { type: 'string', enum: Object.keys(FORMATS) } } }, response: answered(valuesAnswer),
    },
  }, async (req) => {
    const { target, formats, path } = await resolve(req);
    try {
      return answer(path, await deps.ops.read(target, formats, path, req.query.format ? FORMATS[req.query.format] : undefined));
    } catch (err) { return deviceFailure(err); }
  });

  app.put<{ Params: { endpoint: string; '*': string }; Querystring: { mode?: 'replace' | 'update' }; Body: { value?: Lwm2mValue; values?: Array<{ path: string; value: unknown }> } }>('/api/v1/devices/:endpoint/lwm2m/*', {
    schema: {
      tags, summary: 'Write to the device (LwM2M Write): {"value": …} for the path, or {"values": [{path, value}]}; ?mode=update for a partial update',
      params, querystring: { type: 'object', additionalProperties: false, properties: { mode: { type: 'string', enum: ['replace', 'update'] } } }, body: valuesBody, response: done(204, 'written'),
    },
  }, async (req, reply) => {
    const { target, formats, path, deviceId } = await resolve(req);
    const nodes = nodesOf(path, req.body);
    try {
      fitsOneMessage(encodeContent(preferredFormat(formats), nodes, path).length, 'the write');
      await deps.ops.write(target, formats, path, nodes, req.query.mode ?? 'replace');
    } catch (err) { return deviceFailure(err); }
    await audit(req, 'write', deviceId, path, { mode: req.query.mode ?? 'replace', resources: nodes.length });
    return reply.code(204).send();
  });

  app.post<{ Params: { endpoint: string; '*': string }; Body: { values?: Array<{ path: string; value: unknown }> } }>('/api/v1/devices/:endpoint/lwm2m/*', {
    schema: { tags, summary: 'Create an object instance on the device (LwM2M Create): {"values": [{path, value}]} on an object path, e.g. 9', params, body: valuesBody, response: done(201, 'created') },
  }, async (req, reply) => {
    const { target, formats, path, deviceId } = await resolve(req);
    if (path.instanceId !== undefined) throw new HttpError('FERRY_LWM2M_PATH', 'create on an object path, e.g. /9');
    const nodes = nodesOf(path, req.body);
    try {
      fitsOneMessage(encodeContent(preferredFormat(formats), nodes, path).length, 'the new instance');
      await deps.ops.create(target, formats, path, nodes);
    } catch (err) { return deviceFailure(err); }
    await audit(req, 'create', deviceId, path);
    return reply.code(201).send();
  });

  app.delete<{ Params: { endpoint: string; '*': string } }>('/api/v1/devices/:endpoint/lwm2m/*', {
    schema: { tags, summary: 'Delete an object instance on the device (LwM2M Delete), e.g. 9/1', params, response: done(204, 'deleted') },
  }, async (req, reply) => {
    const { target, path, deviceId } = await resolve(req);
    if (path.instanceId === undefined || path.resourceId !== undefined) throw new HttpError('FERRY_LWM2M_PATH', 'delete an object instance, e.g. /9/1');
    try { await deps.ops.delete(target, path); } catch (err) { return deviceFailure(err); }
    await audit(req, 'delete', deviceId, path);
    return reply.code(204).send();
  });

  app.post<{ Params: { endpoint: string; '*': string }; Body: { arguments?: string } | undefined }>('/api/v1/devices/:endpoint/execute/*', {
    // No control characters: the arguments go to the audit log too, whose jsonb refuses NUL.
    schema: {
      tags, summary: 'Execute a resource on the device (LwM2M Execute), e.g. 3/0/4 (Reboot); body optional: {"arguments": "0=\'x\'"}',
      params, body: { type: ['object', 'null'], additionalProperties: false, properties: { arguments: { type: 'string', maxLength: 1024, pattern: '^[^\\u0000-\\u001f\\u007f-\\u009f]*$' } } }, response: done(204, 'executed'),
    },
  }, async (req, reply) => {
    const { target, path, deviceId } = await resolve(req);
    if (path.resourceId === undefined) throw new HttpError('FERRY_LWM2M_PATH', 'execute a resource, e.g. /3/0/4');
    if (req.body?.arguments !== undefined) fitsOneMessage(Buffer.byteLength(req.body.arguments), 'the arguments');
    try { await deps.ops.execute(target, path, req.body?.arguments); } catch (err) { return deviceFailure(err); }
    await audit(req, 'execute', deviceId, path, req.body?.arguments === undefined ? {} : { arguments: req.body.arguments });
    return reply.code(204).send();
  });

  app.get<{ Params: { endpoint: string; '*': string } }>('/api/v1/devices/:endpoint/discover/*', {
    schema: { tags, summary: 'Discover what the device has under a path (LwM2M Discover): its links with their attributes', params, response: answered(linksAnswer) },
  }, async (req) => {
    const { target, path } = await resolve(req);
    try { return { path: formatPath(path), links: await deps.ops.discover(target, path) }; } catch (err) { return deviceFailure(err); }
  });

  app.put<{ Params: { endpoint: string; '*': string }; Body: Attributes }>('/api/v1/devices/:endpoint/attributes/*', {
    schema: {
      tags, summary: 'Write notification attributes on the device (LwM2M Write-Attributes): pmin, pmax, gt, lt, st, epmin, epmax; null removes one',
      params, response: done(204, 'written'),
      body: { type: 'object', additionalProperties: false, minProperties: 1, properties: Object.fromEntries(attributeNames.map((n) => [n, { type: ['number', 'null'] }])) },
    },
  }, async (req, reply) => {
    const { target, path, deviceId } = await resolve(req);
    try { await deps.ops.writeAttributes(target, path, req.body); } catch (err) { return deviceFailure(err); }
    await audit(req, 'attributes', deviceId, path, { attributes: req.body });
    return reply.code(204).send();
  });

  app.post<{ Params: { endpoint: string; '*': string } }>('/api/v1/devices/:endpoint/observe/*', {
    schema: { tags, summary: 'Observe a path on the device (LwM2M Observe): answers its current value; GET the same path for the latest notification', params, response: answered(valuesAnswer) },
  }, async (req) => {
    const { target, formats, path, deviceId } = await resolve(req);
    const key = formatPath(path);
    try {
      const first = await deps.ops.observe(target, formats, path, 'api', (r) => {
        const values = latestOf(target.endpoint);
        values.set(key, { at: new Date().toISOString(), contentFormat: r.contentFormat, values: nodesToJson(r.nodes), notifications: (values.get(key)?.notifications ?? -1) + 1 });
      }, (e) => { const l = latest.get(target.endpoint)?.get(key); if (l) l.error = e.message; });
      await audit(req, 'observe', deviceId, path);
      return answer(path, first);
    } catch (err) { return deviceFailure(err); }
  });
  app.get<{ Params: { endpoint: string; '*': string } }>('/api/v1/devices/:endpoint/observe/*', {
    schema: { tags, summary: 'The latest value an observation of the path received (no request to the device)', params, response: answered(observedAnswer) },
  }, async (req) => {
    // No device exchange: a device that left has no observations, and this says 404.
    const { target, path } = await resolve(req, { registered: false });
    const l = latest.get(target.endpoint)?.get(formatPath(path));
    if (!l) throw new HttpError('FERRY_LWM2M_NOT_OBSERVED', `${formatPath(path)} is not observed`);
    return { path: formatPath(path), ...l };
  });
  app.delete<{ Params: { endpoint: string; '*': string } }>('/api/v1/devices/:endpoint/observe/*', {
    schema: { tags, summary: 'Cancel an observation of the path', params, response: done(204, 'cancelled') },
  }, async (req, reply) => {
    const { target, path, deviceId } = await resolve(req, { registered: false });
    latest.get(target.endpoint)?.delete(formatPath(path));
    if (!deps.ops.cancelObserve(target.endpoint, path, 'api')) throw new HttpError('FERRY_LWM2M_NOT_OBSERVED', `${formatPath(path)} is not observed`);
    await audit(req, 'observe-cancel', deviceId, path);
    return reply.code(204).send();
  });
}
