/**
 * Rate limits on Registers of endpoints the server does not know yet (no device row): token
 * buckets per source address (an IPv6 address counts by its /64, what one subscriber holds), per
 * source address and port (one socket), and one for the whole server. Known endpoints never
 * reach them, so a fleet registering again after an outage is not slowed; many devices behind
 * one carrier NAT share an address, hence a generous per-address bucket and a tight per-socket one.
 * Memory is bounded: the buckets of the least recently seen sources are forgotten (a forgotten
 * bucket starts full again, so forgetting only ever admits more; the global bucket still holds).
 * A refusal is RFC 8516's 4.29 Too Many Requests, its Max-Age saying when to try again.
 */
import { isIPv6 } from 'node:net';
import type { Logger } from '../log.ts';
import { plainAddress } from './address-proof.ts';
import { RateLimit } from './rate-limit.ts';

/** A token bucket setting: `burst` Registers at once, then `rate` a second. */
export interface RateSetting {
  rate: number;
  burst: number;
}

export interface RegisterLimitsConfig {
  /** Per source address (IPv6: per /64); undefined: no limit. */
  perIp?: RateSetting | undefined;
  /** Per source address and port; undefined: no limit. */
  perIpPort?: RateSetting | undefined;
  /** New endpoints, whatever their source; undefined: no limit. */
  global?: RateSetting | undefined;
}

export type LimitScope = 'ip' | 'ip-port' | 'global';

export type Admission =
  | { admitted: true }
  | { admitted: false; scope: LimitScope; retryAfterSeconds: number };

/** Sources tracked per table: each entry is a few dozen bytes. */
const MAX_TRACKED = 20_000;

export class RegisterLimits {
  private readonly scopes: Array<{ scope: LimitScope; buckets: RateLimit; key: (address: string, port: number) => string }> = [];
  private readonly random: () => number;

  constructor(config: RegisterLimitsConfig, o: { tracked?: number; random?: () => number } = {}) {
    const tracked = o.tracked ?? MAX_TRACKED;
    // Narrowest first: the scope a refusal names is the narrowest one that is empty.
    const buckets = (l: RateSetting, maxKeys: number) => new RateLimit({ perSecond: l.rate, burst: l.burst, maxKeys });
    if (config.perIpPort) this.scopes.push({ scope: 'ip-port', buckets: buckets(config.perIpPort, tracked), key: (a, p) => `${a}|${p}` });
    if (config.perIp) this.scopes.push({ scope: 'ip', buckets: buckets(config.perIp, tracked), key: addressKey });
    if (config.global) this.scopes.push({ scope: 'global', buckets: buckets(config.global, 1), key: () => '' });
    this.random = o.random ?? Math.random;
  }

  /** False when no limit is set: callers may skip looking the endpoint up. */
  get enabled(): boolean {
    return this.scopes.length > 0;
  }

  /**
   * One Register of an unknown endpoint from address:port: admitted when every bucket holds a
   * token (then each gives one), refused otherwise (then none does).
   */
  admit(address: string, port: number, now = Date.now()): Admission {
    const held = this.scopes.map((s) => ({ s, key: s.key(address, port) }));
    const empty = held.filter((h) => h.s.buckets.tokens(h.key, now) < 1);
    if (empty.length === 0) {
      for (const h of held) h.s.buckets.take(h.key, 1, now);
      return { admitted: true };
    }
    // When a token is back, plus a random part of the refill time, so that a refused crowd does
    // not come back all at once (RFC 8516 §4: Max-Age says when the client may try again).
    const wait = Math.max(...empty.map((h) => h.s.buckets.wait(h.key, now)));
    const spread = Math.min(60, Math.max(...empty.map((h) => h.s.buckets.refillSeconds)));
    return { admitted: false, scope: empty[0]!.s.scope, retryAfterSeconds: Math.max(1, Math.ceil(wait + this.random() * spread)) };
  }
}

/** An IPv4 address as it is (an IPv4-mapped IPv6 one as IPv4); an IPv6 address by its /64. */
export function addressKey(address: string): string {
  const plain = plainAddress(address);
  if (!isIPv6(plain.split('%')[0]!)) return plain;
  const [head = '', tail] = address.split('%')[0]!.toLowerCase().split('::');
  const front = head === '' ? [] : head.split(':');
  const back = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? front : [...front, ...Array<string>(8 - front.length - back.length).fill('0'), ...back];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

/**
 * Refusals logged at most once per interval, not once per datagram: the first at once, then
 * every `intervalMs` one line with how many were refused since, by scope, and the busiest sources.
 */
export class RefusalLog {
  private readonly log: Logger;
  private readonly intervalMs: number;
  private readonly counts = new Map<LimitScope, number>();
  private readonly sources = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(log: Logger, intervalMs = 10_000) {
    this.log = log;
    this.intervalMs = intervalMs;
  }

  note(scope: LimitScope, address: string, retryAfterSeconds: number): void {
    if (this.timer === undefined) {
      this.log.warn({ scope, from: address, retryAfter: retryAfterSeconds, everyMs: this.intervalMs },
        'register refused (4.29): too many new endpoints; further refusals are summed once per interval');
      this.arm();
      return;
    }
    this.counts.set(scope, (this.counts.get(scope) ?? 0) + 1);
    const key = addressKey(address);
    if (this.sources.has(key) || this.sources.size < 100) this.sources.set(key, (this.sources.get(key) ?? 0) + 1);
  }

  private arm(): void {
    this.timer = setTimeout(() => this.flush(), this.intervalMs);
    this.timer.unref();
  }

  private flush(): void {
    this.timer = undefined;
    if (this.counts.size === 0) return;
    const refused = Object.fromEntries(this.counts);
    const top = [...this.sources].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([from, n]) => ({ from, n }));
    this.counts.clear();
    this.sources.clear();
    this.log.warn({ refused, top, seconds: this.intervalMs / 1000 }, 'registers refused (4.29): too many new endpoints');
    this.arm();
  }
}
