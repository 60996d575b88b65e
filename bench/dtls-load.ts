/**
 * The DTLS load generator, run as a child process of its own (`fork`, commands over the IPC
 * channel) so that it never shares an event loop with the server it measures. Its DTLS client is
 * the simulator's (simulator/dtls/session.ts, written apart from the server's code), one session
 * per UDP socket on 127.0.0.1, since a DTLS server tells its peers apart by address and port.
 * Three loads:
 * - `handshakes`: full handshakes, cookie exchange included (RFC 6347 §4.2.1), `concurrency` at a
 *   time, each ended with close_notify and followed by the next on the same socket;
 * - `download`: K sessions established first (not timed), then each downloads the image by Block2
 *   (RFC 7959 §2.4) to the end with CON GETs, one in flight per session (RFC 7252 §4.7), the
 *   CoAP retransmission of bench/download.ts; every block checked against the image's bytes;
 * - `hold`: N sessions established and left open (for the server's memory), until `release`.
 */
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { DtlsSession } from '../simulator/dtls/session.ts';
import { ACK_RANDOM_FACTOR, ACK_TIMEOUT_MS, MAX_RETRANSMIT, buildRequest, emptyAck, readResponse, requestPrefix, tokenFor } from './download.ts';

export interface DtlsPeer {
  host: string;
  port: number;
  identity: string;
  /** The PSK, hex. */
  key: string;
}

export type LoadCommand =
  | { op: 'handshakes'; peer: DtlsPeer; total: number; concurrency: number; limitMs: number }
  | { op: 'download'; peer: DtlsPeer; path: string[]; imageFile: string; clients: number; szx: number; limitMs: number; minSeconds: number; setupConcurrency: number }
  | { op: 'hold'; peer: DtlsPeer; sessions: number; concurrency: number; limitMs: number }
  | { op: 'release' };

export interface HandshakeLoad {
  total: number;
  concurrency: number;
  completed: number;
  failed: number;
  seconds: number;
  perSecond: number;
  /** Milliseconds from the first ClientHello to the server's Finished checked. */
  p50Ms: number;
  p95Ms: number;
  generatorCpuSeconds: number;
  firstError?: string;
}

export interface DownloadLoad {
  clients: number;
  /** Sessions established before the clock started, and how long that took. */
  sessions: number;
  setupSeconds: number;
  imageBytes: number;
  rounds: number;
  completed: number;
  failed: number;
  blocks: number;
  retransmissions: number;
  seconds: number;
  blocksPerSecond: number;
  megabytesPerSecond: number;
  generatorCpuSeconds: number;
  firstError?: string;
}

export interface HoldLoad {
  sessions: number;
  failed: number;
  seconds: number;
  firstError?: string;
}

export type LoadReply = { ok: true; result: HandshakeLoad | DownloadLoad | HoldLoad | null } | { ok: false; error: string };

/** One UDP socket and the DTLS session on it now (a socket runs its sessions one after another). */
interface Link {
  socket: Socket;
  session: DtlsSession | undefined;
  /** Datagrams handed to the socket and not yet sent: a socket closed before they leave loses them. */
  unsent: number;
  onSent: (() => void) | undefined;
}

const round = (x: number): number => Math.round(x * 100) / 100;
const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Every datagram goes to an IP literal: no dns.lookup (and its nextTick) per send. */
const udp4 = (): Socket => createSocket({ type: 'udp4', lookup: (address, _family, callback) => callback(null, address, 4) });

function bind(): Promise<Link> {
  const link: Link = { socket: udp4(), session: undefined, unsent: 0, onSent: undefined };
  return attach(link, link.socket).then(() => link);
}

function send(link: Link, datagram: Buffer, peer: DtlsPeer): void {
  link.unsent++;
  link.socket.send(datagram, peer.port, peer.host, () => {
    if (--link.unsent === 0) link.onSent?.();
  });
}

/** Binds `socket` to 127.0.0.1 and makes it the link's. */
function attach(link: Link, socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      socket.off('error', reject);
      socket.on('error', () => undefined); // a send on a closing socket: lost, as UDP allows
      socket.on('message', (msg) => { if (link.socket === socket) link.session?.receive(msg); });
      link.socket = socket;
      resolve();
    });
  });
}

