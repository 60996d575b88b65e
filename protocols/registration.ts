/**
 * Query parameters of the LwM2M Register and Update operations (LwM2M 1.1 Transport, Registration
 * Interface: POST /rd?ep={Endpoint Client Name}&lt={Lifetime}&lwm2m={version}&b={binding}&Q&sms={MSISDN};
 * POST /{location}?lt={Lifetime}&b={binding}&Q&sms={MSISDN}). The input is the CoAP Uri-Query
 * option values, one "key=value" (or bare "Q") each.
 */
import { DecodeError } from './errors.ts';

export interface RegistrationParams {
  endpoint: string;
  lifetime: number;
  lwm2mVersion: string;
  binding: string;
  queueMode: boolean;
  smsNumber?: string;
}

export interface RegistrationUpdateParams {
  lifetime?: number;
  binding?: string;
  queueMode?: boolean;
  smsNumber?: string;
}

/** The LwM2M versions a Ferry server speaks; a Register naming another gets 4.12 (Transport §6.2.1). */
export const SUPPORTED_LWM2M_VERSIONS: readonly string[] = ['1.0', '1.1', '1.2'];

/** Core, Register: lt defaults to 86400 s, lwm2m to 1.0, b to U. */
const DEFAULT_LIFETIME = 86400;
const DEFAULT_VERSION = '1.0';
const DEFAULT_BINDING = 'U';
const MAX_LIFETIME = 2 ** 31 - 1;
const MAX_SEGMENTS = 64;
/** LwM2M 1.0 binding modes; Q (queue mode) is part of the binding there. */
const BINDINGS_1_0 = new Set(['U', 'UQ', 'S', 'SQ', 'US', 'UQS']);
const QUEUED_1_0: Readonly<Record<string, string>> = { U: 'UQ', S: 'SQ', US: 'UQS' };
/** LwM2M 1.1 binding: any non-empty set of U (UDP), S (SMS), N (non-IP), T (TCP); Q is its own parameter. */
const BINDING_1_1 = /^(?!.*(.).*\1)[USNT]{1,4}$/;

/** Parses the Register query. Unknown keys are ignored; a repeated known key is an error. */
export function parseRegisterQuery(query: readonly string[], defaults?: { lifetime?: number }): RegistrationParams {
  const fallbackLifetime = defaults?.lifetime ?? DEFAULT_LIFETIME;
  if (!Number.isInteger(fallbackLifetime) || fallbackLifetime < 1 || fallbackLifetime > MAX_LIFETIME) {
    throw new RangeError(`default lifetime must be an integer in 1..${MAX_LIFETIME}, got ${fallbackLifetime}`);
  }
  const q = split(query, ['ep', 'lt', 'lwm2m', 'b', 'Q', 'sms']);
  const ep = q.get('ep');
  if (ep === undefined) throw bad('ep (endpoint client name) is required');
  const params: RegistrationParams = {
    endpoint: parseEndpoint(ep),
    lifetime: fallbackLifetime,
    lwm2mVersion: DEFAULT_VERSION,
    binding: DEFAULT_BINDING,
    queueMode: false,
  };
  const version = q.get('lwm2m');
  if (version !== undefined) params.lwm2mVersion = parseVersion(version);
  return Object.assign(params, commonParams(q));
}

/**
 * Parses the Update query: every parameter is optional, ep is refused. queueMode is set only when
 * b or Q is present: true for Q or a 1.0 binding with Q (UQ, SQ, UQS), false otherwise.
 */
export function parseUpdateQuery(query: readonly string[]): RegistrationUpdateParams {
  const q = split(query, ['ep', 'lt', 'b', 'Q', 'sms']);
  if (q.has('ep')) throw bad('ep is not allowed in a registration update');
  return commonParams(q);
}

/** lt, b, Q and sms: the parameters Register and Update share. */
function commonParams(q: Map<string, string | true>): RegistrationUpdateParams {
  const params: RegistrationUpdateParams = {};
  const lt = q.get('lt');
  if (lt !== undefined) params.lifetime = parseLifetime(lt);
  const b = q.get('b');
  if (b !== undefined) {
    const binding = parseBinding(b);
    params.binding = binding.binding;
    params.queueMode = binding.queue;
  }
  if (q.has('Q')) params.queueMode = true;
  const sms = q.get('sms');
  if (sms !== undefined) params.smsNumber = parseSms(sms);
  return params;
}

