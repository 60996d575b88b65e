/**
 * The device side of a firmware update, between Object 5 and the bootloader: pull downloads
 * (resumed after a reset while the ETag holds), push transfers, Execute Update (request a test
 * swap, reset), what the next boot means for Update Result (1, or 8 when the bootloader reverted
 * or refused), and the confirmation of a trial image once it has registered. The device faults
 * that strike here (faults.ts) fire from here, once each.
 *
 * A pull goes over the endpoint the host gives for the Package URI: the device's own for coap://,
 * a second DTLS session for coaps://.
 *
 * `#attempt` and `#resume` stand for what a real device keeps in non-volatile storage: they
 * survive resets; transfers and timers do not.
 */
import { FirmwareState, UpdateResult } from '../protocols/objects.ts';
import type { Bootloader, BootResult } from './bootloader/bootloader.ts';
import { SLOT_HEADER, usedSectors } from './bootloader/slot-image.ts';
import { SlotWriter } from './bootloader/slot-writer.ts';
import { ImageVerifier } from './bootloader/verifier.ts';
import type { DeviceIdentity, ImageInfo, Verdict } from './bootloader/verifier.ts';
import type { Clock } from './clock.ts';
import type { CoapEndpoint } from './coap/endpoint.ts';
import { downloadFirmware } from './download.ts';
import type { BlockProgress, DownloadOutcome } from './download.ts';
import type { DeviceFault, DeviceFaultKind } from './faults.ts';
import type { PowerCutHook } from './flash.ts';
import { parsePackageUri } from './objects/firmware-update.ts';
import type { FirmwareUpdateObject, PackageLocation } from './objects/firmware-update.ts';
import { PushReceiver } from './push.ts';

export type AgentEvent =
  | { type: 'download-started'; uri: string; resumedAt?: number }
  | { type: 'download-done'; version: string; bytes: number; blocks: number }
  | { type: 'download-failed'; result: number; reason: string }
  | { type: 'update-started'; from: string; to: string }
  | { type: 'update-failed'; result: number; reason: string }
  | { type: 'update-succeeded'; version: string; ms: number }
  | { type: 'confirmed'; version: string }
  | { type: 'fault'; kind: DeviceFaultKind };

export interface AgentCounters {
  downloads: number;
  downloadsFailed: number;
  blocks: number;
  bytesDownloaded: number;
  updates: number;
}

/** Where a pull goes: an endpoint, how to make its DTLS session again, and what to do after. */
export interface Transfer {
  endpoint: CoapEndpoint;
  renewSession?: () => Promise<void>;
  close(): Promise<void>;
}

export interface AgentHost {
  bootloader: Bootloader;
  object: FirmwareUpdateObject;
  identity(): DeviceIdentity;
  clock: Clock;
  endpoint(): CoapEndpoint | undefined;
  /** The endpoint for a pull from `location`, or the Update Result why there is none (9: no coaps without a key). */
  transfer(location: PackageLocation): Promise<Transfer | number>;
  /** The device's sockets move to new ports (the nat-rebind fault). */
  rebind(): void;
  /** Block size exponent asked for in pulls, and the largest taken in pushes. */
  szx: number;
  maxPushSzx: number;
  /** A limit on the image size below the slot's (`maxImageBytes`). */
  maxImageBytes: number | undefined;
  fault: DeviceFault | undefined;
  batteryLevel(): number;
  minBatteryToUpdate: number;
  keepImage: boolean;
  counters: AgentCounters;
  runningVersion(): string;
  raiseSecurityCounter(sequence: number): void;
  /** A software reset: the device boots again after its reboot delay. */
  reset(reason: 'update' | 'fault'): void;
  /** The device goes dark for good. */
  powerOff(): void;
  emit(e: AgentEvent): void;
}

/** Room a full flash leaves for a package. */
const FULL_FLASH_ROOM = 1024;

export class FirmwareAgent {
  readonly push: PushReceiver;
  readonly #h: AgentHost;
  #ctl: AbortController | undefined;
  #running: Promise<void> = Promise.resolve();
  #resume: { uri: string; etag: Buffer; written: number } | undefined;
  #attempt: { from: string; to: string; at: number } | undefined;
  #fired = false;
  #deferTimer: unknown;
  #lastImage: Buffer | undefined;

