/**
 * The DTLS benchmark, every process on 127.0.0.1 of this machine: the load generator
 * (bench/dtls-load.ts) in a child process of its own, each server in another.
 * Ferry is the real server (bench/servers/dtls-ferry.ts: startFerry, the PSK looked up through
 * the credential service).
 * - Handshakes per second: full PSK handshakes (cookie exchange included) on Ferry's coaps (LwM2M)
 *   socket, several runs, with the server's CPU per handshake (what it could do with a core to
 *   itself, the generator taking the other).
 * - Block2 over DTLS: K sessions each download one image to the end, from Ferry's DTLS download
 *   socket (the device's update of that image under way) and from
 *   libcoap's coap-server-openssl with the same PSK, trials in turn; blocks per second (median and
 *   spread) and the ratio of the medians.
 * - Memory: a fresh Ferry holds N established sessions on its coaps socket; its RSS and heap after a full
 *   collection, before and after, and the heap per session.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import type { DownloadLoad, DtlsPeer, HandshakeLoad, HoldLoad, LoadCommand, LoadReply } from './dtls-load.ts';
import { udpReceiveBufferErrors } from './compare.ts';
import { processStats } from './servers/spawn.ts';
import { stopChild } from './servers/serve.ts';

export interface DtlsPlan {
  handshakes: { runs: number; total: number; concurrency: number; limitMs: number };
  /** limitMs bounds the set-up handshakes and, again, the timed downloads. */
  download: { imageBytes: number; clients: number[]; trials: number; szx: number; limitMs: number; minSeconds: number; setupConcurrency: number };
  memory: { sessions: number; concurrency: number; limitMs: number };
  /** Write the Ferry server processes' CPU profiles here (node --cpu-prof). */
  cpuProfileDir?: string;
  log?: (line: string) => void;
}

export interface HandshakeRun extends HandshakeLoad {
  serverCpuSeconds: number;
  /** Server CPU per completed handshake, µs. */
  serverCpuUsPerHandshake: number;
}

export interface DtlsScenario extends DownloadLoad {
  server: 'ferry' | 'libcoap';
  trial: number;
  serverCpuSeconds: number;
  serverRssPeakMb: number;
  /** Datagrams the kernel dropped for full receive buffers during the scenario (whole machine). */
  udpReceiveBufferDrops: number;
  /** Ferry: sessions its DTLS download socket still holds 2 s after the downloaders said close_notify. */
  sessionsLeft?: number;
}

export interface DtlsReport {
  handshakes: {
    runs: HandshakeRun[];
    medianPerSecond: number;
    minPerSecond: number;
    maxPerSecond: number;
    /** Median server CPU per handshake, µs, and the rate one core at 100 % would give. */
    medianServerCpuUsPerHandshake: number;
    serverCoreCapacityPerSecond: number;
  };
  download: {
    imageBytes: number;
    blockSize: number;
    /** Every trial of every server and K. */
    scenarios: DtlsScenario[];
    /** Per server and K: the median of the trials' blocks per second, and their spread. */
    summary: Array<{ server: DtlsScenario['server']; clients: number; medianBlocksPerSecond: number; minBlocksPerSecond: number; maxBlocksPerSecond: number }>;
    /** Ferry's median over libcoap's. */
    ratios: Array<{ clients: number; ferryOverLibcoap: number | null }>;
  };
  memory: {
    sessions: number;
    established: number;
    failed: number;
    setupSeconds: number;
    rssBeforeMb: number;
    rssAfterMb: number;
    heapUsedBeforeMb: number;
    heapUsedAfterMb: number;
    /** Off-heap memory of Buffers (process.memoryUsage().external). */
    externalBeforeMb: number;
    externalAfterMb: number;
    /** V8's old space in use (where the sessions live), and the young generation's size (grown by the handshakes' garbage, empty after the collection). */
    oldSpaceUsedBeforeMb: number;
    oldSpaceUsedAfterMb: number;
    newSpaceBeforeMb: number;
    newSpaceAfterMb: number;
    /** (heapUsed + external after − before) / established sessions. */
    bytesPerSession: number;
    firstError?: string;
  };
}

const root = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);
/**
 * The PSK both servers know: 16 ASCII bytes (libcoap's -k takes the key as a string). libcoap takes
 * any identity with it; each Ferry gets a device and identity of its own.
 */
const IDENTITY = 'bench-device';
const KEY = 'ferry-bench-psk!';
const HINT = 'bench';

