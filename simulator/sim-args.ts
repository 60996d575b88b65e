/** `ferry sim` flags → fleet options. Every mistake is a UsageError naming the flag. */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { szxForSize } from '../protocols/block.ts';
import { ContentFormat } from '../protocols/content-format.ts';
import { parsePublicKeyPem } from '../protocols/package-keys.ts';
import type { TrustAnchor } from '../protocols/package.ts';
import type { LinkFaults } from './coap/faulty-link.ts';
import { FaultSpecError, parseFault } from './faults.ts';
import type { FaultSpec } from './faults.ts';
import { parseServerUri } from './fleet.ts';
import type { FleetOptions } from './fleet.ts';
import { makeSimImage } from './image.ts';

export class UsageError extends Error {}

export const SIM_HELP = `Usage: ferry sim [options]

Runs simulated LwM2M 1.1 devices, each on its own UDP socket, with an MCUboot-like bootloader.

  --server URI          LwM2M server: coap://HOST:PORT, or coaps://HOST:PORT for DTLS
                        (default coap://127.0.0.1:5683; with --security psk coaps://127.0.0.1:5684)
  --devices N           how many devices (default 1)
  --prefix NAME         endpoint names NAME-0001, NAME-0002, … (default sim)
  --ramp R[/s]          devices started per second (default 100)
  --duration D          run time: 90s, 10m, 1h, 500ms; 0 = until Ctrl-C (default 0)
  --lifetime S          registration lifetime in seconds (default 300)
  --block-size B        block size: 16, 32, … 1024 (default 512)
  --content-format F    tlv or senml-cbor: announced as ct, used for object reads (default tlv)
  --firmware-version V  version the devices start with (default 1.0.0)
  --model M             model number, the hardware class (default sim-1)
  --seed N              seed devices, faults and links: a run that replays
  --json FILE           also write the report as JSON
  --bind-addresses N    spread the sockets over 127.0.0.1 … 127.0.0.N (default: one more
                        address for every 20,000 devices)

 Devices
  --trusted-keys F[,F]  public keys (ferry keygen's KEYFILE.pub) the devices trust; without
                        them devices take only unsigned simulator images
  --factory-image FILE  the image the devices start with (default: made, signed by a factory key)
  --flash full|digest   keep the flash bytes, or digests with one shared copy (default full)
  --slot-size BYTES     per slot (default 512k); --sector-size (4k), --write-size (4)
  --erase-ms MS         time to erase a sector; --write-kbps K write speed (default: instant)
  --delivery pull|push|both   what Object 5 resource 9 offers (default pull)
  --root-path PATH      register under an alternate root (LwM2M Core §6.2.1), e.g. /lwm2m
  --queue-mode          register with Q and sleep between exchanges
  --max-defer-period S  Object 5 res. 13: defer a non-critical update up to S seconds when it
                        cannot update now (battery low), Update Result 11 (default 0: never)

 Security
  --security nosec|psk  psk: DTLS 1.2 with a pre-shared key (coaps://) to the server and for
                        coaps:// packages, in a second session; the client offers a Connection
                        ID (RFC 9146). Default: psk for a coaps:// server, else nosec.
                        Each device's identity is its endpoint name; its key is the first 16
                        bytes of HMAC-SHA256(key = the seed in decimal, data = the endpoint name):
                          printf %s sim-01 | openssl dgst -sha256 -hmac SEED
  --psk-file FILE       write the fleet's credentials to FILE before the devices start, for
                        ferry credentials import FILE: CSV (endpoint,identity,key_hex), or a
                        JSON array when FILE ends in .json
  --psk-only            with --psk-file: write the file and exit (import it, then run again
                        with the same --seed, --devices and --prefix)
                        With --api URL (below) the credentials are imported through the admin
                        API (POST /api/v1/credentials/import, admin token) before the devices
                        start. Without --psk-file or --api, give the --seed whose keys the
                        server has.

 Faults (seeded)
  --loss P  --latency MS  --jitter MS  --duplicate P  --reorder P     on every device's link
  --fault NAME=P|N      a probability (P < 1) or a count of devices (N ≥ 1); repeatable:
                        reboot-during-download, power-loss[=…@STEP], bit-flip, flash-full,
                        battery-low, crash-before-confirm, never-returns, observe-lost,
                        nat-rebind (mid-download every socket of the device moves to a new
                        port: a DTLS session with a Connection ID carries on, one without is
                        made again; then, and over plain CoAP, a registration Update follows)

 Driving updates through Ferry's admin API
  --api URL             e.g. http://127.0.0.1:8080
  --api-token T         an operator's bearer token; else FERRY_API_TOKEN, else FERRY_ADMIN_TOKEN
                        (the variables keep it out of ps)
  --update ID           update each device to firmware ID once it has registered (a server
                        requiring release approval takes only approved images, unless the
                        devices are testbeds: --testbed)
  --soak                keep updating back and forth between two images for the duration
                        (each round uploaded as a raw image the server signs: it needs --signing-key)
  --soak-images A,B     the two payloads (default: two generated ones of --soak-size, 64k)
  --testbed             mark each device a testbed once it has registered (PUT
                        /api/v1/devices/:endpoint/testbed, operator token): a testbed campaign
                        then updates them, or --update ID with an image not approved yet
                        The API is checked before the first device starts; a token refused
                        (401, 403), an API that cannot be reached or an image that does not
                        exist stops the run at once, then or later. 5xx, 409 and devices not
                        registered yet are retried, and counted in the report.

  -h, --help            this help

Exit status: 0 passed (every invariant holds; with --update or --soak every device updated),
1 an invariant broke (a bricked device …) or an error, 2 a usage error, 3 the API stopped the
run (token refused, API unreachable, no such image, credentials not imported), 4 devices were
left not updated.`;

