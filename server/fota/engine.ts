/**
 * The update engine's driver: feeds events to `decide`, persists each transition (one
 * transaction: update row + event) and sends the commands through the device port.
 * Events of one update are handled one at a time, in arrival order.
 */
import { ContentFormat } from '../../protocols/content-format.ts';
import { DecodeError } from '../../protocols/errors.ts';
import { decodeTextString } from '../../protocols/text.ts';
import type { AlertSink } from '../alerts/kinds.ts';
import { updateAlert } from '../alerts/update-alerts.ts';
import { DeviceNotFoundError, FerryError, FirmwareNotFoundError, HardwareClassMismatchError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Alert } from '../store/alerts.ts';
import type { Db } from '../store/db.ts';
import * as devices from '../store/devices.ts';
import { getFirmware } from '../store/firmware.ts';
import type { Device, DeviceUpdate, FirmwareImage } from '../store/rows.ts';
import * as updates from '../store/updates.ts';
import type { DeviceActivity } from './activity.ts';
import { addressOf, DeviceError, type DeviceAddress, type DeviceContent, type DevicePort, type PackageSource } from './device-port.ts';
import { decide, updateContext, type Command, type UpdateEvent } from './decide.ts';
import { isFinal, type Delivery } from './model.ts';
import { deliveryMethodEvent, deliveryReads, hasObject5v11, integersOf, integerValue, readAfterFailure, Resource, type IntegerRead } from './object5.ts';
import { UpdateWatchdog } from './watchdog.ts';
import { passGate, type ApprovalMode } from '../governance/release-rules.ts';

export interface EngineOptions {
  db: Db;
  /** Requests to the device (Object 5, /3/0/3): the DM client, behind the device port. */
  dm: DevicePort;
  /** When each device was last heard from: the watchdog reads it, and a push's answered blocks count. */
  activity: DeviceActivity;
  log: Logger;
  /** Base of the Package URI for a device on plain CoAP, e.g. coap://203.0.113.7:5685 */
  downloadBase: string;
  /** Base of the Package URI for a device that registered over DTLS, e.g. coaps://203.0.113.7:5686 (absent: downloadBase). */
  secureDownloadBase?: string;
  /** The bytes GET /fw/<id> serves (the whole package, or only the payload): a push sends the same. */
  images: PackageSource;
  /** Seconds without a word from the device before an update fails with reason timeout. */
  updateTimeoutSeconds: number;
  /** Seconds an update may go quiet before it is poked (watchdog.ts); default a quarter of the timeout, 5 to 60. */
  pokeAfterSeconds?: number | undefined;
  /** Raised (never awaited) when an update stalls past its timeout or fails its integrity check. */
  alerts?: AlertSink;
  /** This node's name, as in devices.owner_node: which quiet or overdue updates are this node's (watchdog.ts). */
  nodeId?: () => string;
  /** --release-approval: required (default) lets only approved images reach devices not marked testbed; off, any image not revoked. */
  releaseApproval?: ApprovalMode;
}

/** What a caller (a campaign) may ask of one update beyond the image. */
export interface UpdateRequest {
  campaignId?: number;
  /** Forced where the device takes it; otherwise the device's Delivery Method decides. */
  delivery?: Delivery;
  /** Object 5 res. 11, written to devices with Object 5 1.1: 0 critical, 1 mandatory, 2 optional. */
  severity?: number;
  actor?: string;
}


export class UpdateEngine {
  private readonly o: EngineOptions;
  private readonly chains = new Map<number, Promise<void>>();
  /** Notifications are numbered as they arrive, and so are the writes of a package: decide drops the stale (UpdateContext.writtenAt). */
  private arrivals = 0;
  private readonly writtenAt = new Map<number, number>();
  /** Updates this process follows (observes); after a restart the set is empty and the next word from the device fills it. */
  private readonly following = new Set<number>();
  private readonly watchdog: UpdateWatchdog;

  constructor(o: EngineOptions) {
    this.o = o;
    this.watchdog = new UpdateWatchdog({
      db: o.db, dm: o.dm, activity: o.activity, updateTimeoutSeconds: o.updateTimeoutSeconds, pokeAfterSeconds: o.pokeAfterSeconds, nodeId: o.nodeId,
      follows: (id) => this.following.has(id), emit: (id, type) => this.emit(id, { type }),
    });
  }

