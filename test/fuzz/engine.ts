/**
 * One decoder target and how it is run: the seed corpus first, then `runs` hostile inputs under a
 * fast-check property (only the typed error may escape), then valid values round-tripped through
 * the encoder. Synchronous, so the uvu test calls it directly and the long runner calls it in a
 * worker thread whose parent watches for hangs.
 */
import fc from 'fast-check';
import { DecodeError } from '../../protocols/errors.ts';
import type { FuzzFailure, FuzzOutcome } from './registry.ts';

export interface DecoderTarget<I = unknown, V = unknown> {
  name: string;
  /** The decoders it calls, for the report. */
  describe: string;
  /** Hostile inputs: mutated valid messages, built from the corpus and the project's encoders. */
  input: fc.Arbitrary<I>;
  /** The seed corpus, run as it is on every run. */
  corpus: () => readonly I[];
  /** Runs the decoder(s) on one input; returns normally or throws. */
  decode: (input: I) => void;
  /** Typed errors the module documents besides DecodeError (PackageError for a package). */
  allowed?: (e: unknown) => boolean;
  /** Valid values and the check that decode(encode(x)) gives x back (throws on a difference). */
  roundTrip?: { values: fc.Arbitrary<V>; check: (v: V) => void };
  /** The input as bytes, for the hex of a counterexample; undefined when it has no byte form. */
  bytes?: (input: I) => Uint8Array | undefined;
  /** Round trips per run when they cost more than a twentieth of the hostile runs (signing, say). */
  roundTripRuns?: number;
  /** Inputs per CI run (decoders.test.ts); a few seconds' worth on a 2-core machine. */
  ciRuns: number;
  /** Inputs per `npm run fuzz` run (1,000,000 unless slower on purpose). */
  defaultRuns?: number;
}

/** A DecodeError that is fit to send: a short code and a reason that fits in a CoAP diagnostic payload. */
const MAX_REASON = 512;

/** Throws unless `e` is an error the target may throw. */
export function checkError(target: { allowed?: (e: unknown) => boolean }, e: unknown): void {
  if (e instanceof DecodeError) {
    if (typeof e.code !== 'string' || e.code.length === 0 || typeof e.reason !== 'string' || e.reason.length === 0) {
      throw new Error(`DecodeError without a code or reason: ${String(e)}`);
    }
    if (e.reason.length > MAX_REASON) throw new Error(`DecodeError ${e.code} with a ${e.reason.length}-character reason: ${e.reason.slice(0, 200)}…`);
    return;
  }
  if (target.allowed?.(e)) return;
  throw e;
}

/** Runs the decoder; an error it may throw is swallowed, anything else is rethrown. */
export function decodeOnce<I>(target: DecoderTarget<I, unknown>, input: I): void {
  try {
    target.decode(input);
  } catch (e) {
    checkError(target, e);
  }
}

export interface EngineOptions {
  runs: number;
  roundTrips: number;
  seed: number;
  path?: string;
  /** Shared counter the worker bumps before each input: [0] phase (1 corpus, 2 hostile, 3 round trip), [1] index. */
  beat?: Int32Array;
  progress?: (runs: number) => void;
}

/** Serialises an input for a report: byte strings as hex, bigints as digits, long strings cut. */
export function describeInput(input: unknown): string {
  const text = JSON.stringify(input, function (this: Record<string, unknown>, k: string, value: unknown) {
    const v = this[k] ?? value; // the value before its toJSON (a Buffer's)
    if (typeof v === 'bigint') return `${v}n`;
    if (v instanceof Uint8Array) return `hex:${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}`;
    if (typeof v === 'string' && v.length > 2000) return `${v.slice(0, 2000)}… (${v.length} characters)`;
    if (v instanceof Map) return { map: [...v.entries()] };
    if (v instanceof Date) return `date:${v.getTime()}`;
    if (v === undefined) return 'undefined';
    return v;
  });
  return text.length > 20_000 ? `${text.slice(0, 20_000)}… (${text.length} characters)` : text;
}

export function hexOf(target: DecoderTarget<unknown, unknown>, input: unknown): string | undefined {
  try {
    const b = target.bytes?.(input);
    if (b === undefined) return undefined;
    const h = Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
    return h.length > 40_000 ? `${h.slice(0, 40_000)}… (${b.length} bytes)` : h;
  } catch {
    return undefined;
  }
}

