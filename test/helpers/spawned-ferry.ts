/** `ferry serve` in a child process, for tests that kill it with SIGKILL or run two of them on one database. */
import type { ChildProcess } from 'node:child_process';
import { spawnServe, stopChild } from '../../bench/servers/serve.ts';
import { bearer, TEST_ADMIN_TOKEN, testSigningKey } from './ferry.ts';

export interface SpawnedFerry {
  child: ChildProcess;
  apiUrl: string;
  coapPort: number;
  /** Sends the signal and waits for the exit. */
  kill(signal: 'SIGKILL' | 'SIGTERM'): Promise<void>;
  /** The last lines it wrote to stderr (for failure messages). */
  stderr(): string;
}

/**
 * `--db-dir DIR` (PGlite) or `--database-url URL`, plus any flags; release approval off (as
 * testConfig) unless FERRY_RELEASE_APPROVAL or a flag says otherwise. FERRY_TEST_SERVER_LOG=FILE
 * keeps everything it writes, FERRY_TEST_SERVER_LOG_LEVEL its log level (default info), for a
 * post-mortem.
 */
export async function spawnFerry(args: string[], startMs = 60_000): Promise<SpawnedFerry> {
  const { keyFile, pubFile } = testSigningKey();
  const s = await spawnServe(['--api-port', '0', '--signing-key', keyFile, '--trusted-keys', pubFile,
    '--log-level', process.env['FERRY_TEST_SERVER_LOG_LEVEL'] ?? 'info', ...args], {
    startMs, logFile: process.env['FERRY_TEST_SERVER_LOG'], env: { FERRY_RELEASE_APPROVAL: 'off', ...process.env, DATABASE_URL: '', FERRY_ADMIN_TOKEN: TEST_ADMIN_TOKEN },
  });
  return { child: s.child, apiUrl: s.api, coapPort: s.coapPort, kill: (signal) => stopChild(s.child, signal), stderr: s.stderr };
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
