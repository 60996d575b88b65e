/**
 * Who may fetch firmware blocks now, before any image is looked up (both sockets ask, per request):
 * - an address that has not proven it receives what we send (address-proof.ts) gets 4.01
 *   Unauthorized with an Echo option and nothing else (RFC 9175 §2.4): a client that repeats the
 *   request with that Echo has proven it, and downloads from then on;
 * - a proven address downloads within a rate per address; past it, one with a device whose update
 *   is under way is let through (asked of the store once a while, not per block), the rest get
 *   4.29 Too Many Requests with a Max-Age (RFC 8516). One question to the store per address at a
 *   time: the requests that need its answer wait for the same one.
 */
import { LRUCache } from 'lru-cache';
import type { Logger } from '../log.ts';
import type { AddressProof } from './address-proof.ts';
import type { EchoMinter } from './echo.ts';
import { RateLimit } from './rate-limit.ts';

export type DownloadAccessVerdict =
  | { kind: 'ok' }
  | { kind: 'echo'; echo: Buffer }
  | { kind: 'busy'; maxAge: number };

export interface DownloadAccessOptions {
  proof: AddressProof;
  echo: EchoMinter;
  /** Blocks per second (and burst) an address without an update under way may fetch; perSecond 0: no limit. */
  rate: { perSecond: number; burst: number };
  /** Whether a device at `address` has an update under way (the store). */
  updating: (address: string) => Promise<boolean>;
  log: Logger;
}

const OK = { kind: 'ok' } as const;

export class DownloadAccess {
  private readonly o: DownloadAccessOptions;
  private readonly rate: RateLimit;
  /** address → under way or not, for a while. */
  private readonly known = new LRUCache<string, boolean>({ max: 100_000, ttl: 30_000 });
  private readonly asking = new Map<string, Promise<boolean>>();
  readonly stats = { echoed: 0, limited: 0 };

  constructor(o: DownloadAccessOptions) {
    this.o = o;
    this.rate = new RateLimit(o.rate);
  }

  /** Synchronous unless the store must be asked whether `address` has an update under way. */
  check(address: string): DownloadAccessVerdict | Promise<DownloadAccessVerdict> {
    if (!this.o.proof.isProven(address)) {
      this.stats.echoed++;
      return { kind: 'echo', echo: this.o.echo.mint(address) };
    }
    if (this.rate.take(address)) return OK;
    const updating = this.known.get(address);
    if (updating !== undefined) return this.overRate(address, updating);
    return this.ask(address).then((yes) => this.overRate(address, yes));
  }

  private overRate(address: string, updating: boolean): DownloadAccessVerdict {
    if (updating) return OK;
    this.stats.limited++;
    return { kind: 'busy', maxAge: this.rate.retryAfter(address) };
  }

  private ask(address: string): Promise<boolean> {
    let asking = this.asking.get(address);
    if (asking) return asking;
    asking = this.o.updating(address).then(
      (yes) => { this.known.set(address, yes); return yes; },
      (err: unknown) => {
        this.o.log.warn({ err, address }, 'could not tell whether a device downloads from this address');
        return false;
      },
    ).finally(() => this.asking.delete(address));
    this.asking.set(address, asking);
    return asking;
  }
}
