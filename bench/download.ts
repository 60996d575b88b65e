/**
 * The download load generator: K concurrent downloaders, each on its own UDP socket, each fetching
 * the whole image block by block with confirmable Block2 GETs (RFC 7959 §2.4), one request in
 * flight per downloader (RFC 7252 §4.7, NSTART = 1), retransmitted as RFC 7252 §4.8 says
 * (ACK_TIMEOUT 2 s, ACK_RANDOM_FACTOR 1.5, MAX_RETRANSMIT 4). Raw datagrams, no CoAP library:
 * the same generator measures every server. Each block is compared with the image's bytes.
 */
import { createSocket, type Socket } from 'node:dgram';
import { generate, parse } from 'coap-packet';

/** RFC 7252 §4.8 transmission parameters. */
export const ACK_TIMEOUT_MS = 2000;
export const ACK_RANDOM_FACTOR = 1.5;
export const MAX_RETRANSMIT = 4;
/** Downloaders per loopback address (127.0.0.1, 127.0.0.2, …) so ephemeral ports never run short. */
const CLIENTS_PER_ADDRESS = 5000;

export interface LoadTarget {
  host: string;
  port: number;
  /** Uri-Path segments, e.g. ['fw', '1']. */
  path: string[];
}

export interface LoadOptions {
  target: LoadTarget;
  /** The bytes the server should serve: each block is checked against them. */
  image: Buffer;
  clients: number;
  /** Block size exponent asked for (6 = 1024 bytes). */
  szx: number;
  /** The scenario stops here even when downloads are unfinished (they count as unfinished). */
  limitMs: number;
  /** Stop each downloader after this many blocks (a memory probe needs no complete downloads). */
  maxBlocksEach?: number;
  /** Called every ~100 ms while the load runs (for sampling the server's memory). */
  onTick?: () => void;
}

export interface LoadResult {
  clients: number;
  imageBytes: number;
  blockSize: number;
  /** Downloaders that received every block (or maxBlocksEach of them). */
  completed: number;
  /** Downloaders that gave up after MAX_RETRANSMIT or received an error or wrong bytes. */
  failed: number;
  blocks: number;
  bytes: number;
  retransmissions: number;
  seconds: number;
  blocksPerSecond: number;
  megabytesPerSecond: number;
  /** CPU seconds the generator itself used (it shares the machine with the server). */
  generatorCpuSeconds: number;
  firstError?: string;
}

interface Downloader {
  socket: Socket;
  num: number;
  messageId: number;
  token: Buffer;
  request: Buffer;
  /** When the current request is retransmitted (ms, performance.now()). */
  deadline: number;
  timeoutMs: number;
  retransmits: number;
  /** An empty ACK arrived: the response comes separately, stop retransmitting (RFC 7252 §5.2.2). */
  acked: boolean;
  done: boolean;
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const blockSize = 16 << o.szx;
  const totalBlocks = Math.max(1, Math.ceil(o.image.length / blockSize));
  const blocksEach = Math.min(totalBlocks, o.maxBlocksEach ?? totalBlocks);
  const prefix = requestPrefix(o.target.path);
  const result = { completed: 0, failed: 0, blocks: 0, bytes: 0, retransmissions: 0, firstError: undefined as string | undefined };
  const downloaders: Downloader[] = [];
  let finished = 0;
  let resolveAll: () => void = () => undefined;
  const allDone = new Promise<void>((r) => { resolveAll = r; });

  const finish = (d: Downloader, error?: string): void => {
    if (d.done) return;
    d.done = true;
    if (error === undefined) result.completed++;
    else {
      result.failed++;
      result.firstError ??= error;
    }
    if (++finished === o.clients) resolveAll();
  };

  const send = (d: Downloader): void => {
    d.socket.send(d.request, o.target.port, o.target.host);
  };

  const next = (d: Downloader, now: number): void => {
    d.messageId = (d.messageId + 1) & 0xffff;
    d.token.writeUInt16BE(d.num & 0xffff, 6);
    d.request = buildRequest(prefix, d.messageId, d.token, d.num, o.szx);
    d.timeoutMs = ACK_TIMEOUT_MS * (1 + Math.random() * (ACK_RANDOM_FACTOR - 1));
    d.deadline = now + d.timeoutMs;
    d.retransmits = 0;
    d.acked = false;
    send(d);
  };

