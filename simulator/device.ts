/**
 * One simulated LwM2M 1.1 device on its own UDP socket: Objects 1 (Server), 3 (Device) and
 * 5 (Firmware Update), registration with updates before the lifetime ends, pull download of a
 * package with Block2, and a simulated reboot into the new image that loses the observers and
 * registers again, as a real device does. Idle, it has one timer: the next registration update.
 */
import { createHash } from 'node:crypto';
import { FirmwareUpdate } from '../protocols/objects.ts';
import { realClock } from './clock.ts';
import type { Clock, Random } from './clock.ts';
import { CoapEndpoint } from './coap/endpoint.ts';
import type { EndpointOptions } from './coap/endpoint.ts';
import type { EndpointStats, Peer } from './coap/messages.ts';
import { DeviceManagement } from './dm.ts';
import type { DmEvent } from './dm.ts';
import { downloadFirmware } from './download.ts';
import { DeviceObject } from './objects/device.ts';
import { FirmwareUpdateObject } from './objects/firmware-update.ts';
import type { PackageLocation } from './objects/firmware-update.ts';
import { ServerObject } from './objects/server.ts';
import { RegistrationClient } from './registration.ts';
import type { RegistrationEvent } from './registration.ts';

export interface SimDeviceConfig {
  endpoint: string;
  server: { host: string; port: number };
  bindAddress?: string;
  /** Registration lifetime in seconds (default 300). */
  lifetime?: number;
  /** Block2 size exponent for downloads (default 5 = 512 bytes). */
  blockSzx?: number;
  firmwareVersion?: string;
  manufacturer?: string;
  modelNumber?: string;
  hardwareVersion?: string;
  /** Default: derived from the endpoint name. */
  serialNumber?: string;
  /** Time from "Update" (or "Reboot") to registering again (default 200 ms). */
  rebootDelayMs?: number;
  /** Keep the downloaded bytes (`lastImage`); by default only a running SHA-256 is kept. */
  keepImage?: boolean;
  /** Space for a package; bigger ones fail with Update Result 2. */
  maxImageBytes?: number;
  clock?: Clock;
  random?: Random;
  /** CoAP timing and fault hooks for the device's endpoint. */
  coap?: Omit<EndpointOptions, 'bindAddress' | 'port' | 'clock' | 'random'>;
  log?: (e: SimDeviceEvent) => void;
}

export type SimDeviceEvent = { endpoint: string; at: number } & (
  | RegistrationEvent
  | DmEvent
  | { type: 'download-started'; uri: string }
  | { type: 'download-done'; version: string; bytes: number; blocks: number }
  | { type: 'download-failed'; result: number; reason: string }
  | { type: 'rebooting'; update: boolean }
  | { type: 'rebooted'; firmwareVersion: string; updated: boolean }
);

export interface SimDeviceCounters {
  downloads: number;
  downloadsFailed: number;
  blocks: number;
  bytesDownloaded: number;
  updates: number;
  reboots: number;
}

type Event = SimDeviceEvent extends infer E ? (E extends unknown ? Omit<E, 'endpoint' | 'at'> : never) : never;

export class SimDevice {
  readonly config: Readonly<SimDeviceConfig>;
  readonly counters: SimDeviceCounters = { downloads: 0, downloadsFailed: 0, blocks: 0, bytesDownloaded: 0, updates: 0, reboots: 0 };
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #device: DeviceObject;
  readonly #server: ServerObject;
  readonly #firmware: FirmwareUpdateObject;
  #endpoint: CoapEndpoint | undefined;
  #dm: DeviceManagement | undefined;
  #registration: RegistrationClient | undefined;
  #download: AbortController | undefined;
  #pendingVersion: string | undefined;
  #rebootTimer: unknown;
  #lastImage: Buffer | undefined;

