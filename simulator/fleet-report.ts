/**
 * What a fleet run measured: a collector fed with every device event, and at the end the report —
 * devices, registered, updated, failed by Update Result, reverted, bricked (must be 0),
 * time-to-update percentiles, packets and bytes on air per update, retransmissions, DTLS
 * handshakes (first ones and again), their failures and the sockets' rebinds — plus the
 * invariants that must hold on every device (no bricked one, no image running that does not
 * verify, no unconfirmed image left running), what the API driver met, and the outcome: passed only
 * when every invariant holds and, with a driver, every device updated. Pure bookkeeping; the fleet
 * runner does the I/O.
 */
import { updateResultName } from '../protocols/objects.ts';
import { addStats, emptyStats } from './coap/messages.ts';
import type { EndpointStats } from './coap/messages.ts';
import { emptyLinkStats } from './coap/faulty-link.ts';
import type { LinkStats } from './coap/faulty-link.ts';
import type { SessionCounters, SimDevice, SimDeviceEvent } from './device.ts';
import type { DeviceFaultKind } from './faults.ts';
import type { ApiFailure, DriverStats } from './fleet-driver.ts';

export interface Percentiles {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export interface FleetStatus {
  elapsedMs: number;
  devices: number;
  started: number;
  registered: number;
  downloading: number;
  downloaded: number;
  updating: number;
  updated: number;
  updates: number;
  failed: number;
  bricked: number;
}

export interface FleetReport {
  seed: number | undefined;
  devices: number;
  started: number;
  /** Devices that registered at least once. */
  registered: number;
  /** Devices that confirmed a new image at least once. */
  updated: number;
  /** Confirmed updates in all (more than `updated` in a soak). */
  updates: number;
  /** Failed downloads or updates, by Update Result name ('integrity check failure (5)': 3). */
  failed: Record<string, number>;
  /** Boots that swapped an unconfirmed image back out. */
  reverted: number;
  /** Devices whose bootloader has no valid image to boot. Must be 0. */
  bricked: number;
  /** Devices that went dark for good (the never-returns fault). */
  lost: number;
  powerLosses: number;
  /** From the start of a download (or push) to the confirmed new image, in ms. */
  timeToUpdateMs: Percentiles;
  perUpdate: { packets: number; bytes: number };
  registrations: number;
  registrationUpdates: number;
  downloads: number;
  bytesDownloaded: number;
  retransmissions: number;
  /** DTLS sessions (both kinds: with the server, for coaps:// downloads) and socket rebinds. */
  sessions: SessionCounters;
  faults: { planned: Partial<Record<DeviceFaultKind, number>>; fired: Partial<Record<DeviceFaultKind, number>> };
  link: LinkStats;
  /** Broken invariants, one line each. Empty on a good run. */
  invariants: string[];
  durationMs: number;
  coap: EndpointStats;
  /** The API driver's requests and the errors it retried (runs with --update or --soak). */
  driver?: DriverStats;
  /** What stopped the run: the API refused the token, could not be reached, or has no such image. */
  apiFailure?: ApiFailure;
  outcome: RunOutcome;
}

/**
 * passed: every invariant holds and, when the run drove updates, every device updated;
 * broken: an invariant broke (a bricked device, an unverified or unconfirmed image running);
 * stopped: the API stopped the run; unmet: it ran, but devices were left not updated.
 */
export interface RunOutcome {
  status: 'passed' | 'broken' | 'stopped' | 'unmet';
  summary: string;
}

const kinds = (m: Partial<Record<string, number>>): string => Object.entries(m).map(([k, n]) => `${k} ${n}`).join(', ') || 'none';

export function runOutcome(r: Omit<FleetReport, 'outcome'>): RunOutcome {
  const notUpdated = r.devices - r.updated;
  const why = [
    r.invariants.length > 0 || r.bricked > 0 ? `${r.invariants.length} invariant(s) broken, ${r.bricked} bricked` : '',
    r.apiFailure?.message ?? '',
    r.driver !== undefined && notUpdated > 0 ? `${notUpdated} of ${r.devices} devices not updated` : '',
    r.driver !== undefined && notUpdated > 0 && r.driver.gaveUp > 0 ? `gave up on ${r.driver.gaveUp} after repeated failures` : '',
    r.driver !== undefined && notUpdated > 0 && r.driver.errors > 0 ? `API errors: ${kinds(r.driver.errorsByKind)}` : '',
  ].filter((w) => w !== '').join('; ');
  if (r.invariants.length > 0 || r.bricked > 0) return { status: 'broken', summary: why };
  if (r.apiFailure !== undefined) return { status: 'stopped', summary: why };
  if (r.driver !== undefined && notUpdated > 0) return { status: 'unmet', summary: why };
  return { status: 'passed', summary: r.driver === undefined ? 'every invariant holds' : `every invariant holds, all ${r.devices} devices updated` };
}

export function percentiles(values: readonly number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!);
  return { count: sorted.length, p50: at(0.5), p95: at(0.95), p99: at(0.99), max: sorted.at(-1) ?? 0 };
}

