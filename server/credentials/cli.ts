/**
 * `ferry secrets-keygen FILE` makes a master key file; `ferry credentials …` provisions device PSKs
 * through the admin API (FERRY_URL, default http://127.0.0.1:8080, and FERRY_TOKEN). Exit codes: 0
 * done, 1 refused or failed (the API's code and message on stderr), 2 usage error.
 */
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { CommandUsageError } from '../errors.ts';
import { newSecretsKeyText } from './secrets-key.ts';

export interface CliIo { out: (text: string) => void; err: (text: string) => void; env: NodeJS.ProcessEnv }
const defaultIo: CliIo = { out: (t) => void process.stdout.write(t), err: (t) => void process.stderr.write(t), env: process.env };

const KEYGEN_HELP = `Usage: ferry secrets-keygen FILE

Writes a new master key (32 random bytes, as 64 hex digits) to FILE, mode 0600, for
ferry serve --secrets-key-file. An existing file is not overwritten. Keep a copy apart from the
database: without it the stored device keys cannot be read.
`;

const HELP = `Usage: ferry credentials <command> [options]

Device PSKs (DTLS pre-shared keys) through the admin API at FERRY_URL (default
http://127.0.0.1:8080) with the token in FERRY_TOKEN (admin role).

  set ENDPOINT IDENTITY (--key-file FILE | --generate)
                   create or replace the device's identity and key (FILE holds the key in hex,
                   16 to 64 bytes); --generate makes a 32-byte key and prints it, once; a
                   device that has never registered is added, status provisioned
  rotate ENDPOINT IDENTITY (--key-file FILE | --generate)
                   a new key; the old one works until the device has used the new one
  rm ENDPOINT      delete the device's credentials
  ls ENDPOINT…     each device's identity and times (never the key)
  import FILE      many at once, all or nothing: FILE.csv holds lines endpoint,identity,key_hex,
                   any other name a JSON array of { endpoint, identity, key }; devices that
                   have never registered are added, as with set
`;

export async function secretsKeygenCommand(argv: string[], io: CliIo = defaultIo): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) { io.out(KEYGEN_HELP); return 0; }
  if (argv.length !== 1 || argv[0]!.startsWith('-')) { io.err(`ferry secrets-keygen: name one file\n\n${KEYGEN_HELP}`); return 2; }
  const file = argv[0]!;
  try {
    await writeFile(file, newSecretsKeyText(), { mode: 0o600, flag: 'wx' });
    await chmod(file, 0o600); // the mode given to open is subject to the umask
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    io.err(`ferry secrets-keygen: cannot write ${file}: ${code === 'EEXIST' ? 'the file exists (a key is not overwritten)' : code ?? String(err)}\n`);
    return 1;
  }
  io.out(`master key written to ${file} (mode 0600): start ferry serve with --secrets-key-file ${file}\n`);
  return 0;
}

interface Request { method: string; path: string; body?: string; type?: string }

export async function credentialsCommand(argv: string[], io: CliIo = defaultIo): Promise<number> {
  let request: Request;
  try {
    const [command, ...rest] = argv;
    if (command === undefined || command === '--help' || command === '-h' || command === 'help') { io.out(HELP); return command === undefined ? 2 : 0; }
    if (command === 'ls') {
      if (rest.length === 0) throw new CommandUsageError('name at least one endpoint');
      let failed = 0;
      for (const endpoint of rest) failed |= await send(io, { method: 'GET', path: `/api/v1/devices/${encodeURIComponent(endpoint)}/credentials` });
      return failed;
    }
    request = await requestOf(command, rest);
  } catch (err) {
    if (err instanceof CommandUsageError) { io.err(`ferry credentials: ${err.message}\n\n${HELP}`); return 2; }
    throw err;
  }
  return send(io, request);
}

async function requestOf(command: string, argv: string[]): Promise<Request> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { 'key-file': { type: 'string' }, generate: { type: 'boolean' } }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new CommandUsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  const device = (endpoint: string) => `/api/v1/devices/${encodeURIComponent(endpoint)}/credentials`;
  const arity = (n: number, what: string) => { if (positionals.length !== n) throw new CommandUsageError(`${command} takes ${what}`); };
  switch (command) {
    case 'set':
    case 'rotate': {
      arity(2, 'ENDPOINT IDENTITY');
      const [endpoint, identity] = positionals as [string, string];
      if ((values['key-file'] === undefined) === (values.generate !== true)) throw new CommandUsageError('give either --key-file FILE or --generate');
      const key = values['key-file'] === undefined ? undefined : (await readInput(values['key-file'])).trim();
      const body = JSON.stringify(key === undefined ? { identity, generate: true } : { identity, key });
      return command === 'set' ? { method: 'PUT', path: device(endpoint), body } : { method: 'POST', path: `${device(endpoint)}/rotate`, body };
    }
    case 'rm':
      arity(1, 'ENDPOINT');
      return { method: 'DELETE', path: device(positionals[0]!) };
    case 'import': {
      arity(1, 'FILE');
      const file = positionals[0]!;
      const csv = file.toLowerCase().endsWith('.csv');
      return { method: 'POST', path: '/api/v1/credentials/import', body: await readInput(file), type: csv ? 'text/csv' : 'application/json' };
    }
    default:
      throw new CommandUsageError(`unknown command "${command}"`);
  }
}

async function readInput(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new CommandUsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** One API request; the answer's JSON on stdout (0), or its code and message on stderr (1). */
async function send(io: CliIo, r: Request): Promise<0 | 1> {
  const base = (io.env['FERRY_URL'] ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
  const token = io.env['FERRY_TOKEN'];
  if (!token) { io.err('ferry credentials: set FERRY_TOKEN to an API token (admin role)\n'); return 1; }
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (r.body !== undefined) headers['content-type'] = r.type ?? 'application/json';
  let res: Response;
  try {
    res = await fetch(`${base}${r.path}`, { method: r.method, headers, signal: AbortSignal.timeout(30_000), ...(r.body === undefined ? {} : { body: r.body }) });
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause?.message;
    io.err(`ferry credentials: cannot reach ${base}: ${cause ?? (err as Error).message}\n`);
    return 1;
  }
  const text = await res.text();
  if (res.ok) { if (text !== '') io.out(`${text}\n`); return 0; }
  let shown = text.slice(0, 500);
  try {
    const e = JSON.parse(text) as { code?: string; message?: string };
    shown = `${e.code}: ${e.message}`;
  } catch { /* not JSON */ }
  io.err(`ferry credentials: ${r.method} ${r.path}: ${res.status} ${shown}\n`);
  return 1;
}
