/**
 * The download comparison: the same load generator, the same images, against Ferry's download
 * socket, libcoap's coap-server-notls and a naive node-coap server, each in its own process.
 * Every scenario is bounded in time; a scenario shorter than `minSeconds` is repeated (fresh
 * downloaders each round) so that K = 1 is measured over more than one cold download.
 */
import { readFileSync } from 'node:fs';
import { runLoad, type LoadResult } from './download.ts';
import { startServer, type ServerName, type ServerUnderTest } from './servers/spawn.ts';

export interface ComparePlan {
  servers: ServerName[];
  /** Image files and their bytes, in the same order. */
  images: Array<{ file: string; bytes: Buffer }>;
  clients: number[];
  szx: number;
  /** Time limit of one scenario. */
  limitMs: number;
  minSeconds: number;
  /** The memory probe: this many concurrent downloaders of the last image, for probeMs. */
  probeClients: number;
  probeMs: number;
  cpuProfileDir?: string;
  log?: (line: string) => void;
}

export interface Scenario {
  server: ServerName;
  imageBytes: number;
  clients: number;
  rounds: number;
  blocks: number;
  completed: number;
  failed: number;
  retransmissions: number;
  seconds: number;
  blocksPerSecond: number;
  megabytesPerSecond: number;
  serverCpuSeconds: number;
  generatorCpuSeconds: number;
  /** Datagrams the kernel dropped for full receive buffers during the scenario (whole machine). */
  udpReceiveBufferDrops: number;
  serverRssPeakMb: number;
  firstError?: string;
}

export interface MemoryProbe {
  server: ServerName;
  clients: number;
  imageBytes: number;
  /** After start-up and a warm-up download, before any scenario. */
  rssIdleMb: number;
  rssBeforeMb: number;
  rssPeakMb: number;
  blocks: number;
  blocksPerSecond: number;
  retransmissions: number;
  failed: number;
}

export interface Comparison {
  scenarios: Scenario[];
  ratios: Array<{ imageBytes: number; clients: number; ferryOverLibcoap: number | null; ferryOverNaive: number | null }>;
  memory: MemoryProbe[];
}

export async function compareServers(plan: ComparePlan): Promise<Comparison> {
  const scenarios: Scenario[] = [];
  const memory: MemoryProbe[] = [];
  for (const name of plan.servers) {
    plan.log?.(`${name}: starting`);
    const server = await startServer(name, plan.images.map((i) => i.file), plan.cpuProfileDir ? { cpuProfileDir: plan.cpuProfileDir } : {});
    try {
      // Warm-up (JIT, image cache, the generator itself): one download of each image, not measured.
      for (const [i, image] of plan.images.entries()) {
        await runLoad({ target: server.target(i), image: image.bytes, clients: 4, szx: plan.szx, limitMs: plan.limitMs });
      }
      const rssIdleMb = server.rssMb();
      for (const [i, image] of plan.images.entries()) {
        for (const clients of plan.clients) {
          const s = await scenario(server, i, image.bytes, clients, plan);
          plan.log?.(`${name}: ${image.bytes.length / 1024} KiB × ${clients}: ${s.blocksPerSecond} blocks/s, ${s.rounds} rounds, ${s.retransmissions} retransmissions, ${s.seconds} s`);
          scenarios.push(s);
        }
      }
      memory.push(await probe(server, plan, rssIdleMb));
      plan.log?.(`${name}: ${plan.probeClients} downloaders: RSS peak ${memory.at(-1)!.rssPeakMb} MB`);
    } finally {
      await server.stop();
    }
  }
  return { scenarios, ratios: ratiosOf(scenarios), memory };
}

