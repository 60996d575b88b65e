/**
 * The LwM2M Registration interface (TS Transport §6.2 / Core §6.2): Register (POST /rd),
 * Update (POST /rd/<id>), De-register (DELETE /rd/<id>).
 * Request in → decode → store → response → follow-up (the caller's hooks: read /3/0, engine).
 * Bounded: Registers of endpoints not yet known pass the rate limits (register-limits.ts); the
 * link-format payload and the lifetime have maximums.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, OutgoingMessage } from 'coap';
import { ContentFormat } from '../../protocols/content-format.ts';
import { DecodeError } from '../../protocols/errors.ts';
import { objectsFromLinks, parseLinkFormat, type RegisteredObjects } from '../../protocols/link-format.ts';
import { parseRegisterQuery, parseUpdateQuery, SUPPORTED_LWM2M_VERSIONS } from '../../protocols/registration.ts';
import type { Db } from '../store/db.ts';
import { Batcher } from '../store/batcher.ts';
import * as devices from '../store/devices.ts';
import type { Device } from '../store/rows.ts';
import { CoapRefusalError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { DeviceBinding } from './device-binding.ts';
import { contentFormatOf, replyError, send, uriQuery } from './message.ts';
import { coapRefusal } from './refusal.ts';
import { RefusalLog, RegisterLimits, type LimitScope, type RegisterLimitsConfig } from './register-limits.ts';

/** Why a Register or Update was refused by a limit (counted by the metrics). */
export type RefusalReason = `rate-${LimitScope}` | 'payload-too-large' | 'lifetime-too-long' | 'impersonation';

export interface RegistrationHooks {
  /** After a Register was answered 2.01 (a new registration, or a replaced one). */
  registered(device: Device): void;
  /** After an Update was answered 2.04. */
  updated(device: Device): void;
  /** After a De-register was answered 2.02, or when a registration expired. */
  left(device: Device, why: 'deregistered' | 'expired'): void;
  /** After a Register or Update was refused by a limit (4.29, 4.13, or 4.00 for the lifetime). */
  refused?(reason: RefusalReason): void;
}

/** A device's object list is well under a few KiB; this leaves room for long ones. */
export const DEFAULT_MAX_PAYLOAD = 8 * 1024;
/** 30 days: past it a device is as good as gone. */
export const DEFAULT_MAX_LIFETIME = 30 * 86400;

export interface RegistrationDeps {
  db: Db;
  log: Logger;
  hooks: RegistrationHooks;
  defaultLifetime?: number;
  nodeId?: () => string;
  /** Rate limits on Registers of unknown endpoints (register-limits.ts); none by default. */
  limits?: RegisterLimitsConfig;
  /** Largest link-format payload of a Register or Update, in bytes. */
  maxPayload?: number;
  /** Largest lifetime (lt=, seconds) a Register or Update may ask for. */
  maxLifetime?: number;
  /** Who may speak as an endpoint on this socket (device-binding.ts); absent: anyone (plain CoAP with no credentials anywhere). */
  binding?: DeviceBinding;
}