/** Folds device events into the figures the report needs. */
export class FleetCollector {
  readonly registered = new Set<string>();
  readonly updatedDevices = new Set<string>();
  readonly failed: Record<string, number> = {};
  readonly fired: Partial<Record<DeviceFaultKind, number>> = {};
  readonly durations: number[] = [];
  readonly invariants: string[] = [];
  readonly #downloadStart = new Map<string, number>();
  updates = 0;
  reverted = 0;

  readonly onEvent = (e: SimDeviceEvent): void => {
    switch (e.type) {
      case 'registered':
        this.registered.add(e.endpoint);
        break;
      case 'download-started':
        if (e.resumedAt === undefined && !this.#downloadStart.has(e.endpoint)) this.#downloadStart.set(e.endpoint, e.at);
        break;
      case 'download-failed':
      case 'update-failed':
        this.#count(e.result);
        this.#downloadStart.delete(e.endpoint);
        break;
      case 'update-succeeded': {
        this.updates += 1;
        this.updatedDevices.add(e.endpoint);
        const start = this.#downloadStart.get(e.endpoint);
        this.#downloadStart.delete(e.endpoint);
        this.durations.push(start === undefined ? e.ms : e.at - start);
        break;
      }
      case 'booted':
        if (e.swap === 'revert') this.reverted += 1;
        break;
      case 'fault':
        this.fired[e.kind] = (this.fired[e.kind] ?? 0) + 1;
        break;
      case 'bricked':
        this.invariants.push(`${e.endpoint}: bricked: ${e.reason}`);
        break;
      default:
        break;
    }
  };

  #count(result: number): void {
    const name = `${updateResultName(result)} (${result})`;
    this.failed[name] = (this.failed[name] ?? 0) + 1;
  }
}

export function fleetStatus(devices: readonly SimDevice[], total: number, c: FleetCollector, elapsedMs: number): FleetStatus {
  let registered = 0;
  let downloading = 0;
  let downloaded = 0;
  let updating = 0;
  let failed = 0;
  let bricked = 0;
  for (const d of devices) {
    if (d.registered) registered += 1;
    if (d.state === 1) downloading += 1;
    else if (d.state === 2) downloaded += 1;
    else if (d.state === 3) updating += 1;
    else if (d.updateResult >= 2) failed += 1;
    if (d.bricked !== undefined) bricked += 1;
  }
  return { elapsedMs, devices: total, started: devices.length, registered, downloading, downloaded, updating, updated: c.updatedDevices.size, updates: c.updates, failed, bricked };
}