async function scenario(server: ServerUnderTest, i: number, image: Buffer, clients: number, plan: ComparePlan): Promise<Scenario> {
  const total: Omit<Scenario, 'blocksPerSecond' | 'megabytesPerSecond'> = {
    server: server.name, imageBytes: image.length, clients, rounds: 0, blocks: 0, completed: 0, failed: 0, retransmissions: 0,
    seconds: 0, serverCpuSeconds: 0, generatorCpuSeconds: 0, udpReceiveBufferDrops: 0, serverRssPeakMb: server.rssMb(),
  };
  const until = Date.now() + plan.limitMs;
  let bytes = 0;
  do {
    const cpu0 = server.cpuSeconds();
    const drops0 = udpReceiveBufferErrors();
    const r: LoadResult = await runLoad({
      target: server.target(i), image, clients, szx: plan.szx, limitMs: Math.max(1, until - Date.now()),
      onTick: () => { total.serverRssPeakMb = Math.max(total.serverRssPeakMb, server.rssMb()); },
    });
    total.rounds++;
    total.blocks += r.blocks;
    bytes += r.bytes;
    total.completed += r.completed;
    total.failed += r.failed;
    total.retransmissions += r.retransmissions;
    total.seconds += r.seconds;
    total.serverCpuSeconds += server.cpuSeconds() - cpu0;
    total.generatorCpuSeconds += r.generatorCpuSeconds;
    total.udpReceiveBufferDrops += udpReceiveBufferErrors() - drops0;
    if (r.firstError !== undefined) total.firstError ??= r.firstError;
    if (r.completed < clients) break; // out of time, or failing: one round says it
  } while (total.seconds < plan.minSeconds && Date.now() < until);
  total.serverRssPeakMb = Math.max(total.serverRssPeakMb, server.rssMb());
  return {
    ...total, seconds: round(total.seconds), serverCpuSeconds: round(total.serverCpuSeconds),
    generatorCpuSeconds: round(total.generatorCpuSeconds), serverRssPeakMb: Math.round(total.serverRssPeakMb),
    blocksPerSecond: Math.round(total.blocks / Math.max(total.seconds, 0.001)), megabytesPerSecond: round(bytes / Math.max(total.seconds, 0.001) / 1e6),
  };
}

async function probe(server: ServerUnderTest, plan: ComparePlan, rssIdleMb: number): Promise<MemoryProbe> {
  const last = plan.images.length - 1;
  const image = plan.images[last]!.bytes;
  const rssBeforeMb = server.rssMb();
  let peak = rssBeforeMb;
  const r = await runLoad({
    target: server.target(last), image, clients: plan.probeClients, szx: plan.szx, limitMs: plan.probeMs,
    onTick: () => { peak = Math.max(peak, server.rssMb()); },
  });
  peak = Math.max(peak, server.rssMb());
  return {
    server: server.name, clients: plan.probeClients, imageBytes: image.length,
    rssIdleMb: Math.round(rssIdleMb), rssBeforeMb: Math.round(rssBeforeMb), rssPeakMb: Math.round(peak),
    blocks: r.blocks, blocksPerSecond: r.blocksPerSecond, retransmissions: r.retransmissions, failed: r.failed,
  };
}

function ratiosOf(scenarios: Scenario[]): Comparison['ratios'] {
  const rate = (server: ServerName, imageBytes: number, clients: number): number | undefined =>
    scenarios.find((s) => s.server === server && s.imageBytes === imageBytes && s.clients === clients)?.blocksPerSecond;
  const ratio = (a: number | undefined, b: number | undefined): number | null => (a && b ? round(a / b) : null);
  return scenarios.filter((s) => s.server === 'ferry').map((s) => ({
    imageBytes: s.imageBytes, clients: s.clients,
    ferryOverLibcoap: ratio(s.blocksPerSecond, rate('libcoap', s.imageBytes, s.clients)),
    ferryOverNaive: ratio(s.blocksPerSecond, rate('naive', s.imageBytes, s.clients)),
  }));
}

/** Udp RcvbufErrors from /proc/net/snmp (Linux); 0 elsewhere. */
export function udpReceiveBufferErrors(): number {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
    const names = lines[0]!.split(/\s+/);
    const values = lines[1]!.split(/\s+/);
    return Number(values[names.indexOf('RcvbufErrors')] ?? 0);
  } catch {
    return 0;
  }
}

const round = (x: number): number => Math.round(x * 100) / 100;