export function registrationInterface(deps: RegistrationDeps) {
  const { db, log, hooks } = deps;
  const maxPayload = deps.maxPayload ?? DEFAULT_MAX_PAYLOAD;
  const maxLifetime = deps.maxLifetime ?? DEFAULT_MAX_LIFETIME;
  const limits = new RegisterLimits(deps.limits ?? {});
  const refusals = new RefusalLog(log);
  // Whether an endpoint has a device row, looked up for concurrent Registers in one query.
  const known = new Batcher((endpoints: string[]) => devices.knownEndpoints(db, endpoints), { key: (e) => e });
  // Concurrent Registers share one transaction (a fleet coming back after an outage).
  // One that the database refuses fails alone: the Batcher retries a failed batch item by item.
  const registrations = new Batcher((regs: devices.NewRegistration[]) => devices.registerMany(db, regs), {
    key: (r) => r.endpoint,
    onBatchFailed: (err, items) => log.warn({ err, items }, 'registration batch failed; retrying one by one'),
  });

  async function register(req: IncomingMessage, res: OutgoingMessage): Promise<void> {
    const params = parseRegisterQuery(uriQuery(req), { lifetime: deps.defaultLifetime ?? 86400 });
    // Transport §6.2.1 (Register): "4.12 Precondition Failed: the LwM2M version is not supported".
    if (!SUPPORTED_LWM2M_VERSIONS.includes(params.lwm2mVersion)) {
      throw new CoapRefusalError('FERRY_RD_LWM2M_VERSION', `LwM2M version ${params.lwm2mVersion} is not supported (use ${SUPPORTED_LWM2M_VERSIONS.join(', ')})`);
    }
    checkLifetime(params.lifetime, uriQuery(req).some((q) => q.startsWith('lt=')));
    if (!checkPayloadSize(req, res)) return;
    const links = linkPayload(req);
    if (limits.enabled && !(await known.push(params.endpoint))) {
      const admission = limits.admit(req.rsinfo.address, req.rsinfo.port);
      if (!admission.admitted) {
        hooks.refused?.(`rate-${admission.scope}`);
        refusals.note(admission.scope, req.rsinfo.address, admission.retryAfterSeconds);
        // RFC 8516 §3/§4: 4.29 Too Many Requests, Max-Age the seconds after which to try again.
        res.setOption('Max-Age', admission.retryAfterSeconds);
        const per = { ip: 'from this address', 'ip-port': 'from this address and port', global: 'on this server' }[admission.scope];
        return replyError(res, coapRefusal('FERRY_RD_RATE_LIMITED', `too many registrations of new endpoints ${per}; retry in ${admission.retryAfterSeconds} s`));
      }
    }
    const bound = await deps.binding?.register(params.endpoint, req.rsinfo);
    if (bound !== undefined) {
      hooks.refused?.('impersonation');
      return replyError(res, bound);
    }
    const registrationId = randomBytes(6).toString('base64url');
    const { device, replaced } = await registrations.push({
      ...params, ...links, registrationId, address: req.rsinfo.address, port: req.rsinfo.port, securityMode: deps.binding?.securityMode ?? 'nosec',
      ...(deps.nodeId === undefined ? {} : { ownerNode: deps.nodeId() }),
    });
    log.info({ endpoint: device.endpoint, registrationId, lifetime: params.lifetime, from: `${req.rsinfo.address}:${req.rsinfo.port}`, replaced },
      'registered');
    res.code = '2.01';
    res.setOption('Location-Path', [Buffer.from('rd'), Buffer.from(registrationId)]);
    send(res);
    hooks.registered(device);
  }

  async function update(req: IncomingMessage, res: OutgoingMessage, registrationId: string): Promise<void> {
    const params = parseUpdateQuery(uriQuery(req));
    if (params.lifetime !== undefined) checkLifetime(params.lifetime, true);
    if (!checkPayloadSize(req, res)) return;
    const links = req.payload.length > 0 ? linkPayload(req) : {};
    if (!await mayChange(req, res, registrationId, 'update')) return;
    const device = await devices.updateRegistration(db, registrationId, {
      ...params, ...links, address: req.rsinfo.address, port: req.rsinfo.port,
      ...(deps.nodeId === undefined ? {} : { ownerNode: deps.nodeId() }),
    });
    if (!device) return replyError(res, coapRefusal('FERRY_RD_NOT_FOUND', `no registration ${registrationId}`));
    log.debug({ endpoint: device.endpoint, registrationId }, 'registration updated');
    res.code = '2.04';
    send(res);
    hooks.updated(device);
  }

  async function deregister(req: IncomingMessage, res: OutgoingMessage, registrationId: string): Promise<void> {
    if (!await mayChange(req, res, registrationId, 'deregister')) return;
    const device = await devices.deregister(db, registrationId);
    if (!device) return replyError(res, coapRefusal('FERRY_RD_NOT_FOUND', `no registration ${registrationId}`));
    log.info({ endpoint: device.endpoint, registrationId }, 'de-registered');
    res.code = '2.02';
    send(res);
    hooks.left(device, 'deregistered');
  }

  /** Whether this socket's peer may update or end the registration (device-binding.ts); false when refused (answered). */
  async function mayChange(req: IncomingMessage, res: OutgoingMessage, registrationId: string, operation: 'update' | 'deregister'): Promise<boolean> {
    if (deps.binding === undefined || !await deps.binding.checksChanges()) return true;
    const registration = await devices.registrationOf(db, registrationId);
    if (registration === undefined) return true; // the operation itself answers 4.04
    const refused = await deps.binding.change(registration, req.rsinfo, operation);
    if (refused === undefined) return true;
    if (refused.code === '4.03') hooks.refused?.('impersonation');
    replyError(res, refused);
    return false;
  }

  /**
   * No answer to a Register or Update can shorten the lifetime the client asked for (the client
   * keeps its own, its Server object's Lifetime /1/x/1, and updates by it), so one above the
   * maximum is refused, never clamped silently.
   */
  function checkLifetime(lifetime: number, given: boolean): void {
    if (lifetime <= maxLifetime) return;
    hooks.refused?.('lifetime-too-long');
    throw new CoapRefusalError('FERRY_RD_LIFETIME', `lt=${lifetime}${given ? '' : ' (the default)'} is above this server's maximum lifetime of ${maxLifetime} s: ask for lt=${maxLifetime} or less`);
  }

  /** RFC 7252 §5.9.2.9: 4.13 Request Entity Too Large, Size1 the largest body the server takes. False when refused. */
  function checkPayloadSize(req: IncomingMessage, res: OutgoingMessage): boolean {
    if (req.payload.length <= maxPayload) return true;
    hooks.refused?.('payload-too-large');
    log.debug({ from: `${req.rsinfo.address}:${req.rsinfo.port}`, url: req.url, code: '4.13', bytes: req.payload.length }, 'refused: registration payload too large');
    res.setOption('Size1', maxPayload);
    replyError(res, coapRefusal('FERRY_RD_PAYLOAD_TOO_LARGE', `registration payload of ${req.payload.length} bytes is above the limit of ${maxPayload} bytes`));
    return false;
  }

  return async function handleRegistration(req: IncomingMessage, res: OutgoingMessage, segments: string[]): Promise<void> {
    if (segments.length === 1) {
      if (req.method !== 'POST') return replyError(res, coapRefusal('FERRY_COAP_METHOD_NOT_ALLOWED', 'use POST /rd to register'));
      return register(req, res);
    }
    const registrationId = segments[1]!;
    if (segments.length !== 2 || !/^[A-Za-z0-9_-]{1,64}$/.test(registrationId)) {
      return replyError(res, coapRefusal('FERRY_RD_NOT_FOUND', 'no such registration'));
    }
    if (req.method === 'POST') return update(req, res, registrationId);
    if (req.method === 'DELETE') return deregister(req, res, registrationId);
    return replyError(res, coapRefusal('FERRY_COAP_METHOD_NOT_ALLOWED', 'use POST to update or DELETE to de-register'));
  };
}

interface ParsedLinks {
  objectLinks: string;
  rootPath: string;
  contentFormats: number[];
  objects: RegisteredObjects['objects'];
}

/** The registration payload: CoRE link-format (RFC 6690) and what it says of the client's objects. */
function linkPayload(req: IncomingMessage): ParsedLinks {
  const format = contentFormatOf(req);
  if (format !== undefined && format !== ContentFormat.LINK_FORMAT) {
    throw new CoapRefusalError('FERRY_RD_CONTENT_FORMAT', `registration payload must be application/link-format (40), got ${format}`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(req.payload);
  } catch {
    throw new DecodeError('registration.payload', 'registration payload is not UTF-8');
  }
  const parsed = objectsFromLinks(parseLinkFormat(text)); // throws DecodeError on a malformed payload
  return { objectLinks: text, rootPath: parsed.rootPath, contentFormats: parsed.contentFormats, objects: parsed.objects };
}
