/**
 * `ferry secrets-keygen FILE` makes a master key file; `ferry credentials …` provisions device PSKs
 * through the admin API (server/cli/command.ts: FERRY_URL, FERRY_TOKEN, exit codes).
 */
import { chmod, writeFile } from 'node:fs/promises';
import { processIo, type CliIo } from '../cli/api.ts';
import { failed, nounCommand, readArg, seg, str, type Ctx, type Sub } from '../cli/command.ts';
import { CommandUsageError } from '../errors.ts';
import { newSecretsKeyText } from './secrets-key.ts';

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
Exit codes: 0 done, 1 refused or unreachable, 2 usage error.
`;

export async function secretsKeygenCommand(argv: string[], io: CliIo = processIo): Promise<number> {
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

const device = (endpoint: string): string => `/api/v1/devices/${seg(endpoint)}/credentials`;

/** The answer's JSON on stdout, as the API wrote it. */
const print = (c: Ctx, body: unknown): void => { if (body !== undefined) c.io.out(`${JSON.stringify(body)}\n`); };

/** set and rotate: the identity, and the key from --key-file or made by the server (--generate). */
const keyed = (rotate: boolean): Sub => ({
  args: ['ENDPOINT', 'IDENTITY'], role: 'admin', options: { 'key-file': { type: 'string' }, generate: { type: 'boolean' } },
  run: async (c) => {
    const [endpoint, identity] = c.args as [string, string];
    const file = str(c, 'key-file');
    if ((file === undefined) === (c.flags['generate'] !== true)) throw new CommandUsageError('give either --key-file FILE or --generate');
    const json = file === undefined ? { identity, generate: true } : { identity, key: (await readArg(file, 'utf8')).trim() };
    print(c, await c.api().call(rotate ? 'POST' : 'PUT', rotate ? `${device(endpoint)}/rotate` : device(endpoint), { json }));
  },
});

export const credentialsCommand = nounCommand('credentials', HELP, {
  set: keyed(false),
  rotate: keyed(true),
  rm: { args: ['ENDPOINT'], role: 'admin', run: async (c) => print(c, await c.api().call('DELETE', device(c.args[0]!))) },
  ls: {
    args: ['ENDPOINT…'], role: 'admin',
    run: async (c) => {
      let code = 0;
      for (const endpoint of c.args) {
        try {
          print(c, await c.api().get(device(endpoint)));
        } catch (err) {
          code = failed(c.io, err);
        }
      }
      return code;
    },
  },
  import: {
    args: ['FILE'], role: 'admin',
    run: async (c) => {
      const file = c.args[0]!;
      const type = file.toLowerCase().endsWith('.csv') ? 'text/csv' : 'application/json';
      print(c, await c.api().call('POST', '/api/v1/credentials/import', { body: await readArg(file, 'utf8'), type }));
    },
  },
});
