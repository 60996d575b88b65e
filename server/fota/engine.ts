/**
 * The update engine's driver: feeds events to `decide`, persists each transition (one
 * transaction: update row + event) and sends the commands through the DM client.
 * Events of one update are handled one at a time, in arrival order.
 */
import { ContentFormat } from '../../protocols/content-format.ts';
import { decodeContent } from '../../protocols/content.ts';
import { DecodeError } from '../../protocols/errors.ts';
import { FirmwareUpdate, Device as DeviceObject } from '../../protocols/objects.ts';
import { parsePath } from '../../protocols/path.ts';
import { decodeTextString } from '../../protocols/text.ts';
import { DmError, targetOf, type DmClient, type DmResponse, type Target } from '../coap/dm-client.ts';
import type { ImageCache } from '../coap/image-cache.ts';
import type { AlertSink } from '../alerts/kinds.ts';
import { updateAlert } from '../alerts/update-alerts.ts';
import { DeviceNotFoundError, FirmwareNotFoundError, HardwareClassMismatchError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Alert } from '../store/alerts.ts';
import type { Db } from '../store/db.ts';
import * as devices from '../store/devices.ts';
import { getFirmware } from '../store/firmware.ts';
import { FINAL_STATES, type Delivery, type Device, type DeviceUpdate, type FirmwareImage } from '../store/rows.ts';
import * as updates from '../store/updates.ts';
import { decide, type Command, type UpdateContext, type UpdateEvent } from './decide.ts';
import { UpdateWatchdog } from './watchdog.ts';

export interface EngineOptions {
  db: Db;
  dm: DmClient;
  log: Logger;
  /** Base of the Package URI, e.g. coap://203.0.113.7:5683 */
  downloadBase: string;
  /** The bytes GET /fw/<id> serves (the whole package, or only the payload): a push sends the same. */
  images: ImageCache;
  /** Seconds without a word from the device before an update fails with reason timeout. */
  updateTimeoutSeconds: number;
  /** Seconds an update may go quiet before it is poked (watchdog.ts); default a quarter of the timeout, 5 to 60. */
  pokeAfterSeconds?: number | undefined;
  /** Raised (never awaited) when an update stalls past its timeout or fails its integrity check. */
  alerts?: AlertSink;
  /** This node's name, as in devices.owner_node: which quiet or overdue updates are this node's (watchdog.ts). */
  nodeId?: () => string;
}

const STATE_PATH = `/${FirmwareUpdate.OBJECT_ID}/0/${FirmwareUpdate.STATE}`;
const RESULT_PATH = `/${FirmwareUpdate.OBJECT_ID}/0/${FirmwareUpdate.UPDATE_RESULT}`;
const URI_PATH = `/${FirmwareUpdate.OBJECT_ID}/0/${FirmwareUpdate.PACKAGE_URI}`;
const PACKAGE_PATH = `/${FirmwareUpdate.OBJECT_ID}/0/${FirmwareUpdate.PACKAGE}`;
const DELIVERY_METHOD_PATH = `/${FirmwareUpdate.OBJECT_ID}/0/${FirmwareUpdate.DELIVERY_METHOD}`;
const PROTOCOL_SUPPORT_PATH = `/${FirmwareUpdate.OBJECT_ID}/0/${FirmwareUpdate.PROTOCOL_SUPPORT}`;
const UPDATE_PATH = `/${FirmwareUpdate.OBJECT_ID}/0/${FirmwareUpdate.UPDATE}`;
const SEVERITY_PATH = `/${FirmwareUpdate.OBJECT_ID}/0/${FirmwareUpdate.SEVERITY}`;
const CANCEL_PATH = `/${FirmwareUpdate.OBJECT_ID}/0/${FirmwareUpdate.CANCEL}`;
const MAX_DEFER_PATH = `/${FirmwareUpdate.OBJECT_ID}/0/${FirmwareUpdate.MAXIMUM_DEFER_PERIOD}`;
const VERSION_PATH = `/${DeviceObject.OBJECT_ID}/0/${DeviceObject.FIRMWARE_VERSION}`;

/** What a caller (a campaign) may ask of one update beyond the image. */
export interface UpdateRequest {
  campaignId?: number;
  /** Forced where the device takes it; otherwise the device's Delivery Method decides. */
  delivery?: Delivery;
  /** Object 5 res. 11, written to devices with Object 5 1.1: 0 critical, 1 mandatory, 2 optional. */
  severity?: number;
  actor?: string;
}