/** The link moves to a new socket (a new port): a server may hold on to a failed handshake's state for the old one. */
async function rebind(link: Link): Promise<void> {
  const old = link.socket;
  await attach(link, udp4());
  old.close();
}

/**
 * Ends every session (close_notify) and closes its socket. The alerts go 50 at a time: a thousand
 * at once would overflow a server's receive buffer, and a session whose close_notify was lost
 * lives on there, in the way of the next one from the same port.
 */
async function closeAll(links: Link[]): Promise<void> {
  for (let i = 0; i < links.length; i += 50) {
    const batch = links.slice(i, i + 50);
    await Promise.all(batch.map(async (l) => {
      l.session?.close();
      l.session = undefined;
      // The socket closes once the alert has left (or after 200 ms).
      if (l.unsent > 0) await new Promise<void>((r) => { l.onSent = r; setTimeout(r, 200); });
      await new Promise<void>((r) => l.socket.close(() => r()));
    }));
    if (i + 50 < links.length) await new Promise((r) => setTimeout(r, 5));
  }
}

/** A new session on the link, its handshake started; rejects when it fails or `stop` resolves first. */
function handshake(link: Link, peer: DtlsPeer, stopped: Promise<never>, maxRetransmits = 3): Promise<DtlsSession> {
  const session = new DtlsSession((d) => send(link, d, peer), {
    identity: Buffer.from(peer.identity, 'utf8'), psk: Buffer.from(peer.key, 'hex'),
    // RFC 6347 §4.2.4.1's 1 s first, but fewer retransmissions: a bench run is bounded in time.
    initialTimeoutMs: 1000, maxRetransmits,
  });
  link.session = session;
  return Promise.race([session.start().then(() => session), stopped]);
}

/** `stop` resolves after `ms`, `stopped` rejects then ('out of time'), unless cancelled first. */
function limit(ms: number): { stop: Promise<void>; stopped: Promise<never>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const stop = new Promise<void>((r) => { timer = setTimeout(r, ms); });
  const stopped = stop.then((): never => { throw new Error('out of time'); });
  stopped.catch(() => undefined);
  return { stop, stopped, cancel: () => clearTimeout(timer) };
}

