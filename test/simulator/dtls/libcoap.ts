/**
 * Test helper: runs one of libcoap's example servers (coap-server-openssl, coap-server-gnutls)
 * as an outside DTLS peer on 127.0.0.1, with a PSK and an identity hint. It listens for CoAP on
 * `port` and for DTLS on `port + 1`; `start` waits until the DTLS port is bound.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';

export const hasCommand = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

async function udpPortFree(port: number): Promise<boolean> {
  const s = dgram.createSocket('udp4');
  return new Promise((resolve) => {
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A pair of free UDP ports (p, p + 1) on 127.0.0.1. */
async function freePortPair(): Promise<number> {
  for (let i = 0; i < 50; i += 1) {
    const p = 20000 + Math.floor(Math.random() * 40000);
    if ((await udpPortFree(p)) && (await udpPortFree(p + 1))) return p;
  }
  throw new Error('no free UDP port pair');
}

const bound = (port: number): boolean => {
  const needle = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/udp', 'utf8').split('\n').some((l) => l.trim().split(/\s+/)[1] === needle);
};

export interface LibcoapServer {
  dtlsPort: number;
  log: () => string;
  stop: () => Promise<void>;
}

export async function startLibcoap(binary: string, key: string, hint: string, extra: string[] = []): Promise<LibcoapServer> {
  const port = await freePortPair();
  const child: ChildProcess = spawn(binary, ['-A', '127.0.0.1', '-p', String(port), '-k', key, '-h', hint, '-v', '6', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  const deadline = Date.now() + 5000;
  while (!bound(port + 1)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill();
      throw new Error(`${binary} did not start: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    dtlsPort: port + 1,
    log: () => log,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
