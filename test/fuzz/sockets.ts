/**
 * Datagram fuzzers of the two live UDP sockets of `ferry serve` (family "sockets" of `npm run
 * fuzz`): seeded mutations of valid CoAP/LwM2M messages (sockets-mutate.ts) fired from one source,
 * 127.0.0.1, at a real server in a child process (sockets-server.ts), paced so the kernel does not
 * drop them; the first half while that address is unproven (the guard's 3× budget and rate limit
 * apply, RFC 9175 §2.4), the second after it proved itself with an Echo, with the Echo values, the
 * registration ids and the tokens of the server's own requests it heard fed back into the messages.
 *
 * Every `checkEvery` datagrams per socket a CHECK from another loopback address (127.0.0.20 and
 * up, in turn, so no per-address limit hides a dead server): a clean Register of an endpoint
 * registered at the start (known: never rate-limited) must get 2.01; a clean block GET /fw must
 * get 2.05 (each check address proves itself once, 4.01 + Echo). Findings: any 5.xx sent to
 * anyone (with the datagram that drew it), the process exiting, a failed check, resident memory
 * past the bound, a line at level error in the server's log.
 */
import { createSocket, type RemoteInfo } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as yieldNow } from 'node:timers/promises';
import { parse, type ParsedPacket } from 'coap-packet';
import { register, type FuzzFailure, type FuzzOutcome } from './registry.ts';
import { DatagramFuzzer, remember, type Datagram, type Learned } from './sockets-mutate.ts';
import { CheckPeer, startFuzzServer, type FuzzServer } from './sockets-server.ts';

export type SocketName = 'coap' | 'download';

export interface SocketsOptions {
  sockets: readonly SocketName[];
  /** Fuzzed datagrams sent to each socket. */
  perSocket: number;
  seed: number;
  /** A check every this many datagrams per socket (250). */
  checkEvery?: number;
  /**
   * Resident memory may grow this much past its size after setup (MB; 150 by default). Measured
   * over 200,000 datagrams a socket: the LwM2M socket +64 MB (PGlite holding the devices the fuzz
   * registered; the JavaScript heap flat), the download socket +3 MB.
   */
  rssGrowthMb?: number;
  /** Datagrams a second per socket at most: while unproven (below --unproven-rate, 500), and once proven. */
  rate?: { unproven: number; proven: number };
  /** Now and then: datagrams sent to each socket so far, and a line saying how it goes. */
  progress?: (sent: number, line: string) => void;
}

export interface FiveXx {
  socket: SocketName | 'check';
  code: string;
  /** The answer as sent. */
  answer: string;
  /** The datagram that drew it (matched by token and Message ID), else the last few sent to that socket. */
  input: string[];
  template?: string;
}

export interface SocketReport {
  socket: SocketName;
  sent: number;
  checks: number;
  checksPassed: number;
  /** What the fuzzer's socket got from this socket, by code ("RST", "ACK 0.00" for empty messages, "req 0.01" for requests). */
  responses: Record<string, number>;
  /** Datagrams the kernel dropped on the server's socket. */
  kernelDrops: number;
  /** The guard's counters at the end (/metrics). */
  guard: Record<string, number>;
}

export interface SocketsReport {
  seed: number;
  sockets: SocketReport[];
  /**
   * Bytes the fuzzer sent and the answers it got (the server's own requests aside) while its
   * address was unproven, both sockets together: at most 3× (RFC 9175 §2.4).
   */
  unproven: { sent: number; received: number };
  fiveXx: FiveXx[];
  alive: boolean;
  exit?: string;
  rss: { startMb: number; maxMb: number; boundMb: number; endMb: number };
  /** Every 20th check: datagrams a socket so far, RSS, JavaScript heap in use, memory outside it (MB). */
  memory: Array<{ sent: number; rssMb: number; heapMb: number; externalMb: number }>;
  /** Lines at level error in the server's log, by message. */
  errorLogs: Array<{ msg: string; count: number; first: string }>;
  /** The most frequent messages of the server's log. */
  topLogMessages: Array<[string, number]>;
  /** Everything that went wrong, one line each. */
  failures: string[];
  ms: number;
}

const CHECK_ADDRESSES = Array.from({ length: 16 }, (_, i) => `127.0.0.${20 + i}`);
const KNOWN_ENDPOINT = 'fuzz-known';
/** Rounds (one datagram per socket each) between yields to the event loop. */
const BATCH = 8;
/** Recent datagrams kept per socket (this many to twice as many), to find the one a 5.xx answers. */
const RING = 4096;

