/**
 * The fault plan of a fleet run: which device suffers which fault, drawn from a seed so the same
 * seed gives the same plan. A fault is given as a probability (below 1: each device draws) or as
 * a count (1 or more: that many devices, chosen at random). A device gets at most one device
 * fault. Socket faults (loss, latency, jitter, duplication, reordering) hit every device's link
 * (coap/faulty-link.ts), each device with its own seeded stream.
 *
 *   reboot-during-download  the device resets partway through the download; it resumes → 1
 *   power-loss[@step]       the power goes at swap step `step` (or a random one); the swap resumes → 1
 *   bit-flip                one received bit flips; the digest check fails → 5
 *   flash-full              the secondary slot has no room → 2
 *   battery-low             too little battery to update → 8 (11 when it may defer)
 *   crash-before-confirm    the new image crashes before it confirms; the bootloader reverts → 8
 *   never-returns           the device goes dark at Update and never comes back (a server timeout)
 *   observe-lost            no notification reaches the server (each CON notification timed out
 *                           and the observation ended, RFC 7641 §4.5): the server must read → 1
 *   nat-rebind              partway through the download the device's source port changes (a NAT
 *                           mapping renewed): every socket it has moves to a new port. A DTLS
 *                           session with a Connection ID (RFC 9146) carries on; without one the
 *                           device makes a new session, and then (and over plain CoAP) sends a
 *                           registration Update from the new port → 1
 */
import { UpdateResult } from '../protocols/objects.ts';
import { seededRandom } from './clock.ts';
import type { Random } from './clock.ts';
import type { LinkFaults } from './coap/faulty-link.ts';

export const DEVICE_FAULTS = [
  'reboot-during-download',
  'power-loss',
  'bit-flip',
  'flash-full',
  'battery-low',
  'crash-before-confirm',
  'never-returns',
  'observe-lost',
  'nat-rebind',
] as const;
export type DeviceFaultKind = (typeof DEVICE_FAULTS)[number];

export type DeviceFault =
  /** At this fraction of the package. */
  | { kind: 'reboot-during-download'; at: number }
  /** At flash operation `step` of the update boot, or at fraction `at` of it; torn or before. */
  | { kind: 'power-loss'; step: number | undefined; at: number; torn: boolean; offMs: number }
  | { kind: 'bit-flip'; at: number; bit: number }
  | { kind: 'flash-full' }
  | { kind: 'battery-low' }
  | { kind: 'crash-before-confirm'; afterMs: number }
  | { kind: 'never-returns' }
  | { kind: 'observe-lost' }
  /** At this fraction of the package. */
  | { kind: 'nat-rebind'; at: number };

export interface FaultAmount {
  /** Below 1: a probability per device; 1 or more: a count of devices. */
  amount: number;
  /** power-loss only: the swap step. */
  step?: number;
}

export interface FaultSpec {
  link: LinkFaults;
  device: Partial<Record<DeviceFaultKind, FaultAmount>>;
}

export interface FaultPlan {
  seed: number;
  devices: number;
  /** Per device index: its fault, or undefined. */
  faults: (DeviceFault | undefined)[];
}

export class FaultSpecError extends Error {}

/** The Update Result a healthy server sees for a device with this fault (undefined: no answer at all). */
export function expectedResult(kind: DeviceFaultKind | undefined, mayDefer = false): number | undefined {
  switch (kind) {
    case 'bit-flip':
      return UpdateResult.INTEGRITY_CHECK_FAILURE;
    case 'flash-full':
      return UpdateResult.NOT_ENOUGH_FLASH;
    case 'battery-low':
      return mayDefer ? UpdateResult.DEFERRED : UpdateResult.UPDATE_FAILED;
    case 'crash-before-confirm':
      return UpdateResult.UPDATE_FAILED;
    case 'never-returns':
      return undefined;
    default:
      return UpdateResult.SUCCESS;
  }
}