  constructor(h: AgentHost) {
    this.#h = h;
    this.push = new PushReceiver({
      object: h.object,
      maxSzx: h.maxPushSzx,
      capacity: () => this.#capacity(),
      begin: () => {
        h.counters.downloads += 1;
        h.emit({ type: 'download-started', uri: 'push' });
        return this.#freshSink();
      },
      finished: (v) => this.#finished(v, 0, 0),
      mutate: (chunk, offset, total) => this.#mutate(chunk, offset, total),
      onBlock: (offset, total) => {
        this.#maybeRebind(offset, total);
        this.#maybeReboot(offset, total);
      },
    });
  }

  /** The last image downloaded, with `keepImage`. */
  get lastImage(): Buffer | undefined {
    return this.#lastImage;
  }

  /** Object 5 hooks. */
  readonly hooks = {
    download: (location: PackageLocation): void => this.#pull(location),
    cancelDownload: (): void => this.#stopTransfers(),
    update: (): void => this.#update(),
  };

  /** A reset: transfers stop; resolves once nothing writes to flash any more. */
  async halt(): Promise<void> {
    this.#stopTransfers();
    if (this.#deferTimer !== undefined) this.#h.clock.clearTimeout(this.#deferTimer);
    this.#deferTimer = undefined;
    await Promise.all([this.#running, this.push.idle()]);
  }

  /** For an update boot with the power-loss fault: where the power goes. */
  powerCut(): { hook: PowerCutHook; offMs: number } | undefined {
    const f = this.#h.fault;
    if (f?.kind !== 'power-loss' || this.#fired || this.#attempt === undefined) return undefined;
    this.#fired = true;
    this.#h.emit({ type: 'fault', kind: f.kind });
    const { primary, secondary } = this.#h.bootloader.areas;
    const estimate = 9 * Math.max(usedSectors(primary.data), usedSectors(secondary.data)) + 12;
    const step = f.step ?? Math.floor(f.at * estimate);
    const start = this.#h.bootloader.flash.ops;
    return { hook: (_op, n) => (n === start + step ? (f.torn ? 'torn' : 'before') : undefined), offMs: f.offMs };
  }

  /** After a boot: what it means for Object 5. 'crash' when the new image crashes before it registers. */
  async afterBoot(boot: Extract<BootResult, { ok: true }>): Promise<{ action: 'register' | 'crash'; updated: boolean }> {
    const { object: o, fault } = this.#h;
    if (!boot.trial) this.#h.raiseSecurityCounter(boot.image.sequence);
    const attempt = this.#attempt;
    if (attempt !== undefined && boot.image.version === attempt.to && boot.trial) {
      if (fault?.kind === 'crash-before-confirm' && !this.#fired) {
        this.#fired = true;
        this.#h.emit({ type: 'fault', kind: fault.kind });
        return { action: 'crash', updated: false };
      }
      o.set({ state: FirmwareState.IDLE, updateResult: UpdateResult.SUCCESS, packageUri: '' });
      return { action: 'register', updated: true };
    }
    if (attempt !== undefined) {
      this.#attempt = undefined;
      const result = boot.refused?.result ?? UpdateResult.UPDATE_FAILED;
      const reason = boot.refused?.reason ?? `the bootloader went back to ${boot.image.version}`;
      o.set({ state: FirmwareState.IDLE, updateResult: result });
      this.#h.emit({ type: 'update-failed', result, reason });
    } else if (o.state === FirmwareState.UPDATING) {
      o.set({ state: FirmwareState.DOWNLOADED });
    } else if (o.state === FirmwareState.DOWNLOADING) {
      await this.#continueDownload();
    }
    return { action: 'register', updated: false };
  }

  /** Registered with the server: a trial image has proven itself; confirm it (image ok). */
  async onRegistered(running: ImageInfo): Promise<void> {
    const boot = this.#h.bootloader;
    if (!boot.isTrial()) return;
    await boot.confirm();
    this.#h.raiseSecurityCounter(running.sequence);
    this.#h.emit({ type: 'confirmed', version: running.version });
    const attempt = this.#attempt;
    this.#attempt = undefined;
    if (attempt !== undefined && running.version === attempt.to) {
      this.#h.counters.updates += 1;
      this.#h.emit({ type: 'update-succeeded', version: running.version, ms: this.#h.clock.now() - attempt.at });
    }
  }

  #capacity(): number {
    const slot = this.#h.bootloader.secondary.size - SLOT_HEADER;
    const limit = this.#h.fault?.kind === 'flash-full' ? FULL_FLASH_ROOM : (this.#h.maxImageBytes ?? slot);
    return Math.min(slot, limit);
  }

  async #freshSink(): Promise<SlotWriter> {
    const f = this.#h.fault;
    if (f?.kind === 'flash-full' && !this.#fired) {
      this.#fired = true;
      this.#h.emit({ type: 'fault', kind: f.kind });
    }
    const { secondary } = this.#h.bootloader.areas;
    if (!secondary.trailer.sectorErased(0)) await secondary.trailer.erase(0);
    return SlotWriter.begin(secondary.data, new ImageVerifier(this.#h.identity(), this.#capacity()));
  }

  async #continueDownload(): Promise<void> {
    const o = this.#h.object;
    const location = o.packageUri === '' ? undefined : parsePackageUri(o.packageUri);
    if (location === undefined || typeof location === 'number') {
      // A push cannot go on by itself: the transfer is lost with the power (LwM2M result 4).
      o.failed(UpdateResult.CONNECTION_LOST);
      return;
    }
    const saved = this.#resume;
    if (saved !== undefined && saved.uri === o.packageUri) {
      const verifier = new ImageVerifier(this.#h.identity(), this.#capacity());
      const sink = await SlotWriter.resume(this.#h.bootloader.secondary, verifier, saved.written);
      if (sink !== undefined) {
        this.#pull(location, { sink, etag: saved.etag });
        return;
      }
    }
    this.#pull(location);
  }

  #pull(location: PackageLocation, resume?: { sink: SlotWriter; etag: Buffer }): void {
    const h = this.#h;
    if (h.endpoint() === undefined) return;
    this.#stopTransfers();
    const ctl = new AbortController();
    this.#ctl = ctl;
    const uri = h.object.packageUri;
    h.counters.downloads += 1;
    h.emit({ type: 'download-started', uri, ...(resume === undefined ? {} : { resumedAt: resume.sink.written }) });
    this.#running = this.#download(location, ctl, resume).then((out: DownloadOutcome) => {
      h.counters.blocks += out.blocks;
      h.counters.bytesDownloaded += out.bytes;
      if (this.#ctl !== ctl || ctl.signal.aborted) return;
      this.#ctl = undefined;
      this.#resume = undefined;
      this.#finished(out.ok ? out.verdict : { ok: false, result: out.result, reason: out.reason }, out.bytes, out.blocks);
    });
  }

  async #download(location: PackageLocation, ctl: AbortController, resume: { sink: SlotWriter; etag: Buffer } | undefined): Promise<DownloadOutcome> {
    const h = this.#h;
    const uri = h.object.packageUri;
    const transfer = await h.transfer(location).catch((err: unknown) => err instanceof Error ? err : new Error(String(err)));
    if (typeof transfer === 'number') return { ok: false, result: transfer, reason: `cannot fetch ${uri}: no key for coaps://`, bytes: 0, blocks: 0 };
    if (transfer instanceof Error) return { ok: false, result: UpdateResult.CONNECTION_LOST, reason: transfer.message, bytes: 0, blocks: 0 };
    try {
      return await downloadFirmware({
        endpoint: transfer.endpoint,
        location,
        szx: h.szx,
        signal: ctl.signal,
        sink: () => this.#freshSink(),
        ...(resume === undefined ? {} : { resume }),
        ...(transfer.renewSession === undefined ? {} : { renewSession: transfer.renewSession }),
        onBlock: (p: BlockProgress) => {
          if (ctl.signal.aborted) return;
          this.#resume = p.etag === undefined ? undefined : { uri, etag: p.etag, written: p.written };
          this.#maybeRebind(p.offset, p.total);
          this.#maybeReboot(p.offset, p.total);
        },
        mutate: (chunk, offset, total) => this.#mutate(chunk, offset, total),
      });
    } finally {
      await transfer.close();
    }
  }

  #finished(v: Verdict, bytes: number, blocks: number): void {
    const h = this.#h;
    if (v.ok) {
      if (h.keepImage) this.#lastImage = h.bootloader.secondary.read(SLOT_HEADER, v.image.size);
      h.emit({ type: 'download-done', version: v.image.version, bytes: bytes || v.image.size, blocks });
      h.object.downloaded(v.image.format === 'fry1' ? 'ferry-package' : 'ferry-sim', v.image.version);
    } else {
      h.counters.downloadsFailed += 1;
      h.emit({ type: 'download-failed', result: v.result, reason: v.reason });
      h.object.failed(v.result);
    }
  }

  #stopTransfers(): void {
    this.#ctl?.abort();
    this.#ctl = undefined;
    this.push.cancel();
  }

