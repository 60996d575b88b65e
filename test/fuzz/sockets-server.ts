/**
 * The server the socket fuzzers aim at: a real `ferry serve` child process (node
 * server/bin/ferry.js serve) on free loopback ports, a fresh PGlite data directory (or a fresh
 * schema of DATABASE_URL), one firmware image uploaded through the admin API; and the clean
 * clients that check, from other loopback addresses, that it still answers (CheckPeer).
 * FERRY_FUZZ_SERVER_LOG=FILE keeps everything the server writes, for a post-mortem.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate, parse, type Packet, type ParsedPacket } from 'coap-packet';
import { freeUdpPort, processStats } from '../../bench/servers/spawn.ts';
import { spawnServe, stopChild, type Serving } from '../../bench/servers/serve.ts';
import { encodeBlock } from '../../protocols/block.ts';
import { createTestSchema, databaseUrl } from '../helpers/db.ts';
import { bearer, TEST_ADMIN_TOKEN, testSigningKey } from '../helpers/ferry.ts';

/** What the child's JSON log said, summed: lines by level and message, error lines kept. */
export interface LogSummary {
  lines: number;
  /** message → count, for every line (a message that grows with the datagrams is a log flood). */
  byMessage: Map<string, number>;
  /** Lines at level error (50) or above: the first few of each message, whole. */
  errors: Map<string, { count: number; first: string }>;
}

export interface FuzzServer {
  serving: Serving;
  pid: number;
  apiUrl: string;
  coapPort: number;
  downloadPort: number;
  imageId: string;
  /** When the process exited (undefined while it runs), with its code or signal. */
  exit(): string | undefined;
  rssMb(): number;
  log: LogSummary;
  /** Datagrams the kernel dropped on each of its sockets (the receive buffer was full): /proc/PID/net/udp. */
  udpDrops(): { coap: number; download: number };
  /** The guard's counters from /metrics: socket → outcome → count. */
  guardCounters(): Promise<Record<string, Record<string, number>>>;
  /** The JavaScript heap in use and the memory outside it (buffers, PGlite's WebAssembly memory), MB, from /metrics. */
  memory(): Promise<{ heapMb: number; externalMb: number }>;
  stop(): Promise<void>;
}

const IMAGE_BYTES = 12 * 1024;

export async function startFuzzServer(o: { logLevel?: string } = {}): Promise<FuzzServer> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-fuzz-sockets-'));
  const { keyFile, pubFile } = testSigningKey();
  const [coapPort, downloadPort] = [await freeUdpPort(), await freeUdpPort()];
  let dropSchema: (() => Promise<void>) | undefined;
  let db: string[];
  if (process.env['DATABASE_URL']) {
    const made = await createTestSchema();
    dropSchema = made.drop;
    db = ['--database-url', `${databaseUrl()}?options=${encodeURIComponent(`-c search_path=${made.schema}`)}`];
  } else {
    db = ['--db-dir', join(dir, 'db')];
  }
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FERRY_') && k !== 'DATABASE_URL'));
  let serving: Serving;
  try {
    serving = await spawnServe([
      '--coap-port', String(coapPort), '--download-port', String(downloadPort), '--api-port', '0', ...db,
      '--signing-key', keyFile, '--trusted-keys', pubFile, '--log-level', o.logLevel ?? 'info',
    ], { env: { ...clean, FERRY_ADMIN_TOKEN: TEST_ADMIN_TOKEN }, startMs: 120_000, logFile: process.env['FERRY_FUZZ_SERVER_LOG'] });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    await dropSchema?.();
    throw err;
  }
  const child = serving.child;
  let exited: string | undefined;
  child.once('exit', (code, signal) => { exited = `exited with ${code ?? signal}`; });
  // A fuzzer stopped half-way (Ctrl-C, a test runner's timeout) leaves no server behind.
  const killOnExit = (): void => { child.kill('SIGKILL'); };
  process.once('exit', killOnExit);
  const log = watchLog(serving);
  const stats = processStats(child.pid!);
  const stop = async (): Promise<void> => {
    await stopChild(child, 'SIGTERM', 15_000);
    process.off('exit', killOnExit);
    rmSync(dir, { recursive: true, force: true });
    await dropSchema?.();
  };
  try {
    const upload = await fetch(`${serving.api}/api/v1/firmware?version=1.0.0&hardwareClass=fuzz-1`, {
      method: 'POST', headers: { ...bearer(), 'content-type': 'application/octet-stream' }, body: randomBytes(IMAGE_BYTES),
    });
    const body = await upload.json() as { id: number; downloadName: string };
    if (upload.status !== 201) throw new Error(`firmware upload: ${upload.status} ${JSON.stringify(body)}`);
    return {
      serving, pid: child.pid!, apiUrl: serving.api, coapPort, downloadPort, imageId: body.downloadName, log,
      exit: () => exited, rssMb: () => (exited ? 0 : stats.rssMb()),
      udpDrops: () => udpDrops(child.pid!, { coap: coapPort, download: downloadPort }),
      guardCounters: () => guardCounters(serving.api),
      memory: () => memory(serving.api),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

function watchLog(serving: Serving): LogSummary {
  const summary: LogSummary = { lines: 0, byMessage: new Map(), errors: new Map() };
  let partial = '';
  serving.child.stdout!.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line.length === 0) continue;
      let entry: { level?: number; msg?: string };
      try { entry = JSON.parse(line) as typeof entry; } catch { entry = { level: 50, msg: `(not JSON) ${line.slice(0, 80)}` }; }
      summary.lines++;
      const msg = entry.msg ?? '(no msg)';
      summary.byMessage.set(msg, (summary.byMessage.get(msg) ?? 0) + 1);
      if ((entry.level ?? 0) >= 50) {
        const e = summary.errors.get(msg);
        if (e) e.count++;
        else summary.errors.set(msg, { count: 1, first: line.slice(0, 4000) });
      }
    }
  });
  return summary;
}

