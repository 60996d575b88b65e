/**
 * The update engine's watchdog: when each update was last poked, and the periodic sweep that
 * queries the updates gone quiet or overdue, asks watchdog-decide.ts what to make of them (with
 * when their devices were last heard, activity.ts) and does it: moves deadlines on, and hands the
 * engine an event ('poke': read where the device is; 'timeout'). It sends nothing to a device itself.
 */
import type { Db } from '../store/db.ts';
import * as updates from '../store/updates.ts';
import type { DeviceActivity } from './activity.ts';
import type { DevicePort } from './device-port.ts';
import { overdueActions, pokeAfterSeconds, quietActions, type WatchAction, type Watched, type WatchState } from './watchdog-decide.ts';

export interface WatchdogOptions {
  db: Db;
  dm: Pick<DevicePort, 'heldFor'>;
  /** When each device was last heard from (activity.ts). */
  activity: DeviceActivity;
  updateTimeoutSeconds: number;
  /** Overrides the default quiet interval (`pokeAfterSeconds`). */
  pokeAfterSeconds?: number | undefined;
  /** This node's name, as in devices.owner_node. */
  nodeId?: (() => string) | undefined;
  /** The engine follows (observes) this update. */
  follows(updateId: number): boolean;
  emit(updateId: number, event: 'poke' | 'timeout'): void;
}

export class UpdateWatchdog {
  readonly #o: WatchdogOptions;
  /** When each update was last poked for being quiet (ms). */
  readonly #poked = new Map<number, number>();

  constructor(o: WatchdogOptions) {
    this.#o = o;
  }

  /** The update is final: nothing more to watch. */
  forget(updateId: number): void {
    this.#poked.delete(updateId);
  }

  /** Seconds an update under way may go without a change, nor a word from its device, before it is poked. */
  get pokeAfterSeconds(): number {
    return pokeAfterSeconds(this.#o.updateTimeoutSeconds, this.#o.pokeAfterSeconds);
  }

  async sweep(): Promise<void> {
    const quiet = await updates.quietUpdates(this.#o.db, this.pokeAfterSeconds);
    const now = Date.now();
    for (const a of quietActions(quiet, this.#state(quiet, now), this.pokeAfterSeconds)) {
      this.#poked.set(a.updateId, now);
      await this.#apply(a);
    }
    const horizon = Date.now() - this.#o.updateTimeoutSeconds * 1000;
    this.#o.activity.prune(horizon);
    const overdue = await updates.overdueUpdates(this.#o.db);
    for (const a of overdueActions(overdue, this.#state(overdue, Date.now()), this.#o.updateTimeoutSeconds)) await this.#apply(a);
  }

  #state(rows: readonly Watched[], now: number): WatchState {
    return {
      now, activity: this.#o.activity.byPeer, poked: this.#poked, nodeId: this.#o.nodeId?.(),
      followed: new Set(rows.filter((u) => this.#o.follows(u.id)).map((u) => u.id)),
      held: new Map(rows.map((u) => [u.endpoint, this.#o.dm.heldFor(u.endpoint)])),
    };
  }

  async #apply(a: WatchAction): Promise<void> {
    if (a.type === 'extendDeadline') await updates.extendDeadline(this.#o.db, a.updateId, this.#o.updateTimeoutSeconds);
    else this.#o.emit(a.updateId, a.type);
  }
}