export async function benchDtls(plan: DtlsPlan): Promise<DtlsReport> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-dtls-'));
  const generator = new Generator();
  try {
    const imageFile = join(dir, 'image.bin');
    await writeFile(imageFile, randomBytes(plan.download.imageBytes));
    // One Ferry for the handshakes and the downloads (the held sessions get a fresh one).
    const ferry = await FerryDtls.start(imageFile, plan.cpuProfileDir);
    let handshakes: DtlsReport['handshakes'];
    let download: DtlsReport['download'];
    try {
      handshakes = await benchHandshakes(plan, generator, ferry);
      download = await benchDownloads(plan, generator, ferry, imageFile);
    } finally {
      await ferry.stop();
    }
    const memory = await benchMemory(plan, generator, imageFile);
    return { handshakes, download, memory };
  } finally {
    await generator.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function benchHandshakes(plan: DtlsPlan, generator: Generator, server: FerryDtls): Promise<DtlsReport['handshakes']> {
  const p = plan.handshakes;
  // Warm-up (JIT on both sides), not measured.
  await generator.ask<HandshakeLoad>({ op: 'handshakes', peer: server.coaps, total: Math.min(200, p.total), concurrency: Math.min(20, p.concurrency), limitMs: p.limitMs });
  const runs: HandshakeRun[] = [];
  for (let i = 0; i < p.runs; i++) {
    const cpu0 = server.stats.cpuSeconds();
    const r = await generator.ask<HandshakeLoad>({ op: 'handshakes', peer: server.coaps, total: p.total, concurrency: p.concurrency, limitMs: p.limitMs });
    const serverCpuSeconds = round(server.stats.cpuSeconds() - cpu0);
    runs.push({ ...r, serverCpuSeconds, serverCpuUsPerHandshake: Math.round((serverCpuSeconds * 1e6) / Math.max(1, r.completed)) });
    plan.log?.(`dtls handshakes run ${i + 1}: ${r.perSecond}/s (${r.completed}/${r.total} in ${r.seconds} s, ${r.failed} failed), server CPU ${serverCpuSeconds} s, generator CPU ${r.generatorCpuSeconds} s`);
  }
  const rates = runs.map((r) => r.perSecond);
  const cpu = median(runs.map((r) => r.serverCpuUsPerHandshake));
  return {
    runs, medianPerSecond: median(rates), minPerSecond: Math.min(...rates), maxPerSecond: Math.max(...rates),
    medianServerCpuUsPerHandshake: cpu, serverCoreCapacityPerSecond: cpu > 0 ? Math.round(1e6 / cpu) : 0,
  };
}

async function benchDownloads(plan: DtlsPlan, generator: Generator, ferry: FerryDtls, imageFile: string): Promise<DtlsReport['download']> {
  const p = plan.download;
  const scenarios: DtlsScenario[] = [];
  // Trials of the two taken in turn, so that whatever else the machine does at the time falls on
  // both alike. Each libcoap trial gets a fresh coap-server-openssl: one kept running holds on to
  // earlier trials' sessions (its memory and CPU per block grow trial after trial, and a new
  // handshake from a port an old session had goes unanswered). Ferry forgets a session at its
  // close_notify; how many it still holds after a trial is reported.
  await generator.ask<DownloadLoad>({ op: 'download', peer: ferry.peer, path: ferry.path, imageFile, clients: 4, szx: p.szx, limitMs: p.limitMs, minSeconds: 0, setupConcurrency: 4 });
  for (const clients of p.clients) {
    for (let trial = 1; trial <= p.trials; trial++) {
      for (const name of ['ferry', 'libcoap'] as const) {
        const server: DtlsServer = name === 'ferry' ? ferry : await LibcoapDtls.start(imageFile);
        try {
          const cpu0 = server.stats.cpuSeconds();
          const drops0 = udpReceiveBufferErrors();
          let peak = server.stats.rssMb();
          const sampler = setInterval(() => { peak = Math.max(peak, server.stats.rssMb()); }, 100);
          const r = await generator.ask<DownloadLoad>({ op: 'download', peer: server.peer, path: server.path, imageFile, clients, szx: p.szx, limitMs: p.limitMs, minSeconds: p.minSeconds, setupConcurrency: p.setupConcurrency })
            .finally(() => clearInterval(sampler));
          // The server's CPU includes the untimed handshakes of the set-up.
          const s: DtlsScenario = {
            server: name, trial, ...r, serverCpuSeconds: round(server.stats.cpuSeconds() - cpu0),
            serverRssPeakMb: Math.round(Math.max(peak, server.stats.rssMb())), udpReceiveBufferDrops: udpReceiveBufferErrors() - drops0,
            ...(name === 'ferry' ? { sessionsLeft: await ferry.sessionsLeft() } : {}),
          };
          plan.log?.(`dtls ${name}: ${p.imageBytes / 1024} KiB × ${clients}, trial ${trial}: ${s.blocksPerSecond} blocks/s (${s.completed} downloads in ${s.seconds} s, ${s.rounds} rounds, ${s.failed} failed, ${s.retransmissions} retransmissions, ${s.udpReceiveBufferDrops} UDP drops; server CPU ${s.serverCpuSeconds} s; set-up ${s.sessions} sessions in ${s.setupSeconds} s${s.sessionsLeft !== undefined ? `; ${s.sessionsLeft} sessions left after` : ''})${s.firstError ? `; first error: ${s.firstError}` : ''}`);
          scenarios.push(s);
        } finally {
          if (server instanceof LibcoapDtls) await server.stop();
        }
      }
    }
  }
  const summary = (['ferry', 'libcoap'] as const).flatMap((server) => p.clients.map((clients) => {
    const rates = scenarios.filter((s) => s.server === server && s.clients === clients).map((s) => s.blocksPerSecond);
    return { server, clients, medianBlocksPerSecond: median(rates), minBlocksPerSecond: Math.min(...rates), maxBlocksPerSecond: Math.max(...rates) };
  }));
  const rate = (server: string, clients: number): number | undefined => summary.find((s) => s.server === server && s.clients === clients)?.medianBlocksPerSecond;
  return {
    imageBytes: p.imageBytes, blockSize: 16 << p.szx, scenarios, summary,
    ratios: p.clients.map((clients) => {
      const f = rate('ferry', clients);
      const l = rate('libcoap', clients);
      return { clients, ferryOverLibcoap: f && l ? round(f / l) : null };
    }),
  };
}

async function benchMemory(plan: DtlsPlan, generator: Generator, imageFile: string): Promise<DtlsReport['memory']> {
  const p = plan.memory;
  const server = await FerryDtls.start(imageFile, plan.cpuProfileDir);
  try {
    const before = await server.memory();
    const h = await generator.ask<HoldLoad>({ op: 'hold', peer: server.coaps, sessions: p.sessions, concurrency: p.concurrency, limitMs: p.limitMs });
    const after = await server.memory();
    await generator.ask<null>({ op: 'release' });
    const total = (m: NodeJS.MemoryUsage): number => m.heapUsed + m.external;
    const mb = (x: number): number => round(x / 1024 / 1024);
    const r: DtlsReport['memory'] = {
      sessions: p.sessions, established: after.counts.sessions, failed: h.failed, setupSeconds: h.seconds,
      rssBeforeMb: mb(before.memory.rss), rssAfterMb: mb(after.memory.rss),
      heapUsedBeforeMb: mb(before.memory.heapUsed), heapUsedAfterMb: mb(after.memory.heapUsed),
      externalBeforeMb: mb(before.memory.external), externalAfterMb: mb(after.memory.external),
      oldSpaceUsedBeforeMb: mb(before.spaces['old_space']?.used ?? 0), oldSpaceUsedAfterMb: mb(after.spaces['old_space']?.used ?? 0),
      newSpaceBeforeMb: mb(before.spaces['new_space']?.size ?? 0), newSpaceAfterMb: mb(after.spaces['new_space']?.size ?? 0),
      bytesPerSession: Math.round((total(after.memory) - total(before.memory)) / Math.max(1, after.counts.sessions)),
      ...(h.firstError !== undefined ? { firstError: h.firstError } : {}),
    };
    plan.log?.(`dtls memory: ${r.established} sessions held: RSS ${r.rssBeforeMb} → ${r.rssAfterMb} MB, heap ${r.heapUsedBeforeMb} → ${r.heapUsedAfterMb} MB, external ${r.externalBeforeMb} → ${r.externalAfterMb} MB, old space used ${r.oldSpaceUsedBeforeMb} → ${r.oldSpaceUsedAfterMb} MB, new space ${r.newSpaceBeforeMb} → ${r.newSpaceAfterMb} MB, ${r.bytesPerSession} bytes/session`);
    return r;
  } finally {
    await server.stop();
  }
}

/** The load generator child: one command at a time over IPC. */
class Generator {
  private readonly child: ChildProcess;

  constructor() {
    this.child = fork(join(root, 'bench/dtls-load.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], cwd: root });
  }

  ask<T>(c: LoadCommand): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const onExit = (code: number | null): void => reject(new Error(`the DTLS load generator exited (${code})`));
      this.child.once('exit', onExit);
      this.child.once('message', (m: LoadReply) => {
        this.child.off('exit', onExit);
        if (m.ok) resolve(m.result as T);
        else reject(new Error(`DTLS load generator: ${m.error}`));
      });
      this.child.send(c);
    });
  }

  close(): Promise<void> {
    return stopChild(this.child, 'SIGTERM', 5_000);
  }
}