/** The `drops` column of the server's two sockets in /proc/PID/net/udp. */
function udpDrops(pid: number, ports: { coap: number; download: number }): { coap: number; download: number } {
  const out = { coap: 0, download: 0 };
  let text: string;
  try { text = readFileSync(`/proc/${pid}/net/udp`, 'utf8'); } catch { return out; }
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 13) continue;
    const port = parseInt(f[1]!.split(':')[1] ?? '', 16);
    if (f[1]!.split(':')[0] !== '0100007F') continue;
    if (port === ports.coap) out.coap += Number(f.at(-1));
    if (port === ports.download) out.download += Number(f.at(-1));
  }
  return out;
}

async function guardCounters(apiUrl: string): Promise<Record<string, Record<string, number>>> {
  const out: Record<string, Record<string, number>> = {};
  const text = await (await fetch(`${apiUrl}/metrics`)).text();
  for (const m of text.matchAll(/^ferry_coap_guard_datagrams\{([^}]*)\} (\d+)/gm)) {
    const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1]!, l[2]!]));
    (out[labels['socket'] ?? '?'] ??= {})[labels['outcome'] ?? '?'] = Number(m[2]);
  }
  return out;
}

async function memory(apiUrl: string): Promise<{ heapMb: number; externalMb: number }> {
  const text = await (await fetch(`${apiUrl}/metrics`)).text();
  const mb = (name: string): number => Math.round(Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? NaN) / 1024 / 102.4) / 10;
  return { heapMb: mb('ferry_nodejs_heap_size_used_bytes'), externalMb: mb('ferry_nodejs_external_memory_bytes') };
}

// ── the clean client of a check ──

/** Answers it gave or was given that were 5.xx, with the datagram. */
export interface ServerError { code: string; hex: string }

/**
 * A well-behaved CoAP client on one loopback address: confirmable requests retransmitted as RFC
 * 7252 §4.2 says (2 s, doubling, 4 tries), separate responses acknowledged, the server's own
 * requests (a Read of /3/0 after a Register) answered 4.04 at once so none waits on us.
 */
export class CheckPeer {
  readonly address: string;
  /** Every 5.xx this peer was sent. */
  readonly serverErrors: ServerError[] = [];
  private readonly socket: Socket;
  private readonly waiting = new Map<string, (p: ParsedPacket) => void>();
  private mid = Math.floor(Math.random() * 0x10000);
  proven = false;

  private constructor(socket: Socket, address: string) {
    this.socket = socket;
    this.address = address;
    socket.on('message', (msg, rinfo) => this.receive(msg, rinfo.port));
  }

