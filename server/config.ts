/**
 * `ferry serve` configuration: every flag has a FERRY_* environment variable and a default;
 * flags win over the environment. `--help` is generated from this table.
 */
import { parseArgs } from 'node:util';
import { parseArgsMessage } from './cli/usage.ts';
import { HARDWARE_CLASS_SOURCES, type HardwareClassSource } from './coap/device-info.ts';
import { ConfigError } from './errors.ts';
import { LOG_FORMATS, type LogFormat } from './log.ts';
import type { RateSetting } from './coap/register-limits.ts';
import { APPROVAL_MODES, type ApprovalMode } from './governance/release-rules.ts';

export interface Config {
  coapHost: string;
  coapPort: number;
  /** LwM2M over DTLS (coaps); undefined: the CoAP port + 1 (5684, IANA's coaps port; a free port when the CoAP port is 0). */
  coapsPort: number | undefined;
  /** Undefined: the CoAP port + 2 (a free port when the CoAP port is 0). Equal to coapPort: no download socket, /fw on the CoAP socket. */
  downloadPort: number | undefined;
  /** Firmware over DTLS; undefined: the CoAP port + 3. Equal to the coaps port: /fw on the coaps LwM2M socket. */
  downloadCoapsPort: number | undefined;
  /** Which channels devices may use: DTLS with a PSK only, plain CoAP only (a lab), or both (each device as its credentials say); undefined: both on a loopback host, psk otherwise. */
  security: SecurityPolicy | undefined;
  /** The PSK identity hint of the DTLS ServerKeyExchange (RFC 4279 §2); undefined: none sent. */
  pskIdentityHint: string | undefined;
  /** Established DTLS sessions kept at most, per coaps socket. */
  dtlsMaxSessions: number;
  /** Seconds a DTLS session may go without a record before it is forgotten. */
  dtlsIdle: number;
  publicHost: string;
  publicPort: number | undefined;
  /** Port in coaps Package URIs; undefined: the DTLS download port. */
  publicCoapsPort: number | undefined;
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
  /** json (one object a line, for services and log collectors) or pretty (for a person at a terminal); undefined: pretty when stdout is a terminal. */
  logFormat: LogFormat | undefined;
  /** PEM public keys firmware packages are verified against. */
  trustedKeys: string[] | undefined;
  /** File of the master key device PSKs are encrypted under; without it no device key is stored. */
  secretsKeyFile: string | undefined;
  /** PEM private key raw image uploads are signed with; without it raw images are refused. */
  signingKey: string | undefined;
  /** http(s) URL alerts are POSTed to; none: alerts are only stored, logged and listed. */
  alertWebhook: string | undefined;
  /** Key of the X-Ferry-Signature HMAC on webhook requests. */
  alertWebhookSecret: string | undefined;
  alertWebhookAttempts: number;
  /** The admin API token an admin starts with (stored hashed); without one, one is made at first start. */
  adminToken: string | undefined;
  /** The bearer token /metrics needs (an API token does too); undefined: /metrics is open. */
  metricsToken: string | undefined;
  /** Milliseconds between campaign ticks (claims, wave changes, outcomes). */
  campaignTick: number;
  /** This node's name in campaign leases and device ownership; default host:coap-port. */
  nodeId: string | undefined;
  /** Registers of unknown endpoints per source IP (IPv6: per /64); undefined: no limit. */
  registerLimitIp: RateSetting | undefined;
  /** Registers of unknown endpoints per source IP and port; undefined: no limit. */
  registerLimitIpPort: RateSetting | undefined;
  /** Registers of unknown endpoints, all sources together; undefined: no limit. */
  registerLimitGlobal: RateSetting | undefined;
  /** Largest link-format payload of a Register or Update, in bytes (4.13 above). */
  maxRegistrationPayload: number;
  /** Largest lifetime (lt=, seconds) a Register or Update may ask for (4.00 above). */
  maxLifetime: number;
  /** Seconds after which a device that left and holds nothing is purged; 0: never. */
  deviceRetention: number;
  /** Seconds audit events stay in `events` before they are archived to `events_archive`; 0: never. */
  auditRetention: number;
  /** A file each signed checkpoint of the audit chain is also appended to. */
  auditCheckpointFile: string | undefined;
  /** Datagrams a second a source address that has not proven it receives may send to each socket; 0: no limit. */
  unprovenRate: number;
  /** Firmware blocks a second an address without an update under way may fetch; 0: no limit. */
  downloadRate: number;
  /** required: only approved images reach devices that are not testbeds; off (a lab): any image not revoked. */
  releaseApproval: ApprovalMode;
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

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86400 } as const;

