/**
 * A fleet of simulated devices against one server: N devices, each on its own UDP socket
 * (spread over several 127.x addresses if asked), started at a given rate, each with its fault
 * from the seeded plan and its own faulty link; optionally an API driver that asks Ferry for
 * their updates (or, in a soak, for update after update). When the duration passes, the signal
 * aborts, `until` holds or the API stops the run (a token refused, the API unreachable, no such
 * image: checked once before the first device starts, and on every request), the devices stop
 * together, and every flash is checked: a device that cannot boot a valid image is bricked, a
 * registered device still on a trial image or running an image that does not verify breaks an
 * invariant. With security 'psk' (a coaps:// server) each device has a PSK derived from the seed
 * (psk.ts); the fleet writes them to a file for an operator to import, or imports them itself
 * through the admin API, before the first device starts.
 */
import { writeFile } from 'node:fs/promises';
import { generateSigningKey } from '../protocols/package-keys.ts';
import { signPackage } from '../protocols/package.ts';
import type { TrustAnchor } from '../protocols/package.ts';
import { realClock, seededRandom } from './clock.ts';
import type { EndpointOptions } from './coap/endpoint.ts';
import { emptyLinkStats, faultyLink, hasLinkFaults } from './coap/faulty-link.ts';
import { SimDevice } from './device.ts';
import type { SimDeviceConfig, SimDeviceEvent } from './device.ts';
import { ApiDriver } from './fleet-driver.ts';
import type { DriverOptions } from './fleet-driver.ts';
import { FleetCollector, buildReport, fleetStatus } from './fleet-report.ts';
import type { FleetReport, FleetStatus } from './fleet-report.ts';
import { SEED_PURPOSE, deriveSeed, planFaults, summarizePlan } from './faults.ts';
import type { FaultSpec } from './faults.ts';
import { makeSimImage } from './image.ts';
import { provisionCredentials } from './provision.ts';
import type { ProvisionOptions } from './provision.ts';
import { credentialsFile, simPsk } from './psk.ts';
import { TestbedMarker, type TestbedOptions } from './testbed.ts';
import type { DevicePsk } from './psk.ts';

export type { FleetReport, FleetStatus } from './fleet-report.ts';

export interface FleetOptions {
  /** coap://host:port of the LwM2M server, or coaps://host:port (DTLS-PSK). */
  server: string;
  /** 'psk' with a coaps:// server, 'nosec' (the default) with coap://. */
  security?: 'nosec' | 'psk';
  /** psk: where to write the fleet's credentials (CSV, or JSON for a .json name) before the devices start. */
  credentialsFile?: string;
  /** psk: import the fleet's credentials through the admin API before the devices start. */
  provision?: ProvisionOptions;
  /** psk: the DTLS client's timer and Connection ID offer. */
  dtls?: SimDeviceConfig['dtls'];
  devices: number;
  prefix?: string;
  /** Devices started per second (default 100). */
  ramp?: number;
  /** Total run time, counted from the first start; 0 or undefined = until `signal` aborts or `until` holds. */
  durationMs?: number;
  /** Ends the run early once it holds (checked at each progress tick). */
  until?: (s: FleetStatus) => boolean;
  lifetime?: number;
  blockSzx?: number;
  contentFormat?: SimDeviceConfig['contentFormat'];
  signal?: AbortSignal;
  onProgress?: (s: FleetStatus) => void;
  /** How often onProgress is called (default 2000 ms). */
  progressIntervalMs?: number;
  firmwareVersion?: string;
  /** Model number = the devices' hardware class (default sim-1). */
  modelNumber?: string;
  rebootDelayMs?: number;
  /** Seeds devices, fault plan and links, so a run replays. */
  seed?: number;
  bindAddress?: string;
  /** Device i binds bindAddresses[i % n]: more than one address when ports run short. */
  bindAddresses?: readonly string[];
  /** Trust anchors besides the factory key; none = unsigned simulator images. */
  trustedKeys?: readonly TrustAnchor[];
  /** The image every device starts with (default: made here, signed by a factory key when trustedKeys are given). */
  factoryImage?: Buffer;
  flash?: SimDeviceConfig['flash'];
  faults?: FaultSpec;
  deliveryMethod?: SimDeviceConfig['deliveryMethod'];
  /** Object 5 res. 13: a device may defer a non-critical update this many seconds (default 0: never). */
  maxDeferPeriod?: number;
  rootPath?: string;
  queueMode?: boolean;
  /** Ask Ferry's admin API for the updates. */
  driver?: DriverOptions;
  /** Ask Ferry's admin API to mark each device a testbed once it has registered (--testbed). */
  testbed?: TestbedOptions;
  coap?: Omit<EndpointOptions, 'bindAddress' | 'port' | 'clock' | 'random'>;
  log?: (e: SimDeviceEvent) => void;
  /** Called once with the devices, before the first starts (tests look inside). */
  onDevices?: (devices: readonly SimDevice[]) => void;
}