export function socketSeed(seed: number, socket: SocketName): number {
  return socket === 'coap' ? seed >>> 0 : (seed ^ 0x5bd1e995) >>> 0;
}

export async function fuzzSockets(o: SocketsOptions): Promise<SocketsReport> {
  const started = performance.now();
  const checkEvery = o.checkEvery ?? 250;
  const rate = o.rate ?? { unproven: 400, proven: 2000 };
  const failures: string[] = [];
  const fiveXx: FiveXx[] = [];
  const server = await startFuzzServer();
  const fuzzerSocket = createSocket('udp4');
  const peers = new Map<string, CheckPeer>();
  try {
    await new Promise<void>((resolve) => fuzzerSocket.bind(0, '127.0.0.1', () => resolve()));
    const portOf: Record<SocketName, number> = { coap: server.coapPort, download: server.downloadPort };
    const socketAt = (port: number): SocketName | undefined => (port === server.coapPort ? 'coap' : port === server.downloadPort ? 'download' : undefined);

    // Setup: the image's size, a known endpoint, one registration of the fuzzer's own.
    const peer = async (i: number): Promise<CheckPeer> => {
      const address = CHECK_ADDRESSES[i % CHECK_ADDRESSES.length]!;
      let p = peers.get(address);
      if (!p) { p = await CheckPeer.open(address); peers.set(address, p); }
      return p;
    };
    const first = await peer(0);
    const proof = await first.prove(server.downloadPort, server.imageId);
    if (!proof.ok) throw new Error(`setup: could not prove ${first.address}: ${proof.detail}`);
    const block0 = await first.block(server.downloadPort, server.imageId, 0);
    if (block0.code !== '2.05' || block0.size2 === undefined) throw new Error(`setup: block 0 of the image: ${block0.code}`);
    const imageBlocks = Math.ceil(block0.size2 / 1024);
    const known = await first.register(server.coapPort, KNOWN_ENDPOINT);
    if (known !== '2.01') throw new Error(`setup: Register of ${KNOWN_ENDPOINT}: ${known}`);

    const learned: Learned = { imageIds: [server.imageId], imageBlocks, registrations: [], echoes: [], serverRequests: [], useLearned: false };
    const fuzzers = new Map(o.sockets.map((s) => [s, new DatagramFuzzer(socketSeed(o.seed, s), s, learned)] as const));
    const reports = new Map<SocketName, SocketReport>(o.sockets.map((s) => [s, { socket: s, sent: 0, checks: 0, checksPassed: 0, responses: {}, kernelDrops: 0, guard: {} }]));
    const rings = new Map<SocketName, Datagram[]>(o.sockets.map((s) => [s, []]));

    const unproven = { sent: 0, received: 0 };
    let proven = false;
    fuzzerSocket.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
      const socket = socketAt(rinfo.port);
      if (!socket) return;
      let p: ParsedPacket;
      try { p = parse(msg); } catch { count(reports.get(socket), 'unparsable'); return; }
      if (!proven && !(p.code.startsWith('0.') && p.code !== '0.00')) unproven.received += msg.length;
      const label = p.code === '0.00' ? (p.reset ? 'RST' : p.ack ? 'ACK 0.00' : `${p.confirmable ? 'CON' : 'NON'} 0.00`)
        : p.code.startsWith('0.') ? `req ${p.code}` : p.code;
      count(reports.get(socket), label);
      if (p.code.startsWith('5.')) fiveXx.push(blame(socket, p, msg, rings.get(socket) ?? []));
      learn(learned, p);
    });
    // The fuzzer's own registration, so Updates and De-registers have a live id from the start.
    fuzzerSocket.send(Buffer.from(cleanRegister('fuzz-self')), server.coapPort, '127.0.0.1');
    for (let t = 0; t < 100 && learned.registrations.length === 0; t++) await sleep(20);
    const startMb = server.rssMb();
    const boundMb = startMb + (o.rssGrowthMb ?? 150);
    let maxMb = startMb;
    let checkIndex = 0;
    const memory: SocketsReport['memory'] = [];
    let dropsBefore = server.udpDrops();
    let perSecond = rate.unproven;
    let phaseStart = performance.now();
    let phaseSent = 0;
    const half = Math.floor(o.perSocket / 2);

    // The datagrams since the last check every socket passed: a hang is among them.
    const window = new Map<SocketName, Datagram[]>(o.sockets.map((s) => [s, []]));
    let failedInARow = 0;
    const check = async (): Promise<boolean> => {
      const p = await peer(checkIndex);
      const failedBefore = failures.length;
      const at = `check ${checkIndex} (${p.address}, after ${o.perSocket === 0 ? 0 : reports.get(o.sockets[0]!)!.sent} datagrams a socket)`;
      checkIndex++;
      if (!p.proven) {
        const r = await p.prove(server.downloadPort, server.imageId);
        if (!r.ok) failures.push(`${at}: could not prove the check address: ${r.detail}`);
      }
      for (const s of o.sockets) {
        const report = reports.get(s)!;
        report.checks++;
        if (s === 'coap') {
          const code = await p.register(server.coapPort, KNOWN_ENDPOINT);
          if (code === '2.01') report.checksPassed++;
          else failures.push(`${at}: clean Register of a known endpoint on the LwM2M socket: ${code}, not 2.01`);
        } else {
          const num = checkIndex % imageBlocks;
          const b = await p.block(server.downloadPort, server.imageId, num);
          if (b.code === '2.05' && b.bytes > 0) report.checksPassed++;
          else failures.push(`${at}: clean GET /fw block ${num} on the download socket: ${b.code} (${b.bytes} bytes), not 2.05`);
        }
      }
      const rss = server.rssMb();
      maxMb = Math.max(maxMb, rss);
      if (checkIndex % 20 === 1) {
        const m = await server.memory().catch(() => ({ heapMb: NaN, externalMb: NaN }));
        memory.push({ sent: reports.get(o.sockets[0]!)!.sent, rssMb: round(rss), ...m });
      }
      if (rss > boundMb && !failures.some((f) => f.startsWith('memory'))) failures.push(`memory: RSS ${rss.toFixed(1)} MB at ${at}, over the bound ${boundMb.toFixed(1)} MB`);
      const exit = server.exit();
      if (exit) { failures.push(`the server ${exit} before ${at}`); return false; }
      if (failures.length === failedBefore) {
        failedInARow = 0;
        for (const w of window.values()) w.length = 0;
      } else if (++failedInARow === 3) {
        // Three checks in a row unanswered: the server hangs. Its last datagrams are kept for a replay.
        const file = join(tmpdir(), `ferry-fuzz-sockets-hang-${o.seed}.hex`);
        writeFileSync(file, [...window].flatMap(([s, w]) => w.map((d) => `${s} ${d.bytes.toString('hex')}`)).join('\n') + '\n');
        failures.push(`hang: ${failedInARow} checks in a row failed; the ${[...window.values()].reduce((n, w) => n + w.length, 0)} datagrams since the last good check are in ${file} (socket, hex a line)`);
        return false;
      }
      // Pace down when the kernel dropped datagrams since the last check, up again when it did not.
      const drops = server.udpDrops();
      const dropped = drops.coap + drops.download - dropsBefore.coap - dropsBefore.download;
      dropsBefore = drops;
      const max = proven ? rate.proven : rate.unproven;
      perSecond = dropped > 0 ? Math.max(50, perSecond * 0.7) : Math.min(max, perSecond * 1.1);
      phaseStart = performance.now(); phaseSent = 0;
      return true;
    };

    let last = performance.now();
    for (let i = 0; i < o.perSocket; i++) {
      if (i === half && half > 0) {
        // The second half: the fuzzer's address proves itself (RFC 9175 §2.4), and what it heard is fed back.
        await sleep(200); // the answers to the last unproven datagrams
        proven = true;
        if (unproven.received > 3 * unproven.sent) failures.push(`amplification: ${unproven.received} bytes sent to the unproven fuzzer for ${unproven.sent} it sent, over 3×`);
        const self = await CheckPeer.open('127.0.0.1');
        peers.set('127.0.0.1', self);
        const r = await self.prove(server.downloadPort, server.imageId);
        if (!r.ok) failures.push(`the fuzzer's address could not prove itself at half-time: ${r.detail}`);
        learned.useLearned = true; perSecond = rate.proven;
        phaseStart = performance.now(); phaseSent = 0;
      }
      for (const s of o.sockets) {
        const d = fuzzers.get(s)!.next();
        const ring = rings.get(s)!;
        ring.push(d);
        if (ring.length > 2 * RING) ring.splice(0, RING);
        const w = window.get(s)!;
        w.push(d);
        if (w.length > 2 * RING) w.splice(0, RING);
        fuzzerSocket.send(d.bytes, portOf[s], '127.0.0.1');
        reports.get(s)!.sent++;
        if (!proven) unproven.sent += d.bytes.length;
      }
      phaseSent++;
      if ((i + 1) % BATCH === 0) {
        const due = phaseStart + (phaseSent / perSecond) * 1000;
        const now = performance.now();
        if (due > now + 1) await sleep(due - now); else await yieldNow();
      }
      if ((i + 1) % checkEvery === 0 || i + 1 === o.perSocket) {
        if (!(await check())) break;
      }
      if (o.progress && performance.now() - last > 30_000) {
        last = performance.now();
        o.progress(i + 1, `sockets: ${i + 1}/${o.perSocket} a socket, ${Math.round(perSecond)}/s, RSS ${server.rssMb().toFixed(0)} MB, ${fiveXx.length} 5.xx, ${failures.length} failures`);
      }
    }
    await sleep(500); // the last answers
    for (const p of peers.values()) for (const e of p.serverErrors) fiveXx.push({ socket: 'check', code: e.code, answer: e.hex, input: [] });

    const exit = server.exit();
    const guard = exit ? {} : await server.guardCounters().catch(() => ({}) as Record<string, Record<string, number>>);
    const drops = server.udpDrops();
    for (const r of reports.values()) { r.kernelDrops = drops[r.socket]; r.guard = guard[r.socket] ?? {}; }
    for (const f of fiveXx) failures.push(`${f.code} on the ${f.socket} socket in answer to ${f.input[0] ?? '(unknown)'}`);
    const errorLogs = [...server.log.errors].map(([msg, e]) => ({ msg, count: e.count, first: e.first }));
    for (const e of errorLogs) failures.push(`the server logged an error ${e.count}×: ${e.msg}`);
    for (const r of reports.values()) if ((r.guard['handlerErrors'] ?? 0) > 0) failures.push(`the ${r.socket} guard counted ${r.guard['handlerErrors']} handler errors`);
    const endMb = server.rssMb();
    return {
      seed: o.seed, sockets: [...reports.values()], unproven, fiveXx, alive: exit === undefined, ...(exit ? { exit } : {}),
      rss: { startMb: round(startMb), maxMb: round(Math.max(maxMb, endMb)), boundMb: round(boundMb), endMb: round(endMb) }, memory,
      errorLogs, topLogMessages: [...server.log.byMessage].sort((a, b) => b[1] - a[1]).slice(0, 12), failures, ms: Math.round(performance.now() - started),
    };
  } finally {
    await new Promise<void>((resolve) => fuzzerSocket.close(() => resolve()));
    for (const p of peers.values()) await p.close();
    await server.stop();
  }
}

