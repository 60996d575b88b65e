/**
 * The update engine's decisions, pure: given an update's server-side state and one event, say
 * the next state and the commands to send. No I/O here; `engine.ts` persists and sends.
 *
 * Server states: queued → sent → downloading → downloaded →
 * updating → succeeded | failed | cancelled. Device states are LwM2M Object 5 State (/5/0/3).
 */
import { DeliveryMethod, FirmwareState, FirmwareUpdateProtocol, protocolName, UpdateResult, updateResultName } from '../../protocols/objects.ts';
import { isFinal, type Delivery, type UpdateState } from './model.ts';

export type UpdateEvent =
  | { type: 'registered' }                    // the device registered (again): observations are gone
  | { type: 'written' }                       // the Package URI write was acknowledged
  // /5/0/9 Delivery Method and /5/0/8 Protocol Support as read; null where the device has no such resource
  // and /5/0/3 State, so a download left over from an earlier try can be reset first
  // and, from an Object 5 1.1 device, /5/0/13 Maximum Defer Period (seconds)
  | { type: 'deliveryMethod'; value: number | null; protocols: readonly number[] | null; deviceState?: number | null; maxDeferPeriod?: number | null }
  | { type: 'pushed' }                        // the Block1 Write of /5/0/0 ended with 2.04 Changed
  | { type: 'executed' }                      // the Update execute was acknowledged
  // /5/0/3 and /5/0/5, notified or read; a notification carries its arrival number (see UpdateContext.writtenAt)
  | { type: 'state'; value: number; arrival?: number }
  | { type: 'result'; value: number; arrival?: number }
  | { type: 'firmwareVersion'; value: string | null } // /3/0/3 read once the device reports success
  /** resultCode: the Update Result (/5/0/5) the device showed after the failure, when it was read. */
  | { type: 'commandFailed'; command: Command['type']; reason: string; resultCode?: number }
  /** /5/0/3 State and /5/0/5 Update Result, read after the device (re)registered or this process took the update up. */
  | { type: 'found'; state: number; result: number }
  | { type: 'timeout' }
  | { type: 'poke' }                          // past its deadline, the device talking: where is it?
  | { type: 'cancel'; reason: string }        // an operator (a campaign's abort) calls the update off
  | { type: 'cancelled' };                    // the Cancel execute (/5/0/10) was acknowledged

export type Command =
  | { type: 'observe' }                       // Observe /5/0/3 and /5/0/5
  | { type: 'readDeliveryMethod' }            // Read /5/0/9, /5/0/8, /5/0/3 (and /5/0/13): deliveryReads, object5.ts
  | { type: 'resetPackageUri' }               // Write /5/0/1 = '' (Object 5: resets the state machine to Idle)
  | { type: 'writePackageUri' }               // Write /5/0/1 (pull)
  | { type: 'pushPackage' }                   // Write /5/0/0 with Block1, content-format 42 (push)
  | { type: 'executeUpdate' }                 // Execute /5/0/2
  | { type: 'readResult' }                    // Read /5/0/5 (and /5/0/3)
  // Read /5/0/3 and /5/0/5 as one 'found' event (where is the device?); quiet: a failed read changes nothing;
  // takeUp: this process does not follow the update: once the device answers, observe it again (a failed observe changes nothing)
  | { type: 'readStatus'; quiet?: true; takeUp?: true }
  | { type: 'readFirmwareVersion' }           // Read /3/0/3
  | { type: 'writeSeverity'; value: number }  // Write /5/0/11 (Object 5 1.1), before the package
  | { type: 'executeCancel' };                // Execute /5/0/10 (Object 5 1.1)

/** What the update asks beyond the image, and what the device's Object 5 allows. */
export interface UpdateContext {
  /** A delivery to use where the device can take it (a campaign's policy); null: the device's choice. */
  deliveryPolicy?: Delivery | null;
  /** Severity to write: set only when there is one and the device has Object 5 1.1. */
  severity?: number | null;
  /** The device's Object 5 has Cancel (/5/0/10, version 1.1). */
  canCancel?: boolean;
  /** The delivery chosen for this update, once chosen. */
  delivery?: Delivery | null;
  /**
   * The arrival number of the last Package URI write (or push, or reset) sent, 0 before any:
   * a notification that arrived before it tells of the device's previous package (it may still
   * have been queued behind that write's outcome) and is ignored. Not "before it was
   * acknowledged": the device moves on as soon as it takes the write, and its ACK may be lost.
   */
  writtenAt?: number;
  /** False: no process follows (observes) the update any more (this one restarted, or another node started it). */
  followed?: boolean;
}

export interface Decision {
  to?: UpdateState;
  resultCode?: number;
  reason?: string;
  reportedVersion?: string;
  versionMismatch?: boolean;
  /** How the package goes to the device, decided once per update (recorded before `to`), and why. */
  delivery?: { method: Delivery; why: string };
  commands: Command[];
}

/**
 * One update's context, from its row and what the device registered: Severity (res. 11) and Cancel
 * (res. 10) are Object 5 1.1's, so a 1.0 device gets neither; a Severity is written only when the
 * update asks for one (a campaign's always does).
 */