/** Sums the devices' counters into the report. */
export function buildReport(o: {
  devices: readonly SimDevice[];
  total: number;
  seed: number | undefined;
  collector: FleetCollector;
  bricked: number;
  planned: Partial<Record<DeviceFaultKind, number>>;
  link: LinkStats;
  durationMs: number;
  driver?: DriverStats | undefined;
  apiFailure?: ApiFailure | undefined;
}): FleetReport {
  const coap = emptyStats();
  const sums = { registrations: 0, registrationUpdates: 0, downloads: 0, bytesDownloaded: 0, powerLosses: 0, lost: 0 };
  const sessions: SessionCounters = { handshakes: 0, rehandshakes: 0, failures: 0, rebinds: 0 };
  for (const d of o.devices) {
    for (const k of Object.keys(sessions) as (keyof SessionCounters)[]) sessions[k] += d.sessionCounters[k];
    const s = d.coapStats;
    if (s !== undefined) addStats(coap, s);
    sums.registrations += d.registrationCounters.registrations;
    sums.registrationUpdates += d.registrationCounters.updates;
    sums.downloads += d.counters.downloads;
    sums.bytesDownloaded += d.counters.bytesDownloaded;
    sums.powerLosses += d.counters.powerLosses;
    if (d.off) sums.lost += 1;
  }
  const c = o.collector;
  const per = (n: number): number => (c.updates === 0 ? 0 : Math.round(n / c.updates));
  const report: Omit<FleetReport, 'outcome'> = {
    seed: o.seed,
    devices: o.total,
    started: o.devices.length,
    registered: c.registered.size,
    updated: c.updatedDevices.size,
    updates: c.updates,
    failed: c.failed,
    reverted: c.reverted,
    bricked: o.bricked,
    ...sums,
    timeToUpdateMs: percentiles(c.durations),
    perUpdate: { packets: per(coap.packetsSent + coap.packetsReceived), bytes: per(coap.bytesSent + coap.bytesReceived) },
    retransmissions: coap.retransmissions,
    sessions,
    faults: { planned: o.planned, fired: c.fired },
    link: { ...emptyLinkStats(), ...o.link },
    invariants: c.invariants,
    durationMs: o.durationMs,
    coap,
    ...(o.driver === undefined ? {} : { driver: o.driver }),
    ...(o.apiFailure === undefined ? {} : { apiFailure: o.apiFailure }),
  };
  return { ...report, outcome: runOutcome(report) };
}

/** The report as a two-column table for a terminal. */
export function formatReport(r: FleetReport): string {
  const ms = (v: number): string => (v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`);
  const t = r.timeToUpdateMs;
  const d = r.driver;
  const rows: [string, string | number][] = [
    ['devices', `${r.started}/${r.devices} started${r.seed === undefined ? '' : `, seed ${r.seed}`}`],
    ['registered', r.registered],
    ['updated', `${r.updated} devices, ${r.updates} updates`],
    ...Object.entries(r.failed).map(([name, n]): [string, number] => [`failed: ${name}`, n]),
    ['reverted', r.reverted],
    ['bricked', r.bricked],
    ['lost (never came back)', r.lost],
    ['power losses', r.powerLosses],
    ['time to update p50/p95/p99', t.count === 0 ? '–' : `${ms(t.p50)} / ${ms(t.p95)} / ${ms(t.p99)} (max ${ms(t.max)})`],
    ['on air per update', r.updates === 0 ? '–' : `${r.perUpdate.packets} packets, ${r.perUpdate.bytes} bytes`],
    ['packets sent / received', `${r.coap.packetsSent} / ${r.coap.packetsReceived}`],
    ['bytes sent / received', `${r.coap.bytesSent} / ${r.coap.bytesReceived}`],
    ['retransmissions', r.retransmissions],
    ...(r.sessions.handshakes + r.sessions.failures === 0 ? [] : [
      ['DTLS handshakes', `${r.sessions.handshakes} (${r.sessions.rehandshakes} again after a session was lost), ${r.sessions.failures} failed`],
    ] satisfies [string, string][]),
    ...(r.sessions.rebinds === 0 ? [] : [['socket rebinds', r.sessions.rebinds]] satisfies [string, number][]),
    ['link faults', `lost ${r.link.lost}, duplicated ${r.link.duplicated}, reordered ${r.link.reordered}`],
    ['faults planned', kinds(r.faults.planned)],
    ['faults fired', kinds(r.faults.fired)],
    ['registrations / updates', `${r.registrations} / ${r.registrationUpdates}`],
    ['downloads', `${r.downloads} (${r.bytesDownloaded} bytes)`],
    ...(d === undefined ? [] : [
      ['API requests', `${d.requested} updates asked for, ${d.retried} retried, ${d.gaveUp} given up${d.uploads === 0 ? '' : `, ${d.uploads} images uploaded`}`],
      ['API errors (retried)', d.errors === 0 ? 'none' : `${d.errors}: ${kinds(d.errorsByKind)}`],
    ] satisfies [string, string][]),
    ['invariants', r.invariants.length === 0 ? 'all hold' : `${r.invariants.length} broken`],
    ['duration', `${(r.durationMs / 1000).toFixed(1)} s`],
    ['result', r.outcome.status === 'passed' ? `passed: ${r.outcome.summary}` : `${r.outcome.status === 'stopped' ? 'STOPPED' : 'FAILED'}: ${r.outcome.summary}`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  const table = rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
  return r.invariants.length === 0 ? table : `${table}\n${r.invariants.slice(0, 20).map((l) => `  ✗ ${l}`).join('\n')}`;
}