/** '0', '90', '90s', '10m', '1h', '500ms' → milliseconds (a bare number is seconds). */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (m === null) throw new UsageError(`bad duration "${text}" (use 90s, 10m, 1h, 500ms or 0)`);
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * factor);
}

export function parseInteger(name: string, text: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (text === undefined) return undefined;
  const m = /^(\d+)([km]?)$/i.exec(text.trim());
  const unit = (m?.[2] ?? '').toLowerCase();
  const n = m === null ? Number.NaN : Number(m[1]) * (unit === 'k' ? 1024 : unit === 'm' ? 1024 * 1024 : 1);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got "${text}"`);
  return n;
}

function parseNumber(name: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text.replace(/\/s$/, ''));
  if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`--${name} must be a number from ${min} to ${max}, got "${text}"`);
  return n;
}

const OPTIONS = {
  server: { type: 'string' },
  security: { type: 'string' },
  'psk-file': { type: 'string' },
  'psk-only': { type: 'boolean', default: false },
  devices: { type: 'string', default: '1' },
  prefix: { type: 'string', default: 'sim' },
  ramp: { type: 'string' },
  duration: { type: 'string', default: '0' },
  lifetime: { type: 'string' },
  'block-size': { type: 'string', default: '512' },
  'content-format': { type: 'string', default: 'tlv' },
  'firmware-version': { type: 'string' },
  model: { type: 'string' },
  seed: { type: 'string' },
  json: { type: 'string' },
  'bind-addresses': { type: 'string' },
  'trusted-keys': { type: 'string' },
  'factory-image': { type: 'string' },
  flash: { type: 'string', default: 'full' },
  'slot-size': { type: 'string' },
  'sector-size': { type: 'string' },
  'write-size': { type: 'string' },
  'erase-ms': { type: 'string' },
  'write-kbps': { type: 'string' },
  delivery: { type: 'string' },
  'root-path': { type: 'string' },
  'queue-mode': { type: 'boolean', default: false },
  'max-defer-period': { type: 'string' },
  loss: { type: 'string' },
  latency: { type: 'string' },
  jitter: { type: 'string' },
  duplicate: { type: 'string' },
  reorder: { type: 'string' },
  fault: { type: 'string', multiple: true },
  api: { type: 'string' },
  'api-token': { type: 'string' },
  update: { type: 'string' },
  soak: { type: 'boolean', default: false },
  'soak-images': { type: 'string' },
  'soak-size': { type: 'string' },
  testbed: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

export type SimArgs = ReturnType<typeof parseArgs<{ args: string[]; options: typeof OPTIONS; strict: true; allowPositionals: false }>>['values'];

export function readSimArgs(argv: string[]): SimArgs {
  try {
    return parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

/** The fleet options the flags ask for (files are read here; the API token may come from `env`). */
export async function fleetOptions(a: SimArgs, env: NodeJS.ProcessEnv = process.env): Promise<FleetOptions & { server: string; soak: boolean; json: string | undefined; pskOnly: boolean }> {
  if (a.security !== undefined && a.security !== 'nosec' && a.security !== 'psk') throw new UsageError(`--security is nosec or psk, got "${a.security}"`);
  const server = a.server ?? (a.security === 'psk' ? 'coaps://127.0.0.1:5684' : 'coap://127.0.0.1:5683');
  let secure: boolean;
  try {
    secure = parseServerUri(server).secure;
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const security = (a.security ?? (secure ? 'psk' : 'nosec')) as 'nosec' | 'psk';
  if (secure !== (security === 'psk')) throw new UsageError(security === 'psk' ? `--security psk needs a coaps:// --server, got ${server}` : `a coaps:// --server needs --security psk`);
  if (security !== 'psk' && a['psk-file'] !== undefined) throw new UsageError('--psk-file needs --security psk');
  if (a['psk-only'] && a['psk-file'] === undefined) throw new UsageError('--psk-only needs --psk-file FILE');
  if (security === 'psk' && a.seed === undefined && a['psk-file'] === undefined && a.api === undefined) {
    throw new UsageError('--security psk: the keys derive from the seed; give --psk-file FILE or --api URL (or the --seed whose keys the server has)');
  }
  const blockSize = parseInteger('block-size', a['block-size'], 16, 1024) ?? 512;
  let blockSzx: number;
  try {
    blockSzx = szxForSize(blockSize);
  } catch {
    throw new UsageError(`--block-size must be a power of two from 16 to 1024, got ${blockSize}`);
  }
  const contentFormat = ({ tlv: ContentFormat.TLV, 'senml-cbor': ContentFormat.SENML_CBOR } as const)[a['content-format'] as 'tlv' | 'senml-cbor'];
  if (contentFormat === undefined) throw new UsageError(`--content-format is tlv or senml-cbor, got "${a['content-format']}"`);
  if (a.flash !== 'full' && a.flash !== 'digest') throw new UsageError(`--flash is full or digest, got "${a.flash}"`);
  if (a.delivery !== undefined && !['pull', 'push', 'both'].includes(a.delivery)) throw new UsageError(`--delivery is pull, push or both, got "${a.delivery}"`);
  const rootPath = a['root-path'];
  if (rootPath !== undefined && !/^(\/[A-Za-z0-9._~-]+)+$/.test(rootPath)) throw new UsageError(`--root-path is a path like /lwm2m, got "${rootPath}"`);
  const link: LinkFaults = {};
  const p = (name: string, v: string | undefined): number | undefined => parseNumber(name, v, 0, 1);
  const ms = (name: string, v: string | undefined): number | undefined => parseNumber(name, v, 0, 60_000);
  for (const [k, v] of [['loss', p('loss', a.loss)], ['latencyMs', ms('latency', a.latency)], ['jitterMs', ms('jitter', a.jitter)], ['duplicate', p('duplicate', a.duplicate)], ['reorder', p('reorder', a.reorder)]] as const) {
    if (v !== undefined) link[k] = v;
  }
  const faults: FaultSpec = { link, device: {} };
  for (const f of a.fault ?? []) {
    try {
      const [name, amount] = parseFault(f);
      faults.device[name] = amount;
    } catch (err) {
      if (err instanceof FaultSpecError) throw new UsageError(`--fault: ${err.message}`);
      throw err;
    }
  }
  const devices = parseInteger('devices', a.devices, 1, 100_000) ?? 1;
  const addresses = parseInteger('bind-addresses', a['bind-addresses'], 1, 254);
  const model = a.model ?? 'sim-1';
  const driver = await driverOptions(a, model, env);
  if (driver !== undefined && a.testbed) driver.testbed = true;
  const flash = {
    mode: a.flash as 'full' | 'digest',
    ...opt('slotSize', parseInteger('slot-size', a['slot-size'], 1024)),
    ...opt('sectorSize', parseInteger('sector-size', a['sector-size'], 64)),
    ...opt('writeSize', parseInteger('write-size', a['write-size'], 1, 16)),
    ...opt('eraseMs', parseNumber('erase-ms', a['erase-ms'], 0, 10_000)),
    ...opt('writeBytesPerMs', a['write-kbps'] === undefined ? undefined : (parseNumber('write-kbps', a['write-kbps'], 1, 1e9) ?? 1) * 1024 / 1000),
  };
  // A psk run always has a seed (shown in the report), so the same keys can be used again.
  const seed = parseInteger('seed', a.seed, 0, 2 ** 32 - 1) ?? (security === 'psk' ? Math.floor(Math.random() * 2 ** 32) : undefined);
  return {
    server,
    security,
    devices,
    prefix: a.prefix,
    durationMs: parseDuration(a.duration),
    blockSzx,
    contentFormat,
    modelNumber: model,
    flash,
    faults,
    soak: a.soak,
    json: a.json,
    pskOnly: a['psk-only'],
    queueMode: a['queue-mode'],
    ...opt('ramp', parseNumber('ramp', a.ramp, 0.001, 1e6)),
    ...opt('lifetime', parseInteger('lifetime', a.lifetime, 1, 2 ** 31 - 1)),
    ...opt('firmwareVersion', a['firmware-version']),
    ...opt('seed', seed),
    ...opt('credentialsFile', security === 'psk' ? a['psk-file'] : undefined),
    ...opt('provision', security === 'psk' && a.api !== undefined ? { api: apiUrl(a.api), ...apiToken(a, env) } : undefined),
    ...opt('maxDeferPeriod', parseInteger('max-defer-period', a['max-defer-period'], 0, 2 ** 31 - 1)),
    ...opt('deliveryMethod', a.delivery as 'pull' | 'push' | 'both' | undefined),
    ...opt('rootPath', rootPath),
    ...opt('bindAddresses', addresses === undefined ? undefined : Array.from({ length: addresses }, (_, i) => `127.0.0.${i + 1}`)),
    ...opt('trustedKeys', a['trusted-keys'] === undefined ? undefined : await readKeys(a['trusted-keys'])),
    ...opt('factoryImage', a['factory-image'] === undefined ? undefined : await readOrFail(a['factory-image'], 'factory-image')),
    ...opt('driver', driver),
    ...opt('testbed', testbedOptions(a, env)),
  };
}