/** The report; `driver` and `apiFailure` are set on runs that drive updates. */
export type FleetResult = FleetReport;

/** coap://host[:port] (default 5683) or coaps://host[:port] (DTLS, default 5684). */
export function parseServerUri(uri: string): { host: string; port: number; secure: boolean } {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new RangeError(`not a URI: ${uri}`);
  }
  if ((url.protocol !== 'coap:' && url.protocol !== 'coaps:') || url.hostname === '') throw new RangeError(`server must be coap://host:port or coaps://host:port, got ${uri}`);
  const secure = url.protocol === 'coaps:';
  return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: url.port === '' ? (secure ? 5684 : 5683) : Number(url.port), secure };
}

/** The fleet's PSKs (psk.ts), one per device, keyed by `seed`. */
export function fleetPsks(prefix: string, devices: number, seed: number): DevicePsk[] {
  return Array.from({ length: devices }, (_, i) => simPsk(seed, endpointName(prefix, i, devices)));
}

export function endpointName(prefix: string, index: number, total: number): string {
  return `${prefix}-${String(index + 1).padStart(String(total).length, '0')}`;
}

/** The factory image and the anchors that go with it. */
export function factorySetup(o: Pick<FleetOptions, 'trustedKeys' | 'factoryImage' | 'firmwareVersion' | 'modelNumber' | 'seed'>): { image: Buffer; anchors: readonly TrustAnchor[] } {
  const version = o.firmwareVersion ?? '1.0.0';
  const trusted = o.trustedKeys ?? [];
  if (o.factoryImage !== undefined) return { image: o.factoryImage, anchors: trusted };
  if (trusted.length === 0) return { image: makeSimImage({ version, size: 4096, seed: o.seed ?? 1 }), anchors: [] };
  // The maker's own key, trusted by its devices as well as the operator's keys; sequence 0.
  const key = generateSigningKey('ed25519');
  const payload = makeSimImage({ version, size: 4096, seed: o.seed ?? 1 });
  const image = Buffer.from(signPackage({ payload, key, sequence: 0, vendorId: 'ferry', classId: o.modelNumber ?? 'sim-1', version, created: 0 }));
  return { image, anchors: [{ alg: key.alg, kid: key.kid, publicKey: key.publicKey }, ...trusted] };
}

