/**
 * The decoder fuzzers, CI-sized: for every decoder in protocols/, the whole seed corpus, a few
 * thousand mutated inputs and a few hundred round trips from a fixed seed (so a failure here
 * replays with `npm run fuzz -- --only NAME --seed 20250611 --path …`). `npm run fuzz` runs the
 * same targets with 1,000,000 inputs each.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { DecodeError } from '../../protocols/errors.ts';
import * as corpus from './corpus.ts';
import { DECODER_NAMES, decoderTarget } from './decoders.ts';
import { runDecoderTarget, type DecoderTarget } from './engine.ts';
import type { FuzzFailure } from './registry.ts';

const SEED = 20250611;

const report = (f: FuzzFailure): string =>
  [`${f.kind}: ${f.error}`, f.hex === undefined ? '' : `hex: ${f.hex}`, `input: ${f.input ?? ''}`, `replay: ${f.replay}`].filter(Boolean).join('\n');

for (const name of DECODER_NAMES) {
  test(`${name}: seed corpus, mutated inputs and round trips, only the typed error escapes`, () => {
    const target = decoderTarget(name);
    const roundTrips = Math.min(Math.ceil(target.ciRuns / 10), target.roundTripRuns ?? Infinity, 300);
    const outcome = runDecoderTarget(target, { runs: target.ciRuns, roundTrips, seed: SEED });
    if (outcome.failure) assert.unreachable(report(outcome.failure));
    assert.is(outcome.runs, target.corpus().length + target.ciRuns);
    assert.is(outcome.roundTrips, target.roundTrip ? roundTrips : 0);
  });
}

const FEW_REASONS = new Set(['utf8', 'base64', 'block', 'path']);

test('the mutated inputs reach past the first check: each target sees several distinct outcomes, some inputs decode', () => {
  for (const name of DECODER_NAMES) {
    const target = decoderTarget(name);
    const outcomes = new Set<string>();
    let decoded = 0;
    for (const input of fc.sample(target.input, { seed: SEED, numRuns: 300 })) {
      try {
        target.decode(input);
        decoded++;
        outcomes.add('decoded');
      } catch (e) {
        outcomes.add(e instanceof DecodeError ? `${e.code}: ${e.reason.slice(0, 24)}` : String(e).slice(0, 40));
      }
    }
    // Formats with one error message (UTF-8, base64, a path, the strict CBOR's few) need both outcomes; the rest, five.
    assert.ok(outcomes.size >= (FEW_REASONS.has(name) ? 2 : 5), `${name}: only ${[...outcomes].join(' | ')}`);
    // registration and package-keys run two decoders that never both accept one input.
    if (name !== 'registration' && name !== 'package-keys') assert.ok(decoded > 0, `${name}: no mutated input decodes`);
  }
});

/** A decoder with a planted bug: a TypeError on any input holding the byte 0xC3 after a 0x81. */
const planted: DecoderTarget<Uint8Array, number[]> = {
  name: 'planted',
  describe: 'a decoder that crashes on purpose',
  input: fc.uint8Array({ maxLength: 32 }),
  corpus: () => corpus.BLOCK,
  decode: (b) => {
    for (let i = 1; i < b.length; i++) if (b[i - 1] === 0x81 && b[i] === 0xc3) (undefined as unknown as { x: number }).x;
    if (b.length > 30) throw new DecodeError('planted.long', 'too long');
  },
  roundTrip: { values: fc.array(fc.nat({ max: 300 })), check: (v) => { if (v.includes(257)) throw new Error('257 does not come back'); } },
  bytes: (b) => b,
  ciRuns: 20_000,
};

test('the engine catches a planted TypeError, shrinks it to 81 c3, and the seed and path replay it', () => {
  const outcome = runDecoderTarget(planted as DecoderTarget<unknown, unknown>, { runs: 200_000, roundTrips: 0, seed: 7 });
  const f = outcome.failure;
  assert.ok(f, 'the planted bug was not found');
  assert.is(f.kind, 'exception');
  assert.is(f.hex, '81c3');
  assert.match(f.error, /TypeError/);
  assert.match(f.replay, /--seed 7 --path /);
  const again = runDecoderTarget(planted as DecoderTarget<unknown, unknown>, { runs: 1, roundTrips: 0, seed: f.seed, ...(f.path ? { path: f.path } : {}) });
  assert.is(again.failure?.hex, '81c3');
});

test('the engine reports a round-trip difference with its value', () => {
  const outcome = runDecoderTarget(planted as DecoderTarget<unknown, unknown>, { runs: 0, roundTrips: 100_000, seed: 3 });
  assert.is(outcome.failure?.kind, 'round-trip');
  assert.is(outcome.failure?.input, '[257]');
});

test('a DecodeError whose reason would flood a CoAP diagnostic payload is a failure', () => {
  const flood: DecoderTarget<Uint8Array, number[]> = { ...planted, decode: (b: Uint8Array) => { throw new DecodeError('flood', 'x'.repeat(600 + b.length)); } };
  const outcome = runDecoderTarget(flood as DecoderTarget<unknown, unknown>, { runs: 10, roundTrips: 0, seed: 1 });
  assert.is(outcome.failure?.kind, 'exception');
  assert.match(outcome.failure?.error ?? '', /600-character reason/);
});

test.run();