  static async open(address: string): Promise<CheckPeer> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => { socket.once('error', reject); socket.bind(0, address, () => resolve()); });
    return new CheckPeer(socket, address);
  }

  private receive(msg: Buffer, port: number): void {
    let p: ParsedPacket;
    try { p = parse(msg); } catch { return; }
    if (p.code.startsWith('5.')) this.serverErrors.push({ code: p.code, hex: msg.toString('hex') });
    if (p.code === '0.00') return; // an empty ACK: the separate response follows
    if (p.code.startsWith('0.')) { // a request of the server's
      if (p.confirmable) this.socket.send(generate({ ack: true, code: '4.04', messageId: p.messageId, token: p.token }), port, '127.0.0.1');
      return;
    }
    if (p.confirmable) this.socket.send(generate({ ack: true, code: '0.00', messageId: p.messageId }), port, '127.0.0.1');
    const done = this.waiting.get(p.token.toString('hex'));
    if (done) { this.waiting.delete(p.token.toString('hex')); done(p); }
  }

  /** One confirmable request; its answer, or undefined after the last retransmission's wait. */
  async request(port: number, packet: Packet): Promise<ParsedPacket | undefined> {
    const token = randomBytes(4);
    this.mid = (this.mid + 1) & 0xffff;
    const datagram = generate({ ...packet, confirmable: true, messageId: this.mid, token });
    const key = token.toString('hex');
    return new Promise<ParsedPacket | undefined>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      let wait = 2000;
      let tries = 0;
      const attempt = (): void => {
        if (tries++ === 4) { this.waiting.delete(key); resolve(undefined); return; }
        this.socket.send(datagram, port, '127.0.0.1');
        timer = setTimeout(attempt, wait);
        wait *= 2;
      };
      this.waiting.set(key, (p) => { clearTimeout(timer); resolve(p); });
      attempt();
    });
  }

  /**
   * RFC 9175 §2.4: GET /fw from an unproven address is 4.01 with an Echo; the same GET with that
   * Echo proves the address. True when the address is proven (or was already).
   */
  async prove(port: number, imageId: string): Promise<{ ok: boolean; detail: string }> {
    const get = (echo?: Buffer): Packet => ({ code: 'GET', options: fwOptions(imageId, 0, echo) });
    const first = await this.request(port, get());
    if (first?.code === '2.05') { this.proven = true; return { ok: true, detail: 'proven already' }; }
    const echo = first?.options.find((o) => String(o.name) === '252')?.value;
    if (first?.code !== '4.01' || echo === undefined) return { ok: false, detail: `GET /fw: ${first?.code ?? 'no answer'}, no Echo` };
    const again = await this.request(port, get(echo));
    this.proven = again?.code === '2.05';
    return { ok: this.proven, detail: `GET /fw with the Echo: ${again?.code ?? 'no answer'}` };
  }

  /** A clean Register of `endpoint`: its answer's code. */
  async register(port: number, endpoint: string): Promise<string> {
    const a = await this.request(port, {
      code: 'POST', payload: Buffer.from('</>;rt="oma.lwm2m";ct=11542,</1/0>,</3/0>,</5/0>'),
      options: [{ name: 'Uri-Path', value: Buffer.from('rd') }, { name: 'Content-Format', value: Buffer.from([40]) },
        ...[`ep=${endpoint}`, 'lt=300', 'lwm2m=1.1'].map((q) => ({ name: 'Uri-Query' as const, value: Buffer.from(q) }))],
    });
    return a?.code ?? 'no answer';
  }

  /** A clean GET of block `num` (1024 bytes): its answer's code and payload size. */
  async block(port: number, imageId: string, num: number): Promise<{ code: string; bytes: number; size2?: number }> {
    const a = await this.request(port, { code: 'GET', options: fwOptions(imageId, num) });
    const size2 = a?.options.find((o) => o.name === 'Size2')?.value;
    return { code: a?.code ?? 'no answer', bytes: a?.payload.length ?? 0, ...(size2 ? { size2: size2.readUIntBE(0, size2.length) } : {}) };
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

function fwOptions(imageId: string, num: number, echo?: Buffer): NonNullable<Packet['options']> {
  return [
    { name: 'Uri-Path', value: Buffer.from('fw') }, { name: 'Uri-Path', value: Buffer.from(String(imageId)) },
    { name: 'Block2', value: encodeBlock({ num, more: false, szx: 6 }) },
    ...(echo ? [{ name: '252' as never, value: echo }] : []),
  ];
}