/**
 * The Uri-Query values of a Register request. Queue mode goes in the binding for lwm2m=1.0
 * (b=UQ) and as a separate Q parameter from 1.1 on.
 */
export function formatRegisterQuery(p: RegistrationParams): string[] {
  check(() => parseEndpoint(p.endpoint));
  check(() => parseLifetime(String(p.lifetime)));
  check(() => parseVersion(p.lwm2mVersion));
  const binding = check(() => parseBinding(p.binding));
  if (binding.queue) throw new RangeError('binding must not contain Q; use queueMode');
  const out = [`ep=${p.endpoint}`, `lt=${p.lifetime}`, `lwm2m=${p.lwm2mVersion}`];
  const legacy = p.lwm2mVersion === '1.0' && p.queueMode ? QUEUED_1_0[p.binding] : undefined;
  const legacyQueue = legacy !== undefined;
  out.push(`b=${legacy ?? p.binding}`);
  if (p.queueMode && !legacyQueue) out.push('Q');
  if (p.smsNumber !== undefined) out.push(`sms=${check(() => parseSms(p.smsNumber as string))}`);
  return out;
}

/** Known keys → value (true for the bare Q); unknown keys are skipped. */
function split(query: readonly string[], known: readonly string[]): Map<string, string | true> {
  if (query.length > MAX_SEGMENTS) throw bad(`more than ${MAX_SEGMENTS} query parameters`);
  const values = new Map<string, string | true>();
  for (const segment of query) {
    if (typeof segment !== 'string') throw bad('query parameter is not a string');
    const eq = segment.indexOf('=');
    const key = eq < 0 ? segment : segment.slice(0, eq);
    if (!known.includes(key)) continue;
    if (values.has(key)) throw bad(`${key} is given more than once`);
    if (key === 'Q') {
      if (eq >= 0) throw bad('Q takes no value');
      values.set(key, true);
    } else {
      if (eq < 0) throw bad(`${key} needs a value`);
      values.set(key, segment.slice(eq + 1));
    }
  }
  return values;
}

/**
 * What is wrong with `name` as an Endpoint Client Name (1 to 255 characters, no control
 * character), or undefined when nothing is: the one rule for every endpoint name the server takes,
 * from a Register or from an operator provisioning a device before it registers.
 */
export function endpointNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if ([...name].length > 255) return 'is longer than 255 characters';
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) return 'contains a control character';
  return undefined;
}

function parseEndpoint(value: string | true): string {
  if (value === true) throw bad('ep must not be empty');
  const why = endpointNameProblem(value);
  if (why !== undefined) throw bad(`ep ${why}`);
  return value;
}

function parseLifetime(value: string | true): number {
  if (value === true || !/^[1-9][0-9]{0,9}$/.test(value) || Number(value) > MAX_LIFETIME) {
    throw bad(`lt must be a positive integer no larger than ${MAX_LIFETIME}`);
  }
  return Number(value);
}

function parseVersion(value: string | true): string {
  if (value === true || !/^[0-9]{1,2}\.[0-9]{1,2}$/.test(value)) throw bad('lwm2m must be a version such as 1.1');
  return value;
}

function parseBinding(value: string | true): { binding: string; queue: boolean } {
  if (value !== true && BINDINGS_1_0.has(value)) return { binding: value.replace('Q', ''), queue: value.includes('Q') };
  if (value !== true && BINDING_1_1.test(value)) return { binding: value, queue: false };
  throw bad('b must be a binding such as U, UQ, US or a set of U, S, N, T');
}

/** MSISDN, digits only, no leading "+" (3GPP TS 23.003, as the LwM2M Transport note says). */
function parseSms(value: string | true): string {
  if (value === true || !/^[0-9]{1,15}$/.test(value)) throw bad('sms must be an MSISDN of 1 to 15 digits');
  return value;
}

/** Runs a parser on our own values (encoder side): its DecodeError becomes a RangeError. */
function check<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof DecodeError) throw new RangeError(e.reason);
    throw e;
  }
}

function bad(reason: string): DecodeError {
  return new DecodeError('registration.query', reason);
}