  /** An operator asks for one device to be updated to one image. */
  async requestUpdate(endpoint: string, firmwareId: number, req: UpdateRequest = {}): Promise<DeviceUpdate> {
    const device = await devices.findByEndpoint(this.o.db, endpoint);
    if (!device) throw new DeviceNotFoundError(`no device ${endpoint}`);
    if (device.status === 'decommissioned') throw new FerryError('FERRY_DEVICE_DECOMMISSIONED', `device ${endpoint} is decommissioned: it takes no update`);
    const image = await getFirmware(this.o.db, firmwareId);
    if (!image) throw new FirmwareNotFoundError(`no firmware image ${firmwareId}`);
    if (device.hardwareClass !== null && device.hardwareClass !== image.hardwareClass) {
      throw new HardwareClassMismatchError(
        `image ${firmwareId} is for hardware class ${image.hardwareClass}, device ${endpoint} is ${device.hardwareClass}`);
    }
    // A campaign's device passed the gate with its campaign (start, resume): only a revocation stops it here.
    passGate(image, { testbed: device.testbed, approval: this.o.releaseApproval ?? 'required', underWay: req.campaignId !== undefined });
    const update = await updates.createUpdate(this.o.db, {
      deviceId: device.id, firmwareId, deadlineSeconds: this.o.updateTimeoutSeconds,
      ...(req.campaignId === undefined ? {} : { campaignId: req.campaignId }),
      ...(req.delivery === undefined ? {} : { requestedDelivery: req.delivery }),
      ...(req.severity === undefined ? {} : { severity: req.severity }),
      ...(req.actor === undefined ? {} : { actor: req.actor }),
    });
    this.o.log.info({ endpoint, updateId: update.id, firmwareId, campaignId: req.campaignId }, 'update requested');
    if (device.status === 'registered') this.follow(update.id);
    return update;
  }

  /** Calls an update off: see decide's 'cancel' (queued: at once; downloading: /5/0/10 where the device has it). */
  cancelUpdate(updateId: number, reason: string): void {
    this.emit(updateId, { type: 'cancel', reason });
  }

  /** A device registered (new or after a reboot) and its /3/0 was read. */
  async deviceRegistered(device: Device): Promise<void> {
    const update = await updates.activeUpdateForDevice(this.o.db, device.id);
    if (update) this.follow(update.id);
  }

  /**
   * A registration Update: an active update this process does not follow (started by a process
   * that died, or by another node) is taken up: observe again and read where the device is.
   */
  async registrationUpdated(device: Device): Promise<void> {
    const update = await updates.activeUpdateForDevice(this.o.db, device.id);
    if (update && !this.following.has(update.id)) this.follow(update.id);
  }

  private follow(updateId: number): void {
    this.following.add(updateId);
    this.emit(updateId, { type: 'registered' });
  }

  /** Periodic: pokes updates gone quiet or overdue while their device talks, times out the silent (watchdog.ts). */
  sweep(): Promise<void> {
    return this.watchdog.sweep();
  }

  get pokeAfterSeconds(): number {
    return this.watchdog.pokeAfterSeconds;
  }

