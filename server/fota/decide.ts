/**
 * The update engine's decisions, pure: given an update's server-side state and one event, say
 * the next state and the commands to send. No I/O here; `engine.ts` persists and sends.
 *
 * Server states (DESIGN.md "One device update"): queued → sent → downloading → downloaded →
 * updating → succeeded | failed | cancelled. Device states are LwM2M Object 5 State (/5/0/3).
 */
import { FirmwareState, UpdateResult, updateResultName } from '../../protocols/objects.ts';
import type { UpdateState } from '../store/rows.ts';

export type UpdateEvent =
  | { type: 'registered' }                    // the device registered (again): observations are gone
  | { type: 'written' }                       // the Package URI write was acknowledged
  | { type: 'executed' }                      // the Update execute was acknowledged
  | { type: 'state'; value: number }          // /5/0/3, notified or read
  | { type: 'result'; value: number }         // /5/0/5, notified or read
  | { type: 'firmwareVersion'; value: string | null } // /3/0/3 read once the device reports success
  | { type: 'commandFailed'; command: Command['type']; reason: string }
  | { type: 'timeout' };

export type Command =
  | { type: 'observe' }                       // Observe /5/0/3 and /5/0/5
  | { type: 'writePackageUri' }               // Write /5/0/1
  | { type: 'executeUpdate' }                 // Execute /5/0/2
  | { type: 'readResult' }                    // Read /5/0/5 (and /5/0/3)
  | { type: 'readFirmwareVersion' };          // Read /3/0/3

export interface Decision {
  to?: UpdateState;
  resultCode?: number;
  reason?: string;
  reportedVersion?: string;
  versionMismatch?: boolean;
  commands: Command[];
}

const NOTHING: Decision = { commands: [] };

export function decide(state: UpdateState, event: UpdateEvent, expectedVersion: string): Decision {
  if (state === 'succeeded' || state === 'failed' || state === 'cancelled') return NOTHING;

  switch (event.type) {
    case 'timeout':
      return { to: 'failed', reason: 'timeout: the device went silent', commands: [] };

    case 'commandFailed':
      return { to: 'failed', reason: `${event.command} failed: ${event.reason}`, commands: [] };

    case 'registered':
      // A device loses its observations when it reboots: observe again, then look where it is.
      if (state === 'queued') return { commands: [{ type: 'observe' }, { type: 'writePackageUri' }] };
      return { commands: [{ type: 'observe' }, { type: 'readResult' }] };

    case 'written':
      return state === 'queued' ? { to: 'sent', commands: [] } : NOTHING;

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
