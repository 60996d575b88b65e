/**
 * `ferry serve` configuration: every flag has a FERRY_* environment variable and a default;
 * flags win over the environment. `--help` is generated from this table.
 */
import { parseArgs } from 'node:util';
import { HARDWARE_CLASS_SOURCES, type HardwareClassSource } from './coap/device-info.ts';

export interface Config {
  coapHost: string;
  coapPort: number;
  /** Undefined: the CoAP port + 1 (a free port when the CoAP port is 0). Equal to coapPort: no download socket, /fw on the CoAP socket. */
  downloadPort: number | undefined;
  publicHost: string;
  publicPort: number | undefined;
  apiHost: string;
  apiPort: number;
  databaseUrl: string | undefined;
  dbDir: string;
  hardwareClassFrom: HardwareClassSource;
  updateTimeout: number;
  /** Seconds an update under way may go unchanged, its device silent, before it is poked; undefined: a quarter of updateTimeout, 5 to 60. */
  pokeAfter: number | undefined;
  requestTimeout: number;
  queueAwake: number;
  maxUploadMb: number;
  imageCacheMb: number;
  logLevel: string;
  /** PEM public keys firmware packages are verified against. */
  trustedKeys: string[] | undefined;
  /** PEM private key raw image uploads are signed with; without it raw images are refused. */
  signingKey: string | undefined;
  /** http(s) URL alerts are POSTed to; none: alerts are only stored, logged and listed. */
  alertWebhook: string | undefined;
  /** Key of the X-Ferry-Signature HMAC on webhook requests. */
  alertWebhookSecret: string | undefined;
  alertWebhookAttempts: number;
  /** The admin API token an admin starts with (stored hashed); without one, one is made at first start. */
  adminToken: string | undefined;
  /** Milliseconds between campaign ticks (claims, wave changes, outcomes). */
  campaignTick: number;
  /** This node's name in campaign leases and device ownership; default host:coap-port. */
  nodeId: string | undefined;
}

interface Setting {
  key: keyof Config;
  flag: string;
  env: string;
  def: string | undefined;
  help: string;
  parse: (v: string) => Config[keyof Config];
}

const int = (name: string, min: number, max: number) => (v: string): number => {
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${v}"`);
  return Number(v);
};
const text = (v: string): string => v;
/** "90", "90s", "15m", "2h" → seconds. */
const seconds = (name: string) => (v: string): number => {
  const m = /^(\d+)(s|m|h)?$/.exec(v);
  if (!m || Number(m[1]) === 0) throw new ConfigError(`${name} must be a positive duration like 90s, 15m or 2h, got "${v}"`);
  return Number(m[1]) * ({ s: 1, m: 60, h: 3600 } as const)[(m[2] ?? 's') as 's' | 'm' | 'h'];
};

/** "500ms", "2s", "1m" → milliseconds. */
const millis = (name: string) => (v: string): number => {
  const m = /^(\d+)(ms|s|m)?$/.exec(v);
  if (!m || Number(m[1]) === 0) throw new ConfigError(`${name} must be a positive duration like 500ms, 2s or 1m, got "${v}"`);
  const ms = Number(m[1]) * ({ ms: 1, s: 1000, m: 60_000 } as const)[(m[2] ?? 'ms') as 'ms' | 's' | 'm'];
  if (ms < 10 || ms > 3_600_000) throw new ConfigError(`${name} must be from 10ms to 1h, got "${v}"`);
  return ms;
};