  /** Resolves when every queued event has been handled (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.chains.size > 0) await Promise.all([...this.chains.values()]);
  }

  private emit(updateId: number, event: UpdateEvent): void {
    const previous = this.chains.get(updateId) ?? Promise.resolve();
    const next = previous.then(() => this.handle(updateId, event)).catch((err: unknown) => {
      this.o.log.error({ err, updateId, event: event.type }, 'update event failed');
    });
    this.chains.set(updateId, next);
    void next.then(() => { if (this.chains.get(updateId) === next) this.chains.delete(updateId); });
  }

  private async handle(updateId: number, event: UpdateEvent): Promise<void> {
    const update = await updates.getUpdate(this.o.db, updateId);
    if (!update) return;
    const image = await getFirmware(this.o.db, update.firmwareId);
    if (!image) return;
    const device = await devices.findById(this.o.db, update.deviceId);
    const v11 = hasObject5v11(device);
    const ctx = updateContext(update, { object5v11: v11, writtenAt: this.writtenAt.get(updateId) ?? 0, followed: this.following.has(updateId) });
    const d = decide(update.state, event, image.version, ctx);
    if (d.delivery) {
      const maxDefer = event.type === 'deliveryMethod' ? event.maxDeferPeriod ?? null : null;
      const read = event.type === 'deliveryMethod' ? { deliveryMethod: event.value, protocolSupport: event.protocols, ...(maxDefer === null ? {} : { maxDeferPeriod: maxDefer }) } : {};
      if (!await updates.recordDelivery(this.o.db, updateId, d.delivery.method, { why: d.delivery.why, ...read }, maxDefer)) return;
      this.o.log.info({ updateId, delivery: d.delivery.method, why: d.delivery.why }, 'update delivery');
    }
    if (d.to) {
      let alert: Alert | undefined;
      const moved = await updates.transitionUpdate(this.o.db, updateId, {
        to: d.to, from: [update.state], resultCode: d.resultCode ?? null, reason: d.reason ?? null,
        reportedVersion: d.reportedVersion ?? null, versionMismatch: d.versionMismatch ?? false,
        deadlineSeconds: this.o.updateTimeoutSeconds, data: { on: event.type },
        ...(d.reportedVersion !== undefined ? { deviceFirmwareVersion: d.reportedVersion } : {}),
        within: async (tx, m) => {
          const a = this.o.alerts && updateAlert(m, update.state, event, this.o.updateTimeoutSeconds);
          if (a) alert = await this.o.alerts!.storeIn(tx, a);
        },
      });
      if (!moved) return; // someone else moved it first: this event is stale
      if (isFinal(d.to)) {
        this.following.delete(updateId);
        this.writtenAt.delete(updateId);
        this.watchdog.forget(updateId);
      }
      this.o.log.info({ updateId, from: update.state, to: d.to, on: event.type, resultCode: d.resultCode, reason: d.reason },
        'update state');
      if (alert) this.o.alerts!.published(alert);
    }
    if (d.commands.length === 0) return;
    const target = device?.status === 'registered' ? addressOf(device) : undefined;
    if (!target) return;
    for (const c of d.commands) {
      // A command's outcome is handled right here, before any event queued meanwhile: otherwise a
      // second 'registered' could find the update still queued and write the Package URI twice.
      const outcomes = await this.run(update, c, target, image, v11);
      for (const next of outcomes) await this.handle(updateId, next);
      if (outcomes.some((e) => e.type === 'commandFailed')) break;
    }
  }

  /** Where the device fetches the image: over its DTLS session's kind of socket, by the image's unguessable name. */
  private packageUri(t: DeviceAddress, image: FirmwareImage): string {
    const base = t.secure === true ? this.o.secureDownloadBase ?? this.o.downloadBase : this.o.downloadBase;
    return `${base}/fw/${image.downloadName}`;
  }

