/**
 * The update domain's vocabulary, shared by the pure decisions (decide.ts, campaign-decide.ts),
 * the engine and the store: an update's server states, how a package reaches a device, and what a
 * campaign asks for. No I/O, no imports.
 */

/** An update's server state: queued → sent → downloading → downloaded → updating → succeeded | failed | cancelled. */
export type UpdateState =
  | 'queued' | 'sent' | 'downloading' | 'downloaded' | 'updating'
  | 'succeeded' | 'failed' | 'cancelled';

/** The states an update ends in: nothing moves it on from there. */
export const FINAL_STATES: readonly UpdateState[] = ['succeeded', 'failed', 'cancelled'];

export function isFinal(state: UpdateState): boolean {
  return FINAL_STATES.includes(state);
}

/** How a package reaches the device: the device pulls the Package URI, or the server pushes /5/0/0. */
export type Delivery = 'pull' | 'push';

/** A wave as given: "10%" (of the target, rounded up) or a count of devices; cumulative. */
export type WaveSpec = string | number;

export interface CampaignPolicy {
  waves: WaveSpec[];
  soakSeconds: number;
  /** Updates in flight at once. */
  concurrency: number;
  /** Fraction of a wave's devices (skipped ones aside) that may fail before the campaign pauses itself. */
  failureThreshold: number;
  retries: { max: number; backoffSeconds: number; factor: number };
  /** Daily, UTC: new updates start only at startHour ≤ hour < endHour (wrapping past midnight when start > end). */
  window?: { startHour: number; endHour: number };
  delivery: 'pull' | 'push' | 'device';
  severity: 'critical' | 'mandatory' | 'optional';
  /** When the failure threshold pauses the campaign, revert it too (its devices updated go back); absent in older campaigns: false. */
  autoRevert?: boolean;
}

export type CampaignState = 'draft' | 'scheduled' | 'running' | 'paused' | 'completed' | 'aborted';
export type CampaignDeviceState = 'pending' | 'claimed' | 'in_progress' | 'succeeded' | 'failed' | 'skipped' | 'cancelled' | 'deferred';