export const SETTINGS: readonly Setting[] = [
  { key: 'coapHost', flag: 'coap-host', env: 'FERRY_COAP_HOST', def: '127.0.0.1', help: 'address the CoAP (LwM2M) endpoint binds to (0.0.0.0 for every interface)', parse: text },
  { key: 'coapPort', flag: 'coap-port', env: 'FERRY_COAP_PORT', def: '5683', help: 'UDP port of the CoAP endpoint (0 picks a free one)', parse: int('--coap-port', 0, 65535) },
  { key: 'downloadPort', flag: 'download-port', env: 'FERRY_DOWNLOAD_PORT', def: undefined, help: 'UDP port of the firmware download socket (default: the CoAP port + 1; 0 picks a free one; the CoAP port itself: serve /fw on the CoAP socket, no second port)', parse: int('--download-port', 0, 65535) },
  { key: 'publicHost', flag: 'public-host', env: 'FERRY_PUBLIC_HOST', def: '127.0.0.1', help: 'host devices use to download firmware (in the Package URI)', parse: text },
  { key: 'publicPort', flag: 'public-port', env: 'FERRY_PUBLIC_PORT', def: undefined, help: 'port in the Package URI (default: the download port)', parse: int('--public-port', 1, 65535) },
  { key: 'apiHost', flag: 'api-host', env: 'FERRY_API_HOST', def: '127.0.0.1', help: 'address the admin API binds to', parse: text },
  { key: 'apiPort', flag: 'api-port', env: 'FERRY_API_PORT', def: '8080', help: 'TCP port of the admin API (0 picks a free one)', parse: int('--api-port', 0, 65535) },
  { key: 'databaseUrl', flag: 'database-url', env: 'DATABASE_URL', def: undefined, help: 'PostgreSQL URL; without it Ferry uses embedded PGlite in --db-dir', parse: text },
  { key: 'dbDir', flag: 'db-dir', env: 'FERRY_DB_DIR', def: './.ferry/db', help: 'data directory of the embedded database', parse: text },
  { key: 'hardwareClassFrom', flag: 'hardware-class-from', env: 'FERRY_HARDWARE_CLASS_FROM', def: 'model', help: `what names a device's hardware class: ${HARDWARE_CLASS_SOURCES.join(', ')}`, parse: (v) => {
    if (!(HARDWARE_CLASS_SOURCES as readonly string[]).includes(v)) throw new ConfigError(`--hardware-class-from must be one of ${HARDWARE_CLASS_SOURCES.join(', ')}`);
    return v as HardwareClassSource;
  } },
  { key: 'updateTimeout', flag: 'update-timeout', env: 'FERRY_UPDATE_TIMEOUT', def: '10m', help: 'an update fails (reason timeout) when the device is silent this long', parse: seconds('--update-timeout') },
  { key: 'pokeAfter', flag: 'poke-after', env: 'FERRY_POKE_AFTER', def: undefined, help: 'an update under way that has not changed, its device silent, this long is poked: its State and Update Result are read (a lost notification, a restarted server); default a quarter of --update-timeout, 5 s to 60 s', parse: seconds('--poke-after') },
  { key: 'requestTimeout', flag: 'request-timeout', env: 'FERRY_REQUEST_TIMEOUT', def: '60s', help: 'limit for one request to a device, retransmissions included', parse: seconds('--request-timeout') },
  { key: 'queueAwake', flag: 'queue-awake', env: 'FERRY_QUEUE_AWAKE', def: '93s', help: 'how long a queue-mode device listens after it talks (LwM2M recommends 93 s)', parse: seconds('--queue-awake') },
  { key: 'maxUploadMb', flag: 'max-upload-mb', env: 'FERRY_MAX_UPLOAD_MB', def: '64', help: 'largest firmware upload accepted, in MiB', parse: int('--max-upload-mb', 1, 1024) },
  { key: 'imageCacheMb', flag: 'image-cache-mb', env: 'FERRY_IMAGE_CACHE_MB', def: '256', help: 'memory for firmware images being served, in MiB; an upload whose image (the bytes devices receive) would not fit in it is refused with 413, so keep it at or above --max-upload-mb', parse: int('--image-cache-mb', 1, 65536) },
  { key: 'logLevel', flag: 'log-level', env: 'FERRY_LOG_LEVEL', def: 'info', help: 'trace, debug, info, warn, error or silent', parse: (v) => {
    if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(v)) throw new ConfigError(`--log-level: unknown level "${v}"`);
    return v;
  } },
  { key: 'trustedKeys', flag: 'trusted-keys', env: 'FERRY_TRUSTED_KEYS', def: undefined, help: 'public key files (PEM, from ferry keygen), comma-separated, that firmware packages must be signed by', parse: (v) => {
    const files = v.split(',').map((f) => f.trim());
    if (files.some((f) => f === '')) throw new ConfigError(`--trusted-keys: an empty file name in "${v}"`);
    return files;
  } },
  { key: 'adminToken', flag: 'admin-token', env: 'FERRY_ADMIN_TOKEN', def: undefined, help: 'an admin token for the API (32 to 200 printable characters, e.g. fry_ and 43 base64url ones), stored hashed; without it, and with no token in the database, one is made and printed once at first start (prefer the variable: a flag shows in ps)', parse: (v) => {
    if (!/^[\x21-\x7e]{32,200}$/.test(v)) throw new ConfigError('--admin-token / FERRY_ADMIN_TOKEN must be 32 to 200 printable characters without spaces (e.g. fry_ and the output of openssl rand -base64 32 | tr +/ -_ | tr -d =)');
    return v;
  } },
  { key: 'campaignTick', flag: 'campaign-tick', env: 'FERRY_CAMPAIGN_TICK', def: '1s', help: 'how often campaigns claim devices, record outcomes and move waves on (500ms, 2s, …)', parse: millis('--campaign-tick') },
  { key: 'nodeId', flag: 'node-id', env: 'FERRY_NODE_ID', def: undefined, help: 'this server\'s name when several share one database (campaign leases, device ownership); default host:coap-port', parse: (v) => {
    if (!/^[\x21-\x7e]{1,128}$/.test(v)) throw new ConfigError(`--node-id must be 1 to 128 printable characters without spaces, got "${v}"`);
    return v;
  } },
  { key: 'signingKey', flag: 'signing-key', env: 'FERRY_SIGNING_KEY', def: undefined, help: 'private key file (PEM) the server signs raw image uploads with; without it only signed packages are accepted', parse: text },
  { key: 'alertWebhook', flag: 'alert-webhook', env: 'FERRY_ALERT_WEBHOOK', def: undefined, help: 'http(s) URL each alert is POSTed to as JSON (retried with backoff); without it alerts are only logged, stored and listed', parse: webhookUrl },
  { key: 'alertWebhookSecret', flag: 'alert-webhook-secret', env: 'FERRY_ALERT_WEBHOOK_SECRET', def: undefined, help: 'key of the X-Ferry-Signature: sha256=<HMAC-SHA256 of the body> header on webhook requests', parse: text },
  { key: 'alertWebhookAttempts', flag: 'alert-webhook-attempts', env: 'FERRY_ALERT_WEBHOOK_ATTEMPTS', def: '6', help: 'attempts per alert before a webhook delivery is given up (1 s, 2 s, 4 s … apart)', parse: int('--alert-webhook-attempts', 1, 20) },
];

