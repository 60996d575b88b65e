/**
 * RFC 7252 §4.5: a recipient handles a duplicate (same peer and Message ID within
 * EXCHANGE_LIFETIME) once, and answers a duplicate CON with the same ACK/RST it sent before.
 * A bounded, insertion-ordered map: the oldest entry goes first when it is full; expired
 * entries are dropped lazily, so it needs no timer.
 */
export interface SeenMessage {
  readonly expiresAt: number;
  /** What we answered, once we have; undefined while the handler is still working. */
  response: Buffer | undefined;
}

export class DedupCache {
  readonly #entries = new Map<string, SeenMessage>();
  readonly #max: number;
  readonly #lifetimeMs: number;

  constructor(max: number, lifetimeMs: number) {
    this.#max = Math.max(1, max);
    this.#lifetimeMs = lifetimeMs;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string, now: number): SeenMessage | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= now) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  /** Records a message as seen and returns its entry (to fill in the response later). */
  add(key: string, now: number, response?: Buffer): SeenMessage {
    this.#entries.delete(key);
    for (const [k, e] of this.#entries) {
      if (this.#entries.size < this.#max && e.expiresAt > now) break;
      this.#entries.delete(k);
    }
    const entry: SeenMessage = { expiresAt: now + this.#lifetimeMs, response };
    this.#entries.set(key, entry);
    return entry;
  }

  clear(): void {
    this.#entries.clear();
  }
}
