/**
 * One simulated LwM2M 1.1 device on its own UDP socket, with a bootloader and flash under it:
 * Objects 0 (minimal), 1, 3, 5 and 19 (instances created and deleted by the server); registration with updates before the lifetime ends; pull and
 * push delivery into the secondary slot (firmware-agent.ts); Update = a test swap and a reset;
 * the bootloader boots, resumes interrupted swaps, reverts unconfirmed images. A reset loses
 * observers, registration and transfers, as on a real device; the flash and what the agent keeps
 * in "non-volatile storage" survive. Idle, a device has one timer: its next registration update.
 * With a PSK the device talks to the server over DTLS (coaps://) and pulls coaps:// packages in a
 * second DTLS session of their own; a reset loses the sessions too (the next exchange makes new ones).
 */
import { createHash } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { FirmwareUpdate, UpdateResult } from '../protocols/objects.ts';
import type { TrustAnchor } from '../protocols/package.ts';
import { Bootloader } from './bootloader/bootloader.ts';
import type { Geometry } from './bootloader/bootloader.ts';
import type { DeviceIdentity, ImageInfo } from './bootloader/verifier.ts';
import { realClock } from './clock.ts';
import type { Clock, Random } from './clock.ts';
import { CoapEndpoint } from './coap/endpoint.ts';
import type { EndpointOptions } from './coap/endpoint.ts';
import { addStats, emptyStats } from './coap/messages.ts';
import type { EndpointStats, Peer } from './coap/messages.ts';
import type { DatagramTransport, TransportLayer } from './coap/transport.ts';
import { DtlsTransport, emptyDtlsCounters } from './dtls/transport.ts';
import type { DtlsCounters } from './dtls/transport.ts';
import { DeviceManagement } from './dm.ts';
import type { DmEvent } from './dm.ts';
import type { DeviceFault } from './faults.ts';
import { FirmwareAgent } from './firmware-agent.ts';
import type { AgentCounters, AgentEvent, Transfer } from './firmware-agent.ts';
import { PowerLoss } from './flash.ts';
import type { FlashOptions } from './flash.ts';
import { makeSimImage } from './image.ts';
import { APP_DATA_OBJECT, AppDataInstance } from './objects/app-data.ts';
import { DeviceObject } from './objects/device.ts';
import { FirmwareUpdateObject } from './objects/firmware-update.ts';
import { COAPS_PROTOCOL, COAP_PROTOCOL } from './objects/firmware-update.ts';
import type { DeliveryMethod, PackageLocation } from './objects/firmware-update.ts';
import { SecurityMode, SecurityObject } from './objects/security.ts';
import { ServerObject } from './objects/server.ts';
import { queueModeRadio } from './queue-mode.ts';
import type { DeviceFormat } from './objects/values.ts';
import { RegistrationClient } from './registration.ts';
import type { RegistrationEvent } from './registration.ts';

