/**
 * Server side of RFC 7641: the list of observers of our resources and their notifications.
 * An observer is (peer, token) on a resource key, with the Accept it asked for. A GET with
 * Observe=0 adds it (same peer and token replaces, §4.1), Observe=1 or an RST for a
 * notification removes it (§3.6, §4.2), and so does a CON notification nobody ACKs (§4.5.2).
 * Sequence numbers are one 24-bit counter for all observers, so they only increase (§4.4).
 * If a notification to an observer is still being retransmitted when the next one is due, the
 * newer one replaces it (§4.5.2).
 */
import type { CoapEndpoint, NotifyOutcome } from './endpoint.ts';
import type { CoapReply, CoapRequest, Peer } from './messages.ts';
import { peerKey } from './outbox.ts';

export interface Observer {
  readonly key: string;
  readonly peer: Peer;
  readonly token: Buffer;
  readonly accept: number | undefined;
}

interface Entry extends Observer {
  stop: (() => void) | undefined;
}

export type ObserverRemoved = 'deregistered' | 'reset' | 'timeout' | 'cleared';

export interface ObserversOptions {
  /** CON notifications (default true); NON ones are not retransmitted. */
  confirmable?: boolean;
  onRemoved?: (o: Observer, why: ObserverRemoved) => void;
}

const SEQ_MASK = 0xffffff;

export class Observers {
  readonly #endpoint: CoapEndpoint;
  readonly #opts: ObserversOptions;
  readonly #entries = new Map<string, Entry>();
  #seq = 0;

  constructor(endpoint: CoapEndpoint, opts: ObserversOptions = {}) {
    this.#endpoint = endpoint;
    this.#opts = opts;
  }

  get size(): number {
    return this.#entries.size;
  }

  list(key?: string): Observer[] {
    return [...this.#entries.values()].filter((e) => key === undefined || e.key === key);
  }

  /** The next Observe value (24 bits, RFC 7641 §3.4 / §4.4). */
  nextSeq(): number {
    this.#seq = (this.#seq + 1) & SEQ_MASK;
    return this.#seq;
  }

  /** Adds (or replaces) the observer of `key` that `req` asks for; returns the Observe value to answer with. */
  add(key: string, req: CoapRequest): number {
    const id = entryId(req.peer, req.token);
    this.#stop(this.#entries.get(id));
    this.#entries.set(id, {
      key,
      peer: req.peer,
      token: req.token,
      accept: req.options.accept,
      stop: undefined,
    });
    return this.nextSeq();
  }

  /** Removes the observer with this peer and token (a GET with Observe=1). */
  remove(peer: Peer, token: Buffer): boolean {
    return this.#remove(entryId(peer, token), 'deregistered');
  }

  /** Forgets everyone (a device reboot). No message is sent. */
  clear(): void {
    for (const id of [...this.#entries.keys()]) this.#remove(id, 'cleared');
  }

  /**
   * Notifies each observer whose key `matches`; `build` makes its notification (it can use
   * the observer's Accept) or returns undefined to skip it. A non-2.xx notification ends the
   * observation (RFC 7641 §4.2). Returns how many were sent.
   */
  notify(matches: (key: string) => boolean, build: (o: Observer) => CoapReply | undefined): number {
    let sent = 0;
    for (const [id, entry] of [...this.#entries]) {
      if (!matches(entry.key)) continue;
      const reply = build(entry);
      if (reply === undefined) continue;
      const final = !reply.code.startsWith('2.');
      this.#stop(entry);
      const withSeq: CoapReply = final ? reply : { ...reply, observe: this.nextSeq() };
      entry.stop = this.#endpoint.notify(entry.peer, entry.token, withSeq, {
        confirmable: this.#opts.confirmable ?? true,
        onDone: (outcome: NotifyOutcome) => {
          if (this.#entries.get(id) !== entry) return;
          entry.stop = undefined;
          if (outcome === 'reset' || outcome === 'timeout') this.#remove(id, outcome);
        },
      });
      if (final) this.#remove(id, 'deregistered', false);
      sent += 1;
    }
    return sent;
  }

  #stop(entry: Entry | undefined): void {
    entry?.stop?.();
    if (entry !== undefined) entry.stop = undefined;
  }

  #remove(id: string, why: ObserverRemoved, stopInFlight = true): boolean {
    const entry = this.#entries.get(id);
    if (entry === undefined) return false;
    this.#entries.delete(id);
    if (stopInFlight) this.#stop(entry);
    this.#opts.onRemoved?.(entry, why);
    return true;
  }
}

function entryId(peer: Peer, token: Buffer): string {
  return `${peerKey(peer)}#${token.toString('hex')}`;
}