export function updateContext(
  update: { requestedDelivery: Delivery | null; severity: number | null; delivery: Delivery | null },
  o: { object5v11: boolean; writtenAt: number; followed: boolean },
): UpdateContext {
  return {
    deliveryPolicy: update.requestedDelivery, severity: o.object5v11 ? update.severity : null, canCancel: o.object5v11,
    delivery: update.delivery, writtenAt: o.writtenAt, followed: o.followed,
  };
}

const NOTHING: Decision = { commands: [] };

export function decide(state: UpdateState, event: UpdateEvent, expectedVersion: string, ctx: UpdateContext = {}): Decision {
  if (isFinal(state)) return NOTHING;
  if ((event.type === 'state' || event.type === 'result') && event.arrival !== undefined && event.arrival < (ctx.writtenAt ?? 0)) return NOTHING;

  switch (event.type) {
    case 'cancel':
      // Nothing written yet: off at once. Downloading or Downloaded: Cancel where the device has it.
      // Updating (or no Cancel): it finishes or times out.
      if (state === 'queued') return { to: 'cancelled', reason: event.reason, commands: [] };
      if (ctx.canCancel && (state === 'sent' || state === 'downloading' || state === 'downloaded')) return { commands: [{ type: 'executeCancel' }] };
      return NOTHING;

    case 'cancelled':
      return state === 'updating' ? NOTHING
        : { to: 'cancelled', resultCode: UpdateResult.CANCELLED, reason: 'cancelled through /5/0/10', commands: [] };

    case 'timeout':
      return { to: 'failed', reason: 'timeout: the device went silent', commands: [] };

    case 'commandFailed': {
      const result = event.resultCode !== undefined && event.resultCode >= UpdateResult.NOT_ENOUGH_FLASH ? event.resultCode : undefined;
      return {
        to: 'failed', reason: `${event.command} failed: ${event.reason}${result === undefined ? '' : ` (Update Result ${result}: ${updateResultName(result)})`}`,
        ...(result === undefined ? {} : { resultCode: result }), commands: [],
      };
    }

    case 'registered':
      // A device loses its observations when it reboots: observe again, then look where it is.
      if (state === 'queued') return { commands: [{ type: 'observe' }, { type: 'readDeliveryMethod' }] };
      return { commands: [{ type: 'observe' }, { type: 'readStatus' }] };

    case 'poke':
      // Quiet: a device busy installing (or rebooting) may not answer, and that is no failure.
      // Nobody following it: the device that answers is observed again, so the update goes on from there.
      return state === 'queued' ? NOTHING : { commands: [{ type: 'readStatus', quiet: true, ...(ctx.followed === false ? { takeUp: true as const } : {}) }] };

    case 'found': {
      // Whoever was delivering is gone (this read follows a reboot or a take-over, and a push runs
      // inline, so none is running here): a device Idle with nothing to report while its package
      // should be on the way or in place, or Downloading a push nobody sends, has lost it. The
      // update fails with that reason, so a campaign retries it, instead of waiting on a device
      // that keeps talking and never moves on.
      const onTheWay = state === 'sent' || state === 'downloading';
      const lost = (onTheWay && event.state === FirmwareState.IDLE && event.result <= UpdateResult.SUCCESS)
        || (state === 'downloaded' && event.state === FirmwareState.IDLE && event.result === UpdateResult.INITIAL);
      if (lost) return { to: 'failed', reason: `interrupted: the device is Idle (Update Result ${event.result}) with the package ${state === 'downloaded' ? 'gone' : 'not on its way'}`, commands: [] };
      if (onTheWay && ctx.delivery === 'push' && event.state === FirmwareState.DOWNLOADING) {
        return { to: 'failed', reason: 'interrupted: the push was cut off (the device is still Downloading, nobody is sending)', commands: [] };
      }
      const r = decide(state, { type: 'result', value: event.result }, expectedVersion, ctx);
      return r.to !== undefined || r.commands.length > 0 ? r : decide(state, { type: 'state', value: event.state }, expectedVersion, ctx);
    }

    case 'deliveryMethod': {
      if (state !== 'queued') return NOTHING;
      const choice = chooseDelivery(event.value, event.protocols, ctx.deliveryPolicy ?? null);
      if ('refused' in choice) return { to: 'failed', reason: choice.refused, commands: [] };
      // A device still Downloading or Downloaded from an earlier try takes no new package until an
      // empty Package URI resets it (LwM2M 1.1 Object 5, resource 1).
      const reset: Command[] = event.deviceState === FirmwareState.DOWNLOADING || event.deviceState === FirmwareState.DOWNLOADED
        ? [{ type: 'resetPackageUri' }] : [];
      // LwM2M 1.1 Object 5 res. 11: Severity is written before the package, so the device may defer by it.
      const first: Command[] = ctx.severity === undefined || ctx.severity === null ? [...reset] : [...reset, { type: 'writeSeverity', value: ctx.severity }];
      // Push: 'sent' when the transfer starts (it may take long; the device answers every block).
      if (choice.method === 'push') return { to: 'sent', delivery: choice, commands: [...first, { type: 'pushPackage' }] };
      return { delivery: choice, commands: [...first, { type: 'writePackageUri' }] };
    }

    case 'written':
      return state === 'queued' ? { to: 'sent', commands: [] } : NOTHING;

    case 'pushed':
      // The last block is in: look at State in case its notification is lost (Downloaded → Execute).
      return state === 'sent' || state === 'downloading' ? { commands: [{ type: 'readResult' }] } : NOTHING;

    case 'executed':
      return state === 'downloaded' ? { to: 'updating', commands: [] } : NOTHING;

    case 'state':
      if (event.value === FirmwareState.DOWNLOADING && (state === 'sent')) return { to: 'downloading', commands: [] };
      if (event.value === FirmwareState.DOWNLOADED && (state === 'sent' || state === 'downloading')) {
        return { to: 'downloaded', commands: [{ type: 'executeUpdate' }] };
      }
      // Downloaded on both sides: the Execute was never acknowledged (it is, inline, before any later
      // event), e.g. the process that sent it died: send it again.
      if (event.value === FirmwareState.DOWNLOADED && state === 'downloaded') return { commands: [{ type: 'executeUpdate' }] };
      if (event.value === FirmwareState.UPDATING && state === 'downloaded') return { to: 'updating', commands: [] };
      return NOTHING;

    case 'result':
      // Before the device starts this download its Update Result may still show the previous
      // update's outcome: it is reset to 0 when a new Package URI is written (LwM2M Object 5).
      if (state === 'queued') return NOTHING;
      if (event.value === UpdateResult.SUCCESS) {
        if (state === 'updating') return { commands: [{ type: 'readFirmwareVersion' }] };
        // Downloaded: the device reset its result when it took our package, so this 1 is ours;
        // the 'executed' acknowledgement was lost (a restart): Updating, then prove it with /3/0/3.
        return state === 'downloaded' ? { to: 'updating', commands: [{ type: 'readFirmwareVersion' }] } : NOTHING;
      }
      if (event.value === UpdateResult.CANCELLED) return { to: 'cancelled', resultCode: event.value, reason: updateResultName(event.value), commands: [] };
      if (event.value >= UpdateResult.NOT_ENOUGH_FLASH) {
        return { to: 'failed', resultCode: event.value, reason: updateResultName(event.value), commands: [] };
      }
      return NOTHING;

    case 'firmwareVersion': {
      if (state !== 'updating') return NOTHING;
      const reported = event.value;
      if (reported === null) {
        return { to: 'succeeded', resultCode: UpdateResult.SUCCESS, reason: 'firmware version (/3/0/3) unreadable', commands: [] };
      }
      const mismatch = reported !== expectedVersion;
      return {
        to: 'succeeded', resultCode: UpdateResult.SUCCESS, reportedVersion: reported, versionMismatch: mismatch,
        ...(mismatch ? { reason: `device reports firmware version ${reported}, image is ${expectedVersion}` } : {}),
        commands: [],
      };
    }
  }
}