export interface SimDeviceConfig {
  endpoint: string;
  /** The LwM2M server: its CoAP port, or its DTLS port when `psk` is given. */
  server: { host: string; port: number };
  /** DTLS 1.2 PSK (psk.ts): the server is reached over coaps://, and coaps:// packages are pulled too. */
  psk?: { identity: string; key: Buffer };
  /** The DTLS client's handshake timer (default 1000 ms, 6 retransmissions) and whether it offers a Connection ID (default yes). */
  dtls?: { initialTimeoutMs?: number; maxRetransmits?: number; useCid?: boolean };
  bindAddress?: string;
  /** Registration lifetime in seconds (default 300). */
  lifetime?: number;
  /** The format it announces (`ct`) and answers object and instance reads in (default TLV). */
  contentFormat?: DeviceFormat;
  /** An alternate root path, e.g. '/lwm2m' (LwM2M Core §6.2.1): announced at registration, objects served only under it. */
  rootPath?: string;
  /** Answer 4.06 to Accept TLV (a SenML-only 1.1 client). */
  refuseTlv?: boolean;
  /** Block size exponent asked for in pulls (default 5 = 512 bytes); also the largest taken in pushes. */
  blockSzx?: number;
  /** Version of the factory image (default 1.0.0), when no factoryImage is given. */
  firmwareVersion?: string;
  /** The image in the primary slot at first start: a FRY1 package signed by a trusted key, or (no trusted keys) a simulator image. */
  factoryImage?: Buffer;
  manufacturer?: string;
  modelNumber?: string;
  hardwareVersion?: string;
  /** Class id a package must name (default: the model number). */
  classId?: string;
  vendorId?: string;
  /** Default: derived from the endpoint name. */
  serialNumber?: string;
  /** The device's own trust anchors; none = it takes unsigned simulator images only. */
  trustedKeys?: readonly TrustAnchor[];
  /** Time from a reset to the bootloader running (default 200 ms). */
  rebootDelayMs?: number;
  /** Keep a copy of the last downloaded image (`lastImage`). */
  keepImage?: boolean;
  /** Room for a package below the slot size; bigger ones fail with Update Result 2. */
  maxImageBytes?: number;
  flash?: Omit<FlashOptions, 'clock' | 'random'> & Geometry;
  deliveryMethod?: DeliveryMethod;
  /** Object 5 res. 11 and 13. */
  severity?: number;
  maxDeferPeriod?: number;
  batteryLevel?: number;
  /** Below this battery level the device refuses (or defers) an update (default 10). */
  minBatteryToUpdate?: number;
  /** Queue mode: asleep except for `queueAwakeMs` after it sends (default 93 s). */
  queueMode?: boolean;
  queueAwakeMs?: number;
  fault?: DeviceFault;
  clock?: Clock;
  random?: Random;
  /** CoAP timing, fault hooks and transport layers (the fault layer) for the device's endpoint. */
  coap?: Omit<EndpointOptions, 'bindAddress' | 'port' | 'clock' | 'random'>;
  log?: (e: SimDeviceEvent) => void;
}

export type SimDeviceEvent = { endpoint: string; at: number } & (
  | RegistrationEvent
  | { type: 'dtls-handshake'; session: SessionRole; renewed: boolean; cid: boolean }
  | { type: 'dtls-failed'; session: SessionRole; reason: string }
  | { type: 'rebound'; port: number; cid: boolean }
  | DmEvent
  | AgentEvent
  | { type: 'booted'; version: string; swap: string; resumed: boolean; trial: boolean }
  | { type: 'bricked'; reason: string }
  | { type: 'power-loss'; step: number }
  | { type: 'rebooting'; update: boolean }
  | { type: 'rebooted'; firmwareVersion: string; updated: boolean }
);

/** The device's DTLS session with the LwM2M server, or the one a coaps:// download opens. */
export type SessionRole = 'server' | 'download';

/** The DTLS sessions' counters, and how often the sockets moved (nat-rebind). */
export interface SessionCounters extends DtlsCounters {
  rebinds: number;
}

export interface SimDeviceCounters extends AgentCounters {
  reboots: number;
  powerLosses: number;
  reverts: number;
}

type Event = SimDeviceEvent extends infer E ? (E extends unknown ? Omit<E, 'endpoint' | 'at'> : never) : never;

export class SimDevice {
  readonly config: Readonly<SimDeviceConfig>;
  readonly counters: SimDeviceCounters = { downloads: 0, downloadsFailed: 0, blocks: 0, bytesDownloaded: 0, updates: 0, reboots: 0, powerLosses: 0, reverts: 0 };
  readonly sessionCounters: SessionCounters = { ...emptyDtlsCounters(), rebinds: 0 };
  readonly bootloader: Bootloader;
  readonly #clock: Clock;
  /** The DTLS session with the server (with a PSK). */
  #dtls: DtlsTransport | undefined;
  /** The server's address, resolved once (a DTLS session is with one address). */
  #serverPeer: { host: string; port: number } | undefined;
  /** A download's own endpoint (and DTLS session) while it runs. */
  #transfer: { endpoint: CoapEndpoint; dtls: DtlsTransport | undefined } | undefined;
  /** What the downloads' own endpoints sent and received, once closed. */
  readonly #transferStats = emptyStats();
  readonly #device: DeviceObject;
  readonly #server: ServerObject;
  readonly #firmware: FirmwareUpdateObject;
  readonly #agent: FirmwareAgent;
  readonly #identity: DeviceIdentity;
  #endpoint: CoapEndpoint | undefined;
  #dm: DeviceManagement | undefined;
  #registration: RegistrationClient | undefined;
  #timer: unknown;
  #resetting = false;
  #off = false;
  #installed = false;
  #running: ImageInfo | undefined;
  /** Why the bootloader found nothing to boot. */
  bricked: string | undefined;

