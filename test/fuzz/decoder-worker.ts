/**
 * Runs one decoder target in a worker thread (see decoder-family.ts): the parent watches the
 * shared heartbeat, so an input that hangs or exhausts memory is caught and named.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { decoderTarget } from './decoders.ts';
import { runDecoderTarget } from './engine.ts';

interface Job { name: string; runs: number; roundTrips: number; seed: number; path?: string; beat: SharedArrayBuffer }

const job = workerData as Job;
const target = decoderTarget(job.name);
const outcome = runDecoderTarget(target, {
  runs: job.runs,
  roundTrips: job.roundTrips,
  seed: job.seed,
  ...(job.path ? { path: job.path } : {}),
  beat: new Int32Array(job.beat),
  progress: (runs) => parentPort?.postMessage({ progress: runs }),
});
parentPort?.postMessage({ outcome });