/** Establishes `n` sessions, `concurrency` handshakes at a time, two retries each (from a new port). */
async function establish(peer: DtlsPeer, n: number, concurrency: number, limitMs: number): Promise<{ links: Link[]; failed: number; firstError?: string }> {
  const links = await Promise.all(Array.from({ length: n }, bind));
  const { stopped, cancel } = limit(limitMs);
  let next = 0;
  let failed = 0;
  let firstError: string | undefined;
  const worker = async (): Promise<void> => {
    while (next < links.length) {
      const link = links[next++]!;
      for (let attempt = 0; ; attempt++) {
        try {
          // Two retransmissions (7 s) before a retry from a new port.
          await handshake(link, peer, stopped, 2);
          break;
        } catch (e) {
          link.session?.close();
          link.session = undefined;
          if (attempt >= 2 || errorText(e) === 'out of time') {
            failed++;
            firstError ??= errorText(e);
            break;
          }
          await rebind(link);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  cancel();
  return { links, failed, ...(firstError !== undefined ? { firstError } : {}) };
}

async function handshakes(c: Extract<LoadCommand, { op: 'handshakes' }>): Promise<HandshakeLoad> {
  const links = await Promise.all(Array.from({ length: Math.min(c.concurrency, c.total) }, bind));
  const { stop, stopped, cancel } = limit(c.limitMs);
  const latencies: number[] = [];
  let begun = 0;
  let failed = 0;
  let firstError: string | undefined;
  let timedOut = false;
  void stop.then(() => { timedOut = true; });
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  const worker = async (link: Link): Promise<void> => {
    while (begun < c.total && !timedOut) {
      begun++;
      const t0 = performance.now();
      try {
        const session = await handshake(link, c.peer, stopped);
        latencies.push(performance.now() - t0);
        session.close(); // close_notify: the server forgets the session
      } catch (e) {
        link.session?.close();
        if (errorText(e) === 'out of time') return;
        failed++;
        firstError ??= errorText(e);
      }
      link.session = undefined;
    }
  };
  await Promise.all(links.map(worker));
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  cancel();
  await closeAll(links);
  latencies.sort((a, b) => a - b);
  const at = (q: number): number => round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
  return {
    total: c.total, concurrency: links.length, completed: latencies.length, failed, seconds: round(seconds),
    perSecond: Math.round(latencies.length / seconds), p50Ms: at(0.5), p95Ms: at(0.95),
    generatorCpuSeconds: round((cpu.user + cpu.system) / 1e6),
    ...(firstError !== undefined ? { firstError } : {}),
  };
}

interface Downloader {
  link: Link;
  session: DtlsSession;
  num: number;
  messageId: number;
  token: Buffer;
  request: Buffer;
  deadline: number;
  timeoutMs: number;
  retransmits: number;
  acked: boolean;
  done: boolean;
}

async function download(c: Extract<LoadCommand, { op: 'download' }>): Promise<DownloadLoad> {
  const image = readFileSync(c.imageFile);
  const blockSize = 16 << c.szx;
  const setup0 = performance.now();
  const est = await establish(c.peer, c.clients, c.setupConcurrency, c.limitMs);
  const setupSeconds = round((performance.now() - setup0) / 1000);
  const live = est.links.filter((l) => l.session?.established === true);
  const prefix = requestPrefix(c.path);
  const total = { rounds: 0, completed: 0, failed: est.failed, blocks: 0, bytes: 0, retransmissions: 0, seconds: 0, firstError: est.firstError };
  const cpu0 = process.cpuUsage();
  const until = performance.now() + c.limitMs;
  while (live.length > 0) {
    const r = await downloadRound(live, image, blockSize, c.szx, prefix, Math.max(1, until - performance.now()));
    total.rounds++;
    total.completed += r.completed;
    total.failed += r.failed;
    total.blocks += r.blocks;
    total.bytes += r.bytes;
    total.retransmissions += r.retransmissions;
    total.seconds += r.seconds;
    total.firstError ??= r.firstError;
    if (r.completed < live.length || total.seconds >= c.minSeconds || performance.now() >= until) break;
  }
  const cpu = process.cpuUsage(cpu0);
  await closeAll(est.links);
  const seconds = Math.max(total.seconds, 0.001);
  return {
    clients: c.clients, sessions: live.length, setupSeconds, imageBytes: image.length, rounds: total.rounds,
    completed: total.completed, failed: total.failed, blocks: total.blocks, retransmissions: total.retransmissions,
    seconds: round(total.seconds), blocksPerSecond: Math.round(total.blocks / seconds), megabytesPerSecond: round(total.bytes / seconds / 1e6),
    generatorCpuSeconds: round((cpu.user + cpu.system) / 1e6),
    ...(total.firstError !== undefined ? { firstError: total.firstError } : {}),
  };
}

/** Every live session downloads the whole image once (or until `limitMs`); the retransmission sweep of bench/download.ts. */
async function downloadRound(links: Link[], image: Buffer, blockSize: number, szx: number, prefix: Buffer, limitMs: number) {
  const totalBlocks = Math.max(1, Math.ceil(image.length / blockSize));
  const result = { completed: 0, failed: 0, blocks: 0, bytes: 0, retransmissions: 0, firstError: undefined as string | undefined };
  let finished = 0;
  let resolveAll: () => void = () => undefined;
  const allDone = new Promise<void>((r) => { resolveAll = r; });
  const run = Math.floor(Math.random() * 0x10000);

  const finish = (d: Downloader, error?: string): void => {
    if (d.done) return;
    d.done = true;
    if (error === undefined) result.completed++;
    else {
      result.failed++;
      result.firstError ??= error;
    }
    if (++finished === links.length) resolveAll();
  };
  const send = (d: Downloader): void => {
    try {
      d.session.sendApplicationData(d.request);
    } catch (e) {
      finish(d, errorText(e));
    }
  };
  const next = (d: Downloader, now: number): void => {
    d.messageId = (d.messageId + 1) & 0xffff;
    d.token.writeUInt16BE(d.num & 0xffff, 6);
    d.request = buildRequest(prefix, d.messageId, d.token, d.num, szx);
    d.timeoutMs = ACK_TIMEOUT_MS * (1 + Math.random() * (ACK_RANDOM_FACTOR - 1));
    d.deadline = now + d.timeoutMs;
    d.retransmits = 0;
    d.acked = false;
    send(d);
  };
  const onMessage = (d: Downloader, msg: Buffer): void => {
    if (d.done) return;
    const r = readResponse(msg, d.token);
    if (r === undefined) return;
    if (r.type === 'empty-ack') {
      if (r.messageId === d.messageId) d.acked = true;
      return;
    }
    if (r.confirmable) d.session.sendApplicationData(emptyAck(r.messageId));
    if (r.code !== 0x45) return finish(d, `block ${d.num}: code ${r.code >> 5}.${String(r.code & 31).padStart(2, '0')}`);
    if (r.block2 === undefined || r.block2.num !== d.num) return finish(d, `block ${d.num}: Block2 ${JSON.stringify(r.block2)}`);
    const start = d.num * blockSize;
    const expected = image.subarray(start, start + blockSize);
    if (!expected.equals(msg.subarray(r.payloadStart))) return finish(d, `block ${d.num}: wrong bytes`);
    result.blocks++;
    result.bytes += expected.length;
    d.num++;
    if (!r.block2.more || d.num >= totalBlocks) return finish(d);
    next(d, performance.now());
  };

  const downloaders: Downloader[] = links.map((link, i) => ({
    link, session: link.session!, num: 0, messageId: Math.floor(Math.random() * 0x10000), token: tokenFor(run, i),
    request: Buffer.alloc(0), deadline: 0, timeoutMs: 0, retransmits: 0, acked: false, done: false,
  }));
  for (const d of downloaders) d.session.onData = (data) => onMessage(d, data);
  const started = performance.now();
  for (const d of downloaders) next(d, started);
  const sweep = setInterval(() => {
    const now = performance.now();
    for (const d of downloaders) {
      if (d.done || d.acked || now < d.deadline) continue;
      if (d.retransmits >= MAX_RETRANSMIT) { finish(d, `block ${d.num}: no answer after ${MAX_RETRANSMIT} retransmissions`); continue; }
      d.retransmits++;
      result.retransmissions++;
      d.timeoutMs *= 2;
      d.deadline = now + d.timeoutMs;
      send(d);
    }
  }, 100);
  const { stop, cancel } = limit(limitMs);
  await Promise.race([allDone, stop]);
  cancel();
  clearInterval(sweep);
  const seconds = (performance.now() - started) / 1000;
  for (const d of downloaders) {
    d.done = true;
    d.session.onData = () => undefined;
  }
  return { ...result, seconds };
}

let held: Link[] = [];

async function hold(c: Extract<LoadCommand, { op: 'hold' }>): Promise<HoldLoad> {
  const started = performance.now();
  const est = await establish(c.peer, c.sessions, c.concurrency, c.limitMs);
  held = est.links;
  return {
    sessions: est.links.length - est.failed, failed: est.failed, seconds: round((performance.now() - started) / 1000),
    ...(est.firstError !== undefined ? { firstError: est.firstError } : {}),
  };
}

async function perform(c: LoadCommand): Promise<HandshakeLoad | DownloadLoad | HoldLoad | null> {
  switch (c.op) {
    case 'handshakes': return handshakes(c);
    case 'download': return download(c);
    case 'hold': return hold(c);
    case 'release': {
      await closeAll(held);
      held = [];
      return null;
    }
  }
}

if (process.send !== undefined) {
  process.on('message', (c: LoadCommand) => {
    perform(c).then(
      (result) => process.send!({ ok: true, result } satisfies LoadReply),
      (e: unknown) => process.send!({ ok: false, error: e instanceof Error ? e.stack ?? e.message : String(e) } satisfies LoadReply),
    );
  });
  process.on('disconnect', () => process.exit(0));
}
