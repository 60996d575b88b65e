/**
 * The fault layer around a device's socket: each datagram, in either direction, may be lost,
 * delayed (latency plus jitter), held back so the next one overtakes it (reordering) or delivered
 * twice (duplication). Decisions come from a seeded random stream and the injected clock, drawn
 * in a fixed order per datagram, so the same traffic meets the same fates.
 */
import type { Clock, Random } from '../clock.ts';
import type { Peer } from './outbox.ts';
import type { DatagramTransport, TransportLayer } from './transport.ts';

export interface LinkFaults {
  /** Probability that a datagram is lost, each direction. */
  loss?: number;
  /** One-way delay added to every datagram. */
  latencyMs?: number;
  /** Extra delay, uniform in [0, jitterMs). */
  jitterMs?: number;
  /** Probability that a datagram arrives twice. */
  duplicate?: number;
  /** Probability that a datagram is held back `reorderMs` (default 30 ms), letting later ones pass. */
  reorder?: number;
  reorderMs?: number;
}

export interface LinkStats {
  lost: number;
  duplicated: number;
  reordered: number;
}

export const emptyLinkStats = (): LinkStats => ({ lost: 0, duplicated: 0, reordered: 0 });

export function hasLinkFaults(f: LinkFaults): boolean {
  return (f.loss ?? 0) > 0 || (f.latencyMs ?? 0) > 0 || (f.jitterMs ?? 0) > 0 || (f.duplicate ?? 0) > 0 || (f.reorder ?? 0) > 0;
}

export function faultyLink(faults: LinkFaults, clock: Clock, random: Random, stats: LinkStats = emptyLinkStats()): TransportLayer {
  return (inner) => new FaultyLink(inner, faults, clock, random, stats);
}

class FaultyLink implements DatagramTransport {
  readonly #inner: DatagramTransport;
  readonly #f: LinkFaults;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #stats: LinkStats;
  readonly #timers = new Set<unknown>();
  #closed = false;

  constructor(inner: DatagramTransport, f: LinkFaults, clock: Clock, random: Random, stats: LinkStats) {
    this.#inner = inner;
    this.#f = f;
    this.#clock = clock;
    this.#random = random;
    this.#stats = stats;
  }

  send(buf: Buffer, peer: Peer, done?: (err?: Error) => void): void {
    this.#pass(() => this.#inner.send(buf, peer, done));
  }

  onMessage(handler: (buf: Buffer, peer: Peer) => void): void {
    this.#inner.onMessage((buf, peer) => this.#pass(() => handler(buf, peer)));
  }

  address(): Peer {
    return this.#inner.address();
  }

  close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#timers) this.#clock.clearTimeout(t);
    this.#timers.clear();
    return this.#inner.close();
  }

  #pass(deliver: () => void): void {
    if (this.#closed) return;
    const f = this.#f;
    if ((f.loss ?? 0) > 0 && this.#random() < (f.loss ?? 0)) {
      this.#stats.lost += 1;
      return;
    }
    let delay = (f.latencyMs ?? 0) + ((f.jitterMs ?? 0) > 0 ? this.#random() * (f.jitterMs ?? 0) : 0);
    if ((f.reorder ?? 0) > 0 && this.#random() < (f.reorder ?? 0)) {
      this.#stats.reordered += 1;
      delay += f.reorderMs ?? 30;
    }
    const twice = (f.duplicate ?? 0) > 0 && this.#random() < (f.duplicate ?? 0);
    this.#later(deliver, delay);
    if (twice) {
      this.#stats.duplicated += 1;
      this.#later(deliver, delay + 1);
    }
  }

  #later(fn: () => void, ms: number): void {
    if (ms <= 0) {
      fn();
      return;
    }
    const t = this.#clock.setTimeout(() => {
      this.#timers.delete(t);
      if (!this.#closed) fn();
    }, ms);
    this.#timers.add(t);
  }
}
