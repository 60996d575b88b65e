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

  /** Takes one token for `key`; false when its bucket is empty. */
  take(key: string, cost = 1): boolean {
    if (this.perSecond <= 0) return true;
    const now = this.now();
    const b = this.buckets.get(key);
    if (!b) {
      this.buckets.set(key, { tokens: this.burst - cost, at: now });
      return cost <= this.burst;
    }
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.perSecond);
    b.at = now;
    if (b.tokens < cost) return false;
    b.tokens -= cost;
    return true;
  }

  /** Seconds until `key` has a token again (for a Max-Age on 4.29), at least 1. */
  retryAfter(key: string): number {
    const b = this.buckets.get(key);
    if (!b || this.perSecond <= 0) return 1;
    return Math.max(1, Math.ceil((1 - b.tokens) / this.perSecond));
  }
}
