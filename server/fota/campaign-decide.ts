/**
 * A campaign's decisions, pure: given the campaign, how many of its devices are in which state and
 * the time, say what to do next (claim devices, let a wave soak, move to the next wave, pause on
 * the failure threshold, complete), and what one device's finished update means for it (done,
 * retry after a backoff, deferred). No I/O here; `campaigns.ts` persists and acts.
 */
import { UpdateResult } from '../../protocols/objects.ts';
import type { CampaignDeviceState, CampaignPolicy, CampaignState, UpdateState, WaveSpec } from './model.ts';

/** "10%" → { percent: 10 }; 25 → { count: 25 }; anything else → null. */
export function parseWave(w: WaveSpec): { percent: number } | { count: number } | null {
  if (typeof w === 'number') return Number.isInteger(w) && w >= 1 ? { count: w } : null;
  const m = /^(\d{1,3}(?:\.\d+)?)%$/.exec(w);
  if (!m) return null;
  const percent = Number(m[1]);
  return percent > 0 && percent <= 100 ? { percent } : null;
}

/** Why a list of waves is unusable, or null: each parses, and each kind grows strictly. */
export function wavesProblem(waves: readonly WaveSpec[]): string | null {
  if (waves.length === 0) return 'waves: give at least one wave';
  let percent = 0;
  let count = 0;
  for (const [i, w] of waves.entries()) {
    const p = parseWave(w);
    if (p === null) return `waves[${i}]: ${JSON.stringify(w)} is neither a percentage like "10%" (above 0, at most 100) nor a count of at least 1`;
    if ('percent' in p) {
      if (p.percent <= percent) return `waves[${i}]: ${w} must be above the previous wave's ${percent}% (waves are cumulative)`;
      percent = p.percent;
    } else {
      if (p.count <= count) return `waves[${i}]: ${w} must be above the previous wave's ${count} devices (waves are cumulative)`;
      count = p.count;
    }
  }
  return null;
}

/**
 * Cumulative wave ends for a target of `total` devices: percentages rounded up, counts capped at
 * the total, never below the previous wave; the last wave always ends at the total (everyone).
 */
export function waveEnds(total: number, waves: readonly WaveSpec[]): number[] {
  let previous = 0;
  const ends = waves.map((w) => {
    const p = parseWave(w);
    const size = p === null ? total : 'percent' in p ? Math.ceil((p.percent * total) / 100 - 1e-9) : Math.min(p.count, total);
    previous = Math.max(previous, Math.min(size, total));
    return previous;
  });
  if (ends.length > 0) ends[ends.length - 1] = total;
  return ends;
}

/** The wave (1-based) of each of `total` devices in their fixed order. */
export function assignWaves(total: number, waves: readonly WaveSpec[]): number[] {
  const ends = waveEnds(total, waves);
  const out: number[] = [];
  let wave = 0;
  for (let i = 0; i < total; i++) {
    while (i >= ends[wave]!) wave += 1;
    out.push(wave + 1);
  }
  return out;
}

/** Inside the daily UTC maintenance window (no window: always). */
export function inWindow(window: CampaignPolicy['window'], now: Date): boolean {
  if (window === undefined) return true;
  const h = now.getUTCHours();
  return window.startHour < window.endHour ? h >= window.startHour && h < window.endHour : h >= window.startHour || h < window.endHour;
}

/** Seconds before retry number `failures` (1 = the first retry): base × factor^(failures − 1). */
export function backoffSeconds(retries: CampaignPolicy['retries'], failures: number): number {
  return Math.round(retries.backoffSeconds * retries.factor ** Math.max(0, failures - 1));
}

/** Counts of one wave's devices by state. */
export type WaveCounts = Record<CampaignDeviceState, number>;

export function emptyCounts(): WaveCounts {
  return { pending: 0, claimed: 0, in_progress: 0, succeeded: 0, failed: 0, skipped: 0, cancelled: 0, deferred: 0 };
}

export const total = (c: WaveCounts): number => Object.values(c).reduce((a, b) => a + b, 0);
const open = (c: WaveCounts): number => c.pending + c.claimed + c.in_progress + c.deferred;

export interface TickInput {
  state: CampaignState;
  currentWave: number;
  waveCount: number;
  waveDoneAt: Date | null;
  /** Failures of the current wave an operator resumed past. */
  ackedFailed: number;
  policy: CampaignPolicy;
  /** counts[w] for waves 1 … waveCount (index 0 unused). */
  counts: readonly WaveCounts[];
  now: Date;
}

