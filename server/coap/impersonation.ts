/**
 * What an impersonation attempt (device-binding.ts) leaves behind: an audit event and a
 * `device.impersonation` alert, at most one of each per endpoint per interval, so a flood of spoofed
 * Registers costs the database one row an interval, not one a datagram. The attempts in between are
 * counted (metrics) and summed up in the log once a minute.
 */
import { LRUCache } from 'lru-cache';
import type { AlertSink } from '../alerts/kinds.ts';
import type { Logger } from '../log.ts';
import type { Db } from '../store/db.ts';
import { recordEvent } from '../store/events.ts';
import type { ImpersonationAttempt } from './device-binding.ts';

export interface ImpersonationOptions {
  db: Db;
  alerts: Pick<AlertSink, 'raise'>;
  log: Logger;
  /** One event and one alert per endpoint per this many ms (default 10 minutes). */
  intervalMs?: number;
  /** Counts every attempt (the metrics). */
  counted?: (a: ImpersonationAttempt) => void;
}

export class Impersonations {
  /** Attempts since start, all of them. */
  attempts = 0;
  private readonly o: ImpersonationOptions;
  /** endpoint → attempts since its last recorded one, within the interval. */
  private readonly recent: LRUCache<string, { suppressed: number }>;
  private readonly pending = new Set<Promise<unknown>>();
  private summaryAt = 0;
  private unlogged = 0;

  constructor(o: ImpersonationOptions) {
    this.o = o;
    this.recent = new LRUCache({ max: 10_000, ttl: o.intervalMs ?? 10 * 60_000 });
  }

  readonly attempt = (a: ImpersonationAttempt): void => {
    this.attempts++;
    this.o.counted?.(a);
    const seen = this.recent.get(a.endpoint, { updateAgeOnGet: false });
    if (seen !== undefined) {
      seen.suppressed++;
      this.summarise();
      return;
    }
    this.recent.set(a.endpoint, { suppressed: 0 });
    this.o.log.warn({ ...a }, 'impersonation attempt refused');
    const message = a.reason === 'identity-mismatch'
      ? `a DTLS session ${a.identity === undefined ? 'with no identity' : `with identity ${a.identity}`} tried to ${a.operation} as ${a.endpoint} from ${a.from}`
      : `a plain CoAP request tried to ${a.operation} as ${a.endpoint} (it has credentials) from ${a.from}`;
    const work = Promise.all([
      recordEvent(this.o.db, { kind: 'device.impersonation', actor: 'device', endpoint: a.endpoint, data: { ...a } }),
      this.o.alerts.raise({ kind: 'device.impersonation', message, data: { ...a } }),
    ]).catch((err: unknown) => this.o.log.warn({ err, endpoint: a.endpoint }, 'could not record an impersonation attempt'));
    this.pending.add(work);
    void work.finally(() => this.pending.delete(work));
  };

  /** Waits for the records being written (shutdown, tests). */
  async idle(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  private summarise(): void {
    this.unlogged++;
    const now = Date.now();
    if (now - this.summaryAt < 60_000) return;
    this.o.log.warn({ attempts: this.unlogged }, 'impersonation attempts refused since the last summary (one event and alert per endpoint per interval)');
    this.summaryAt = now;
    this.unlogged = 0;
  }
}
