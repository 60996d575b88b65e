/**
 * `ferry keys ls|add|validity|revoke`: the trusted package keys registry through the admin API at
 * FERRY_URL (default http://127.0.0.1:8080, the API's default port) with the token in
 * FERRY_TOKEN (viewer role for ls, admin for the rest). A table by default, the API's JSON with
 * --json. Exit codes: 0 done, 1 refused or unreachable (one line on stderr: the API's code and
 * message), 2 usage error.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { AdminApi } from '../simulator/admin-api.ts';
import type { CliIo } from './credentials/cli.ts';
import { CommandUsageError } from './errors.ts';

const defaultIo: CliIo = { out: (t) => void process.stdout.write(t), err: (t) => void process.stderr.write(t), env: process.env };

const HELP = `Usage: ferry keys <command> [options]

The public keys firmware packages may be signed by, through the admin API at FERRY_URL (default
http://127.0.0.1:8080) with the token in FERRY_TOKEN. Uploads signed by a revoked key, or by a
key outside its validity period, are refused. Keys the server reads from files (--trusted-keys,
--signing-key) are listed with source "file" and are changed only through their files.

  ls                       every key: name, source, algorithm, kid, status, validity, images signed
  add NAME PUBFILE [--not-before INSTANT] [--not-after INSTANT]
                           trust the public key in PUBFILE (PEM, from ferry keygen) as NAME (admin)
  validity NAME [--not-before INSTANT] [--not-after INSTANT|none]
                           change a key's validity period (admin)
  revoke NAME --reason TEXT
                           revoke a key: it signs no new upload, and every image it signed is
                           revoked (campaigns rolling them out pause) (admin)

  --json                   print the API's answer as JSON instead of a table
INSTANT is RFC 3339, e.g. 2027-01-01T00:00:00Z.
`;

interface Call { method: string; path: string; json?: unknown }

const OPTIONS = {
  json: { type: 'boolean' }, 'not-before': { type: 'string' }, 'not-after': { type: 'string' }, reason: { type: 'string' }, help: { type: 'boolean', short: 'h' },
} as const;

export async function keysCommand(argv: string[], io: CliIo = defaultIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') { io.out(HELP); return command === undefined ? 2 : 0; }
  let call: Call;
  let json: boolean;
  try {
    let parsed;
    try {
      parsed = parseArgs({ args: rest, options: OPTIONS, strict: true, allowPositionals: true });
    } catch (err) {
      throw new CommandUsageError((err as Error).message);
    }
    if (parsed.values.help) { io.out(HELP); return 0; }
    json = parsed.values.json === true;
    const { 'not-before': notBefore, 'not-after': notAfter, reason } = parsed.values;
    call = await callOf(command, parsed.positionals, { 'not-before': notBefore, 'not-after': notAfter, reason });
  } catch (err) {
    if (err instanceof CommandUsageError) { io.err(`ferry keys: ${err.message}\n\n${HELP}`); return 2; }
    throw err;
  }
  const token = io.env['FERRY_TOKEN'];
  if (!token) { io.err(`ferry keys: set FERRY_TOKEN to an API token (${command === 'ls' ? 'viewer' : 'admin'} role)\n`); return 1; }
  const api = new AdminApi({ api: io.env['FERRY_URL'] ?? 'http://127.0.0.1:8080', token });
  const res = await api.send(call.path, { method: call.method, ...(call.json === undefined ? {} : { json: call.json }) });
  if (!(res instanceof Response)) { io.err(`ferry keys: cannot reach ${api.base} (${res.error}): ${res.detail}\n`); return 1; }
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const e = (body ?? {}) as { code?: string; message?: string };
    const shown = e.code !== undefined ? `${e.code}: ${e.message}` : `HTTP ${res.status} ${text.replace(/\s+/g, ' ').slice(0, 200)}`;
    io.err(`ferry keys ${command}: ${shown}\n`);
    return 1;
  }
  // The API's list is a page ({items, next}); every key is on it, and ls shows the keys.
  const shown = command === 'ls' ? (body as { items: KeyView[] }).items : body;
  if (json) { io.out(`${JSON.stringify(shown, null, 2)}\n`); return 0; }
  io.out(command === 'ls' ? table(shown as KeyView[]) : summary(command, shown as KeyView & Revoked));
  return 0;
}

async function callOf(command: string, args: string[], v: { 'not-before'?: string | undefined; 'not-after'?: string | undefined; reason?: string | undefined }): Promise<Call> {
  const arity = (n: number, what: string): void => { if (args.length !== n) throw new CommandUsageError(`${command} takes ${what}`); };
  const only = (...allowed: Array<keyof typeof v>): void => {
    for (const k of Object.keys(v) as Array<keyof typeof v>) if (v[k] !== undefined && !allowed.includes(k)) throw new CommandUsageError(`${command} takes no --${k}`);
  };
  const path = (name: string): string => `/api/v1/keys/${encodeURIComponent(name)}`;
  switch (command) {
    case 'ls':
      arity(0, 'no arguments');
      only();
      return { method: 'GET', path: '/api/v1/keys' };
    case 'add': {
      arity(2, 'NAME PUBFILE');
      only('not-before', 'not-after');
      let pem: string;
      try {
        pem = await readFile(args[1]!, 'utf8');
      } catch (err) {
        throw new CommandUsageError(`cannot read ${args[1]}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
      return { method: 'POST', path: '/api/v1/keys', json: { name: args[0], publicKeyPem: pem, ...validity(v) } };
    }
    case 'validity': {
      arity(1, 'NAME');
      only('not-before', 'not-after');
      const body = validity(v);
      if (Object.keys(body).length === 0) throw new CommandUsageError('give --not-before, --not-after or both');
      return { method: 'PATCH', path: path(args[0]!), json: body };
    }
    case 'revoke':
      arity(1, 'NAME');
      only('reason');
      if (!v.reason) throw new CommandUsageError('revoke needs --reason TEXT (it goes in the audit log)');
      return { method: 'POST', path: `${path(args[0]!)}/revoke`, json: { reason: v.reason } };
    default:
      throw new CommandUsageError(`unknown command "${command}"`);
  }
}

function validity(v: { 'not-before'?: string | undefined; 'not-after'?: string | undefined }): Record<string, string | null> {
  return {
    ...(v['not-before'] === undefined ? {} : { notBefore: v['not-before'] }),
    ...(v['not-after'] === undefined ? {} : { notAfter: v['not-after'] === 'none' ? null : v['not-after'] }),
  };
}

interface KeyView { name: string; source: string; alg: string; kid: string; status: string; notBefore: string; notAfter: string | null; images: number; revokeReason: string | null }
interface Revoked { revokedImages?: Array<{ id: number; version: string; hardwareClass: string }>; pausedCampaigns?: number[] }

const day = (at: string | null): string => (at === null ? '-' : at.replace(/\.\d{3}Z$/, 'Z'));

/** Columns padded to their widest cell. */
function table(keys: KeyView[]): string {
  const rows = [['NAME', 'SOURCE', 'ALG', 'KID', 'STATUS', 'NOT BEFORE', 'NOT AFTER', 'IMAGES'],
    ...keys.map((k) => [k.name, k.source, k.alg, k.kid, k.status, day(k.notBefore), day(k.notAfter), String(k.images)])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

function summary(command: string, k: KeyView & Revoked): string {
  const line = `${k.name} (${k.alg} ${k.kid}, ${k.source}): ${k.status}, valid ${day(k.notBefore)} to ${day(k.notAfter)}`;
  if (command !== 'revoke') return `${line}\n`;
  const images = k.revokedImages ?? [];
  return `${line}\nrevoked ${images.length} image(s) it signed${images.length ? `: ${images.map((i) => `${i.id} (${i.hardwareClass} ${i.version})`).join(', ')}` : ''}`
    + `${k.pausedCampaigns?.length ? `; paused campaign(s) ${k.pausedCampaigns.join(', ')}` : ''}\n`;
}
