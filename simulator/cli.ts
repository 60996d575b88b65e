/**
 * `ferry sim` (run a fleet) and `ferry sim-image` (write a simulator image), as functions that
 * take argv and return an exit code: 0 done, 1 failed, 2 usage error.
 */
import { writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { szxForSize } from '../protocols/block.ts';
import { runFleet, parseServerUri } from './fleet.ts';
import type { FleetReport, FleetStatus } from './fleet.ts';
import { makeSimImage } from './image.ts';

export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
  /** Where SIGINT/SIGTERM come from (default: process). */
  signals?: Pick<NodeJS.Process, 'once' | 'off'>;
  /** Status line interval (default 5000 ms). */
  statusIntervalMs?: number;
}

const defaultIo: CliIo = {
  out: (line) => void process.stdout.write(`${line}\n`),
  err: (line) => void process.stderr.write(`${line}\n`),
};

const SIM_HELP = `Usage: ferry sim [options]

Runs simulated LwM2M 1.1 devices, each on its own UDP socket on 127.0.0.1.

  --server URI        LwM2M server (default coap://127.0.0.1:5683)
  --devices N         how many devices (default 1)
  --prefix NAME       endpoint names NAME-0001, NAME-0002, … (default sim)
  --ramp R            devices started per second (default 100)
  --duration D        run time: 90s, 10m, 1h, 500ms; 0 = until Ctrl-C (default 0)
  --lifetime S        registration lifetime in seconds (default 300)
  --block-size B      Block2 size for downloads: 16, 32, … 1024 (default 512)
  --firmware-version V  version the devices start with (default 1.0.0)
  --seed N            seed the devices' randomness, for a run that replays
  --json FILE         also write the report as JSON
  -h, --help          this help`;

const IMAGE_HELP = `Usage: ferry sim-image --version V --size BYTES --out FILE [--seed N]

Writes a simulator image: 'FRYSIM01' | version | SHA-256 of body | pseudo-random body.
BYTES may end in k or m (64k, 1m).`;

class UsageError extends Error {}

/** '0', '90', '90s', '10m', '1h', '500ms' → milliseconds (a bare number is seconds). */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (m === null) throw new UsageError(`bad duration "${text}" (use 90s, 10m, 1h, 500ms or 0)`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const factor = unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000;
  return Math.round(n * factor);
}

function parseInteger(name: string, text: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (text === undefined) return undefined;
  const m = /^(\d+)([km]?)$/i.exec(text.trim());
  const n = m === null ? Number.NaN : Number(m[1]) * ((m[2] ?? '').toLowerCase() === 'k' ? 1024 : (m[2] ?? '').toLowerCase() === 'm' ? 1024 * 1024 : 1);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got "${text}"`);
  return n;
}

export async function simCommand(argv: string[], io: CliIo = defaultIo): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        server: { type: 'string', default: 'coap://127.0.0.1:5683' },
        devices: { type: 'string', default: '1' },
        prefix: { type: 'string', default: 'sim' },
        ramp: { type: 'string' },
        duration: { type: 'string', default: '0' },
        lifetime: { type: 'string' },
        'block-size': { type: 'string', default: '512' },
        'firmware-version': { type: 'string' },
        seed: { type: 'string' },
        json: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values;
  } catch (err) {
    io.err(`ferry sim: ${err instanceof Error ? err.message : String(err)}\n\n${SIM_HELP}`);
    return 2;
  }
  if (args.help) {
    io.out(SIM_HELP);
    return 0;
  }
  let opts;
  try {
    parseServerUri(args.server);
    const blockSize = parseInteger('block-size', args['block-size'], 16, 1024) ?? 512;
    let blockSzx: number;
    try {
      blockSzx = szxForSize(blockSize);
    } catch {
      throw new UsageError(`--block-size must be a power of two from 16 to 1024, got ${blockSize}`);
    }
    const ramp = args.ramp === undefined ? undefined : Number(args.ramp);
    if (ramp !== undefined && !(ramp > 0)) throw new UsageError(`--ramp must be a positive number, got "${args.ramp}"`);
    opts = {
      server: args.server,
      devices: parseInteger('devices', args.devices, 1, 100_000) ?? 1,
      prefix: args.prefix,
      durationMs: parseDuration(args.duration),
      blockSzx,
      ...(ramp === undefined ? {} : { ramp }),
      ...(args.lifetime === undefined ? {} : { lifetime: parseInteger('lifetime', args.lifetime, 1, 2 ** 31 - 1) }),
      ...(args['firmware-version'] === undefined ? {} : { firmwareVersion: args['firmware-version'] }),
      ...(args.seed === undefined ? {} : { seed: parseInteger('seed', args.seed, 0) }),
    };
  } catch (err) {
    io.err(`ferry sim: ${err instanceof Error ? err.message : String(err)}`);
    return 2;
  }
  const stop = new AbortController();
  const signals = io.signals ?? process;
  const onSignal = (): void => stop.abort();
  signals.once('SIGINT', onSignal);
  signals.once('SIGTERM', onSignal);
  const forever = opts.durationMs === 0 ? ' until Ctrl-C' : ` for ${args.duration}`;
  io.out(`ferry sim: ${opts.devices} device(s) against ${opts.server}${forever}`);
  try {
    const report = await runFleet({
      ...opts,
      signal: stop.signal,
      progressIntervalMs: io.statusIntervalMs ?? 5000,
      onProgress: (s) => io.out(formatStatus(s)),
    });
    io.out(formatReport(report));
    if (args.json !== undefined) await writeFile(args.json, `${JSON.stringify(report, null, 2)}\n`);
    return 0;
  } catch (err) {
    io.err(`ferry sim: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    signals.off('SIGINT', onSignal);
    signals.off('SIGTERM', onSignal);
  }
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

export function formatStatus(s: FleetStatus): string {
  const t = (s.elapsedMs / 1000).toFixed(0).padStart(5);
  return `[${t}s] started ${s.started}/${s.devices}  registered ${s.registered}  downloading ${s.downloading}  downloaded ${s.downloaded}  updating ${s.updating}  updated ${s.updated}  failed ${s.failed}`;
}

export function formatReport(r: FleetReport): string {
  const rows: [string, string | number][] = [
    ['devices', `${r.started}/${r.devices} started`],
    ['registered', r.registered],
    ['updated', r.updated],
    ...Object.entries(r.failed).map(([name, n]): [string, number] => [`failed: ${name}`, n]),
    ['registrations', r.registrations],
    ['registration updates', r.registrationUpdates],
    ['downloads', r.downloads],
    ['bytes downloaded', r.bytesDownloaded],
    ['packets sent / received', `${r.coap.packetsSent} / ${r.coap.packetsReceived}`],
    ['bytes sent / received', `${r.coap.bytesSent} / ${r.coap.bytesReceived}`],
    ['retransmissions', r.coap.retransmissions],
    ['duration', `${(r.durationMs / 1000).toFixed(1)} s`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}