export type TickDecision =
  | { kind: 'wait'; why: string }
  | { kind: 'claim'; upToWave: number; limit: number }
  | { kind: 'pause'; reason: string; data: { wave: number; failed: number; devices: number; threshold: number } }
  | { kind: 'wave-done'; wave: number }
  | { kind: 'advance'; to: number }
  | { kind: 'complete' };

export function decideTick(t: TickInput): TickDecision {
  if (t.state !== 'running') return { kind: 'wait', why: `campaign is ${t.state}` };
  const w = t.currentWave;
  const c = t.counts[w] ?? emptyCounts();
  const devices = total(c) - c.skipped;
  const failed = c.failed - t.ackedFailed;
  if (devices > 0 && failed / devices > t.policy.failureThreshold) {
    const pct = (x: number) => `${Math.round(x * 1000) / 10}%`;
    return {
      kind: 'pause',
      reason: `wave ${w}: ${c.failed} of ${devices} devices failed (${pct(c.failed / devices)}), above the failure threshold of ${pct(t.policy.failureThreshold)}`,
      data: { wave: w, failed: c.failed, devices, threshold: t.policy.failureThreshold },
    };
  }
  if (open(c) === 0) {
    // Started with no device (allowEmpty, a scheduled start, a revert of devices offline): it waits for devices that register and match.
    if (t.counts.every((k) => !k || total(k) === 0)) return { kind: 'wait', why: 'no device yet: devices that register and match the target join it' };
    if (w >= t.waveCount) return { kind: 'complete' };
    if (t.policy.soakSeconds === 0) return { kind: 'advance', to: w + 1 };
    if (t.waveDoneAt === null) return { kind: 'wave-done', wave: w };
    const soaked = (t.now.getTime() - t.waveDoneAt.getTime()) / 1000;
    return soaked >= t.policy.soakSeconds ? { kind: 'advance', to: w + 1 } : { kind: 'wait', why: `wave ${w} soaking (${Math.floor(soaked)} of ${t.policy.soakSeconds} s)` };
  }
  if (!inWindow(t.policy.window, t.now)) return { kind: 'wait', why: 'outside the maintenance window' };
  const inFlight = t.counts.reduce((a, k) => a + (k ? k.claimed + k.in_progress : 0), 0);
  const limit = t.policy.concurrency - inFlight;
  if (limit <= 0) return { kind: 'wait', why: `${inFlight} updates in flight (concurrency ${t.policy.concurrency})` };
  if (c.pending + c.deferred === 0) return { kind: 'wait', why: `wave ${w}: the rest are in flight` };
  return { kind: 'claim', upToWave: w, limit };
}

export type DeviceOutcome =
  | { state: 'succeeded' | 'failed' | 'cancelled' }
  /** Try again after `retryInSeconds`; `deferred` when the device put it off (Update Result 11): not an attempt used up. */
  | { state: 'pending' | 'deferred'; retryInSeconds: number };

/**
 * What a campaign device's finished update means. `attempts` counts the updates started for it,
 * this one included; a deferral gives its attempt back, and is asked again once the device's
 * Maximum Defer Period (/5/0/13, when known) is over — by then the device installs the package
 * on its own (LwM2M 1.1 Object 5), so a retry then finds it updated — plus the first backoff.
 */
export function deviceOutcome(
  update: { state: UpdateState; resultCode: number | null },
  attempts: number,
  retries: CampaignPolicy['retries'],
  maxDeferSeconds: number | null = null,
): DeviceOutcome {
  if (update.state === 'succeeded') return { state: 'succeeded' };
  if (update.state === 'cancelled') return { state: 'cancelled' };
  if (update.resultCode === UpdateResult.DEFERRED) {
    return { state: 'deferred', retryInSeconds: (maxDeferSeconds ?? 0) + backoffSeconds(retries, 1) };
  }
  const failures = attempts;
  if (failures <= retries.max) return { state: 'pending', retryInSeconds: backoffSeconds(retries, failures) };
  return { state: 'failed' };
}

/** Operator actions: the states each may start from, and where it leads. */
export const ACTIONS = {
  start: { from: ['draft', 'scheduled'], to: 'running' },
  pause: { from: ['running'], to: 'paused' },
  resume: { from: ['paused'], to: 'running' },
  abort: { from: ['draft', 'scheduled', 'running', 'paused'], to: 'aborted' },
} as const satisfies Record<string, { from: readonly CampaignState[]; to: CampaignState }>;

export type CampaignAction = keyof typeof ACTIONS;