/** The Package URI Ferry writes is coap:// (the download socket). */
const PULL_PROTOCOL = FirmwareUpdateProtocol.COAP;

/**
 * Push or pull, from Object 5 resources 9 (Delivery Method) and 8 (Protocol Support):
 * push-only → push; pull-only or both → pull (stateless on the server, resumable by the device),
 * unless the device cannot pull over CoAP: then push if it takes push, else no way to deliver.
 * A device without resource 9 (optional in Object 5 1.0) pulls; without resource 8, over CoAP.
 */
export function chooseDelivery(
  method: number | null, protocols: readonly number[] | null, prefer: Delivery | null = null,
): { method: Delivery; why: string } | { refused: string } {
  const pulls = protocols === null || protocols.length === 0 || protocols.includes(PULL_PROTOCOL);
  // A campaign's delivery policy wins where the device takes it; otherwise the device's choice below.
  if (prefer === 'push' && (method === DeliveryMethod.PUSH_ONLY || method === DeliveryMethod.BOTH)) return { method: 'push', why: `policy push, Delivery Method ${method}` };
  if (prefer === 'pull' && method !== DeliveryMethod.PUSH_ONLY && pulls) return { method: 'pull', why: `policy pull, ${method === null ? 'no Delivery Method (/5/0/9)' : `Delivery Method ${method}`}` };
  if (method === DeliveryMethod.PUSH_ONLY) return { method: 'push', why: 'Delivery Method 1 (push only)' };
  const named = method === DeliveryMethod.PULL_ONLY ? 'Delivery Method 0 (pull only)'
    : method === DeliveryMethod.BOTH ? 'Delivery Method 2 (pull or push)'
      : method === null ? 'no Delivery Method (/5/0/9): pull' : `unknown Delivery Method ${method}: pull`;
  if (pulls) return { method: 'pull', why: named };
  const over = protocols.map(protocolName).join(', ');
  if (method === DeliveryMethod.BOTH) return { method: 'push', why: `${named}, but it pulls over ${over} only, not CoAP` };
  return { refused: `the device pulls over ${over} only and takes no push; Ferry serves firmware over CoAP` };
}