/** "90s", "12h", "30d" (no unit: seconds) → seconds, from 1 to `max`; with `off`, "0" and "off" → 0. */
const longSeconds = (name: string, max: number, o: { off?: boolean } = {}) => (v: string): number => {
  if (o.off && (v === 'off' || v === '0')) return 0;
  const m = /^(\d+)(s|m|h|d)?$/.exec(v);
  const n = m ? Number(m[1]) * UNIT_SECONDS[(m[2] ?? 's') as keyof typeof UNIT_SECONDS] : 0;
  if (n < 1 || n > max) {
    throw new ConfigError(`${name} must be a duration like 3600s, 12h or 30d, at most ${max} s${o.off ? ', or off' : ''}; got "${v}"`);
  }
  return n;
};

/** "8192", "8k" (KiB) → bytes, from `min` to `max`. */
const bytes = (name: string, min: number, max: number) => (v: string): number => {
  const m = /^(\d+)(k)?$/i.exec(v);
  const n = m ? Number(m[1]) * (m[2] ? 1024 : 1) : NaN;
  if (!(n >= min && n <= max)) throw new ConfigError(`${name} must be a size in bytes from ${min} to ${max} (8192 or 8k), got "${v}"`);
  return n;
};

/** "20/s:200" (20 a second, bursts of 200; also /m, /h) → a token bucket; "off" → no limit. */
const rateLimit = (name: string) => (v: string): RateSetting | undefined => {
  if (v === 'off') return undefined;
  const m = /^(\d+)\/(s|m|h):(\d+)$/.exec(v);
  const rate = m ? Number(m[1]) / UNIT_SECONDS[m[2] as 's' | 'm' | 'h'] : 0;
  const burst = m ? Number(m[3]) : 0;
  if (rate <= 0 || burst < 1 || burst > 1_000_000 || Number(m![1]) > 1_000_000) {
    throw new ConfigError(`${name} must be RATE/UNIT:BURST like 20/s:200 (20 a second, bursts of 200; units s, m, h) or off, got "${v}"`);
  }
  return { rate, burst };
};

export const SECURITY_POLICIES = ['psk', 'nosec', 'both'] as const;
export type SecurityPolicy = (typeof SECURITY_POLICIES)[number];

