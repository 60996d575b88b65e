/**
 * The update engine's watchdog: when each device was last heard from, and what the periodic sweep
 * makes of updates that went quiet or overdue. It decides and hands the engine an event ('poke':
 * read where the device is; 'timeout'); it sends nothing itself.
 *
 * - Overdue (past the deadline): a device still talking, or asleep in queue mode with our requests
 *   held for it (LwM2M Core §6.5), moves the deadline on; one that talks is also poked, since an
 *   update that has not moved for a whole timeout may be out of date. Otherwise: timeout. An
 *   overdue update of a device another node holds is that node's for one more timeout.
 * - Quiet (no change, and no word from the device, for `pokeAfterSeconds`): poked, at most once an
 *   interval. Its download may have ended with the notification lost (a CON notification that
 *   timed out ends the observation, RFC 7641 §4.5), or no process follows it any more (this one
 *   restarted, and the device's next registration Update may be hours away); only this node's
 *   devices, or those no node holds, are taken up so.
 */
import type { Db } from '../store/db.ts';
import * as updates from '../store/updates.ts';
import type { DevicePort } from './device-port.ts';

export interface WatchdogOptions {
  db: Db;
  dm: Pick<DevicePort, 'heldFor'>;
  updateTimeoutSeconds: number;
  /** Overrides the default quiet interval (`pokeAfterSeconds`). */
  pokeAfterSeconds?: number | undefined;
  /** This node's name, as in devices.owner_node. */
  nodeId?: (() => string) | undefined;
  /** The engine follows (observes) this update. */
  follows(updateId: number): boolean;
  emit(updateId: number, event: 'poke' | 'timeout'): void;
}

type Peer = Pick<updates.WatchedUpdate, 'endpoint' | 'address' | 'port' | 'queueMode' | 'status'>;

export class UpdateWatchdog {
  readonly #o: WatchdogOptions;
  /** Last time (ms) a device was heard from, by "address:port": registrations and download blocks count. */
  readonly #activity = new Map<string, number>();
  /** When each update was last poked for being quiet (ms). */
  readonly #poked = new Map<number, number>();

  constructor(o: WatchdogOptions) {
    this.#o = o;
  }

  heard(address: string, port: number): void {
    this.#activity.set(`${address}:${port}`, Date.now());
  }

  /** The update is final: nothing more to watch. */
  forget(updateId: number): void {
    this.#poked.delete(updateId);
  }

  /** Seconds an update under way may go without a change, nor a word from its device, before it is poked: as configured, or a quarter of the timeout, 5 to 60 s. */
  get pokeAfterSeconds(): number {
    return this.#o.pokeAfterSeconds ?? Math.max(5, Math.min(60, Math.floor(this.#o.updateTimeoutSeconds / 4)));
  }

  async sweep(): Promise<void> {
    await this.#pokeQuiet();
    await this.#sweepOverdue();
  }

  async #pokeQuiet(): Promise<void> {
    const quietMs = this.pokeAfterSeconds * 1000;
    const now = Date.now();
    const me = this.#o.nodeId?.();
    for (const u of await updates.quietUpdates(this.#o.db, this.pokeAfterSeconds)) {
      if (now - (this.#poked.get(u.id) ?? 0) < quietMs) continue;
      if (!this.#o.follows(u.id) && me && u.ownerNode && u.ownerNode !== me) continue;
      if (u.status !== 'registered' || this.#heardWithin(u, quietMs) || this.#asleep(u)) continue;
      this.#poked.set(u.id, now);
      this.#o.emit(u.id, 'poke');
    }
  }

  async #sweepOverdue(): Promise<void> {
    const timeoutMs = this.#o.updateTimeoutSeconds * 1000;
    const horizon = Date.now() - timeoutMs;
    for (const [peer, at] of this.#activity) if (at < horizon) this.#activity.delete(peer);
    const me = this.#o.nodeId?.();
    for (const u of await updates.overdueUpdates(this.#o.db)) {
      if (me && u.ownerNode && u.ownerNode !== me && (u.deadline?.getTime() ?? 0) > horizon) continue;
      const asleep = this.#asleep(u);
      if (asleep || this.#heardWithin(u, timeoutMs)) {
        await updates.extendDeadline(this.#o.db, u.id, this.#o.updateTimeoutSeconds);
        if (!asleep && u.state !== 'queued') this.#o.emit(u.id, 'poke');
      } else {
        this.#o.emit(u.id, 'timeout');
      }
    }
  }

  #heardWithin(d: Peer, ms: number): boolean {
    const at = d.address ? this.#activity.get(`${d.address}:${d.port}`) : undefined;
    return at !== undefined && Date.now() - at < ms;
  }

  /** A queue-mode device asleep with our requests held for it: not silent, they go out when it next talks. */
  #asleep(d: Peer): boolean {
    return d.queueMode && d.status === 'registered' && this.#o.dm.heldFor(d.endpoint) > 0;
  }
}
