/**
 * Token buckets by key (a source address, say), bounded in memory: at most `maxKeys` buckets, the
 * least recently used forgotten first (a forgotten key starts again with a full bucket, so the
 * bound errs towards letting traffic through, never towards blocking a device for good).
 */
import { LRUCache } from 'lru-cache';

export interface RateLimitOptions {
  /** Tokens added per second; 0 disables the limit. */
  perSecond: number;
  /** Bucket size: how many may come at once after a quiet spell. */
  burst: number;
  maxKeys?: number;
  now?: () => number;
}

interface Bucket { tokens: number; at: number }

/** A per-second setting as a token bucket: bursts of four seconds' worth (0: no limit). */
export function bucketOf(perSecond: number): { perSecond: number; burst: number } {
  return { perSecond, burst: Math.max(1, 4 * perSecond) };
}

export class RateLimit {
  readonly perSecond: number;
  readonly burst: number;
  private readonly buckets: LRUCache<string, Bucket>;
  private readonly now: () => number;

  constructor(o: RateLimitOptions) {
    this.perSecond = o.perSecond;
    this.burst = Math.max(1, o.burst);
    this.now = o.now ?? Date.now;
    this.buckets = new LRUCache({ max: o.maxKeys ?? 100_000 });
  }

  /** Takes `cost` tokens for `key`; false (and none taken) when its bucket holds fewer. */
  take(key: string, cost = 1, now = this.now()): boolean {
    if (this.perSecond <= 0) return true;
    const b = this.bucket(key, now);
    if (b.tokens < cost) return false;
    b.tokens -= cost;
    return true;
  }

  /** Tokens `key` holds now, none taken (several limits that must all admit are checked first). */
  tokens(key: string, now = this.now()): number {
    return this.perSecond <= 0 ? Infinity : this.bucket(key, now).tokens;
  }

  /** Seconds until `key` holds a token again (exact; a Max-Age rounds it up). */
  wait(key: string, now = this.now()): number {
    if (this.perSecond <= 0) return 0;
    return Math.max(0, (1 - this.bucket(key, now).tokens) / this.perSecond);
  }

  /** Seconds until `key` has a token again (for a Max-Age on 4.29), at least 1. */
  retryAfter(key: string): number {
    return Math.max(1, Math.ceil(this.wait(key)));
  }

  /** Seconds an empty bucket takes to fill. */
  get refillSeconds(): number {
    return this.perSecond <= 0 ? 0 : this.burst / this.perSecond;
  }

  /** The bucket of `key`, refilled up to `now`; a new one is full. */
  private bucket(key: string, now: number): Bucket {
    let b = this.buckets.get(key);
    if (!b) {
      b = { tokens: this.burst, at: now };
      this.buckets.set(key, b);
      return b;
    }
    b.tokens = Math.min(this.burst, b.tokens + (Math.max(0, now - b.at) / 1000) * this.perSecond);
    b.at = now;
    return b;
  }
}
