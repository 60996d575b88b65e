/**
 * The webhook pump: claims due deliveries from the alerts table (so a restart, or another server
 * on the database, picks up whatever is pending), keeps at most `maxInFlight` attempts running,
 * and records each outcome there: delivered, retried after `backoffMs · 2^(attempt − 1)` (or the
 * server's Retry-After, when longer; at most 10 min), or
 * given up after `maxAttempts`. One timer waits for the next due retry; close() stops it and
 * aborts the attempts in flight, which stay pending (not counted) for the next start.
 */
import type { Logger } from '../log.ts';
import type { Db } from '../store/db.ts';
import { claimDueDeliveries, nextDeliveryInMs, recordAttempt, releaseDelivery, type Alert, type AttemptResult } from '../store/alerts.ts';
import { postOnce, webhookBody } from './webhook.ts';

export interface WebhookOptions {
  url: string;
  /** HMAC-SHA256 key for the X-Ferry-Signature header. */
  secret?: string | undefined;
  /** Attempts before a delivery is given up (default 6). */
  maxAttempts?: number;
  /** Delay before the first retry; each next one doubles (default 1000 ms, at most 10 min). */
  backoffMs?: number;
  /** Limit of one attempt, connection to answer (default 5000 ms). */
  timeoutMs?: number;
  /** Attempts running at once (default 4). */
  maxInFlight?: number;
}

const MAX_BACKOFF_MS = 10 * 60 * 1000;
/** After a database error the pump tries again this much later. */
const PUMP_RETRY_MS = 5000;

export class WebhookDelivery {
  readonly #db: Db;
  readonly #log: Logger;
  readonly #url: URL;
  readonly #o: Required<Omit<WebhookOptions, 'url' | 'secret'>> & { secret: string | undefined };
  readonly #inFlight = new Map<number, AbortController>();
  readonly #running = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #pumping = false;
  #again = false;
  #closed = false;

  constructor(db: Db, log: Logger, o: WebhookOptions) {
    this.#db = db;
    this.#log = log;
    this.#url = new URL(o.url);
    this.#o = {
      secret: o.secret, maxAttempts: o.maxAttempts ?? 6, backoffMs: o.backoffMs ?? 1000,
      timeoutMs: o.timeoutMs ?? 5000, maxInFlight: o.maxInFlight ?? 4,
    };
  }

  /** Where deliveries go, without credentials or query (for logs). */
  get target(): string {
    return `${this.#url.origin}${this.#url.pathname}`;
  }

  /** Looks for due deliveries now (a new alert, an attempt done, the retry timer). */
  wake(): void {
    if (this.#closed) return;
    if (this.#pumping) { this.#again = true; return; }
    this.#pumping = true;
    this.#track(this.#pump().finally(() => { this.#pumping = false; }));
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const c of this.#inFlight.values()) c.abort();
    while (this.#running.size > 0) await Promise.all([...this.#running]);
  }

  #track(p: Promise<void>): void {
    const q = p.catch((err: unknown) => this.#log.error({ err }, 'alert webhook pump failed')).finally(() => this.#running.delete(q));
    this.#running.add(q);
  }

  async #pump(): Promise<void> {
    try {
      do {
        this.#again = false;
        const free = this.#o.maxInFlight - this.#inFlight.size;
        if (free <= 0) return; // an attempt that ends wakes the pump
        // The lease outlasts the attempt, so this process never claims a row it is still sending.
        const due = await claimDueDeliveries(this.#db, free, this.#o.timeoutMs * 2 + 10_000);
        if (this.#closed) { await Promise.all(due.map((a) => releaseDelivery(this.#db, a.id))); return; }
        for (const a of due) this.#track(this.#attempt(a));
        if (due.length < free) this.#schedule(await nextDeliveryInMs(this.#db));
      } while (this.#again && !this.#closed);
    } catch (err) {
      this.#log.error({ err: err instanceof Error ? err.message : String(err) }, 'alert webhook: could not read pending deliveries');
      this.#schedule(PUMP_RETRY_MS);
    }
  }

  #schedule(ms: number | null): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (ms === null || this.#closed) return;
    this.#timer = setTimeout(() => this.wake(), Math.min(Math.max(ms, 10), 2 ** 31 - 1));
  }

  async #attempt(a: Alert): Promise<void> {
    const abort = new AbortController();
    this.#inFlight.set(a.id, abort);
    const attempt = a.attempts + 1;
    try {
      const out = await postOnce(this.#url, JSON.stringify(webhookBody(a)), {
        secret: this.#o.secret, alertId: a.id, timeoutMs: this.#o.timeoutMs, signal: abort.signal,
      });
      if (!out.delivered && out.aborted) { await releaseDelivery(this.#db, a.id); return; }
      const result: AttemptResult = out.delivered ? { state: 'delivered' }
        : !out.retry || attempt >= this.#o.maxAttempts ? { state: 'failed', error: out.error }
          : { state: 'pending', error: out.error, retryInMs: Math.min(Math.max(this.#o.backoffMs * 2 ** (attempt - 1), out.retryAfterMs ?? 0), MAX_BACKOFF_MS) };
      await recordAttempt(this.#db, a.id, result);
      const line = { alertId: a.id, kind: a.kind, webhook: this.target, attempt, ...(result.state === 'delivered' ? {} : { error: result.error }) };
      if (result.state === 'delivered') this.#log.info(line, 'alert webhook delivered');
      else if (result.state === 'failed') this.#log.warn(line, 'alert webhook given up');
      else this.#log.info({ ...line, retryInMs: result.retryInMs }, 'alert webhook attempt failed, retrying');
    } finally {
      this.#inFlight.delete(a.id);
      this.wake();
    }
  }
}
