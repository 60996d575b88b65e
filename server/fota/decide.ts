/**
 * The update engine's decisions, pure: given an update's server-side state and one event, say
 * the next state and the commands to send. No I/O here; `engine.ts` persists and sends.
 *
 * Server states (DESIGN.md "One device update"): queued → sent → downloading → downloaded →
 * updating → succeeded | failed | cancelled. Device states are LwM2M Object 5 State (/5/0/3).
 */
import { DeliveryMethod, FirmwareState, FirmwareUpdateProtocol, protocolName, UpdateResult, updateResultName } from '../../protocols/objects.ts';
import type { Delivery, UpdateState } from '../store/rows.ts';

export type UpdateEvent =
  | { type: 'registered' }                    // the device registered (again): observations are gone
  | { type: 'written' }                       // the Package URI write was acknowledged
  // /5/0/9 Delivery Method and /5/0/8 Protocol Support as read; null where the device has no such resource
  // and /5/0/3 State, so a download left over from an earlier try can be reset first
  | { type: 'deliveryMethod'; value: number | null; protocols: readonly number[] | null; deviceState?: number | null }
  | { type: 'pushed' }                        // the Block1 Write of /5/0/0 ended with 2.04 Changed
  | { type: 'executed' }                      // the Update execute was acknowledged
  | { type: 'state'; value: number }          // /5/0/3, notified or read
  | { type: 'result'; value: number }         // /5/0/5, notified or read
  | { type: 'firmwareVersion'; value: string | null } // /3/0/3 read once the device reports success
  /** resultCode: the Update Result (/5/0/5) the device showed after the failure, when it was read. */
  | { type: 'commandFailed'; command: Command['type']; reason: string; resultCode?: number }
  | { type: 'timeout' };

export type Command =
  | { type: 'observe' }                       // Observe /5/0/3 and /5/0/5
  | { type: 'readDeliveryMethod' }            // Read /5/0/9 and /5/0/8
  | { type: 'resetPackageUri' }               // Write /5/0/1 = '' (Object 5: resets the state machine to Idle)
  | { type: 'writePackageUri' }               // Write /5/0/1 (pull)
  | { type: 'pushPackage' }                   // Write /5/0/0 with Block1, content-format 42 (push)
  | { type: 'executeUpdate' }                 // Execute /5/0/2
  | { type: 'readResult' }                    // Read /5/0/5 (and /5/0/3)
  | { type: 'readFirmwareVersion' };          // Read /3/0/3

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

const NOTHING: Decision = { commands: [] };

export function decide(state: UpdateState, event: UpdateEvent, expectedVersion: string): Decision {
  if (state === 'succeeded' || state === 'failed' || state === 'cancelled') return NOTHING;

  switch (event.type) {
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
      return { commands: [{ type: 'observe' }, { type: 'readResult' }] };

    case 'deliveryMethod': {
      if (state !== 'queued') return NOTHING;
      const choice = chooseDelivery(event.value, event.protocols);
      if ('refused' in choice) return { to: 'failed', reason: choice.refused, commands: [] };
      // A device still Downloading or Downloaded from an earlier try takes no new package until an
      // empty Package URI resets it (LwM2M 1.1 Object 5, resource 1).
      const reset: Command[] = event.deviceState === FirmwareState.DOWNLOADING || event.deviceState === FirmwareState.DOWNLOADED
        ? [{ type: 'resetPackageUri' }] : [];
      // Push: 'sent' when the transfer starts (it may take long; the device answers every block).
      if (choice.method === 'push') return { to: 'sent', delivery: choice, commands: [...reset, { type: 'pushPackage' }] };
      return { delivery: choice, commands: [...reset, { type: 'writePackageUri' }] };
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
      if (event.value === FirmwareState.UPDATING && state === 'downloaded') return { to: 'updating', commands: [] };
      return NOTHING;

    case 'result':
      // Before the device starts this download its Update Result may still show the previous
      // update's outcome: it is reset to 0 when a new Package URI is written (LwM2M Object 5).
      if (state === 'queued') return NOTHING;
      if (event.value === UpdateResult.SUCCESS) {
        return state === 'updating' ? { commands: [{ type: 'readFirmwareVersion' }] } : NOTHING;
      }
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
export function chooseDelivery(method: number | null, protocols: readonly number[] | null): { method: Delivery; why: string } | { refused: string } {
  if (method === DeliveryMethod.PUSH_ONLY) return { method: 'push', why: 'Delivery Method 1 (push only)' };
  const named = method === DeliveryMethod.PULL_ONLY ? 'Delivery Method 0 (pull only)'
    : method === DeliveryMethod.BOTH ? 'Delivery Method 2 (pull or push)'
      : method === null ? 'no Delivery Method (/5/0/9): pull' : `unknown Delivery Method ${method}: pull`;
  if (protocols === null || protocols.length === 0 || protocols.includes(PULL_PROTOCOL)) return { method: 'pull', why: named };
  const over = protocols.map(protocolName).join(', ');
  if (method === DeliveryMethod.BOTH) return { method: 'push', why: `${named}, but it pulls over ${over} only, not CoAP` };
  return { refused: `the device pulls over ${over} only and takes no push; Ferry serves firmware over CoAP` };
}
