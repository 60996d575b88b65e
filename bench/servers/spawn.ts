/**
 * The servers under test, each in a child process of its own (so its memory and CPU are its own,
 * read from /proc): Ferry's download path, libcoap's coap-server-notls, and naive node-coap.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import type { LoadTarget } from '../download.ts';
import { stopChild } from './serve.ts';

export type ServerName = 'ferry' | 'libcoap' | 'naive';

export interface ServerUnderTest {
  name: ServerName;
  pid: number;
  /** The path of image i (in the order the image files were given). */
  target(i: number): LoadTarget;
  /** Resident memory now, MB (VmRSS). */
  rssMb(): number;
  /** CPU seconds used so far (user + system). */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

const run = promisify(execFile);

export async function startServer(name: ServerName, imageFiles: string[], o: { cpuProfileDir?: string } = {}): Promise<ServerUnderTest> {
  switch (name) {
    case 'ferry': {
      const { child, line } = await spawnNode('bench/servers/ferry.ts', imageFiles, o.cpuProfileDir);
      const info = JSON.parse(line) as { downloadPort: number; ids: number[] };
      return wrap(name, child, (i) => ({ host: '127.0.0.1', port: info.downloadPort, path: ['fw', String(info.ids[i])] }));
    }
    case 'naive': {
      const { child, line } = await spawnNode('bench/servers/naive.ts', imageFiles, o.cpuProfileDir);
      const info = JSON.parse(line) as { port: number };
      return wrap(name, child, (i) => ({ host: '127.0.0.1', port: info.port, path: ['img', String(i)] }));
    }
    case 'libcoap': {
      const port = await freeUdpPort();
      // -d: dynamic resources, created by the PUTs below (coap-server(5)).
      const child = spawn('coap-server-notls', ['-A', '127.0.0.1', '-p', String(port), '-d', String(imageFiles.length + 1)], { stdio: 'ignore' });
      await new Promise((r) => setTimeout(r, 200));
      if (child.exitCode !== null) throw new Error('coap-server-notls did not start (apt-get install libcoap3-bin)');
      for (const [i, file] of imageFiles.entries()) {
        await run('coap-client-notls', ['-m', 'put', '-b', '1024', '-f', file, `coap://127.0.0.1:${port}/img/${i}`], { timeout: 30_000 });
      }
      return wrap(name, child, (i) => ({ host: '127.0.0.1', port, path: ['img', String(i)] }));
    }
  }
}

/** Resident memory (VmRSS, MB) and CPU seconds (user + system) of a process, from /proc. */
export function processStats(pid: number): { rssMb: () => number; cpuSeconds: () => number } {
  const ticks = 100; // USER_HZ on Linux
  return {
    rssMb: () => {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      return m ? Number(m[1]) / 1024 : 0;
    },
    cpuSeconds: () => {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / ticks;
    },
  };
}

function wrap(name: ServerName, child: ChildProcess, target: (i: number) => LoadTarget): ServerUnderTest {
  const pid = child.pid!;
  return {
    name, pid, target,
    ...processStats(pid),
    stop: () => stopChild(child, 'SIGTERM', 10_000),
  };
}

async function spawnNode(script: string, args: string[], cpuProfileDir?: string): Promise<{ child: ChildProcess; line: string }> {
  const profile = cpuProfileDir ? ['--cpu-prof', '--cpu-prof-dir', cpuProfileDir] : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${script} did not start in 60 s`)); }, 60_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) { clearTimeout(timer); resolve(out.slice(0, nl)); }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${script} exited with ${code}`)); });
  });
  return { child, line };
}

export function freeUdpPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
