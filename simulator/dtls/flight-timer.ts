/**
 * The handshake retransmission timer of RFC 6347 §4.2.4: the last flight is sent again when no
 * answer came in time, the timeout doubling each time (RFC 6347 §4.2.4.1: 1 s initially, at most
 * 60 s); after `maxRetransmits` the handshake is given up. Runs on the injected Clock.
 */
import type { Clock } from '../clock.ts';

export interface FlightTimerOptions {
  initialMs: number;
  maxMs: number;
  maxRetransmits: number;
}

export class FlightTimer {
  #handle: unknown;
  #timeoutMs: number;
  #count = 0;

  readonly clock: Clock;
  readonly opts: FlightTimerOptions;
  readonly resend: () => void;
  readonly giveUp: () => void;

  constructor(clock: Clock, opts: FlightTimerOptions, resend: () => void, giveUp: () => void) {
    this.clock = clock;
    this.opts = opts;
    this.resend = resend;
    this.giveUp = giveUp;
    this.#timeoutMs = opts.initialMs;
  }

  /** A new flight went out: arms the timer afresh (RFC 6347 §4.2.4.1 keeps the backed-off value; a new flight resets it here). */
  start(): void {
    this.stop();
    this.#count = 0;
    this.#timeoutMs = this.opts.initialMs;
    this.#arm();
  }

  stop(): void {
    if (this.#handle !== undefined) this.clock.clearTimeout(this.#handle);
    this.#handle = undefined;
  }

  #arm(): void {
    this.#handle = this.clock.setTimeout(() => {
      this.#handle = undefined;
      if (this.#count >= this.opts.maxRetransmits) {
        this.giveUp();
        return;
      }
      this.#count += 1;
      this.#timeoutMs = Math.min(this.#timeoutMs * 2, this.opts.maxMs);
      this.resend();
      this.#arm();
    }, this.#timeoutMs);
  }
}