function count(r: SocketReport | undefined, label: string): void {
  if (r) r.responses[label] = (r.responses[label] ?? 0) + 1;
}

/** The datagram a 5.xx answers: same token (and Message ID for a piggybacked answer), newest first. */
function blame(socket: SocketName, p: ParsedPacket, msg: Buffer, ring: readonly Datagram[]): FiveXx {
  for (let i = ring.length - 1; i >= 0; i--) {
    const d = ring[i]!;
    const sameMid = d.bytes.length >= 4 && d.bytes.readUInt16BE(2) === p.messageId;
    const sameToken = d.bytes.length >= 4 + p.token.length && d.bytes.subarray(4, 4 + p.token.length).equals(p.token) && (d.bytes[0]! & 0x0f) === p.token.length;
    if (sameToken && (sameMid || !p.ack)) return { socket, code: p.code, answer: msg.toString('hex'), input: [d.bytes.toString('hex')], template: d.template };
  }
  return { socket, code: p.code, answer: msg.toString('hex'), input: ring.slice(-5).reverse().map((d) => d.bytes.toString('hex')) };
}

/** Location-Path of a 2.01 (a registration id), an Echo, a request of the server's. */
function learn(l: Learned, p: ParsedPacket): void {
  if (p.code === '2.01') {
    const loc = p.options.filter((o) => o.name === 'Location-Path').map((o) => o.value.toString());
    if (loc.length === 2 && loc[0] === 'rd') remember(l.registrations, loc[1]!);
  }
  const echo = p.options.find((o) => String(o.name) === '252');
  if (echo) remember(l.echoes, echo.value);
  if (p.code.startsWith('0.') && p.code !== '0.00') remember(l.serverRequests, { mid: p.messageId, token: p.token });
}

