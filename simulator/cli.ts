/**
 * `ferry sim` (run a fleet) and `ferry sim-image` (write a simulator image), as functions that
 * take argv and return an exit code (EXIT below). While a fleet runs: a progress bar on a
 * terminal (cli-progress), status lines otherwise, and in a soak a line of figures every minute;
 * at the end the report table. A run the API stopped is one line on stderr (and the table, if
 * devices had started).
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { fleetPsks, runFleet } from './fleet.ts';
import type { FleetStatus } from './fleet.ts';
import { formatReport } from './fleet-report.ts';
import { makeSimImage } from './image.ts';
import { credentialsFile } from './psk.ts';
import { SIM_HELP, UsageError, fleetOptions, parseInteger, readSimArgs } from './sim-args.ts';

export { parseDuration } from './sim-args.ts';
export { formatReport } from './fleet-report.ts';

export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
  /** Where SIGINT/SIGTERM come from (default: process). */
  signals?: Pick<NodeJS.Process, 'once' | 'off'>;
  /** Status line interval (default 5000 ms; a soak prints every 60 s). */
  statusIntervalMs?: number;
  /** Draw a progress bar here (default: stderr when it is a terminal). */
  progressStream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Where FERRY_API_TOKEN and FERRY_ADMIN_TOKEN are read (default: process.env). */
  env?: NodeJS.ProcessEnv;
}

/** `ferry sim`'s exit codes (its --help lists them). */
export const EXIT = { passed: 0, broken: 1, usage: 2, stopped: 3, unmet: 4 } as const;

const defaultIo: CliIo = {
  out: (line) => void process.stdout.write(`${line}\n`),
  err: (line) => void process.stderr.write(`${line}\n`),
  progressStream: process.stderr,
};

const IMAGE_HELP = `Usage: ferry sim-image --version V --size BYTES --out FILE [--seed N]

Writes a simulator image: 'FRYSIM01' | version | SHA-256 of body | pseudo-random body.
BYTES may end in k or m (64k, 1m).`;

