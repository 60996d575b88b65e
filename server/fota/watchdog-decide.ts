/**
 * The update watchdog's decisions, pure: given the time, the updates gone quiet or overdue (each
 * with what the watchdog needs of its device), when each device was last heard from, when each
 * update was last poked, which updates this process follows and how many requests are held for
 * each device, say what to do: poke (read where the device is), time out, or move the deadline on.
 * No I/O here; `watchdog.ts` queries, keeps the maps and acts.
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
import type { UpdateState } from './model.ts';

/** An update the watchdog looks at, with what it needs of its device. */
export interface Watched {
  id: number;
  state: UpdateState;
  deadline: Date | null;
  endpoint: string;
  address: string | null;
  port: number | null;
  /** The device's registration status ('registered', 'expired', 'deregistered', 'provisioned'). */
  status: string;
  queueMode: boolean;
  /** The node holding the device's UDP binding. */
  ownerNode: string | null;
}

export type WatchAction =
  | { type: 'poke'; updateId: number }
  | { type: 'timeout'; updateId: number }
  | { type: 'extendDeadline'; updateId: number };

/** What the watchdog knows besides the updates. */
export interface WatchState {
  /** The time, ms since the epoch. */
  now: number;
  /** When each device was last heard from (ms), by "address:port": registrations and download blocks count. */
  activity: ReadonlyMap<string, number>;
  /** When each update was last poked for being quiet (ms). */
  poked: ReadonlyMap<number, number>;
  /** This node's name, as in devices.owner_node; undefined: the only node. */
  nodeId: string | undefined;
  /** The updates this process follows (observes). */
  followed: ReadonlySet<number>;
  /** Requests held for each device (queue mode, asleep), by endpoint; absent: none. */
  held: ReadonlyMap<string, number>;
}

/** Seconds an update under way may go without a change, nor a word from its device, before it is poked: as configured, or a quarter of the timeout, 5 to 60 s. */
export function pokeAfterSeconds(updateTimeoutSeconds: number, configured?: number): number {
  return configured ?? Math.max(5, Math.min(60, Math.floor(updateTimeoutSeconds / 4)));
}

/** Quiet updates (under way, unchanged for `quietSeconds`): which to poke. */
export function quietActions(quiet: readonly Watched[], s: WatchState, quietSeconds: number): WatchAction[] {
  const quietMs = quietSeconds * 1000;
  const actions: WatchAction[] = [];
  for (const u of quiet) {
    if (s.now - (s.poked.get(u.id) ?? 0) < quietMs) continue;
    if (!s.followed.has(u.id) && s.nodeId && u.ownerNode && u.ownerNode !== s.nodeId) continue;
    if (u.status !== 'registered' || heardWithin(s, u, quietMs) || asleep(s, u)) continue;
    actions.push({ type: 'poke', updateId: u.id });
  }
  return actions;
}

/** Overdue updates (past their deadline): move the deadline on (and poke), or time out. */
export function overdueActions(overdue: readonly Watched[], s: WatchState, updateTimeoutSeconds: number): WatchAction[] {
  const timeoutMs = updateTimeoutSeconds * 1000;
  const horizon = s.now - timeoutMs;
  const actions: WatchAction[] = [];
  for (const u of overdue) {
    if (s.nodeId && u.ownerNode && u.ownerNode !== s.nodeId && (u.deadline?.getTime() ?? 0) > horizon) continue;
    const sleeping = asleep(s, u);
    if (sleeping || heardWithin(s, u, timeoutMs)) {
      actions.push({ type: 'extendDeadline', updateId: u.id });
      if (!sleeping && u.state !== 'queued') actions.push({ type: 'poke', updateId: u.id });
    } else {
      actions.push({ type: 'timeout', updateId: u.id });
    }
  }
  return actions;
}

function heardWithin(s: WatchState, u: Watched, ms: number): boolean {
  const at = u.address ? s.activity.get(`${u.address}:${u.port}`) : undefined;
  return at !== undefined && s.now - at < ms;
}

/** A queue-mode device asleep with our requests held for it: not silent, they go out when it next talks. */
function asleep(s: WatchState, u: Watched): boolean {
  return u.queueMode && u.status === 'registered' && (s.held.get(u.endpoint) ?? 0) > 0;
}
