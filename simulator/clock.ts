/**
 * What varies in time and chance is injected: the endpoint, the devices and the fleet take a
 * Clock and a random() so a seeded run replays exactly.
 */

/** A timer source. `setTimeout` returns an opaque handle that only `clearTimeout` reads. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The real clock: Date.now and Node's timers. */
export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};

/** A function returning a number in [0, 1), like Math.random. */
export type Random = () => number;

/**
 * A small seeded PRNG (mulberry32): fast, 32-bit state, good enough for jitter, tokens and test
 * data. Not for anything secret.
 */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