/** The token and where it came from: --api-token, else FERRY_API_TOKEN, else FERRY_ADMIN_TOKEN (empty = unset). */
export function apiToken(a: Pick<SimArgs, 'api-token'>, env: NodeJS.ProcessEnv): { token: string; tokenSource: string } | undefined {
  for (const [token, tokenSource] of [[a['api-token'], '--api-token'], [env['FERRY_API_TOKEN'], 'FERRY_API_TOKEN'], [env['FERRY_ADMIN_TOKEN'], 'FERRY_ADMIN_TOKEN']] as const) {
    if (token !== undefined && token !== '') return { token, tokenSource };
  }
  return undefined;
}

async function driverOptions(a: SimArgs, model: string, env: NodeJS.ProcessEnv): Promise<FleetOptions['driver']> {
  if (a.update === undefined && !a.soak) return undefined;
  if (a.api === undefined) throw new UsageError('--update and --soak need --api URL (Ferry\'s admin API)');
  if (a.update !== undefined && a.soak) throw new UsageError('give --update or --soak, not both');
  const base = { api: apiUrl(a.api), ...apiToken(a, env) };
  if (a.update !== undefined) return { ...base, updateTo: parseInteger('update', a.update, 1) ?? 1 };
  const files = a['soak-images']?.split(',') ?? [];
  if (files.length !== 0 && files.length !== 2) throw new UsageError('--soak-images takes two files, A,B');
  const size = parseInteger('soak-size', a['soak-size'], 16, 64 * 1024 * 1024) ?? 64 * 1024;
  const payloads = files.length === 2
    ? [await readOrFail(files[0]!, 'soak-images'), await readOrFail(files[1]!, 'soak-images')] as const
    : [makeSimImage({ version: 'soak-a', size, seed: 1 }), makeSimImage({ version: 'soak-b', size, seed: 2 })] as const;
  return { ...base, soak: { payloads, hardwareClass: model } };
}

function testbedOptions(a: SimArgs, env: NodeJS.ProcessEnv): FleetOptions['testbed'] {
  if (!a.testbed) return undefined;
  if (a.api === undefined) throw new UsageError('--testbed needs --api URL (Ferry\'s admin API) and an operator token');
  return { api: apiUrl(a.api), ...apiToken(a, env) };
}

function apiUrl(text: string): string {
  let api: URL | undefined;
  try {
    api = new URL(text);
  } catch { /* below */ }
  if (api === undefined || (api.protocol !== 'http:' && api.protocol !== 'https:')) throw new UsageError(`--api must be an http:// or https:// URL, got "${text}"`);
  return text;
}

async function readKeys(list: string): Promise<TrustAnchor[]> {
  const out: TrustAnchor[] = [];
  for (const file of list.split(',').filter(Boolean)) {
    const text = (await readOrFail(file, 'trusted-keys')).toString('utf8');
    try {
      out.push(parsePublicKeyPem(text));
    } catch (err) {
      throw new UsageError(`--trusted-keys ${file}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return out;
}

async function readOrFail(file: string, flag: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new UsageError(`--${flag}: cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function opt<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