export async function simCommand(argv: string[], io: CliIo = defaultIo): Promise<number> {
  let opts;
  try {
    const args = readSimArgs(argv);
    if (args.help) {
      io.out(SIM_HELP);
      return 0;
    }
    opts = await fleetOptions(args, io.env ?? process.env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err(`ferry sim: ${err.message}${/Unknown option|unexpected/i.test(err.message) ? `\n\n${SIM_HELP}` : ''}`);
    return EXIT.usage;
  }
  if (opts.security === 'psk' && opts.credentialsFile !== undefined) {
    const file = opts.credentialsFile;
    try {
      await writeFile(file, credentialsFile(file, fleetPsks(opts.prefix ?? 'sim', opts.devices, opts.seed ?? 0)), { mode: 0o600 });
    } catch (err) {
      io.err(`ferry sim: cannot write ${file}: ${err instanceof Error ? err.message : String(err)}`);
      return EXIT.broken;
    }
    io.out(`ferry sim: credentials of ${opts.devices} device(s) written to ${file} (seed ${opts.seed}): ferry credentials import ${file}`);
    if (opts.pskOnly) return EXIT.passed;
  }
  const { credentialsFile: _written, ...fleet } = opts;
  const stop = new AbortController();
  const signals = io.signals ?? process;
  const onSignal = (): void => stop.abort();
  signals.once('SIGINT', onSignal);
  signals.once('SIGTERM', onSignal);
  const forever = opts.durationMs === 0 ? ' until Ctrl-C' : ` for ${(opts.durationMs ?? 0) / 1000} s`;
  io.out(`ferry sim: ${opts.devices} device(s) against ${opts.server}${opts.security === 'psk' ? ' (DTLS-PSK)' : ''}${forever}${opts.seed === undefined ? '' : `, seed ${opts.seed}`}`);
  const progress = progressReporter(io, opts.devices, opts.soak);
  try {
    const report = await runFleet({ ...fleet, signal: stop.signal, progressIntervalMs: progress.intervalMs, onProgress: progress.update });
    progress.stop();
    if (report.apiFailure === undefined || report.started > 0) io.out(formatReport(report));
    if (report.apiFailure !== undefined) io.err(`ferry sim: ${report.apiFailure.message}`);
    if (opts.json !== undefined) await writeFile(opts.json, `${JSON.stringify(report, null, 2)}\n`);
    return EXIT[report.outcome.status];
  } catch (err) {
    progress.stop();
    io.err(`ferry sim: ${err instanceof Error ? err.message : String(err)}`);
    return EXIT.broken;
  } finally {
    signals.off('SIGINT', onSignal);
    signals.off('SIGTERM', onSignal);
  }
}

/** A bar on a terminal, status lines elsewhere; a soak prints a line of figures every minute. */
function progressReporter(io: CliIo, devices: number, soak: boolean): { intervalMs: number; update: (s: FleetStatus) => void; stop: () => void } {
  const stream = io.progressStream;
  if (!soak && stream?.isTTY === true) {
    const bar = new cliProgress.SingleBar({
      stream,
      format: ' {bar} {value}/{total} updated | registered {registered} | downloading {downloading} | failed {failed} | bricked {bricked} | {duration_formatted}',
      hideCursor: true,
    }, cliProgress.Presets.shades_classic);
    bar.start(devices, 0, { registered: 0, downloading: 0, failed: 0, bricked: 0 });
    return {
      intervalMs: 500,
      update: (s) => bar.update(s.updated, { registered: s.registered, downloading: s.downloading, failed: s.failed, bricked: s.bricked }),
      stop: () => bar.stop(),
    };
  }
  let last: FleetStatus | undefined;
  return {
    intervalMs: soak ? 60_000 : io.statusIntervalMs ?? 5000,
    update: (s) => {
      io.out(soak ? soakLine(s, last) : formatStatus(s));
      last = s;
    },
    stop: () => undefined,
  };
}

export function formatStatus(s: FleetStatus): string {
  const t = (s.elapsedMs / 1000).toFixed(0).padStart(5);
  return `[${t}s] started ${s.started}/${s.devices}  registered ${s.registered}  downloading ${s.downloading}  downloaded ${s.downloaded}  updating ${s.updating}  updated ${s.updated}  failed ${s.failed}  bricked ${s.bricked}`;
}

function soakLine(s: FleetStatus, last: FleetStatus | undefined): string {
  const minutes = s.elapsedMs / 60_000;
  const recent = s.updates - (last?.updates ?? 0);
  const span = (s.elapsedMs - (last?.elapsedMs ?? 0)) / 60_000;
  return `[${minutes.toFixed(1).padStart(6)} min] updates ${s.updates} (${span > 0 ? (recent / span).toFixed(1) : '0'}/min)  devices updated ${s.updated}/${s.devices}  registered ${s.registered}  downloading ${s.downloading}  failed ${s.failed}  bricked ${s.bricked}`;
}

export async function simImageCommand(argv: string[], io: CliIo = defaultIo): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        version: { type: 'string' },
        size: { type: 'string' },
        out: { type: 'string' },
        seed: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values;
  } catch (err) {
    io.err(`ferry sim-image: ${err instanceof Error ? err.message : String(err)}\n\n${IMAGE_HELP}`);
    return 2;
  }
  if (args.help) {
    io.out(IMAGE_HELP);
    return 0;
  }
  let image: Buffer;
  try {
    if (args.version === undefined || args.size === undefined || args.out === undefined) throw new UsageError('--version, --size and --out are required');
    const size = parseInteger('size', args.size, 0, 256 * 1024 * 1024) ?? 0;
    const seed = parseInteger('seed', args.seed, 0);
    image = makeSimImage({ version: args.version, size, ...(seed === undefined ? {} : { seed }) });
  } catch (err) {
    io.err(`ferry sim-image: ${err instanceof Error ? err.message : String(err)}`);
    return 2;
  }
  try {
    await writeFile(args.out, image);
  } catch (err) {
    io.err(`ferry sim-image: cannot write ${args.out}: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  const sha = createHash('sha256').update(image).digest('hex');
  io.out(`wrote ${args.out}: ${image.length} bytes, version ${args.version}, sha256 ${sha}`);
  return 0;
}