  const onMessage = (d: Downloader, msg: Buffer): void => {
    if (d.done) return;
    const r = readResponse(msg, d.token);
    if (r === undefined) return; // not ours, or a stale answer to an earlier block
    if (r.type === 'empty-ack') {
      if (r.messageId === d.messageId) d.acked = true;
      return;
    }
    if (r.confirmable) d.socket.send(emptyAck(r.messageId), o.target.port, o.target.host);
    if (r.code !== 0x45) return finish(d, `block ${d.num}: code ${r.code >> 5}.${String(r.code & 31).padStart(2, '0')}`);
    if (r.block2 === undefined || r.block2.num !== d.num) return finish(d, `block ${d.num}: Block2 ${JSON.stringify(r.block2)}`);
    const start = d.num * blockSize;
    const expected = o.image.subarray(start, start + blockSize);
    if (!expected.equals(msg.subarray(r.payloadStart))) return finish(d, `block ${d.num}: wrong bytes`);
    result.blocks++;
    result.bytes += expected.length;
    d.num++;
    if (!r.block2.more || d.num >= blocksEach) return finish(d);
    next(d, performance.now());
  };

  const sockets = await Promise.all(Array.from({ length: o.clients }, (_, i) => bindClient(i)));
  await proveSources(o.target, sockets);
  const run = Math.floor(Math.random() * 0x10000);
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  for (const socket of sockets) {
    const d: Downloader = {
      socket, num: 0, messageId: Math.floor(Math.random() * 0x10000), token: tokenFor(run, downloaders.length),
      request: Buffer.alloc(0), deadline: 0, timeoutMs: 0, retransmits: 0, acked: false, done: false,
    };
    downloaders.push(d);
    socket.on('message', (msg) => onMessage(d, msg));
  }
  for (const d of downloaders) next(d, started);

  // One sweep for every retransmission timer: K timers per block would cost more than the load.
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
    o.onTick?.();
  }, 100);
  const limit = new Promise<void>((r) => setTimeout(r, o.limitMs).unref());
  try {
    await Promise.race([allDone, limit]);
  } finally {
    clearInterval(sweep);
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  for (const d of downloaders) d.done = true;
  await Promise.all(sockets.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return {
    clients: o.clients, imageBytes: o.image.length, blockSize,
    completed: result.completed, failed: result.failed, blocks: result.blocks, bytes: result.bytes,
    retransmissions: result.retransmissions, seconds: Math.round(seconds * 1000) / 1000,
    blocksPerSecond: Math.round(result.blocks / seconds), megabytesPerSecond: round(result.bytes / seconds / 1e6),
    generatorCpuSeconds: round((cpu.user + cpu.system) / 1e6),
    ...(result.firstError !== undefined ? { firstError: result.firstError } : {}),
  };
}

/**
 * A server may first ask a new source address to show it receives (RFC 9175 §2.4: 4.01 with an
 * Echo); a client sends the Echo back once per address, before the clock starts here. Servers
 * that do not ask (libcoap, node-coap) just answer the probe.
 */
async function proveSources(target: LoadTarget, sockets: Socket[]): Promise<void> {
  const byAddress = new Map(sockets.map((s) => [s.address().address, s]));
  for (const socket of byAddress.values()) {
    const ask = (echo?: Buffer) => new Promise<Buffer | undefined>((resolve) => {
      const timer = setTimeout(() => { socket.off('message', on); resolve(undefined); }, 3000);
      const on = (msg: Buffer): void => {
        clearTimeout(timer);
        socket.off('message', on);
        const p = parse(msg);
        resolve(p.code === '4.01' ? p.options.find((x) => String(x.name) === '252')?.value : undefined);
      };
      socket.on('message', on);
      socket.send(generate({
        confirmable: true, code: 'GET', messageId: Math.floor(Math.random() * 0x10000), token: Buffer.from([0xec, 0x40]),
        options: [...target.path.map((p) => ({ name: 'Uri-Path' as const, value: Buffer.from(p) })), ...(echo ? [{ name: '252' as never, value: echo }] : [])],
      }), target.port, target.host);
    });
    const echo = await ask();
    if (echo !== undefined) await ask(echo);
  }
}

function bindClient(i: number): Promise<Socket> {
  const address = `127.0.0.${1 + Math.floor(i / CLIENTS_PER_ADDRESS)}`;
  return new Promise<Socket>((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, address, () => { s.off('error', reject); resolve(s); });
  });
}