interface DtlsServer {
  peer: DtlsPeer;
  path: string[];
  stats: ReturnType<typeof processStats>;
  stop(): Promise<void>;
}

type ServingInfo = { coapsPort: number; downloadPort: number; path: string[] };
type Counts = { sessions: number; halfOpen: number };
type Memory = { memory: NodeJS.MemoryUsage; spaces: Record<string, { size: number; used: number }>; counts: Counts; downloadCounts: Counts };

/** The real Ferry (bench/servers/dtls-ferry.ts): its coaps (LwM2M) socket and its DTLS download socket. */
class FerryDtls implements DtlsServer {
  /** The DTLS download socket, and the image's path there. */
  readonly peer: DtlsPeer;
  readonly path: string[];
  /** The LwM2M endpoint over DTLS, where devices shake hands and keep their sessions. */
  readonly coaps: DtlsPeer;
  readonly stats: ReturnType<typeof processStats>;
  private readonly child: ChildProcess;

  private constructor(child: ChildProcess, info: ServingInfo, identity: string) {
    this.child = child;
    const psk = { identity, key: Buffer.from(KEY).toString('hex') };
    this.peer = { host: '127.0.0.1', port: info.downloadPort, ...psk };
    this.coaps = { host: '127.0.0.1', port: info.coapsPort, ...psk };
    this.path = info.path;
    this.stats = processStats(child.pid!);
  }

