/**
 * The "decoders" family of `npm run fuzz`: each decoder target runs in a worker thread with a
 * memory limit, and this thread watches its heartbeat (phase and input index in shared memory).
 * An input that runs past `hangMs`, or a worker that dies (out of memory, stack), is reported as
 * a failure with the input regenerated from the seed and the index: fast-check is deterministic.
 */
import { Worker } from 'node:worker_threads';
import { DECODER_NAMES, decoderTarget } from './decoders.ts';
import { describeInput, hexOf, inputAt } from './engine.ts';
import { register, type FuzzFailure, type FuzzOutcome, type RunOptions } from './registry.ts';

/** An input that takes longer than this is a hang (every decoder reads 1 MiB in well under a second). */
const HANG_MS = Number(process.env['FUZZ_HANG_MS'] ?? 30_000);
const WORKER_HEAP_MB = 2048;
const PHASES = ['', 'corpus entry', 'hostile input', 'round-trip value'] as const;
/** Worker threads do not inherit tsx's module hooks: the worker registers them, then loads its TypeScript. */
const BOOTSTRAP = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
  .then((tsx) => { tsx.register(); return import(${JSON.stringify(new URL('./decoder-worker.ts', import.meta.url).href)}); })`;

function runInWorker(name: string, n: number, seed: number, options: RunOptions = {}): Promise<FuzzOutcome> {
  const started = performance.now();
  const beat = new SharedArrayBuffer(8);
  const view = new Int32Array(beat);
  const target = decoderTarget(name);
  const roundTrips = options.roundTrips ?? Math.min(Math.ceil(n / 20), target.roundTripRuns ?? Infinity);
  const worker = new Worker(BOOTSTRAP, {
    eval: true,
    workerData: { name, runs: n, roundTrips, seed, path: options.path, beat },
    resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
  });
  return new Promise((resolve) => {
    let done = false;
    let last = { phase: -1, index: -1, since: performance.now() };
    const finish = (o: FuzzOutcome): void => {
      if (done) return;
      done = true;
      clearInterval(timer);
      void worker.terminate();
      resolve(o);
    };
    /** The input the worker was on, regenerated here, as a failure. */
    const stuck = (kind: 'hang' | 'crash', error: string): void => {
      const phase = Atomics.load(view, 0);
      const index = Atomics.load(view, 1);
      let input: unknown;
      let path: string | undefined;
      if (phase === 1) input = target.corpus()[index];
      else if (phase >= 2) {
        input = inputAt(target, seed, index, phase === 3);
        path = phase === 3 ? `rt:${index}` : String(index);
      }
      const h = phase === 2 || phase === 1 ? hexOf(target, input) : undefined;
      const failure: FuzzFailure = {
        kind, error: `${error} (${PHASES[phase] ?? 'start-up'} ${index})`, input: describeInput(input), seed,
        ...(h === undefined ? {} : { hex: h }), ...(path === undefined ? {} : { path }),
        replay: `npm run fuzz -- --only ${name} --seed ${seed}${path ? ` --path ${path}` : ''}`,
      };
      finish({ name, family: 'decoders', runs: index, roundTrips: 0, failures: 1, ms: Math.round(performance.now() - started), failure });
    };
    const timer = setInterval(() => {
      const phase = Atomics.load(view, 0);
      const index = Atomics.load(view, 1);
      if (phase !== last.phase || index !== last.index) last = { phase, index, since: performance.now() };
      else if (phase > 0 && performance.now() - last.since > HANG_MS) stuck('hang', `one input ran for more than ${HANG_MS / 1000} s`);
    }, 1000);
    worker.on('message', (m: { progress?: number; outcome?: FuzzOutcome }) => {
      if (m.progress !== undefined) options.progress?.(m.progress);
      if (m.outcome) finish({ ...m.outcome, ms: Math.round(performance.now() - started) });
    });
    worker.on('error', (e) => stuck('crash', `the worker died: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`));
    worker.on('exit', (code) => { if (!done) stuck('crash', `the worker exited with code ${code}`); });
  });
}

for (const name of DECODER_NAMES) {
  register({
    name,
    family: 'decoders',
    get describe() { return decoderTarget(name).describe; },
    defaultRuns: 1_000_000,
    run: (n, seed, options) => runInWorker(name, n, seed, options),
  });
}