function webhookUrl(v: string): string {
  let url: URL | undefined;
  try { url = new URL(v); } catch { /* refused below */ }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    throw new ConfigError(`--alert-webhook must be an http:// or https:// URL, got "${v}"`);
  }
  return v;
}

export class ConfigError extends Error {}

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv): Config | 'help' {
  const options = Object.fromEntries(SETTINGS.map((s) => [s.flag, { type: 'string' as const }]));
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  if (values['help']) return 'help';
  const config: Partial<Record<keyof Config, unknown>> = {};
  for (const s of SETTINGS) {
    const raw = (values[s.flag] as string | undefined) ?? env[s.env] ?? s.def;
    config[s.key] = raw === undefined || raw === '' ? undefined : s.parse(raw);
  }
  const c = config as Config;
  if (c.pokeAfter !== undefined && c.pokeAfter >= c.updateTimeout) {
    throw new ConfigError(`--poke-after (${c.pokeAfter} s) must be shorter than --update-timeout (${c.updateTimeout} s)`);
  }
  return c;
}

export function helpText(): string {
  const rows = SETTINGS.map((s) => `  --${s.flag} <v>`.padEnd(30) + `${s.help}\n${''.padEnd(30)}env ${s.env}${s.def !== undefined ? `, default ${s.def}` : ''}`);
  return ['Usage: ferry serve [options]', '', 'Runs the LwM2M/CoAP endpoint, the update engine and the admin API.', '', ...rows, '  -h, --help'.padEnd(30) + 'this text', ''].join('\n');
}

/** The defaults with some settings replaced (tests, benchmarks, embedding). */
export function configWith(overrides: Partial<Config>): Config {
  const base = parseConfig([], {});
  if (base === 'help') throw new Error('unreachable');
  return { ...base, ...overrides };
}