  static async start(imageFile: string, cpuProfileDir?: string): Promise<FerryDtls> {
    const profile = cpuProfileDir ? ['--cpu-prof', '--cpu-prof-dir', cpuProfileDir] : [];
    const tag = randomBytes(4).toString('hex');
    const identity = `bench-${tag}`;
    const child = fork(join(root, 'bench/servers/dtls-ferry.ts'), [`urn:dev:bench-dtls-${tag}`, identity, Buffer.from(KEY).toString('hex'), imageFile], {
      execArgv: [...profile, '--expose-gc', '--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], cwd: root,
    });
    const info = await new Promise<ServingInfo>((resolve, reject) => {
      const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error('Ferry did not start in 60 s')); }, 60_000);
      child.once('message', (m: ServingInfo) => { clearTimeout(timer); resolve(m); });
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`Ferry exited (${code}) before serving`)); });
    });
    return new FerryDtls(child, info, identity);
  }

  /** Sessions the DTLS download socket holds, once it is down to none or after 2 s (the last close_notify alerts may be queued still). */
  async sessionsLeft(): Promise<number> {
    let left = Infinity;
    for (let i = 0; i < 10 && left > 0; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 200));
      left = (await this.memory()).downloadCounts.sessions;
    }
    return left;
  }

  memory(): Promise<Memory> {
    return new Promise((resolve) => {
      this.child.once('message', (m: Memory) => resolve(m));
      this.child.send({ op: 'memory' });
    });
  }

  stop(): Promise<void> {
    return stopChild(this.child, 'SIGTERM', 10_000);
  }
}

/** libcoap's coap-server-openssl: CoAP on `port`, DTLS on port + 1 (coap-server(5)), the image PUT as a dynamic resource. */
class LibcoapDtls implements DtlsServer {
  readonly path = ['fw', '0'];
  readonly peer: DtlsPeer;
  readonly stats: ReturnType<typeof processStats>;
  private readonly child: ChildProcess;

  private constructor(child: ChildProcess, port: number) {
    this.child = child;
    this.peer = { host: '127.0.0.1', port: port + 1, identity: IDENTITY, key: Buffer.from(KEY).toString('hex') };
    this.stats = processStats(child.pid!);
  }

  static async start(imageFile: string): Promise<LibcoapDtls> {
    const port = await freePortPair();
    const child = spawn('coap-server-openssl', ['-A', '127.0.0.1', '-p', String(port), '-k', KEY, '-h', HINT, '-d', '2'], { stdio: 'ignore' });
    const deadline = Date.now() + 5000;
    while (!udpBound(port + 1)) {
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error('coap-server-openssl did not start (apt-get install libcoap3-bin)');
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    await run('coap-client-notls', ['-m', 'put', '-b', '1024', '-f', imageFile, `coap://127.0.0.1:${port}/fw/0`], { timeout: 30_000 });
    return new LibcoapDtls(child, port);
  }

  stop(): Promise<void> {
    return stopChild(this.child, 'SIGTERM', 10_000);
  }
}

async function udpPortFree(port: number): Promise<boolean> {
  const s = createSocket('udp4');
  return new Promise((resolve) => {
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

async function freePortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = 20_000 + Math.floor(Math.random() * 10_000);
    if ((await udpPortFree(p)) && (await udpPortFree(p + 1))) return p;
  }
  throw new Error('no free pair of UDP ports');
}

/** True once something is bound to 127.0.0.1:port (/proc/net/udp). */
function udpBound(port: number): boolean {
  const needle = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/udp', 'utf8').split('\n').some((l) => l.trim().split(/\s+/)[1] === needle);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return 0;
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : Math.round((s[m - 1]! + s[m]!) / 2);
}

const round = (x: number): number => Math.round(x * 100) / 100;
