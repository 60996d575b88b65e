/**
 * `ferry serve` in a child process (node server/bin/ferry.js serve ARGS…): resolves once it logs
 * "ferry serving", with the addresses it logged. Shared by the fleet benchmark and the tests that
 * kill a server with SIGKILL or run two on one database.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const BIN = fileURLToPath(new URL('../../server/bin/ferry.js', import.meta.url));

export interface Serving {
  child: ChildProcess;
  /** The admin API's base URL and the CoAP endpoint ("host:port"), as the server logged them. */
  api: string;
  coap: string;
  coapPort: number;
  /** Resolves when the process has exited. */
  exited: Promise<void>;
  /** The last 4000 characters it wrote to stderr (for failure messages). */
  stderr(): string;
}

export interface ServeOptions {
  env?: NodeJS.ProcessEnv;
  /** Give up (and SIGKILL it) when it is not serving after this long (default 60 s). */
  startMs?: number;
  /** Also append everything it writes (its JSON log is on stdout) to this file. */
  logFile?: string | undefined;
  /** Pass its stderr through to ours instead of keeping its tail. */
  inheritStderr?: boolean;
}

export async function spawnServe(args: readonly string[], o: ServeOptions = {}): Promise<Serving> {
  const startMs = o.startMs ?? 60_000;
  const child = spawn(process.execPath, [BIN, 'serve', ...args], {
    cwd: root, stdio: ['ignore', 'pipe', o.inheritStderr ? 'inherit' : 'pipe'], env: o.env ?? process.env,
  });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-4000); });
  if (o.logFile) {
    const file = o.logFile;
    appendFileSync(file, `--- spawned ${new Date().toISOString()} ${args.join(' ')}\n`);
    child.stdout!.on('data', (d: Buffer) => appendFileSync(file, d));
    child.stderr?.on('data', (d: Buffer) => appendFileSync(file, d));
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = await new Promise<{ api: string; coap: string }>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`ferry serve did not start in ${startMs} ms: ${err}`)); }, startMs);
    const onData = (d: Buffer): void => {
      out += d.toString();
      const lines = out.split('\n');
      out = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.includes('"ferry serving"')) continue;
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.stdout!.resume(); // keep draining its log
        resolve(JSON.parse(line) as { api: string; coap: string });
        return;
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`ferry serve exited (${code ?? signal}): ${err}`)); });
  });
  return { child, api: ready.api, coap: ready.coap, coapPort: Number(ready.coap.split(':').at(-1)), exited, stderr: () => err };
}

/** Sends `signal` (default SIGTERM) and waits for the exit; SIGKILL after `killAfterMs`. */
export function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', killAfterMs = 15_000): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const kill = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.once('exit', () => { clearTimeout(kill); resolve(); });
    child.kill(signal);
  });
}
