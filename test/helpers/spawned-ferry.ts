/**
 * `ferry serve` in a child process (node server/bin/ferry.js serve), for tests that kill it with
 * SIGKILL or run two of them on one database. Resolves once it logs "ferry serving".
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bearer, TEST_ADMIN_TOKEN, testSigningKey } from './ferry.ts';

const BIN = fileURLToPath(new URL('../../server/bin/ferry.js', import.meta.url));

export interface SpawnedFerry {
  child: ChildProcess;
  apiUrl: string;
  coapPort: number;
  /** Sends the signal and waits for the exit. */
  kill(signal: 'SIGKILL' | 'SIGTERM'): Promise<void>;
  /** The last lines it wrote to stderr (for failure messages). */
  stderr(): string;
}

/** `--db-dir DIR` (PGlite) or `--database-url URL`, plus any flags; silent logs but for the start line. */
export async function spawnFerry(args: string[], startMs = 60_000): Promise<SpawnedFerry> {
  const { keyFile, pubFile } = testSigningKey();
  const child = spawn(process.execPath, [BIN, 'serve', '--api-port', '0', '--signing-key', keyFile, '--trusted-keys', pubFile, '--log-level', process.env['FERRY_TEST_SERVER_LOG_LEVEL'] ?? 'info', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DATABASE_URL: '', FERRY_ADMIN_TOKEN: TEST_ADMIN_TOKEN },
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-4000); });
  // FERRY_TEST_SERVER_LOG=FILE: everything the server writes (its JSON log is on stdout), for a post-mortem.
  const logFile = process.env['FERRY_TEST_SERVER_LOG'];
  if (logFile) {
    appendFileSync(logFile, `--- spawned ${new Date().toISOString()} ${args.join(' ')}\n`);
    child.stdout!.on('data', (d: Buffer) => appendFileSync(logFile, d));
    child.stderr!.on('data', (d: Buffer) => appendFileSync(logFile, d));
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = await new Promise<{ api: string; coap: string }>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`ferry serve did not start in ${startMs} ms: ${err}`)); }, startMs);
    child.stdout!.on('data', (d: Buffer) => {
      if (out === null) return;
      out += d.toString();
      for (const line of out.split('\n')) {
        if (!line.includes('"ferry serving"')) continue;
        clearTimeout(timer);
        out = '';
        resolve(JSON.parse(line) as { api: string; coap: string });
      }
      out = out.slice(out.lastIndexOf('\n') + 1);
    });
    child.once('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`ferry serve exited (${code ?? signal}): ${err}`)); });
  });
  return {
    child, apiUrl: ready.api, coapPort: Number(ready.coap.split(':').pop()),
    kill: async (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
    stderr: () => err,
  };
}

/** One JSON call to a spawned server's admin API. */
export async function apiCall(apiUrl: string, method: 'GET' | 'POST', path: string, body?: object): Promise<{ status: number; body: any }> {
  const res = await fetch(`${apiUrl}${path}`, {
    method, headers: { ...bearer(), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: await res.json() };
}

/** Uploads a signed package to a spawned server; its firmware id. */
export async function uploadTo(apiUrl: string, pkg: Buffer): Promise<number> {
  const res = await fetch(`${apiUrl}/api/v1/firmware`, { method: 'POST', headers: { ...bearer(), 'content-type': 'application/octet-stream' }, body: pkg });
  const body = await res.json() as { id: number };
  if (res.status !== 201) throw new Error(`upload: ${res.status} ${JSON.stringify(body)}`);
  return body.id;
}