export async function runFleet(opts: FleetOptions): Promise<FleetResult> {
  const { secure, ...server } = parseServerUri(opts.server);
  const security = opts.security ?? (secure ? 'psk' : 'nosec');
  if (secure !== (security === 'psk')) throw new RangeError(security === 'psk' ? `security psk needs a coaps:// server, got ${opts.server}` : `a coaps:// server needs security psk, got ${security}`);
  if (!Number.isInteger(opts.devices) || opts.devices < 0) throw new RangeError(`devices must be a non-negative integer, got ${opts.devices}`);
  const forever = opts.durationMs === undefined || opts.durationMs <= 0;
  if (forever && opts.signal === undefined && opts.until === undefined) throw new RangeError('give a durationMs, a signal or until, or the fleet never stops');
  const seed = opts.seed;
  const plan = planFaults(opts.faults ?? { link: {}, device: {} }, opts.devices, seed ?? Math.floor(Math.random() * 2 ** 31));
  const linkStats = emptyLinkStats();
  const factory = factorySetup(opts);
  const collector = new FleetCollector();
  const stop = new AbortController();
  const driver = opts.driver === undefined ? undefined : new ApiDriver(opts.driver, () => stop.abort());
  const marker = opts.testbed === undefined ? undefined : new TestbedMarker(opts.testbed, () => stop.abort());
  const checkedAt = Date.now();
  if (driver !== undefined && (await driver.check()) !== undefined) {
    // Nothing started: the API refused the token, cannot be reached or has no such image.
    await driver.close();
    return buildReport({ devices: [], total: opts.devices, seed, collector, bricked: 0, planned: summarizePlan(plan), link: linkStats, durationMs: Date.now() - checkedAt, driver: driver.stats, apiFailure: driver.failure });
  }
  const psks = security === 'psk' ? fleetPsks(opts.prefix ?? 'sim', opts.devices, seed ?? plan.seed) : undefined;
  if (psks !== undefined && opts.credentialsFile !== undefined) await writeFile(opts.credentialsFile, credentialsFile(opts.credentialsFile, psks), { mode: 0o600 });
  if (psks !== undefined && opts.provision !== undefined) {
    const { failure } = await provisionCredentials(opts.provision, psks);
    if (failure !== undefined) {
      await driver?.close();
      return buildReport({ devices: [], total: opts.devices, seed, collector, bricked: 0, planned: summarizePlan(plan), link: linkStats, durationMs: Date.now() - checkedAt, driver: driver?.stats, apiFailure: failure });
    }
  }
  const t0 = Date.now();
  const log = (e: SimDeviceEvent): void => {
    collector.onEvent(e);
    marker?.onEvent(e);
    driver?.onEvent(e);
    opts.log?.(e);
  };
  const addresses = opts.bindAddresses ?? spreadAddresses(opts.devices, opts.bindAddress);
  const devices: SimDevice[] = Array.from({ length: opts.devices }, (_, i) => {
    const seeded = (purpose: number) => seededRandom(deriveSeed(seed ?? plan.seed, i, purpose));
    const link = opts.faults !== undefined && hasLinkFaults(opts.faults.link) ? [faultyLink(opts.faults.link, realClock, seeded(SEED_PURPOSE.link), linkStats)] : [];
    const fault = plan.faults[i];
    const bindAddress = addresses?.[i % addresses.length] ?? opts.bindAddress;
    const psk = psks?.[i];
    return new SimDevice({
      endpoint: endpointName(opts.prefix ?? 'sim', i, opts.devices),
      server,
      ...(psk === undefined ? {} : { psk: { identity: psk.identity, key: psk.key } }),
      ...(opts.dtls === undefined ? {} : { dtls: opts.dtls }),
      factoryImage: factory.image,
      trustedKeys: factory.anchors,
      ...(bindAddress === undefined ? {} : { bindAddress }),
      ...(opts.lifetime === undefined ? {} : { lifetime: opts.lifetime }),
      ...(opts.blockSzx === undefined ? {} : { blockSzx: opts.blockSzx }),
      ...(opts.contentFormat === undefined ? {} : { contentFormat: opts.contentFormat }),
      ...(opts.modelNumber === undefined ? {} : { modelNumber: opts.modelNumber }),
      ...(opts.rebootDelayMs === undefined ? {} : { rebootDelayMs: opts.rebootDelayMs }),
      ...(opts.flash === undefined ? {} : { flash: opts.flash }),
      ...(opts.deliveryMethod === undefined ? {} : { deliveryMethod: opts.deliveryMethod }),
      ...(opts.rootPath === undefined ? {} : { rootPath: opts.rootPath }),
      ...(opts.queueMode === undefined ? {} : { queueMode: opts.queueMode }),
      ...(opts.maxDeferPeriod === undefined ? {} : { maxDeferPeriod: opts.maxDeferPeriod }),
      ...(fault === undefined ? {} : { fault }),
      ...(seed === undefined ? {} : { random: seeded(SEED_PURPOSE.device) }),
      coap: { ...opts.coap, layers: [...(opts.coap?.layers ?? []), ...link] },
      log,
    });
  });
  opts.onDevices?.(devices);
  const started: SimDevice[] = [];
  const status = (): FleetStatus => fleetStatus(started, opts.devices, collector, Date.now() - t0);
  const onAbort = (): void => stop.abort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const tick = setInterval(() => {
    const s = status();
    if (opts.until?.(s) === true) stop.abort();
  }, 250);
  const progress = opts.onProgress === undefined ? undefined : setInterval(() => opts.onProgress?.(status()), opts.progressIntervalMs ?? 2000);
  const gapMs = 1000 / Math.max(opts.ramp ?? 100, 0.001);
  try {
    for (let i = 0; i < devices.length && !stop.signal.aborted; i++) {
      const device = devices[i]!;
      started.push(device);
      void device.start().catch(() => undefined); // it retries its registration on its own
      if (i + 1 < devices.length) await pause(gapMs, stop.signal);
    }
    await pause(forever ? Number.POSITIVE_INFINITY : Math.max(0, (opts.durationMs ?? 0) - (Date.now() - t0)), stop.signal);
  } finally {
    clearInterval(tick);
    if (progress !== undefined) clearInterval(progress);
    opts.signal?.removeEventListener('abort', onAbort);
    await driver?.close();
    await marker?.close();
  }
  // A run that ends in the middle of an install lets the trial boots under way confirm (or revert)
  // first, for a bounded while: an image left unconfirmed after that is the device's failure.
  await settleTrials(started, TRIAL_SETTLE_MS);
  // Taken at the instant the wait ended: a device that boots a new image for trial after it (the
  // server still finishes updates under way) is in the middle of an update, not failing one.
  const runningAtEnd = new Set(started.filter((d) => d.registered).map((d) => d.endpoint));
  const trialAtEnd = new Set(started.filter((d) => d.registered && inTrial(d)).map((d) => d.endpoint));
  await Promise.all(started.map((d) => d.stop().catch(() => undefined)));
  opts.onProgress?.(status());
  const bricked = await checkFlash(started, runningAtEnd, trialAtEnd, collector);
  const report = buildReport({
    devices: started, total: opts.devices, seed, collector, bricked, planned: summarizePlan(plan), link: linkStats, durationMs: Date.now() - t0,
    driver: driver?.stats, apiFailure: driver?.failure ?? marker?.failure,
  });
  for (const d of devices) d.dispose();
  return report;
}