function cleanRegister(endpoint: string): Buffer {
  const opt = (delta: number, v: string): Buffer => Buffer.concat([Buffer.from([(delta << 4) | v.length]), Buffer.from(v)]);
  const links = '</>;rt="oma.lwm2m";ct=11542,</1/0>,</3/0>,</5/0>';
  // CON POST, token 0x5eed, Uri-Path rd (11), Content-Format 40 (12), Uri-Query ×3 (15).
  return Buffer.concat([Buffer.from([0x42, 0x02, 0x12, 0x34, 0x5e, 0xed]), opt(11, 'rd'), Buffer.from([0x11, 40]),
    opt(3, `ep=${endpoint}`), opt(0, 'lt=300'), opt(0, 'lwm2m=1.1'), Buffer.from([0xff]), Buffer.from(links)]);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const round = (n: number): number => Math.round(n * 10) / 10;

/** Lines a person reads: per socket, then the findings. */
export function describeReport(r: SocketsReport): string[] {
  const lines = r.sockets.map((s) => `sockets/${s.socket}: ${s.sent} datagrams, checks ${s.checksPassed}/${s.checks}, kernel drops ${s.kernelDrops}, `
    + `max RSS ${r.rss.maxMb} MB (start ${r.rss.startMb}, bound ${r.rss.boundMb}), ${(r.ms / 1000).toFixed(1)} s; `
    + `responses ${Object.entries(s.responses).sort().map(([k, v]) => `${k}:${v}`).join(' ')}; guard ${Object.entries(s.guard).map(([k, v]) => `${k}:${v}`).join(' ')}`);
  lines.push(`sockets: server ${r.alive ? 'alive' : r.exit}; unproven: ${r.unproven.received} bytes answered for ${r.unproven.sent} sent; `
    + `${r.fiveXx.length} 5.xx; ${r.failures.length} failures`);
  if (r.memory.length > 1) {
    const step = Math.max(1, Math.ceil(r.memory.length / 10));
    lines.push(`sockets: memory (datagrams a socket: RSS / JS heap / outside the heap, MB) ${r.memory.filter((_, i) => i % step === 0 || i === r.memory.length - 1)
      .map((m) => `${m.sent}: ${m.rssMb}/${m.heapMb}/${m.externalMb}`).join(', ')}`);
  }
  for (const f of r.failures.slice(0, 20)) lines.push(`  FAIL ${f}`);
  for (const e of r.errorLogs.slice(0, 5)) lines.push(`  error log: ${e.first.slice(0, 600)}`);
  return lines;
}

/** A finding as the fuzz registry reports it. */
function asFailure(r: SocketsReport, name: string): FuzzFailure | undefined {
  const first = r.failures[0];
  if (first === undefined) return undefined;
  const kind: FuzzFailure['kind'] = !r.alive || first.startsWith('memory') ? 'crash' : first.includes('check') ? 'hang' : 'exception';
  const five = r.fiveXx[0];
  return {
    kind, error: r.failures.slice(0, 10).join('\n'), seed: r.seed,
    ...(five?.input[0] ? { hex: five.input[0] } : {}),
    replay: `npm run fuzz -- --only ${name} --seed ${r.seed} (or node --import tsx test/fuzz/sockets-run.ts --only ${name} --seed ${r.seed})`,
  };
}

/** Runs one socket's target for the registry: a server of its own, `n` datagrams. */
export async function runSocketTarget(socket: SocketName, n: number, seed: number, progress?: (sent: number, line: string) => void): Promise<{ outcome: FuzzOutcome; report: SocketsReport }> {
  const name = `sockets-${socket}`;
  const report = await fuzzSockets({ sockets: [socket], perSocket: n, seed, ...(progress ? { progress } : {}) });
  const failure = asFailure(report, name);
  const outcome: FuzzOutcome = {
    name, family: 'sockets', runs: report.sockets[0]?.sent ?? 0, roundTrips: 0, failures: report.failures.length, ms: report.ms, ...(failure ? { failure } : {}),
  };
  return { outcome, report };
}

for (const socket of ['coap', 'download'] as const) {
  register({
    name: `sockets-${socket}`,
    family: 'sockets',
    describe: socket === 'coap'
      ? 'datagrams at the LwM2M socket of a live `ferry serve` (/rd, /fw, Block1, Observe, pings), checked by clean Registers'
      : 'datagrams at the firmware download socket of a live `ferry serve` (GET /fw, Block2, Echo), checked by clean block GETs',
    defaultRuns: 200_000,
    async run(n, seed, options) {
      const { outcome, report } = await runSocketTarget(socket, n, seed, (sent) => options?.progress?.(sent));
      for (const line of describeReport(report)) process.stdout.write(`${line}\n`);
      return outcome;
    },
  });
}