/** The device registered Object 5 at version 1.1 or later (Severity, Cancel, Maximum Defer Period). */
export function hasObject5v11(device: Device | null): boolean {
  const o5 = device?.objects.find((o) => o.objectId === FirmwareUpdate.OBJECT_ID);
  const [major, minor] = (o5?.version ?? '1.0').split('.').map(Number);
  return (major ?? 1) > 1 || ((major ?? 1) === 1 && (minor ?? 0) >= 1);
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
      db: o.db, dm: o.dm, updateTimeoutSeconds: o.updateTimeoutSeconds, pokeAfterSeconds: o.pokeAfterSeconds, nodeId: o.nodeId,
      follows: (id) => this.following.has(id), emit: (id, type) => this.emit(id, { type }),
    });
  }

  /** An operator asks for one device to be updated to one image. */
  async requestUpdate(endpoint: string, firmwareId: number, req: UpdateRequest = {}): Promise<DeviceUpdate> {
    const device = await devices.findByEndpoint(this.o.db, endpoint);
    if (!device) throw new DeviceNotFoundError(`no device ${endpoint}`);
    const image = await getFirmware(this.o.db, firmwareId);
    if (!image) throw new FirmwareNotFoundError(`no firmware image ${firmwareId}`);
    if (device.hardwareClass !== null && device.hardwareClass !== image.hardwareClass) {
      throw new HardwareClassMismatchError(
        `image ${firmwareId} is for hardware class ${image.hardwareClass}, device ${endpoint} is ${device.hardwareClass}`);
    }
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
  async deviceUpdated(device: Device): Promise<void> {
    const update = await updates.activeUpdateForDevice(this.o.db, device.id);
    if (update && !this.following.has(update.id)) this.follow(update.id);
  }

  private follow(updateId: number): void {
    this.following.add(updateId);
    this.emit(updateId, { type: 'registered' });
  }

  deviceHeard(address: string, port: number): void {
    this.watchdog.heard(address, port);
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
    const ctx: UpdateContext = { deliveryPolicy: update.requestedDelivery, severity: v11 ? update.severity : null, canCancel: v11, delivery: update.delivery, writtenAt: this.writtenAt.get(updateId) ?? 0 };
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
      if (FINAL_STATES.includes(d.to)) {
        this.following.delete(updateId);
        this.writtenAt.delete(updateId);
        this.watchdog.forget(updateId);
      }
      this.o.log.info({ updateId, from: update.state, to: d.to, on: event.type, resultCode: d.resultCode, reason: d.reason },
        'update state');
      if (alert) this.o.alerts!.published(alert);
    }
    if (d.commands.length === 0) return;
    const target = device?.status === 'registered' ? targetOf(device) : undefined;
    if (!target) return;
    for (const c of d.commands) {
      // A command's outcome is handled right here, before any event queued meanwhile: otherwise a
      // second 'registered' could find the update still queued and write the Package URI twice.
      const outcomes = await this.run(update, c, target, image, v11);
      for (const next of outcomes) await this.handle(updateId, next);
      if (outcomes.some((e) => e.type === 'commandFailed')) break;
    }
  }

  /** Sends one command; returns the events its outcome makes. */
  private async run(update: DeviceUpdate, c: Command, t: Target, image: FirmwareImage, v11: boolean): Promise<UpdateEvent[]> {
    const dm = this.o.dm;
    const updateId = update.id;
    try {
      switch (c.type) {
        case 'writeSeverity':
          try {
            await dm.write(t, SEVERITY_PATH, Buffer.from(String(update.severity ?? 1)), ContentFormat.TEXT);
          } catch (err) {
            // Advisory: a device that refuses it still takes the package.
            this.o.log.warn({ updateId, err: err instanceof Error ? err.message : String(err) }, 'Severity (/5/0/11) not written');
          }
          return [];
        case 'executeCancel':
          try {
            await dm.execute(t, CANCEL_PATH);
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
          // Both optional in Object 5 1.0: a device without them pulls over CoAP.
          const value = await this.readOptional(updateId, t, DELIVERY_METHOD_PATH, ContentFormat.TEXT, (r) => integerValue(DELIVERY_METHOD_PATH, r));
          const protocols = await this.readOptional(updateId, t, PROTOCOL_SUPPORT_PATH, ContentFormat.TLV, (r) => integerValues(PROTOCOL_SUPPORT_PATH, r));
          // Where the device's state machine is: a download left over from an earlier try is reset first.
          const deviceState = await this.readOptional(updateId, t, STATE_PATH, ContentFormat.TEXT, (r) => integerValue(STATE_PATH, r));
          // Object 5 1.1: how long the device may put the update off (a campaign waits that out before asking again).
          const maxDeferPeriod = v11 ? await this.readOptional(updateId, t, MAX_DEFER_PATH, ContentFormat.TEXT, (r) => integerValue(MAX_DEFER_PATH, r)) : null;
          return [{ type: 'deliveryMethod', value, protocols, deviceState, maxDeferPeriod: maxDeferPeriod !== null && maxDeferPeriod >= 0 ? maxDeferPeriod : null }];
        }
        case 'resetPackageUri':
          this.writtenAt.set(updateId, ++this.arrivals);
          await dm.write(t, URI_PATH, Buffer.alloc(0), ContentFormat.TEXT);
          return [];
        case 'writePackageUri':
          this.writtenAt.set(updateId, ++this.arrivals);
          await dm.write(t, URI_PATH, Buffer.from(`${this.o.downloadBase}/fw/${image.id}`), ContentFormat.TEXT);
          return [{ type: 'written' }];
        case 'pushPackage': {
          const bytes = await this.o.images.get(image.id);
          if (!bytes) throw new Error(`firmware image ${image.id} is gone`);
          // Server-paced Block1 (block1.ts); each answered block counts as the device talking.
          this.writtenAt.set(updateId, ++this.arrivals); // from the first block on, State is about this package
          const r = await dm.writeBlockwise(t, PACKAGE_PATH, bytes.payload, ContentFormat.OPAQUE, { onBlock: () => this.deviceHeard(t.address, t.port) });
          this.o.log.info({ updateId, bytes: bytes.payload.length, blocks: r.blocks, szx: r.szx }, 'package pushed');
          return [{ type: 'pushed' }];
        }
        case 'executeUpdate':
          await dm.execute(t, UPDATE_PATH);
          return [{ type: 'executed' }];
        case 'readResult':
        case 'readStatus': {
          const state = integerValue(STATE_PATH, await dm.read(t, STATE_PATH, ContentFormat.TEXT));
          const result = integerValue(RESULT_PATH, await dm.read(t, RESULT_PATH, ContentFormat.TEXT));
          if (c.type === 'readStatus' && c.quiet && !this.following.has(updateId)) await this.takeUp(updateId, t);
          return c.type === 'readStatus' ? [{ type: 'found', state, result }] : [{ type: 'state', value: state }, { type: 'result', value: result }];
        }
        case 'readFirmwareVersion': {
          let version: string | null = null;
          try {
            version = decodeTextString((await dm.read(t, VERSION_PATH, ContentFormat.TEXT)).payload);
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
      // A device that refused the pushed package may say why in Update Result (e.g. 2, 5): read it.
      const resultCode = c.type === 'pushPackage' && err instanceof DmError && err.kind === 'response'
        ? await this.readOptional(updateId, t, RESULT_PATH, ContentFormat.TEXT, (r) => integerValue(RESULT_PATH, r)).catch(() => null) : null;
      return [{ type: 'commandFailed', command: c.type, reason, ...(resultCode === null ? {} : { resultCode }) }];
    }
  }

  /** Observe /5/0/3 and /5/0/5: each notification becomes an event of this update. */
  private async observe(updateId: number, t: Target): Promise<void> {
    await this.o.dm.observe(t, STATE_PATH, ContentFormat.TEXT, (r) => this.emitValue(updateId, 'state', STATE_PATH, r));
    await this.o.dm.observe(t, RESULT_PATH, ContentFormat.TEXT, (r) => this.emitValue(updateId, 'result', RESULT_PATH, r));
  }

  /** A poked update no process followed, its device answering: observe it again (a failure here changes nothing). */
  private async takeUp(updateId: number, t: Target): Promise<void> {
    try {
      await this.observe(updateId, t);
      this.following.add(updateId);
      this.o.log.info({ updateId }, 'update taken up (poked, the device answered)');
    } catch (err) {
      this.o.log.info({ updateId, reason: err instanceof Error ? err.message : String(err) }, 'update not taken up: observe failed');
    }
  }

  /** A Read whose resource the device may lack: null on an error answer or an undecodable value; silence still throws. */
  private async readOptional<T>(updateId: number, t: Target, path: string, accept: number, value: (r: DmResponse) => T): Promise<T | null> {
    try {
      return value(await this.o.dm.read(t, path, accept));
    } catch (err) {
      if (!(err instanceof DecodeError) && !(err instanceof DmError && err.kind === 'response')) throw err;
      this.o.log.info({ updateId, path, reason: err instanceof DecodeError ? err.reason : err.message }, 'optional resource not read');
      return null;
    }
  }

  private emitValue(updateId: number, type: 'state' | 'result', path: string, r: DmResponse): void {
    try {
      this.emit(updateId, { type, value: integerValue(path, r), arrival: ++this.arrivals });
    } catch (err) {
      this.o.log.warn({ updateId, type, reason: err instanceof DecodeError ? err.reason : String(err) },
        'undecodable value from the device');
    }
  }
}

/** A multiple-instance integer resource (e.g. /5/0/8), in whichever format the device answered. */
function integerValues(path: string, r: DmResponse): number[] {
  const nodes = decodeContent(r.contentFormat ?? ContentFormat.TEXT, r.payload, parsePath(path));
  return nodes.flatMap((n) => (typeof n.value === 'number' || typeof n.value === 'bigint' ? [Number(n.value)] : []));
}

/** A single integer resource, in whichever format the device answered (text, TLV, SenML, …). */
function integerValue(path: string, r: DmResponse): number {
  const [value] = integerValues(path, r);
  if (value === undefined) throw new DecodeError('content.empty', `no integer for ${path} in the answer`);
  return value;
}
