/**
 * The client side of the LwM2M Registration interface (LwM2M 1.1 Transport §6.2 / Core §6.2):
 * Register (POST /rd?ep=…&lt=…&lwm2m=1.1&b=U, link-format payload, 2.01 + Location-Path),
 * Update (POST /rd/<id>) before the lifetime runs out, Register again when an Update answers
 * 4.04 or fails, De-register (DELETE /rd/<id>). Failed registers are retried with a jittered,
 * doubling back-off. One timer at most is armed at a time. Over DTLS, an Update that got no
 * answer at all (the server restarted and forgot the session) goes again in a new session
 * (`renewSession`); a Register after an exchange that got no answer starts with a new one too.
 */
import { ContentFormat } from '../protocols/content-format.ts';
import { formatRegisterQuery } from '../protocols/registration.ts';
import type { Clock, Random } from './clock.ts';
import type { CoapEndpoint } from './coap/endpoint.ts';

export interface RegistrationOptions {
  endpoint: CoapEndpoint;
  server: { host: string; port: number };
  name: string;
  lifetime: () => number;
  links: () => string;
  /** Register with Q (LwM2M 1.1 queue mode). */
  queueMode?: boolean;
  clock: Clock;
  random: Random;
  onEvent?: (e: RegistrationEvent) => void;
  /** A new DTLS session before registering again after an exchange got no answer. */
  renewSession?: () => Promise<void>;
}

export type RegistrationEvent =
  | { type: 'registered'; registrationId: string }
  | { type: 'updated'; registrationId: string }
  | { type: 'deregistered'; registrationId: string }
  | { type: 'registration-failed'; reason: string; retryInMs: number };

export interface RegistrationCounters {
  registrations: number;
  updates: number;
  failures: number;
}

const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 60_000;

/** A server that asked us to come back later (RFC 8516: 4.29 Too Many Requests, Max-Age the seconds). */
class RetryLater extends Error {
  readonly afterMs: number;
  constructor(message: string, afterMs: number) {
    super(message);
    this.afterMs = afterMs;
  }
}

/** The server answered Register, but not with 2.01. */
class Refused extends Error {}

export class RegistrationClient {
  readonly #o: RegistrationOptions;
  #location: string[] | undefined;
  #timer: unknown;
  #retryMs = RETRY_MIN_MS;
  #stopped = false;
  #busy: Promise<void> | undefined;
  /** The last exchange got no answer (a time-out, a Reset): the session may be gone. */
  #unanswered = false;
  readonly counters: RegistrationCounters = { registrations: 0, updates: 0, failures: 0 };

  constructor(opts: RegistrationOptions) {
    this.#o = opts;
  }

  /** The server's ID for us: the last Location-Path segment ('rd/<id>'). */
  get registrationId(): string | undefined {
    return this.#location?.[this.#location.length - 1];
  }

  /** Registers now; on failure keeps retrying in the background. Resolves with the outcome of the first try. */
  async register(): Promise<boolean> {
    this.#stopped = false;
    this.#clearTimer();
    return this.#exclusive(() => this.#register());
  }

  /** Sends an Update now (with lt= when the lifetime changed, the objects when they changed); registers again if that fails. */
  async update(withLifetime = false, withLinks = false): Promise<boolean> {
    this.#clearTimer();
    return this.#exclusive(() => this.#update(withLifetime, withLinks));
  }

  /** Stops the timer, forgets the registration (a reboot); nothing is sent. */
  forget(): void {
    this.#clearTimer();
    this.#location = undefined;
  }

