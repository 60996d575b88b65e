/**
 * A fleet of simulated devices against one server: N devices, each on its own UDP socket on
 * 127.0.0.1, started at a given rate, kept running until the duration passes or the signal
 * aborts, then stopped (de-registered) together. Returns a small report for the CLI or a test.
 */
import { updateResultName } from '../protocols/objects.ts';
import { seededRandom } from './clock.ts';
import { addStats, emptyStats } from './coap/messages.ts';
import type { EndpointOptions } from './coap/endpoint.ts';
import type { EndpointStats } from './coap/messages.ts';
import { SimDevice } from './device.ts';
import type { SimDeviceEvent } from './device.ts';

export interface FleetOptions {
  /** coap://host:port of the LwM2M server. */
  server: string;
  devices: number;
  prefix?: string;
  /** Devices started per second (default 100). */
  ramp?: number;
  /** Total run time, counted from the first start; 0 or undefined = until `signal` aborts. */
  durationMs?: number;
  lifetime?: number;
  blockSzx?: number;
  signal?: AbortSignal;
  onProgress?: (s: FleetStatus) => void;
  /** How often onProgress is called (default 2000 ms). */
  progressIntervalMs?: number;
  firmwareVersion?: string;
  rebootDelayMs?: number;
  /** Seeds each device's randomness (seed + index) so a run replays. */
  seed?: number;
  bindAddress?: string;
  coap?: SimDeviceOptionsCoap;
  log?: (e: SimDeviceEvent) => void;
}

type SimDeviceOptionsCoap = Omit<EndpointOptions, 'bindAddress' | 'port' | 'clock' | 'random'>;

export interface FleetStatus {
  elapsedMs: number;
  devices: number;
  started: number;
  registered: number;
  downloading: number;
  downloaded: number;
  updating: number;
  updated: number;
  failed: number;
}

export interface FleetReport {
  devices: number;
  started: number;
  /** Devices that registered at least once. */
  registered: number;
  /** Devices that rebooted into a new image. */
  updated: number;
  /** Failed downloads or updates, by Update Result name ('integrity check failure': 3). */
  failed: Record<string, number>;
  registrations: number;
  registrationUpdates: number;
  downloads: number;
  bytesDownloaded: number;
  durationMs: number;
  coap: EndpointStats;
}

export function parseServerUri(uri: string): { host: string; port: number } {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new RangeError(`not a URI: ${uri}`);
  }
  if (url.protocol !== 'coap:' || url.hostname === '') throw new RangeError(`server must be coap://host:port, got ${uri}`);
  return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: url.port === '' ? 5683 : Number(url.port) };
}

export function endpointName(prefix: string, index: number, total: number): string {
  return `${prefix}-${String(index + 1).padStart(String(total).length, '0')}`;
}

export async function runFleet(opts: FleetOptions): Promise<FleetReport> {
  const server = parseServerUri(opts.server);
  if (!Number.isInteger(opts.devices) || opts.devices < 0) throw new RangeError(`devices must be a non-negative integer, got ${opts.devices}`);
  const forever = opts.durationMs === undefined || opts.durationMs <= 0;
  if (forever && opts.signal === undefined) throw new RangeError('give a durationMs or a signal, or the fleet never stops');
  const t0 = Date.now();
  const devices: SimDevice[] = [];
  const everRegistered = new Set<string>();
  const failed: Record<string, number> = {};
  const log = (e: SimDeviceEvent): void => {
    if (e.type === 'registered') everRegistered.add(e.endpoint);
    if (e.type === 'download-failed') {
      const name = updateResultName(e.result);
      failed[name] = (failed[name] ?? 0) + 1;
    }
    opts.log?.(e);
  };
  const status = (): FleetStatus => ({
    elapsedMs: Date.now() - t0,
    devices: opts.devices,
    started: devices.length,
    registered: devices.filter((d) => d.registered).length,
    downloading: devices.filter((d) => d.state === 1).length,
    downloaded: devices.filter((d) => d.state === 2).length,
    updating: devices.filter((d) => d.state === 3).length,
    updated: devices.filter((d) => d.counters.updates > 0).length,
    failed: devices.filter((d) => d.state === 0 && d.updateResult >= 2).length,
  });
  const progress = opts.onProgress === undefined ? undefined : setInterval(() => opts.onProgress?.(status()), opts.progressIntervalMs ?? 2000);
  const gapMs = 1000 / Math.max(opts.ramp ?? 100, 0.001);
  try {
    for (let i = 0; i < opts.devices && opts.signal?.aborted !== true; i++) {
      const device = new SimDevice({
        endpoint: endpointName(opts.prefix ?? 'sim', i, opts.devices),
        server,
        ...(opts.bindAddress === undefined ? {} : { bindAddress: opts.bindAddress }),
        ...(opts.lifetime === undefined ? {} : { lifetime: opts.lifetime }),
        ...(opts.blockSzx === undefined ? {} : { blockSzx: opts.blockSzx }),
        ...(opts.firmwareVersion === undefined ? {} : { firmwareVersion: opts.firmwareVersion }),
        ...(opts.rebootDelayMs === undefined ? {} : { rebootDelayMs: opts.rebootDelayMs }),
        ...(opts.seed === undefined ? {} : { random: seededRandom(opts.seed + i) }),
        ...(opts.coap === undefined ? {} : { coap: opts.coap }),
        log,
      });
      devices.push(device);
      void device.start().catch(() => undefined); // it retries its registration on its own
      if (i + 1 < opts.devices) await pause(gapMs, opts.signal);
    }
    await pause(forever ? Number.POSITIVE_INFINITY : Math.max(0, (opts.durationMs ?? 0) - (Date.now() - t0)), opts.signal);
  } finally {
    if (progress !== undefined) clearInterval(progress);
    await Promise.all(devices.map((d) => d.stop().catch(() => undefined)));
  }
  opts.onProgress?.(status());
  const coap = emptyStats();
  let registrations = 0;
  let registrationUpdates = 0;
  let downloads = 0;
  let bytesDownloaded = 0;
  for (const d of devices) {
    const s = d.coapStats;
    if (s !== undefined) addStats(coap, s);
    registrations += d.registrationCounters.registrations;
    registrationUpdates += d.registrationCounters.updates;
    downloads += d.counters.downloads;
    bytesDownloaded += d.counters.bytesDownloaded;
  }
  return {
    devices: opts.devices,
    started: devices.length,
    registered: everRegistered.size,
    updated: devices.filter((d) => d.counters.updates > 0).length,
    failed,
    registrations,
    registrationUpdates,
    downloads,
    bytesDownloaded,
    durationMs: Date.now() - t0,
    coap,
  };
}

/** Waits `ms` (Infinity = forever) or until the signal aborts, whichever comes first. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted === true) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = Number.isFinite(ms) ? setTimeout(done, ms) : undefined;
    signal?.addEventListener('abort', done, { once: true });
  });
}