/**
 * Token (RFC 7252 §5.3.1, up to 8 bytes): 2 random bytes for this run, 4 of downloader index, 2 of
 * block number. A later run on a reused port must not look like the same exchange to a server
 * that caches by token (node-coap does, for Block2).
 */
export function tokenFor(run: number, i: number): Buffer {
  const t = Buffer.alloc(8);
  t.writeUInt16BE(run, 0);
  t.writeUInt32BE(i, 2);
  return t;
}

/** The Uri-Path options (RFC 7252 §3.1 option encoding), the same in every request. */
export function requestPrefix(path: string[]): Buffer {
  const parts: Buffer[] = [];
  let last = 0;
  for (const segment of path) {
    parts.push(encodeOption(11 - last, Buffer.from(segment, 'utf8')));
    last = 11;
  }
  return Buffer.concat(parts);
}

function encodeOption(delta: number, value: Buffer): Buffer {
  const ext = (n: number): [number, number[]] =>
    n < 13 ? [n, []] : n < 269 ? [13, [n - 13]] : [14, [(n - 269) >> 8, (n - 269) & 0xff]];
  const [d, dExt] = ext(delta);
  const [l, lExt] = ext(value.length);
  return Buffer.concat([Buffer.from([(d << 4) | l, ...dExt, ...lExt]), value]);
}

/** CON GET, token, Uri-Path…, Block2 (option 23: delta 12 from Uri-Path 11). */
export function buildRequest(prefix: Buffer, messageId: number, token: Buffer, num: number, szx: number): Buffer {
  const v = num * 16 + szx;
  const blockLength = v === 0 ? 0 : v < 0x100 ? 1 : v < 0x10000 ? 2 : 3;
  const b = Buffer.allocUnsafe(4 + token.length + prefix.length + 1 + blockLength);
  b[0] = 0x40 | token.length; // version 1, CON
  b[1] = 0x01; // GET
  b.writeUInt16BE(messageId, 2);
  token.copy(b, 4);
  prefix.copy(b, 4 + token.length);
  let p = 4 + token.length + prefix.length;
  b[p++] = (12 << 4) | blockLength;
  for (let i = blockLength - 1; i >= 0; i--) b[p++] = (v >>> (8 * i)) & 0xff;
  return b;
}

export function emptyAck(messageId: number): Buffer {
  const b = Buffer.from([0x60, 0, 0, 0]);
  b.writeUInt16BE(messageId, 2);
  return b;
}

export type Response =
  | { type: 'empty-ack'; messageId: number }
  | { type: 'response'; confirmable: boolean; messageId: number; code: number; block2?: { num: number; more: boolean }; payloadStart: number };

/** Just enough of RFC 7252 §3 to read a response: header, token, Block2, where the payload starts. */
export function readResponse(msg: Buffer, token: Buffer): Response | undefined {
  if (msg.length < 4 || msg[0]! >> 6 !== 1) return undefined;
  const type = (msg[0]! >> 4) & 3;
  const tkl = msg[0]! & 15;
  const code = msg[1]!;
  const messageId = msg.readUInt16BE(2);
  if (code === 0 && type === 2) return { type: 'empty-ack', messageId };
  if (tkl !== token.length || !token.equals(msg.subarray(4, 4 + tkl))) return undefined;
  let p = 4 + tkl;
  let number = 0;
  let block2: { num: number; more: boolean } | undefined;
  while (p < msg.length && msg[p] !== 0xff) {
    const byte = msg[p++]!;
    let delta = byte >> 4;
    let length = byte & 15;
    if (delta === 13) delta = 13 + msg[p++]!;
    else if (delta === 14) { delta = 269 + msg.readUInt16BE(p); p += 2; }
    if (length === 13) length = 13 + msg[p++]!;
    else if (length === 14) { length = 269 + msg.readUInt16BE(p); p += 2; }
    number += delta;
    if (number === 23) {
      let v = 0;
      for (let i = 0; i < length; i++) v = v * 256 + msg[p + i]!;
      block2 = { num: v >>> 4, more: (v & 8) !== 0 };
    }
    p += length;
  }
  return { type: 'response', confirmable: type === 0, messageId, code, ...(block2 ? { block2 } : {}), payloadStart: Math.min(p + 1, msg.length) };
}

const round = (x: number): number => Math.round(x * 100) / 100;