  #maybeReboot(offset: number, total: number | undefined): void {
    const f = this.#h.fault;
    if (f?.kind !== 'reboot-during-download' || this.#fired || total === undefined || offset < f.at * total) return;
    this.#fired = true;
    this.#h.emit({ type: 'fault', kind: f.kind });
    this.#h.reset('fault');
  }

  #maybeRebind(offset: number, total: number | undefined): void {
    const f = this.#h.fault;
    if (f?.kind !== 'nat-rebind' || this.#fired || total === undefined || offset < f.at * total) return;
    this.#fired = true;
    this.#h.emit({ type: 'fault', kind: f.kind });
    this.#h.rebind();
  }

  #mutate(chunk: Buffer, offset: number, total: number | undefined): Buffer {
    const f = this.#h.fault;
    if (f?.kind !== 'bit-flip' || this.#fired) return chunk;
    const target = Math.floor(f.at * (total ?? 2 * chunk.length));
    if (target < offset || target >= offset + chunk.length) return chunk;
    this.#fired = true;
    this.#h.emit({ type: 'fault', kind: f.kind });
    chunk[target - offset]! ^= 1 << f.bit;
    return chunk;
  }

  #update(): void {
    const h = this.#h;
    const o = h.object;
    if (h.fault?.kind === 'battery-low' && !this.#fired) {
      this.#fired = true;
      h.emit({ type: 'fault', kind: h.fault.kind });
    }
    if (h.batteryLevel() < h.minBatteryToUpdate) {
      // LwM2M 1.1 Object 5 res. 13: a non-critical update may be deferred up to the Maximum Defer Period.
      const defer = o.severity !== 0 && o.maxDeferPeriod > 0;
      const result = defer ? UpdateResult.DEFERRED : UpdateResult.UPDATE_FAILED;
      o.failed(result, FirmwareState.DOWNLOADED);
      h.emit({ type: 'update-failed', result, reason: `battery at ${h.batteryLevel()}%, ${h.minBatteryToUpdate}% needed` });
      if (defer) {
        this.#deferTimer = h.clock.setTimeout(() => {
          this.#deferTimer = undefined;
          if (o.state === FirmwareState.DOWNLOADED && h.batteryLevel() >= h.minBatteryToUpdate) {
            o.set({ state: FirmwareState.UPDATING });
            this.#update();
          }
        }, o.maxDeferPeriod * 1000);
      }
      return;
    }
    if (h.fault?.kind === 'never-returns' && !this.#fired) {
      this.#fired = true;
      h.emit({ type: 'fault', kind: h.fault.kind });
      h.powerOff();
      return;
    }
    this.#attempt = { from: h.runningVersion(), to: o.pkgVersion, at: h.clock.now() };
    h.emit({ type: 'update-started', from: this.#attempt.from, to: this.#attempt.to });
    h.bootloader.requestUpdate().then(
      () => h.reset('update'),
      (err: unknown) => {
        this.#attempt = undefined;
        o.failed(UpdateResult.UPDATE_FAILED, FirmwareState.DOWNLOADED);
        h.emit({ type: 'update-failed', result: UpdateResult.UPDATE_FAILED, reason: err instanceof Error ? err.message : String(err) });
      },
    );
  }
}
