/**
 * The Alerts service: `raise` stores an alert, logs it (one line at warn), counts it by kind and,
 * with a webhook configured, hands it to the delivery pump. Raising never throws and never waits
 * on HTTP: the engine and the campaign driver call it and go on.
 */
import type { Logger } from '../log.ts';
import type { Db, Queryable } from '../store/db.ts';
import { insertAlert, type Alert } from '../store/alerts.ts';
import { WebhookDelivery, type WebhookOptions } from './delivery.ts';
import { ALERT_KINDS, DEFAULT_SEVERITY, type AlertInput, type AlertKind, type AlertSink } from './kinds.ts';

export interface AlertsOptions {
  db: Db;
  log: Logger;
  webhook?: WebhookOptions | undefined;
}

export class Alerts implements AlertSink {
  readonly #db: Db;
  readonly #log: Logger;
  readonly #delivery: WebhookDelivery | undefined;
  readonly #counts = new Map<AlertKind, number>(ALERT_KINDS.map((k) => [k, 0]));
  readonly #raising = new Set<Promise<unknown>>();

  constructor(o: AlertsOptions) {
    this.#db = o.db;
    this.#log = o.log.child({ part: 'alerts' });
    this.#delivery = o.webhook ? new WebhookDelivery(o.db, this.#log, o.webhook) : undefined;
  }

  /** Starts delivering: deliveries left pending by an earlier run go out now. */
  start(): void {
    if (this.#delivery) this.#log.info({ webhook: this.#delivery.target }, 'alert webhook');
    this.#delivery?.wake();
  }

  /** Stored alert, or undefined when the store refused it (logged all the same). Never rejects. */
  readonly raise = (a: AlertInput): Promise<Alert | undefined> => {
    const p = this.#store(a);
    this.#raising.add(p);
    void p.finally(() => this.#raising.delete(p));
    return p;
  };

  /** Alerts raised by kind since this process started (for the ferry_alerts_total counter). */
  counts(): Record<AlertKind, number> {
    return Object.fromEntries(this.#counts) as Record<AlertKind, number>;
  }

  /** Resolves when every raised alert is stored (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#raising.size > 0) await Promise.all([...this.#raising]);
  }

  /** Stores what is being raised, stops the retry timer and the attempts in flight: pending deliveries resume at the next start. */
  async close(): Promise<void> {
    await this.idle();
    await this.#delivery?.close();
  }

  /** Stores the alert with the caller's transaction; call `published` once it committed. */
  readonly storeIn = (tx: Queryable, a: AlertInput): Promise<Alert> => {
    const severity = a.severity ?? DEFAULT_SEVERITY[a.kind];
    return insertAlert(tx, {
      kind: a.kind, severity, campaignId: a.campaignId ?? null, deviceId: a.deviceId ?? null, updateId: a.updateId ?? null,
      message: a.message, data: a.data, webhook: this.#delivery ? 'pending' : 'none',
    });
  };

  /** A stored alert, committed: logged (one line at warn), counted, handed to the webhook. */
  readonly published = (alert: Alert): void => {
    this.#announce(alert);
    this.#delivery?.wake();
  };

  /** Counted and logged, stored or not (`id` and `endpoint` only when it was). */
  #announce(a: Omit<AlertInput, 'campaignId' | 'deviceId' | 'updateId'> & {
    campaignId?: number | null; deviceId?: number | null; updateId?: number | null; id?: number; endpoint?: string | null;
  }): void {
    this.#counts.set(a.kind, (this.#counts.get(a.kind) ?? 0) + 1);
    this.#log.warn({
      alertId: a.id, kind: a.kind, severity: a.severity ?? DEFAULT_SEVERITY[a.kind], campaignId: a.campaignId ?? null,
      deviceId: a.deviceId ?? null, updateId: a.updateId ?? null, endpoint: a.endpoint ?? undefined, data: a.data,
    }, `alert: ${a.message}`);
  }

  async #store(a: AlertInput): Promise<Alert | undefined> {
    try {
      const alert = await this.storeIn(this.#db, a);
      this.published(alert);
      return alert;
    } catch (err) {
      this.#log.error({ kind: a.kind, err: err instanceof Error ? err.message : String(err) }, 'alert not stored');
      this.#announce(a);
      return undefined;
    }
  }
}
