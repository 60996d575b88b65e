/**
 * Messages we sent and still expect an ACK or RST for, keyed by peer and Message ID.
 * CON messages are retransmitted per RFC 7252 §4.2 / §4.8: the first timeout is random in
 * [ACK_TIMEOUT, ACK_TIMEOUT × ACK_RANDOM_FACTOR], doubled after each retransmission, at most
 * MAX_RETRANSMIT retransmissions. NON messages are kept for one ACK_TIMEOUT window only, so an
 * RST that answers them can still be matched (RFC 7252 §4.3).
 */
import type { ParsedPacket } from 'coap-packet';
import type { Clock, Random } from '../clock.ts';

export interface TransmitParams {
  ackTimeoutMs: number;
  ackRandomFactor: number;
  maxRetransmit: number;
}

export interface Peer {
  address: string;
  port: number;
}

export function peerKey(peer: Peer): string {
  return `${peer.address}:${peer.port}`;
}

export interface OutboxCallbacks {
  /** The peer acknowledged: an empty ACK, or a piggybacked response in `msg`. */
  onAck(msg: ParsedPacket): void;
  onReset(): void;
  /** CON: no ACK after the last retransmission. NON: the RST window ended. */
  onGiveUp(): void;
}

interface Entry {
  readonly peer: Peer;
  readonly buf: Buffer;
  readonly confirmable: boolean;
  readonly cb: OutboxCallbacks;
  timer: unknown;
  timeoutMs: number;
  retransmits: number;
}

export type Transmit = (buf: Buffer, peer: Peer, retransmission: boolean) => void;

export class Outbox {
  readonly #entries = new Map<string, Entry>();
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #params: TransmitParams;
  readonly #transmit: Transmit;

  constructor(clock: Clock, random: Random, params: TransmitParams, transmit: Transmit) {
    this.#clock = clock;
    this.#random = random;
    this.#params = params;
    this.#transmit = transmit;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Sends `buf` now and tracks it; returns a function that stops tracking (no callback). */
  send(peer: Peer, messageId: number, buf: Buffer, confirmable: boolean, cb: OutboxCallbacks): () => void {
    const key = `${peerKey(peer)}/${messageId}`;
    this.#drop(key);
    const { ackTimeoutMs, ackRandomFactor } = this.#params;
    const timeoutMs = ackTimeoutMs * (1 + this.#random() * (ackRandomFactor - 1));
    const entry: Entry = { peer, buf, confirmable, cb, timer: undefined, timeoutMs, retransmits: 0 };
    this.#entries.set(key, entry);
    this.#transmit(buf, peer, false);
    // The transmit hook may have closed us or answered synchronously.
    if (this.#entries.get(key) === entry) this.#arm(key, entry);
    return () => {
      if (this.#entries.get(key) === entry) this.#drop(key);
    };
  }

  #arm(key: string, entry: Entry): void {
    entry.timer = this.#clock.setTimeout(() => this.#expire(key, entry), entry.timeoutMs);
  }

  #expire(key: string, entry: Entry): void {
    if (this.#entries.get(key) !== entry) return;
    if (entry.confirmable && entry.retransmits < this.#params.maxRetransmit) {
      entry.retransmits += 1;
      entry.timeoutMs *= 2;
      this.#transmit(entry.buf, entry.peer, true);
      if (this.#entries.get(key) === entry) this.#arm(key, entry);
      return;
    }
    this.#entries.delete(key);
    entry.cb.onGiveUp();
  }

  #drop(key: string): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#clock.clearTimeout(entry.timer);
    this.#entries.delete(key);
    return entry;
  }

  /** An ACK (empty or piggybacked) arrived; false if it matches nothing we wait for. */
  ack(peer: Peer, msg: ParsedPacket): boolean {
    const key = `${peerKey(peer)}/${msg.messageId}`;
    if (this.#entries.get(key)?.confirmable !== true) return false;
    const entry = this.#drop(key);
    entry?.cb.onAck(msg);
    return true;
  }

  reset(peer: Peer, messageId: number): boolean {
    const entry = this.#drop(`${peerKey(peer)}/${messageId}`);
    if (entry === undefined) return false;
    entry.cb.onReset();
    return true;
  }

  /** Stops every timer; no callbacks run. */
  clear(): void {
    for (const entry of this.#entries.values()) this.#clock.clearTimeout(entry.timer);
    this.#entries.clear();
  }
}