/** '--fault reboot-during-download=0.02', 'power-loss=3@12', 'bit-flip=5' → name and amount. */
export function parseFault(text: string): [DeviceFaultKind, FaultAmount] {
  const m = /^([a-z-]+)=(\d+(?:\.\d+)?)(?:@(\d+))?$/.exec(text.trim());
  if (m === null) throw new FaultSpecError(`bad fault "${text}" (use name=probability or name=count, e.g. bit-flip=0.01 or power-loss=3@12)`);
  const name = m[1] as DeviceFaultKind;
  if (!DEVICE_FAULTS.includes(name)) throw new FaultSpecError(`unknown fault "${m[1]}" (one of ${DEVICE_FAULTS.join(', ')})`);
  const amount = Number(m[2]);
  if (amount >= 1 && !Number.isInteger(amount)) throw new FaultSpecError(`a fault count must be a whole number, got ${m[2]}`);
  if (m[3] !== undefined && name !== 'power-loss') throw new FaultSpecError('only power-loss takes @step');
  return [name, m[3] === undefined ? { amount } : { amount, step: Number(m[3]) }];
}

/** A seed for one purpose of one device, so that streams do not overlap. */
export function deriveSeed(seed: number, index: number, purpose: number): number {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b1) ^ Math.imul(purpose + 1, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  return (h ^ (h >>> 15)) >>> 0;
}

export const SEED_PURPOSE = { plan: 0, device: 1, link: 2, flash: 3 } as const;

export function planFaults(spec: FaultSpec, devices: number, seed: number): FaultPlan {
  const entries = DEVICE_FAULTS.flatMap((k) => (spec.device[k] === undefined ? [] : [[k, spec.device[k]] as const]));
  const counts = entries.filter(([, a]) => a.amount >= 1);
  const probabilities = entries.filter(([, a]) => a.amount < 1);
  const total = probabilities.reduce((s, [, a]) => s + a.amount, 0);
  if (total > 1) throw new FaultSpecError(`fault probabilities add up to ${total.toFixed(3)}, more than 1`);
  const needed = counts.reduce((s, [, a]) => s + a.amount, 0);
  if (needed > devices) throw new FaultSpecError(`fault counts need ${needed} devices, the fleet has ${devices}`);
  const random = seededRandom(deriveSeed(seed, 0, SEED_PURPOSE.plan));
  const kinds: (DeviceFaultKind | undefined)[] = new Array(devices).fill(undefined);
  const free = Array.from({ length: devices }, (_, i) => i);
  for (const [kind, a] of counts) {
    for (let n = 0; n < a.amount; n++) {
      const pick = Math.floor(random() * free.length);
      const index = free[pick]!;
      free[pick] = free[free.length - 1]!;
      free.pop();
      kinds[index] = kind;
    }
  }
  for (let i = 0; i < devices; i++) {
    const u = random();
    if (kinds[i] !== undefined) continue;
    let cumulative = 0;
    for (const [kind, a] of probabilities) {
      cumulative += a.amount;
      if (u < cumulative) {
        kinds[i] = kind;
        break;
      }
    }
  }
  const faults = kinds.map((k) => (k === undefined ? undefined : faultOf(k, spec.device[k]?.step, random)));
  return { seed, devices, faults };
}

function faultOf(kind: DeviceFaultKind, step: number | undefined, random: Random): DeviceFault {
  switch (kind) {
    case 'reboot-during-download':
    case 'nat-rebind':
      return { kind, at: 0.1 + 0.8 * random() };
    case 'power-loss':
      return { kind, step, at: random(), torn: random() < 0.5, offMs: 100 + Math.floor(400 * random()) };
    case 'bit-flip':
      return { kind, at: 0.05 + 0.9 * random(), bit: Math.floor(8 * random()) };
    case 'crash-before-confirm':
      return { kind, afterMs: Math.floor(100 * random()) };
    default:
      return { kind };
  }
}

/** Counts of planned faults by kind. */
export function summarizePlan(plan: FaultPlan): Partial<Record<DeviceFaultKind, number>> {
  const out: Partial<Record<DeviceFaultKind, number>> = {};
  for (const f of plan.faults) if (f !== undefined) out[f.kind] = (out[f.kind] ?? 0) + 1;
  return out;
}
