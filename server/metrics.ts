/**
 * Prometheus metrics (prom-client), one registry per Ferry instance (several servers may share a
 * process: tests), built in the composition root and passed to whoever counts. Counters are
 * incremented where things happen (registrations, blocks served); gauges of what the database
 * holds (devices by version and status, updates by state and result) are read at scrape time,
 * with few groups each. Other modules add theirs with `registerCollector` or `registry`.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Queryable } from './store/db.ts';

/** The most label values one database gauge reports; the rest are summed under "other". */
export const MAX_GROUPS = 50;

export type Sample = { labels: Record<string, string>; value: number };

export class Metrics {
  readonly registry = new Registry();
  /** LwM2M registration interface operations, by kind (register, update, deregister). */
  readonly registrations: Counter<'kind'>;
  /** Firmware blocks answered by the download path (Block2 responses), by socket. */
  readonly blocksServed: Counter<'socket'>;
  /** Registers and Updates refused by a registration limit, by reason (rd.ts RefusalReason). */
  readonly registrationsRefused: Counter<'reason'>;

  constructor(db: Queryable) {
    collectDefaultMetrics({ register: this.registry, prefix: 'ferry_' });
    this.registrations = new Counter({ name: 'ferry_registrations_total', help: 'LwM2M registration operations', labelNames: ['kind'], registers: [this.registry] });
    this.blocksServed = new Counter({ name: 'ferry_firmware_blocks_served_total', help: 'firmware blocks served (Block2 responses)', labelNames: ['socket'], registers: [this.registry] });
    for (const kind of ['register', 'update', 'deregister', 'expire']) this.registrations.inc({ kind }, 0);
    this.registrationsRefused = new Counter({ name: 'ferry_registrations_refused_total', help: 'Registers refused by the rate limits on new endpoints (4.29, by scope), Registers and Updates refused for their payload size (4.13) or lifetime (4.00)', labelNames: ['reason'], registers: [this.registry] });
    for (const reason of ['rate-ip', 'rate-ip-port', 'rate-global', 'payload-too-large', 'lifetime-too-long']) this.registrationsRefused.inc({ reason }, 0);
    const grouped = (sql: string, label: string) => async (): Promise<Sample[]> => {
      const res = await db.query<{ k: string | null; n: number }>(sql);
      return bounded(res.rows.map((r) => ({ labels: { [label]: r.k ?? 'unknown' }, value: Number(r.n) })), label);
    };
    this.registerCollector('ferry_devices_by_firmware_version', 'devices known, by the firmware version they report (/3/0/3)', ['version'],
      grouped('SELECT firmware_version AS k, count(*)::int AS n FROM devices GROUP BY 1', 'version'));
    this.registerCollector('ferry_devices_by_status', 'devices known, by registration status', ['status'],
      grouped('SELECT status AS k, count(*)::int AS n FROM devices GROUP BY 1', 'status'));
    this.registerCollector('ferry_updates_by_state', 'device updates, by state', ['state'],
      grouped('SELECT state AS k, count(*)::int AS n FROM device_updates GROUP BY 1', 'state'));
    this.registerCollector('ferry_updates_by_result', 'finished device updates, by Object 5 Update Result (/5/0/5)', ['result'],
      grouped('SELECT result_code::text AS k, count(*)::int AS n FROM device_updates WHERE result_code IS NOT NULL GROUP BY 1', 'result'));
    this.registerCollector('ferry_campaigns', 'campaigns, by state', ['state'],
      grouped('SELECT state AS k, count(*)::int AS n FROM campaigns GROUP BY 1', 'state'));
    // Progress of the campaigns still going: their devices by state (bounded: MAX_GROUPS campaigns).
    this.registerCollector('ferry_campaign_devices', 'devices of scheduled, running and paused campaigns, by campaign and state', ['campaign', 'state'], async () => {
      const res = await db.query<{ c: string; s: string; n: number }>(
        `SELECT cd.campaign_id::text AS c, cd.state AS s, count(*)::int AS n FROM campaign_devices cd
           WHERE cd.campaign_id IN (SELECT id FROM campaigns WHERE state IN ('scheduled', 'running', 'paused') ORDER BY id DESC LIMIT ${MAX_GROUPS})
           GROUP BY 1, 2`);
      return res.rows.map((r) => ({ labels: { campaign: r.c, state: r.s }, value: Number(r.n) }));
    });
    this.registerCollector('ferry_alerts', 'alerts raised (campaign.paused, update.stalled, update.integrity), by kind', ['kind'],
      grouped('SELECT kind AS k, count(*)::int AS n FROM alerts GROUP BY 1', 'kind'));
    this.registerCollector('ferry_alerts_unacknowledged', 'alerts nobody has acknowledged yet, by kind', ['kind'],
      grouped('SELECT kind AS k, count(*)::int AS n FROM alerts WHERE acknowledged_at IS NULL GROUP BY 1', 'kind'));
  }

  /** A gauge whose samples `collect` gives at each scrape (replacing the previous ones). */
  registerCollector(name: string, help: string, labelNames: string[], collect: () => Promise<Sample[]> | Sample[]): Gauge<string> {
    return new Gauge({
      name, help, labelNames, registers: [this.registry],
      async collect() {
        const samples = await collect();
        this.reset();
        for (const s of samples) this.set(s.labels, s.value);
      },
    });
  }

  /** The text exposition format. */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }
}

/** At most MAX_GROUPS samples: the largest, and the rest summed as "other". */
function bounded(samples: Sample[], label: string): Sample[] {
  if (samples.length <= MAX_GROUPS) return samples;
  const sorted = [...samples].sort((a, b) => b.value - a.value);
  const rest = sorted.slice(MAX_GROUPS - 1).reduce((n, s) => n + s.value, 0);
  return [...sorted.slice(0, MAX_GROUPS - 1), { labels: { [label]: 'other' }, value: rest }];
}