export const SETTINGS: readonly Setting[] = [
  { key: 'coapHost', flag: 'coap-host', env: 'FERRY_COAP_HOST', def: '127.0.0.1', help: 'address the CoAP (LwM2M) endpoint binds to (0.0.0.0 for every interface)', parse: text },
  { key: 'coapPort', flag: 'coap-port', env: 'FERRY_COAP_PORT', def: '5683', help: 'UDP port of the CoAP endpoint (0 picks a free one)', parse: int('--coap-port', 0, 65535) },
  { key: 'coapsPort', flag: 'coaps-port', env: 'FERRY_COAPS_PORT', def: undefined, help: 'UDP port of the LwM2M endpoint over DTLS (coaps; default: the CoAP port + 1, i.e. 5684; 0 picks a free one)', parse: int('--coaps-port', 0, 65535) },
  { key: 'downloadPort', flag: 'download-port', env: 'FERRY_DOWNLOAD_PORT', def: undefined, help: 'UDP port of the plain CoAP firmware download socket (default: the CoAP port + 2; 0 picks a free one; the CoAP port itself: serve /fw on the CoAP socket, no second port)', parse: int('--download-port', 0, 65535) },
  { key: 'downloadCoapsPort', flag: 'download-coaps-port', env: 'FERRY_DOWNLOAD_COAPS_PORT', def: undefined, help: 'UDP port of the firmware download socket over DTLS (default: the CoAP port + 3; 0 picks a free one; the coaps port itself: serve /fw on the coaps socket)', parse: int('--download-coaps-port', 0, 65535) },
  { key: 'security', flag: 'security', env: 'FERRY_SECURITY', def: undefined, help: 'which channels devices may use: psk (DTLS with a pre-shared key only), nosec (plain CoAP only, a lab), both (each device as its credentials say: one with credentials only over DTLS); default both when --coap-host is a loopback address, psk otherwise', parse: (v) => {
    if (!(SECURITY_POLICIES as readonly string[]).includes(v)) throw new ConfigError(`--security must be one of ${SECURITY_POLICIES.join(', ')}, got "${v}"`);
    return v as SecurityPolicy;
  } },
  { key: 'pskIdentityHint', flag: 'psk-identity-hint', env: 'FERRY_PSK_IDENTITY_HINT', def: undefined, help: 'PSK identity hint sent in the DTLS handshake (RFC 4279); default none', parse: (v) => {
    if (!/^[\x21-\x7e]{1,128}$/.test(v)) throw new ConfigError(`--psk-identity-hint must be 1 to 128 printable characters without spaces, got "${v}"`);
    return v;
  } },
  { key: 'dtlsMaxSessions', flag: 'dtls-max-sessions', env: 'FERRY_DTLS_MAX_SESSIONS', def: '100000', help: 'DTLS sessions kept at most per coaps socket (each a few KiB); past it a new handshake is not completed', parse: int('--dtls-max-sessions', 1, 10_000_000) },
  { key: 'dtlsIdle', flag: 'dtls-idle', env: 'FERRY_DTLS_IDLE', def: '24h', help: 'a DTLS session with no record this long is forgotten (the device shakes hands again); keep it above the registration lifetime of sleepy devices', parse: longSeconds('--dtls-idle', 30 * 86400) },
  { key: 'publicHost', flag: 'public-host', env: 'FERRY_PUBLIC_HOST', def: '127.0.0.1', help: 'host devices use to download firmware (in the Package URI)', parse: text },
  { key: 'publicPort', flag: 'public-port', env: 'FERRY_PUBLIC_PORT', def: undefined, help: 'port in coap:// Package URIs (default: the download port)', parse: int('--public-port', 1, 65535) },
  { key: 'publicCoapsPort', flag: 'public-coaps-port', env: 'FERRY_PUBLIC_COAPS_PORT', def: undefined, help: 'port in coaps:// Package URIs (default: the DTLS download port)', parse: int('--public-coaps-port', 1, 65535) },
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
  { key: 'logFormat', flag: 'log-format', env: 'FERRY_LOG_FORMAT', def: undefined, help: 'json (one JSON object a line, for services) or pretty (readable, for a terminal); default pretty when stdout is a terminal, json otherwise', parse: (v) => {
    if (!(LOG_FORMATS as readonly string[]).includes(v)) throw new ConfigError(`--log-format must be one of ${LOG_FORMATS.join(', ')}, got "${v}"`);
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
  { key: 'metricsToken', flag: 'metrics-token', env: 'FERRY_METRICS_TOKEN', def: undefined, help: 'a bearer token GET /metrics then needs (32 to 200 printable characters; any valid API token is taken too); without it /metrics is open to anyone who reaches the API port, and it tells the fleet\'s firmware versions and device statuses', parse: (v) => {
    if (!/^[\x21-\x7e]{32,200}$/.test(v)) throw new ConfigError('--metrics-token / FERRY_METRICS_TOKEN must be 32 to 200 printable characters without spaces (e.g. the output of openssl rand -hex 32)');
    return v;
  } },
  { key: 'campaignTick', flag: 'campaign-tick', env: 'FERRY_CAMPAIGN_TICK', def: '1s', help: 'how often campaigns claim devices, record outcomes and move waves on (500ms, 2s, …)', parse: millis('--campaign-tick') },
  { key: 'nodeId', flag: 'node-id', env: 'FERRY_NODE_ID', def: undefined, help: 'this server\'s name when several share one database (campaign leases, device ownership); default host:coap-port', parse: (v) => {
    if (!/^[\x21-\x7e]{1,128}$/.test(v)) throw new ConfigError(`--node-id must be 1 to 128 printable characters without spaces, got "${v}"`);
    return v;
  } },
  { key: 'signingKey', flag: 'signing-key', env: 'FERRY_SIGNING_KEY', def: undefined, help: 'private key file (PEM) the server signs raw image uploads with; without it only signed packages are accepted', parse: text },
  { key: 'secretsKeyFile', flag: 'secrets-key-file', env: 'FERRY_SECRETS_KEY_FILE', def: undefined, help: 'file holding the master key (32 bytes as 64 hex digits; ferry secrets-keygen FILE makes one) device PSKs are encrypted under (AES-256-GCM); without it no device key is stored, and a server whose database holds keys does not start', parse: text },
  { key: 'alertWebhook', flag: 'alert-webhook', env: 'FERRY_ALERT_WEBHOOK', def: undefined, help: 'http(s) URL each alert is POSTed to as JSON (retried with backoff); without it alerts are only logged, stored and listed', parse: webhookUrl },
  { key: 'alertWebhookSecret', flag: 'alert-webhook-secret', env: 'FERRY_ALERT_WEBHOOK_SECRET', def: undefined, help: 'key of the X-Ferry-Signature: sha256=<HMAC-SHA256 of the body> header on webhook requests', parse: text },
  { key: 'alertWebhookAttempts', flag: 'alert-webhook-attempts', env: 'FERRY_ALERT_WEBHOOK_ATTEMPTS', def: '6', help: 'attempts per alert before a webhook delivery is given up (1 s, 2 s, 4 s … apart)', parse: int('--alert-webhook-attempts', 1, 20) },
  { key: 'registerLimitIp', flag: 'register-limit-ip', env: 'FERRY_REGISTER_LIMIT_IP', def: '20/s:200', help: 'Registers of endpoints the server does not know yet, per source IP (IPv6: per /64), as RATE/UNIT:BURST (carrier NAT puts many devices behind one address), or off; over it: 4.29 with Max-Age. Known endpoints are never limited', parse: rateLimit('--register-limit-ip') },
  { key: 'registerLimitIpPort', flag: 'register-limit-ip-port', env: 'FERRY_REGISTER_LIMIT_IP_PORT', def: '1/s:10', help: 'Registers of unknown endpoints per source IP and port (one socket: one device), RATE/UNIT:BURST or off', parse: rateLimit('--register-limit-ip-port') },
  { key: 'registerLimitGlobal', flag: 'register-limit-global', env: 'FERRY_REGISTER_LIMIT_GLOBAL', def: '50/s:500', help: 'Registers of unknown endpoints, all sources together, RATE/UNIT:BURST or off', parse: rateLimit('--register-limit-global') },
  { key: 'maxRegistrationPayload', flag: 'max-registration-payload', env: 'FERRY_MAX_REGISTRATION_PAYLOAD', def: '8k', help: 'largest link-format payload of a Register or Update, in bytes (8192 or 8k); larger: 4.13 with Size1', parse: bytes('--max-registration-payload', 64, 1024 * 1024) },
  { key: 'maxLifetime', flag: 'max-lifetime', env: 'FERRY_MAX_LIFETIME', def: '30d', help: 'largest registration lifetime (lt=) accepted, like 12h or 30d; above it a Register or Update is refused with 4.00 (never shortened silently), the default 86400 s included', parse: longSeconds('--max-lifetime', 2 ** 31 - 1) },
  { key: 'deviceRetention', flag: 'device-retention', env: 'FERRY_DEVICE_RETENTION', def: '7d', help: 'a device expired or de-registered this long that holds no update, tag or campaign is deleted (its events stay, with its endpoint name); 0 or off: never', parse: longSeconds('--device-retention', 10 * 365 * 86400, { off: true }) },
  { key: 'auditRetention', flag: 'audit-retention', env: 'FERRY_AUDIT_RETENTION', def: 'off', help: 'audit events older than this (like 90d) move to the events_archive table; the chain stays verifiable from the last one moved; off: never', parse: longSeconds('--audit-retention', 100 * 365 * 86400, { off: true }) },
  { key: 'auditCheckpointFile', flag: 'audit-checkpoint-file', env: 'FERRY_AUDIT_CHECKPOINT_FILE', def: undefined, help: 'a file each signed checkpoint of the audit chain (every minute) is appended to, as a JSON line, besides the database; verification reads it too, so a tail cut off together with the stored checkpoints is still found', parse: text },
  { key: 'unprovenRate', flag: 'unproven-rate', env: 'FERRY_UNPROVEN_RATE', def: '500', help: 'datagrams a second (bursts of four seconds\' worth) a source address may send to each UDP socket before it has proven it receives what Ferry sends (an answer to a request of Ferry\'s, or an Echo sent back); past it they are dropped; 0: no limit', parse: int('--unproven-rate', 0, 1_000_000) },
  { key: 'releaseApproval', flag: 'release-approval', env: 'FERRY_RELEASE_APPROVAL', def: 'required', help: 'required: only approved releases go to devices that are not testbeds (production campaigns, direct updates), approved by an approver who did not upload them, with testbed evidence; off (a lab): any image that is not revoked goes anywhere, and the server says so at start and in /readyz', parse: (v) => {
    if (!(APPROVAL_MODES as readonly string[]).includes(v)) throw new ConfigError(`--release-approval must be one of ${APPROVAL_MODES.join(', ')}, got "${v}"`);
    return v as ApprovalMode;
  } },
  { key: 'downloadRate', flag: 'download-rate', env: 'FERRY_DOWNLOAD_RATE', def: '200', help: 'firmware blocks a second (bursts of four seconds\' worth) one address may fetch unless a device there has an update under way; past it: 4.29 with Max-Age; 0: no limit', parse: int('--download-rate', 0, 1_000_000) },
];

function webhookUrl(v: string): string {
  let url: URL | undefined;
  try { url = new URL(v); } catch { /* refused below */ }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    throw new ConfigError(`--alert-webhook must be an http:// or https:// URL, got "${v}"`);
  }
  return v;
}

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv): Config | 'help' {
  const options = Object.fromEntries(SETTINGS.map((s) => [s.flag, { type: 'string' as const }]));
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new ConfigError(parseArgsMessage(err));
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

export const PORT_PLAN = [
  'Ports (UDP; with --coap-port P the defaults are P, P+1, P+2, P+3):',
  '  5683  LwM2M over plain CoAP (coap://), when --security allows nosec',
  '  5684  LwM2M over DTLS (coaps://, IANA\'s port for it); it also answers plain CoAP GET /fw/<id>',
  '        for Package URIs written before the DTLS ports existed, when --security allows nosec',
  '  5685  firmware downloads over plain CoAP, when --security allows nosec',
  '  5686  firmware downloads over DTLS',
];

export function helpText(): string {
  const rows = SETTINGS.map((s) => `  --${s.flag} <v>`.padEnd(30) + `${s.help}\n${''.padEnd(30)}env ${s.env}${s.def !== undefined ? `, default ${s.def}` : ''}`);
  return ['Usage: ferry serve [options]', '', 'Runs the LwM2M/CoAP endpoint, the update engine and the admin API.', '', ...PORT_PLAN, '', ...rows, '  -h, --help'.padEnd(30) + 'this text', ''].join('\n');
}

/** The defaults with some settings replaced (tests, benchmarks, embedding). */
export function configWith(overrides: Partial<Config>): Config {
  const base = parseConfig([], {});
  if (base === 'help') throw new Error('unreachable');
  return { ...base, ...overrides };
}

/** The channels --security allows: both unless set, on a loopback host; DTLS only otherwise. */
export function securityPolicyOf(config: Pick<Config, 'security' | 'coapHost'>): { psk: boolean; nosec: boolean } {
  const policy = config.security ?? (isLoopback(config.coapHost) ? 'both' : 'psk');
  return { psk: policy !== 'nosec', nosec: policy !== 'psk' };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** A port of the plan: the one set, else the CoAP port + `offset` (a free port when the CoAP port is 0). */
function planned(set: number | undefined, coapPort: number, offset: number, flag: string): number {
  const port = set ?? (coapPort === 0 ? 0 : coapPort + offset);
  if (port > 65535) throw new ConfigError(`the ${flag} port would be ${port}: set --${flag}`);
  return port;
}

/** The coaps LwM2M port (--coaps-port): by default the CoAP port + 1, 5684. */
export function coapsPortOf(config: Pick<Config, 'coapsPort' | 'coapPort'>): number {
  return planned(config.coapsPort, config.coapPort, 1, 'coaps-port');
}

/**
 * The plain download socket's port (--download-port): by default the CoAP port + 2, a free port when
 * the CoAP port is 0; undefined when it is the CoAP port itself (one-port deployments: /fw on the CoAP socket).
 */
export function downloadPortOf(config: Pick<Config, 'downloadPort' | 'coapPort'>, boundCoapPort: number): number | undefined {
  const port = planned(config.downloadPort, config.coapPort, 2, 'download-port');
  return port !== 0 && port === boundCoapPort ? undefined : port;
}

/** The DTLS download socket's port (--download-coaps-port): the CoAP port + 3; undefined when it is the coaps port (/fw there). */
export function downloadCoapsPortOf(config: Pick<Config, 'downloadCoapsPort' | 'coapPort'>, boundCoapsPort: number): number | undefined {
  const port = planned(config.downloadCoapsPort, config.coapPort, 3, 'download-coaps-port');
  return port !== 0 && port === boundCoapsPort ? undefined : port;
}