/**
 * How long the end of a run waits for trial boots under way to be confirmed or reverted. A device
 * confirms once its Register is answered, and a Register lost again and again takes up to CoAP's
 * MAX_TRANSMIT_WAIT (RFC 7252 §4.8.2: 93 s with the default timers) on a lossy, loaded link.
 */
const TRIAL_SETTLE_MS = 93_000;

/** A device alive and running an image it has not confirmed yet. */
const inTrial = (d: SimDevice): boolean => d.bricked === undefined && !d.off && d.bootloader.isTrial();

async function settleTrials(devices: readonly SimDevice[], ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until && devices.some(inTrial)) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Sockets per loopback address before the fleet spreads over more (the ephemeral range holds ~28,000). */
export const DEVICES_PER_ADDRESS = 20_000;

/** More devices than one address has ports for: 127.0.0.1, 127.0.0.2, … (all of 127.0.0.0/8 is loopback). */
export function spreadAddresses(devices: number, bindAddress: string | undefined): string[] | undefined {
  if (devices <= DEVICES_PER_ADDRESS || (bindAddress !== undefined && bindAddress !== '127.0.0.1')) return undefined;
  return Array.from({ length: Math.ceil(devices / DEVICES_PER_ADDRESS) }, (_, i) => `127.0.0.${i + 1}`);
}

/** After the run, on the flash alone: every device must be able to boot a valid image. */
async function checkFlash(devices: readonly SimDevice[], runningAtEnd: ReadonlySet<string>, trialAtEnd: ReadonlySet<string>, c: FleetCollector): Promise<number> {
  let bricked = 0;
  for (const d of devices) {
    if (d.bricked !== undefined) {
      bricked += 1;
      continue;
    }
    const running = runningAtEnd.has(d.endpoint);
    if (running && trialAtEnd.has(d.endpoint)) c.invariants.push(`${d.endpoint}: an unconfirmed image left running (${d.firmwareVersion})`);
    const primary = d.bootloader.checkPrimary();
    if (running && !(primary.ok && primary.image.version === d.firmwareVersion)) {
      c.invariants.push(`${d.endpoint}: runs ${d.firmwareVersion}, but its primary slot ${primary.ok ? `holds ${primary.image.version}` : `does not verify: ${primary.reason}`}`);
    }
    if (primary.ok && d.bootloader.pendingSwap() === 'none') continue;
    // Mid-swap, or a swap pending: boot it once more, instantly, and see.
    d.bootloader.flash.timeScale = 0;
    d.bootloader.flash.powerOn();
    const boot = await d.bootloader.boot().catch((err: unknown) => ({ ok: false as const, reason: String(err) }));
    if (!boot.ok) {
      bricked += 1;
      c.invariants.push(`${d.endpoint}: bricked: ${boot.reason}`);
    }
  }
  return bricked;
}

/** Waits `ms` (Infinity = forever) or until the signal aborts, whichever comes first. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = Number.isFinite(ms) ? setTimeout(done, ms) : undefined;
    signal.addEventListener('abort', done, { once: true });
  });
}