  constructor(config: SimDeviceConfig) {
    this.config = config;
    const clock = (this.#clock = config.clock ?? realClock);
    const random = config.random ?? Math.random;
    const serial = config.serialNumber ?? createHash('sha256').update(config.endpoint).digest('hex').slice(0, 12).toUpperCase();
    const model = config.modelNumber ?? 'sim-1';
    this.#device = new DeviceObject(
      {
        manufacturer: config.manufacturer ?? 'Ferry Simulator',
        modelNumber: model,
        serialNumber: serial,
        hardwareVersion: config.hardwareVersion ?? 'rev-a',
        firmwareVersion: config.firmwareVersion ?? '1.0.0',
        batteryLevel: config.batteryLevel ?? (config.fault?.kind === 'battery-low' ? 4 : 50 + Math.floor(random() * 51)),
        memoryFreeKiB: 128 + Math.floor(random() * 897),
      },
      () => this.#reset('reboot'),
    );
    this.#server = new ServerObject(config.lifetime ?? 300, {
      lifetimeChanged: () => void this.#registration?.update(true),
      updateTrigger: () => void this.#registration?.update(false),
    });
    this.#firmware = new FirmwareUpdateObject({
      clock,
      protocols: config.psk === undefined ? [COAP_PROTOCOL] : [COAP_PROTOCOL, COAPS_PROTOCOL],
      ...(config.deliveryMethod === undefined ? {} : { deliveryMethod: config.deliveryMethod }),
      ...(config.severity === undefined ? {} : { severity: config.severity }),
      ...(config.maxDeferPeriod === undefined ? {} : { maxDeferPeriod: config.maxDeferPeriod }),
    });
    this.#identity = { classId: config.classId ?? model, anchors: config.trustedKeys ?? [], securityCounter: 0, ...(config.vendorId === undefined ? {} : { vendorId: config.vendorId }) };
    const { sectorSize, slotSize, ...flash } = config.flash ?? {};
    this.bootloader = Bootloader.create({ ...flash, clock, random }, { ...(sectorSize === undefined ? {} : { sectorSize }), ...(slotSize === undefined ? {} : { slotSize }) }, () => this.#identity);
    this.#agent = new FirmwareAgent({
      bootloader: this.bootloader,
      object: this.#firmware,
      identity: () => this.#identity,
      clock,
      endpoint: () => this.#endpoint,
      transfer: (location) => this.#openTransfer(location),
      rebind: () => void this.#rebind(),
      szx: config.blockSzx ?? 5,
      maxPushSzx: config.blockSzx ?? 6,
      maxImageBytes: config.maxImageBytes,
      fault: config.fault,
      batteryLevel: () => this.#device.info.batteryLevel,
      minBatteryToUpdate: config.minBatteryToUpdate ?? 10,
      keepImage: config.keepImage === true,
      counters: this.counters,
      runningVersion: () => this.firmwareVersion,
      raiseSecurityCounter: (n) => void (this.#identity.securityCounter = Math.max(this.#identity.securityCounter, n)),
      reset: (why) => this.#reset(why),
      powerOff: () => void this.#powerOff(),
      emit: (e) => this.#emit(e),
    });
    this.#firmware.setHooks({ ...this.#agent.hooks, changed: (ids) => this.#dm?.changed(FirmwareUpdate.OBJECT_ID, 0, ids) });
  }

  get endpoint(): string {
    return this.config.endpoint;
  }
  get registrationId(): string | undefined {
    return this.#registration?.registrationId;
  }
  get registered(): boolean {
    return this.registrationId !== undefined;
  }
  /** The battery charged (or drained) to `percent` (/3/0/9): a deferred update goes ahead once there is enough. */
  setBatteryLevel(percent: number): void {
    this.#device.info.batteryLevel = percent;
  }

  get firmwareVersion(): string {
    return this.#device.info.firmwareVersion;
  }
  /** The image the bootloader booted last. */
  get running(): ImageInfo | undefined {
    return this.#running;
  }
  /** Object 5 State (0 Idle, 1 Downloading, 2 Downloaded, 3 Updating). */
  get state(): number {
    return this.#firmware.state;
  }
  /** Object 5 Update Result. */
  get updateResult(): number {
    return this.#firmware.updateResult;
  }
  get securityCounter(): number {
    return this.#identity.securityCounter;
  }
  /** Powered off for good (the never-returns fault). */
  get off(): boolean {
    return this.#off;
  }
  /** The Executes the server sent, with their arguments, oldest first (lost with a reboot). */
  get executions(): ReadonlyArray<{ path: string; args: string }> {
    return this.#dm?.executions ?? [];
  }
  get observerCount(): number {
    return this.#dm?.observers.size ?? 0;
  }
  /** The last downloaded image, with `keepImage: true`. */
  get lastImage(): Buffer | undefined {
    return this.#agent.lastImage;
  }
  get registrationCounters(): Readonly<RegistrationClient['counters']> {
    return { ...(this.#registration?.counters ?? { registrations: 0, updates: 0, failures: 0 }) };
  }
  /** The device's endpoint's figures, with those of the endpoints its downloads had of their own. */
  get coapStats(): Readonly<EndpointStats> | undefined {
    const main = this.#endpoint?.stats;
    if (main === undefined) return undefined;
    const all = addStats(addStats(emptyStats(), main), this.#transferStats);
    return this.#transfer === undefined ? all : addStats(all, this.#transfer.endpoint.stats);
  }
  address(): Peer | undefined {
    return this.#endpoint === undefined || this.#endpoint.closed ? undefined : this.#endpoint.address();
  }

  /** Binds the socket, installs the factory image, boots and registers; resolves with whether the first Register succeeded. */
  async start(): Promise<boolean> {
    if (this.#endpoint !== undefined) throw new Error(`${this.endpoint}: already started`);
    const c = this.config;
    const layers: TransportLayer[] = [...(c.coap?.layers ?? [])];
    if (c.queueMode === true) layers.push(queueModeRadio(this.#clock, c.queueAwakeMs ?? 93_000));
    const server = c.psk === undefined ? c.server : await resolvePeer(c.server);
    this.#serverPeer = server;
    if (c.psk !== undefined) layers.push((inner) => (this.#dtls = this.#dtlsLayer(inner, server, 'server')));
    const endpoint = await CoapEndpoint.bind({ ...c.coap, layers, bindAddress: c.bindAddress ?? '127.0.0.1', clock: this.#clock, ...(c.random === undefined ? {} : { random: c.random }) });
    this.#endpoint = endpoint;
    const uri = `${c.psk === undefined ? 'coap' : 'coaps'}://${c.server.host}:${c.server.port}`;
    const security = new SecurityObject(uri, c.psk === undefined ? SecurityMode.NO_SEC : SecurityMode.PSK);
    const dm = new DeviceManagement(endpoint, [security, this.#server, this.#device, this.#firmware, new AppDataInstance(0, 'factory')], {
      log: (e) => this.#emit(e),
      creatable: { [APP_DATA_OBJECT]: (id) => new AppDataInstance(id) },
      // Core §6.2.2: an Update carries the objects when they changed.
      objectsChanged: () => void this.#registration?.update(false, true),
      writeHandlers: { '/5/0/0': this.#agent.push.handle },
      ...(c.contentFormat === undefined ? {} : { contentFormat: c.contentFormat }),
      ...(c.rootPath === undefined ? {} : { rootPath: c.rootPath }),
      ...(c.refuseTlv === true ? { refuseTlv: true } : {}),
      ...(c.fault?.kind === 'observe-lost' ? { silent: true } : {}),
    });
    this.#dm = dm;
    endpoint.onRequest(dm.handle);
    this.#registration = new RegistrationClient({
      endpoint,
      server,
      name: this.endpoint,
      lifetime: () => this.#server.lifetime,
      links: () => dm.links(),
      queueMode: c.queueMode === true,
      clock: this.#clock,
      random: c.random ?? Math.random,
      onEvent: (e) => this.#onRegistration(e),
      ...(this.#dtls === undefined ? {} : { renewSession: () => this.#dtls?.renew() ?? Promise.resolve() }),
    });
    if (!this.#installed) {
      await this.bootloader.install(c.factoryImage ?? makeSimImage({ version: c.firmwareVersion ?? '1.0.0', size: 2048 }));
      this.#installed = true;
    }
    return this.#powerOn(false);
  }

  /** De-registers (best effort), forgets observers and closes the socket. The flash is kept. */
  async stop(): Promise<void> {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#agent.halt();
    await this.#registration?.deregister();
    this.#dm?.observers.clear();
    await this.#endpoint?.close();
  }

  /** Lets go of the flash (digest mode: the shared sectors it holds). */
  dispose(): void {
    this.bootloader.flash.dispose();
  }

  #emit(e: Event): void {
    this.config.log?.({ ...e, endpoint: this.endpoint, at: this.#clock.now() } as SimDeviceEvent);
  }

  #onRegistration(e: RegistrationEvent): void {
    this.#emit(e);
    const running = this.#running;
    if (e.type === 'registered' && running !== undefined) void this.#agent.onRegistered(running);
  }

  /** The bootloader runs, then the application: Register. False when it did not get that far. */
  async #powerOn(afterReset: boolean): Promise<boolean> {
    if (this.#off || this.#endpoint?.closed !== false) return false;
    const flash = this.bootloader.flash;
    const cut = this.#agent.powerCut();
    flash.powerCut = cut?.hook;
    let boot;
    try {
      boot = await this.bootloader.boot();
    } catch (err) {
      if (!(err instanceof PowerLoss)) throw err;
      this.counters.powerLosses += 1;
      this.#emit({ type: 'power-loss', step: err.step });
      this.#later(cut?.offMs ?? 200, () => {
        flash.powerOn();
        void this.#powerOn(afterReset);
      });
      return false;
    } finally {
      flash.powerCut = undefined;
    }
    if (!boot.ok) {
      this.bricked = boot.reason;
      this.#emit({ type: 'bricked', reason: boot.reason });
      return false;
    }
    this.#running = boot.image;
    this.#device.info.firmwareVersion = boot.image.version;
    if (boot.swap === 'revert') this.counters.reverts += 1;
    this.#emit({ type: 'booted', version: boot.image.version, swap: boot.swap, resumed: boot.resumed, trial: boot.trial });
    const next = await this.#agent.afterBoot(boot);
    if (next.action === 'crash') {
      const f = this.config.fault;
      this.#later(f?.kind === 'crash-before-confirm' ? f.afterMs : 0, () => this.#reset('crash'));
      return false;
    }
    if (afterReset) {
      // The session was in RAM: the first exchange after the reboot goes in a new one.
      void this.#dtls?.renew().catch(() => undefined);
      this.counters.reboots += 1;
      this.#emit({ type: 'rebooted', firmwareVersion: this.firmwareVersion, updated: next.updated });
    }
    return (await this.#registration?.register()) ?? false;
  }

  /** A reset: RAM state goes (observers, registration, transfers); after the reboot delay the bootloader runs. */
  #reset(why: 'update' | 'fault' | 'reboot' | 'crash'): void {
    if (this.#resetting || this.#off) return;
    this.#resetting = true;
    this.#emit({ type: 'rebooting', update: why === 'update' });
    this.#dm?.observers.clear();
    this.#registration?.forget();
    void this.#agent.halt().then(() => {
      this.#later(this.config.rebootDelayMs ?? 200, () => {
        this.#resetting = false;
        void this.#powerOn(true);
      });
    });
  }

  async #powerOff(): Promise<void> {
    this.#off = true;
    this.#dm?.observers.clear();
    this.#registration?.forget();
    await this.#agent.halt();
    await this.#endpoint?.close();
  }

  /** A DTLS client layer to `peer`, counted into the device's counters and reported as events. */
  #dtlsLayer(inner: DatagramTransport, peer: { host: string; port: number }, session: SessionRole): DtlsTransport {
    const c = this.config;
    const psk = c.psk!;
    const t: DtlsTransport = new DtlsTransport(inner, {
      server: { address: peer.host, port: peer.port },
      identity: Buffer.from(psk.identity, 'utf8'),
      psk: psk.key,
      useCid: c.dtls?.useCid ?? true,
      clock: this.#clock,
      counters: this.sessionCounters,
      ...(c.dtls?.initialTimeoutMs === undefined ? {} : { initialTimeoutMs: c.dtls.initialTimeoutMs }),
      ...(c.dtls?.maxRetransmits === undefined ? {} : { maxRetransmits: c.dtls.maxRetransmits }),
      onHandshake: (renewed) => this.#emit({ type: 'dtls-handshake', session, renewed, cid: t.session.peerCid !== undefined }),
      onError: (err) => this.#emit({ type: 'dtls-failed', session, reason: err.message }),
    });
    return t;
  }

  /**
   * A NoSec device pulls coap:// over its own endpoint. With a PSK, the endpoint is inside the
   * server's DTLS session, so a pull goes over a second socket: coaps:// in a DTLS session of its
   * own, coap:// in the clear. That socket is closed after the pull.
   */
  async #openTransfer(location: PackageLocation): Promise<Transfer | number> {
    const main = this.#endpoint;
    if (main === undefined) throw new Error('the device is not started');
    const c = this.config;
    if (!location.secure && c.psk === undefined) return { endpoint: main, close: async () => undefined };
    if (c.psk === undefined) return UpdateResult.UNSUPPORTED_PROTOCOL;
    const peer = await resolvePeer({ host: location.host, port: location.port });
    let dtls: DtlsTransport | undefined;
    const secure: TransportLayer[] = location.secure ? [(inner) => (dtls = this.#dtlsLayer(inner, peer, 'download'))] : [];
    const endpoint = await CoapEndpoint.bind({
      ...c.coap,
      layers: [...(c.coap?.layers ?? []), ...secure],
      bindAddress: c.bindAddress ?? '127.0.0.1',
      clock: this.#clock,
      ...(c.random === undefined ? {} : { random: c.random }),
    });
    const transfer = { endpoint, dtls };
    this.#transfer = transfer;
    return {
      endpoint,
      renewSession: () => dtls?.renew() ?? Promise.resolve(),
      close: async () => {
        if (this.#transfer === transfer) this.#transfer = undefined;
        addStats(this.#transferStats, endpoint.stats);
        await endpoint.close();
      },
    };
  }

  /**
   * A NAT in front of the device renewed its mapping: every socket has a new source port. A DTLS
   * session with a Connection ID goes on as it is; without one the server cannot place our records
   * any more, so the device makes a new session at once (rather than after a time-out), and, as
   * over plain CoAP, sends a registration Update so the server learns the new address.
   */
  async #rebind(): Promise<void> {
    const endpoint = this.#endpoint;
    if (endpoint === undefined || endpoint.closed) return;
    const transfer = this.#transfer;
    await Promise.all([endpoint.rebind(), transfer?.endpoint.rebind()]);
    this.sessionCounters.rebinds += 1;
    const cid = this.#dtls !== undefined && this.#dtls.session.established && this.#dtls.session.peerCid !== undefined;
    this.#emit({ type: 'rebound', port: endpoint.address().port, cid });
    if (transfer?.dtls !== undefined && transfer.dtls.session.peerCid === undefined) void transfer.dtls.renew().catch(() => undefined);
    if (cid) return;
    if (this.#dtls !== undefined) void this.#dtls.renew().catch(() => undefined);
    void this.#registration?.update(false);
  }

  #later(ms: number, fn: () => void): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      fn();
    }, ms);
  }
}

/** A host name becomes an address: a DTLS session is with one address, and answers come from it. */
async function resolvePeer(p: { host: string; port: number }): Promise<{ host: string; port: number }> {
  if (isIP(p.host) !== 0) return p;
  const { address } = await lookup(p.host);
  return { host: address, port: p.port };
}