  /** Sends one command; returns the events its outcome makes. */
  private async run(update: DeviceUpdate, c: Command, t: DeviceAddress, image: FirmwareImage, v11: boolean): Promise<UpdateEvent[]> {
    const dm = this.o.dm;
    const updateId = update.id;
    try {
      switch (c.type) {
        case 'writeSeverity':
          try {
            await dm.write(t, Resource.SEVERITY, Buffer.from(String(c.value)), ContentFormat.TEXT);
          } catch (err) {
            // Advisory: a device that refuses it still takes the package.
            this.o.log.warn({ updateId, err: err instanceof Error ? err.message : String(err) }, 'Severity (/5/0/11) not written');
          }
          return [];
        case 'executeCancel':
          try {
            await dm.execute(t, Resource.CANCEL);
            return [{ type: 'cancelled' }];
          } catch (err) {
            // Refused (e.g. already Updating): the update goes on, and finishes or times out.
            this.o.log.info({ updateId, err: err instanceof Error ? err.message : String(err) }, 'Cancel (/5/0/10) refused');
            return [];
          }
        case 'observe':
          await this.observe(updateId, t);
          return [];
        case 'readDeliveryMethod': {
          const read: Parameters<typeof deliveryMethodEvent>[0] = {};
          for (const [name, r] of deliveryReads(v11)) read[name] = await this.readOptional(updateId, t, r);
          return [deliveryMethodEvent(read)];
        }
        case 'resetPackageUri':
          this.writtenAt.set(updateId, ++this.arrivals);
          await dm.write(t, Resource.PACKAGE_URI, Buffer.alloc(0), ContentFormat.TEXT);
          return [];
        case 'writePackageUri':
          this.writtenAt.set(updateId, ++this.arrivals);
          await dm.write(t, Resource.PACKAGE_URI, Buffer.from(this.packageUri(t, image)), ContentFormat.TEXT);
          return [{ type: 'written' }];
        case 'pushPackage': {
          const bytes = await this.o.images.get(image.id);
          if (!bytes) throw new Error(`firmware image ${image.id} is gone`);
          // Server-paced Block1; each answered block counts as the device talking.
          this.writtenAt.set(updateId, ++this.arrivals); // from the first block on, State is about this package
          const r = await dm.writeBlockwise(t, Resource.PACKAGE, bytes.payload, ContentFormat.OPAQUE, () => this.o.activity.heard(t.address, t.port));
          this.o.log.info({ updateId, bytes: bytes.payload.length, blocks: r.blocks, szx: r.szx }, 'package pushed');
          return [{ type: 'pushed' }];
        }
        case 'executeUpdate':
          await dm.execute(t, Resource.UPDATE);
          return [{ type: 'executed' }];
        case 'readResult':
        case 'readStatus': {
          const state = integerValue(Resource.STATE, await dm.read(t, Resource.STATE, ContentFormat.TEXT));
          const result = integerValue(Resource.UPDATE_RESULT, await dm.read(t, Resource.UPDATE_RESULT, ContentFormat.TEXT));
          if (c.type === 'readStatus' && c.takeUp) await this.takeUp(updateId, t);
          return c.type === 'readStatus' ? [{ type: 'found', state, result }] : [{ type: 'state', value: state }, { type: 'result', value: result }];
        }
        case 'readFirmwareVersion': {
          let version: string | null = null;
          try {
            version = decodeTextString((await dm.read(t, Resource.FIRMWARE_VERSION, ContentFormat.TEXT)).payload);
          } catch (err) {
            this.o.log.warn({ updateId, err: String(err) }, 'could not read /3/0/3 after the update');
          }
          return [{ type: 'firmwareVersion', value: version }];
        }
      }
    } catch (err) {
      const reason = err instanceof DecodeError ? err.reason : err instanceof Error ? err.message : String(err);
      if (c.type === 'readStatus' && c.quiet) {
        this.o.log.info({ updateId, reason }, 'status not read (poke): no change');
        return [];
      }
      const explain = readAfterFailure(c.type, err instanceof DeviceError ? err.kind : undefined);
      const resultCode = explain ? (await this.readOptional(updateId, t, explain).catch(() => null))?.[0] ?? null : null;
      return [{ type: 'commandFailed', command: c.type, reason, ...(resultCode === null ? {} : { resultCode }) }];
    }
  }

  /** Observe /5/0/3 and /5/0/5: each notification becomes an event of this update. */
  private async observe(updateId: number, t: DeviceAddress): Promise<void> {
    await this.o.dm.observe(t, Resource.STATE, ContentFormat.TEXT, (r) => this.emitValue(updateId, 'state', Resource.STATE, r));
    await this.o.dm.observe(t, Resource.UPDATE_RESULT, ContentFormat.TEXT, (r) => this.emitValue(updateId, 'result', Resource.UPDATE_RESULT, r));
  }

  /** A poked update no process followed, its device answering: observe it again (a failure here changes nothing). */
  private async takeUp(updateId: number, t: DeviceAddress): Promise<void> {
    if (this.following.has(updateId)) return; // followed again meanwhile (a registration came in)
    try {
      await this.observe(updateId, t);
      this.following.add(updateId);
      this.o.log.info({ updateId }, 'update taken up (poked, the device answered)');
    } catch (err) {
      this.o.log.info({ updateId, reason: err instanceof Error ? err.message : String(err) }, 'update not taken up: observe failed');
    }
  }

  /** A Read whose resource the device may lack: null on an error answer or an undecodable value; silence still throws. */
  private async readOptional(updateId: number, t: DeviceAddress, r: IntegerRead): Promise<number[] | null> {
    try {
      return integersOf(r, await this.o.dm.read(t, r.path, r.accept));
    } catch (err) {
      if (!(err instanceof DecodeError) && !(err instanceof DeviceError && err.kind === 'refused')) throw err;
      this.o.log.info({ updateId, path: r.path, reason: err instanceof DecodeError ? err.reason : err.message }, 'optional resource not read');
      return null;
    }
  }

  private emitValue(updateId: number, type: 'state' | 'result', path: string, r: DeviceContent): void {
    try {
      this.emit(updateId, { type, value: integerValue(path, r), arrival: ++this.arrivals });
    } catch (err) {
      this.o.log.warn({ updateId, type, reason: err instanceof DecodeError ? err.reason : String(err) },
        'undecodable value from the device');
    }
  }
}