  constructor(config: SimDeviceConfig) {
    this.config = config;
    this.#clock = config.clock ?? realClock;
    this.#random = config.random ?? Math.random;
    const serial = config.serialNumber ?? createHash('sha256').update(config.endpoint).digest('hex').slice(0, 12).toUpperCase();
    this.#device = new DeviceObject(
      {
        manufacturer: config.manufacturer ?? 'Ferry Simulator',
        modelNumber: config.modelNumber ?? 'sim-1',
        serialNumber: serial,
        hardwareVersion: config.hardwareVersion ?? 'rev-a',
        firmwareVersion: config.firmwareVersion ?? '1.0.0',
        batteryLevel: 50 + Math.floor(this.#random() * 51),
        memoryFreeKiB: 128 + Math.floor(this.#random() * 897),
      },
      () => this.#reboot(false),
    );
    this.#server = new ServerObject(config.lifetime ?? 300, {
      lifetimeChanged: () => void this.#registration?.update(true),
      updateTrigger: () => void this.#registration?.update(false),
    });
    this.#firmware = new FirmwareUpdateObject({
      download: (location) => this.#startDownload(location),
      cancelDownload: () => this.#cancelDownload(),
      update: () => this.#reboot(true),
      changed: (ids) => this.#dm?.changed(FirmwareUpdate.OBJECT_ID, 0, ids),
    });
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
  get firmwareVersion(): string {
    return this.#device.info.firmwareVersion;
  }
  /** Object 5 State (0 Idle, 1 Downloading, 2 Downloaded, 3 Updating). */
  get state(): number {
    return this.#firmware.state;
  }
  /** Object 5 Update Result. */
  get updateResult(): number {
    return this.#firmware.updateResult;
  }
  get observerCount(): number {
    return this.#dm?.observers.size ?? 0;
  }
  /** The last downloaded image, with `keepImage: true`. */
  get lastImage(): Buffer | undefined {
    return this.#lastImage;
  }
  get registrationCounters(): Readonly<RegistrationClient['counters']> {
    return { ...(this.#registration?.counters ?? { registrations: 0, updates: 0, failures: 0 }) };
  }
  get coapStats(): Readonly<EndpointStats> | undefined {
    return this.#endpoint?.stats;
  }
  address(): Peer | undefined {
    return this.#endpoint?.address();
  }

  /** Binds the socket and registers; resolves with whether the first Register succeeded (it retries on its own). */
  async start(): Promise<boolean> {
    if (this.#endpoint !== undefined) throw new Error(`${this.endpoint}: already started`);
    const endpoint = await CoapEndpoint.bind({ ...this.config.coap, bindAddress: this.config.bindAddress ?? '127.0.0.1', clock: this.#clock, random: this.#random });
    this.#endpoint = endpoint;
    const dm = new DeviceManagement(endpoint, [this.#server, this.#device, this.#firmware], (e) => this.#emit(e));
    this.#dm = dm;
    endpoint.onRequest(dm.handle);
    this.#registration = new RegistrationClient({
      endpoint,
      server: this.config.server,
      name: this.endpoint,
      lifetime: () => this.#server.lifetime,
      links: () => dm.links(),
      clock: this.#clock,
      random: this.#random,
      onEvent: (e) => this.#emit(e),
    });
    return this.#registration.register();
  }

  /** De-registers (best effort), forgets observers and closes the socket. */
  async stop(): Promise<void> {
    if (this.#rebootTimer !== undefined) this.#clock.clearTimeout(this.#rebootTimer);
    this.#rebootTimer = undefined;
    this.#download?.abort();
    this.#download = undefined;
    await this.#registration?.deregister();
    this.#dm?.observers.clear();
    await this.#endpoint?.close();
  }

  #emit(e: Event): void {
    this.config.log?.({ ...e, endpoint: this.endpoint, at: this.#clock.now() } as SimDeviceEvent);
  }

  #startDownload(location: PackageLocation): void {
    const endpoint = this.#endpoint;
    if (endpoint === undefined) return;
    this.#cancelDownload();
    const ctl = new AbortController();
    this.#download = ctl;
    this.#lastImage = undefined;
    this.counters.downloads += 1;
    this.#emit({ type: 'download-started', uri: this.#firmware.packageUri });
    void downloadFirmware({
      endpoint,
      location,
      szx: this.config.blockSzx ?? 5,
      signal: ctl.signal,
      keepImage: this.config.keepImage === true,
      ...(this.config.maxImageBytes === undefined ? {} : { maxBytes: this.config.maxImageBytes }),
    }).then((out) => {
      this.counters.blocks += out.blocks;
      this.counters.bytesDownloaded += out.bytes;
      if (this.#download !== ctl || ctl.signal.aborted) return;
      this.#download = undefined;
      if (out.ok) {
        this.#pendingVersion = out.version;
        this.#lastImage = out.image;
        this.#emit({ type: 'download-done', version: out.version, bytes: out.bytes, blocks: out.blocks });
        this.#firmware.downloaded(out.version);
      } else {
        this.counters.downloadsFailed += 1;
        this.#emit({ type: 'download-failed', result: out.result, reason: out.reason });
        this.#firmware.failed(out.result);
      }
    });
  }

  #cancelDownload(): void {
    this.#download?.abort();
    this.#download = undefined;
  }

  /** After rebootDelayMs: observers and registration are gone, the new image (if any) runs, Register again. */
  #reboot(update: boolean): void {
    if (this.#rebootTimer !== undefined) return;
    this.#emit({ type: 'rebooting', update });
    this.#rebootTimer = this.#clock.setTimeout(() => {
      this.#rebootTimer = undefined;
      if (this.#endpoint === undefined || this.#endpoint.closed) return;
      this.#dm?.observers.clear();
      this.#cancelDownload();
      this.#registration?.forget();
      const updated = update && this.#pendingVersion !== undefined;
      if (updated && this.#pendingVersion !== undefined) {
        this.#device.info.firmwareVersion = this.#pendingVersion;
        this.#pendingVersion = undefined;
        this.counters.updates += 1;
      }
      this.#firmware.rebooted(updated);
      this.counters.reboots += 1;
      this.#emit({ type: 'rebooted', firmwareVersion: this.firmwareVersion, updated });
      void this.#registration?.register();
    }, this.config.rebootDelayMs ?? 200);
  }
}
