/**
 * The fuzz targets `npm run fuzz` knows, by family ("decoders" here; "sockets" for the datagram
 * fuzzers of the live server): a name and an async run(n, seed) that never rejects for a finding
 * (it reports it in the outcome). A module adds its targets with register(); test/fuzz/run.ts
 * imports decoders.ts and every test/fuzz/sockets*.ts that is not a test file.
 */

export interface FuzzFailure {
  /** exception: something other than the typed error escaped; round-trip: decode(encode(x)) differs;
   *  hang: one input ran past the watchdog; crash: the process or worker died (out of memory). */
  kind: 'exception' | 'round-trip' | 'hang' | 'crash';
  /** The error (its first stack lines) or the difference. */
  error: string;
  /** The shrunk counterexample as bytes (hex), when it has a byte form. */
  hex?: string;
  /** The counterexample as the decoder saw it (JSON, byte strings as hex). */
  input?: string;
  seed: number;
  /** fast-check's replay path (seed + path reproduce the same input). */
  path?: string;
  /** A command line that replays it. */
  replay: string;
}

export interface FuzzOutcome {
  name: string;
  family: string;
  /** Hostile inputs run, the seed corpus included. */
  runs: number;
  /** Valid values checked by decode(encode(x)) (0 where there is no encoder). */
  roundTrips: number;
  failures: number;
  ms: number;
  failure?: FuzzFailure;
}

export interface RunOptions {
  /** Round-trip runs; by default a twentieth of the hostile runs. */
  roundTrips?: number;
  /** fast-check replay path, with the seed of a reported failure. */
  path?: string;
  /** Called now and then with the inputs run so far (a long run's progress line). */
  progress?: (runs: number) => void;
}

export interface FuzzTarget {
  name: string;
  family: string;
  /** What it exercises, one line. */
  describe: string;
  /** Inputs per run of `npm run fuzz` when --runs is not given. */
  defaultRuns: number;
  run(n: number, seed: number, options?: RunOptions): Promise<FuzzOutcome>;
}

export const registry = new Map<string, FuzzTarget>();

export function register(target: FuzzTarget): void {
  if (registry.has(target.name)) throw new Error(`fuzz target ${target.name} is registered twice`);
  registry.set(target.name, target);
}