export function errorText(e: unknown): string {
  if (e instanceof Error) return (e.stack ?? `${e.name}: ${e.message}`).split('\n').slice(0, 8).join('\n');
  return String(e);
}

const replayCommand = (name: string, seed: number, path: string | undefined): string =>
  `npm run fuzz -- --only ${name} --seed ${seed}${path ? ` --path ${path}` : ''}`;

/** Runs corpus, hostile inputs and round trips; stops at the first failure (shrunk) and reports it. */
export function runDecoderTarget(target: DecoderTarget<unknown, unknown>, o: EngineOptions): FuzzOutcome {
  const started = performance.now();
  const outcome = (runs: number, roundTrips: number, failure?: FuzzFailure): FuzzOutcome => ({
    name: target.name, family: 'decoders', runs, roundTrips, failures: failure ? 1 : 0, ms: Math.round(performance.now() - started),
    ...(failure ? { failure } : {}),
  });
  const beat = (phase: number, index: number): void => {
    if (o.beat) { Atomics.store(o.beat, 0, phase); Atomics.store(o.beat, 1, index); }
  };

  // 1. The whole seed corpus, as it is (skipped when replaying one path).
  let runs = 0;
  if (o.path === undefined) {
    const corpus = target.corpus();
    for (let i = 0; i < corpus.length; i++) {
      beat(1, i);
      const input = corpus[i];
      try {
        decodeOnce(target, input);
      } catch (e) {
        return outcome(runs, 0, {
          kind: 'exception', error: errorText(e), input: describeInput(input), seed: o.seed, ...maybeHex(target, input),
          replay: `corpus entry ${i} of ${target.name} (test/fuzz/corpus.ts); ${replayCommand(target.name, o.seed, undefined)}`,
        });
      }
      runs++;
    }
  }

  // 2. Hostile inputs.
  if (o.runs > 0 && (o.path === undefined || !o.path.startsWith('rt:'))) {
    let index = 0;
    const property = fc.property(target.input, (input) => {
      beat(2, index++);
      if (o.progress && index % 10_000 === 0) o.progress(runs + index);
      decodeOnce(target, input);
    });
    const details = fc.check(property, { numRuns: o.runs, seed: o.seed, ...(o.path ? { path: o.path } : {}) });
    if (details.failed) {
      const [input] = (details.counterexample ?? [undefined]) as [unknown];
      return outcome(runs + details.numRuns, 0, {
        kind: 'exception', error: errorText(details.errorInstance), input: describeInput(input),
        seed: details.seed, path: details.counterexamplePath ?? undefined, ...maybeHex(target, input),
        replay: replayCommand(target.name, details.seed, details.counterexamplePath ?? undefined),
      });
    }
    runs += o.runs;
  }

  // 3. Round trips.
  let roundTrips = 0;
  if (target.roundTrip && o.roundTrips > 0) {
    let index = 0;
    const { values, check } = target.roundTrip;
    const property = fc.property(values, (v) => {
      beat(3, index++);
      check(v);
    });
    const rtPath = o.path?.startsWith('rt:') ? o.path.slice(3) : undefined;
    if (o.path === undefined || rtPath !== undefined) {
      const details = fc.check(property, { numRuns: o.roundTrips, seed: o.seed, ...(rtPath ? { path: rtPath } : {}) });
      if (details.failed) {
        const [v] = (details.counterexample ?? [undefined]) as [unknown];
        return outcome(runs, details.numRuns, {
          kind: 'round-trip', error: errorText(details.errorInstance), input: describeInput(v), seed: details.seed,
          path: `rt:${details.counterexamplePath ?? ''}`, replay: replayCommand(target.name, details.seed, `rt:${details.counterexamplePath ?? ''}`),
        });
      }
      roundTrips = o.roundTrips;
    }
  }
  return outcome(runs, roundTrips);
}

function maybeHex(target: DecoderTarget<unknown, unknown>, input: unknown): { hex?: string } {
  const h = hexOf(target, input);
  return h === undefined ? {} : { hex: h };
}

/** The input fast-check generates at run `index` of a check with `seed` (for a hang's report). */
export function inputAt(target: DecoderTarget<unknown, unknown>, seed: number, index: number, roundTrip: boolean): unknown {
  const arb = roundTrip && target.roundTrip ? target.roundTrip.values : target.input;
  let found: unknown;
  const details = fc.check(fc.property(arb, (v) => { found = v; return false; }), { seed, path: String(index), numRuns: 1, endOnFailure: true });
  return details.failed ? found : undefined;
}