  /** De-registers (best effort) and stops. */
  async deregister(timeoutMs = 2000): Promise<void> {
    this.#stopped = true;
    this.#clearTimer();
    // Let an exchange under way finish, but not for longer than the DELETE itself may take.
    let timer: unknown;
    await Promise.race([this.#busy, new Promise<void>((resolve) => (timer = this.#o.clock.setTimeout(resolve, timeoutMs)))]);
    this.#o.clock.clearTimeout(timer);
    const location = this.#location;
    const id = this.registrationId;
    this.#location = undefined;
    if (location === undefined || id === undefined || this.#o.endpoint.closed) return;
    try {
      await this.#o.endpoint.request({ ...this.#o.server, method: 'DELETE', pathSegments: location, timeoutMs });
      this.#o.onEvent?.({ type: 'deregistered', registrationId: id });
    } catch {
      // best effort: the server drops us when the lifetime ends anyway
    }
  }

  /** Runs registration exchanges one after the other, never two at once. */
  #exclusive(fn: () => Promise<boolean>): Promise<boolean> {
    const run = (this.#busy ?? Promise.resolve()).then(fn);
    this.#busy = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  async #register(): Promise<boolean> {
    if (this.#stopped) return false;
    const o = this.#o;
    if (this.#unanswered && o.renewSession !== undefined) {
      this.#unanswered = false;
      await o.renewSession().catch(() => undefined); // the Register below waits for, or starts, the next handshake
    }
    const query = formatRegisterQuery({ endpoint: o.name, lifetime: o.lifetime(), lwm2mVersion: '1.1', binding: 'U', queueMode: o.queueMode === true });
    try {
      const res = await o.endpoint.request({
        ...o.server,
        method: 'POST',
        pathSegments: ['rd'],
        query,
        contentFormat: ContentFormat.LINK_FORMAT,
        payload: o.links(),
      });
      const location = res.options.locationPath;
      if (res.code === '4.29') throw new RetryLater(`register answered 4.29: ${res.payload.toString('utf8')}`, (res.options.maxAge ?? 60) * 1000);
      if (res.code !== '2.01' || location.length === 0) throw new Refused(`register answered ${res.code}${res.payload.length > 0 ? `: ${res.payload.toString('utf8')}` : ''}`);
      this.#location = location;
      this.counters.registrations += 1;
      this.#retryMs = RETRY_MIN_MS;
      o.onEvent?.({ type: 'registered', registrationId: this.registrationId ?? '' });
      this.#scheduleUpdate();
      return true;
    } catch (err) {
      if (!(err instanceof RetryLater) && !(err instanceof Refused)) this.#unanswered = true;
      this.#scheduleRetry(err);
      return false;
    }
  }

  async #update(withLifetime: boolean, withLinks = false, renewed = false): Promise<boolean> {
    if (this.#stopped) return false;
    const location = this.#location;
    if (location === undefined) return this.#register();
    const o = this.#o;
    try {
      const res = await o.endpoint.request({
        ...o.server,
        method: 'POST',
        pathSegments: location,
        query: withLifetime ? [`lt=${o.lifetime()}`] : [],
        ...(withLinks ? { contentFormat: ContentFormat.LINK_FORMAT, payload: o.links() } : {}),
      });
      if (res.code === '2.04') {
        this.counters.updates += 1;
        o.onEvent?.({ type: 'updated', registrationId: this.registrationId ?? '' });
        this.#scheduleUpdate();
        return true;
      }
      // 4.04: the server no longer knows us (LwM2M 1.1 Transport §6.2.3): register again.
    } catch {
      // No answer: over DTLS the session may be gone (a server restart); the Update goes once more
      // in a new one. Else, or again no answer: register again (in a new session).
      if (!renewed && o.renewSession !== undefined && !this.#stopped) {
        await o.renewSession().catch(() => undefined);
        return this.#update(withLifetime, withLinks, true);
      }
      this.#unanswered = true;
    }
    this.#location = undefined;
    return this.#register();
  }

  /** At a random point in [0.5, 0.8] × lifetime, so a fleet does not update in lockstep. */
  #scheduleUpdate(): void {
    const lifetimeMs = this.#o.lifetime() * 1000;
    const delay = lifetimeMs * (0.5 + 0.3 * this.#o.random());
    this.#arm(delay, () => void this.#exclusive(() => this.#update(false)));
  }

  #scheduleRetry(err: unknown): void {
    this.counters.failures += 1;
    if (this.#stopped) return;
    // RFC 8516 §4: not before the Max-Age of a 4.29 is over.
    const delay = Math.max(this.#retryMs * (1 + this.#o.random()), err instanceof RetryLater ? err.afterMs : 0);
    this.#retryMs = Math.min(this.#retryMs * 2, RETRY_MAX_MS);
    const reason = err instanceof Error ? err.message : String(err);
    this.#o.onEvent?.({ type: 'registration-failed', reason, retryInMs: Math.round(delay) });
    this.#arm(delay, () => void this.#exclusive(() => this.#register()));
  }

  #arm(ms: number, fn: () => void): void {
    this.#clearTimer();
    if (this.#stopped || this.#o.endpoint.closed) return;
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#timer = undefined;
      fn();
    }, ms);
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
