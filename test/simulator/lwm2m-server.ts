/**
 * A small LwM2M server for the device tests, on node-coap (an independent CoAP stack): the
 * /rd registration interface, firmware files under /fw (node-coap slices Block2 itself) and
 * /fw-manual (Block2 by hand: a capped SZX, Size2, an ETag that can change), and a DM client
 * that sends Read / Write / Execute / Observe to a device. With `psk` keys it listens over DTLS
 * (the server's DTLS layer, server/dtls/socket.ts), and its DM requests go through the same sessions.
 */
import dgram from 'node:dgram';
import coap from 'coap';
import type { IncomingMessage, OutgoingMessage } from 'coap';
import type { ParsedPacket } from 'coap-packet';
import { DtlsSocket } from '../../server/dtls/socket.ts';

export interface Registration {
  id: string;
  endpoint: string;
  query: string[];
  contentFormat: number | undefined;
  payload: string;
  address: string;
  port: number;
}

export interface DmResponse {
  code: string;
  payload: Buffer;
  contentFormat: number | undefined;
}

type RawOptions = { name: string | number; value: Buffer }[];

const FORMATS: Record<string, number> = {
  'text/plain': 0,
  'application/link-format': 40,
  'application/octet-stream': 42,
  'application/vnd.oma.lwm2m+tlv': 11542,
  'application/senml+json': 110,
  'application/senml+cbor': 112,
};

/** node-coap converts some option values in place (Content-Format becomes a media type name). */
function uint(v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return FORMATS[v] ?? Number(v);
  let n = 0;
  for (const b of v as Buffer) n = n * 256 + b;
  return n;
}

function option(options: RawOptions | undefined, name: string): unknown {
  return options?.find((o) => o.name === name)?.value;
}

function options(msg: IncomingMessage): RawOptions {
  return (msg as unknown as { _packet: ParsedPacket })._packet.options as RawOptions;
}

export class TestLwm2mServer {
  readonly server: ReturnType<typeof coap.createServer>;
  readonly agent: InstanceType<typeof coap.Agent>;
  readonly agentSocket: dgram.Socket | undefined;
  /** The DTLS layer, when started with keys. */
  readonly dtls: DtlsSocket | undefined;
  readonly registrations: Registration[] = [];
  readonly updates: { id: string; query: string[] }[] = [];
  readonly deregistrations: string[] = [];
  readonly images = new Map<string, Buffer>();
  readonly blockRequests: { path: string; num: number; szx: number }[] = [];
  /** Delay before answering Register, to force a separate response (node-coap piggybacks within 50 ms). */
  registerDelayMs = 0;
  /** Answer updates with 4.04 (the server "forgot" the device). */
  forgetAll = false;
  /** /fw-manual: the largest SZX we answer with. */
  manualMaxSzx = 6;
  /** /fw-manual: change the ETag once, when this block number is asked for. */
  etagChangeAtBlock: number | undefined;
  #etag = Buffer.from([1, 2, 3, 4]);
  #next = 1;

  private constructor(dtls?: DtlsSocket) {
    this.dtls = dtls;
    this.server = coap.createServer({ type: 'udp4' });
    if (dtls === undefined) {
      // Our own socket: an agent that owns one closes it whenever it is idle, and then fails.
      this.agentSocket = dgram.createSocket('udp4');
      this.agent = new coap.Agent({ socket: this.agentSocket });
    } else {
      this.agent = new coap.Agent({ socket: dtls as unknown as dgram.Socket });
    }
    this.server.on('request', (req: IncomingMessage, res: OutgoingMessage) => this.#handle(req, res));
  }

  static async start(o: { psk?: ReadonlyMap<string, Buffer>; port?: number } = {}): Promise<TestLwm2mServer> {
    if (o.psk !== undefined) {
      const keys = o.psk;
      const socket = dgram.createSocket('udp4');
      await new Promise<void>((resolve) => socket.bind(o.port ?? 0, '127.0.0.1', () => resolve()));
      const dtls = new DtlsSocket({ socket, pskFor: async (id) => keys.get(id.toString('utf8')) });
      const s = new TestLwm2mServer(dtls);
      // RFC 9146 §6: a session with a Connection ID moved to a new address; so did its registration.
      dtls.on('rebind', (e: { from: { address: string; port: number }; to: { address: string; port: number } }) => {
        for (const r of s.registrations) if (r.address === e.from.address && r.port === e.from.port) Object.assign(r, e.to);
      });
      await new Promise<void>((resolve) => s.server.listen(dtls as unknown as dgram.Socket, () => resolve()));
      return s;
    }
    const s = new TestLwm2mServer();
    await new Promise<void>((resolve) => s.server.listen(o.port ?? 0, '127.0.0.1', () => resolve()));
    await new Promise<void>((resolve) => s.agentSocket?.bind(0, '127.0.0.1', () => resolve()));
    return s;
  }

  /** The PSK identity of the DTLS session with this address, if any. */
  identityOf(address: string, port: number): string | undefined {
    return this.dtls?.identityOf(address, port)?.toString('utf8');
  }

  get port(): number {
    return (this.server as unknown as { _sock: { address(): { port: number } } })._sock.address().port;
  }

  last(endpoint: string): Registration | undefined {
    return this.registrations.filter((r) => r.endpoint === endpoint).at(-1);
  }

  #handle(req: IncomingMessage, res: OutgoingMessage): void {
    const opts = options(req);
    const path = opts.filter((o) => o.name === 'Uri-Path').map((o) => o.value.toString());
    const query = opts.filter((o) => o.name === 'Uri-Query').map((o) => o.value.toString());
    const [first, second] = path;
    if (first === 'rd' && path.length === 1 && req.method === 'POST') {
      const reg: Registration = {
        id: `r${this.#next++}`,
        endpoint: query.find((q) => q.startsWith('ep='))?.slice(3) ?? '',
        query,
        contentFormat: uint(option(opts, 'Content-Format')),
        payload: req.payload.toString(),
        address: req.rsinfo.address,
        port: req.rsinfo.port,
      };
      const answer = (): void => {
        this.registrations.push(reg);
        res.code = '2.01';
        res.setOption('Location-Path', [Buffer.from('rd'), Buffer.from(reg.id)]);
        res.end();
      };
      if (this.registerDelayMs > 0) setTimeout(answer, this.registerDelayMs);
      else answer();
      return;
    }
    if (first === 'rd' && second !== undefined && req.method === 'POST') {
      const known = !this.forgetAll && this.registrations.some((r) => r.id === second);
      if (known) this.updates.push({ id: second, query });
      res.code = known ? '2.04' : '4.04';
      res.end();
      return;
    }
    if (first === 'rd' && second !== undefined && req.method === 'DELETE') {
      this.deregistrations.push(second);
      res.code = '2.02';
      res.end();
      return;
    }
    const image = second === undefined ? undefined : this.images.get(second);
    const block = uint(option(opts, 'Block2')) ?? 0;
    if ((first === 'fw' || first === 'fw-manual') && req.method === 'GET') {
      this.blockRequests.push({ path: `/${first}/${second}`, num: block >> 4, szx: block & 7 });
    }
    if (first === 'fw' && image !== undefined && req.method === 'GET') {
      res.code = '2.05';
      res.end(image); // node-coap answers the requested block (Block2, ETag)
      return;
    }
    if (first === 'fw-manual' && image !== undefined && req.method === 'GET') {
      this.#manualBlock(image, block >> 4, block & 7, res);
      return;
    }
    res.code = '4.04';
    res.end();
  }

  /** RFC 7959 §2.4 by hand: answer at most manualMaxSzx, NUM rescaled to the same byte offset. */
  #manualBlock(image: Buffer, num: number, szx: number, res: OutgoingMessage): void {
    const answerSzx = Math.min(szx, this.manualMaxSzx);
    const size = 1 << (answerSzx + 4);
    const answerNum = (num << szx) >> answerSzx;
    if (this.etagChangeAtBlock !== undefined && answerNum === this.etagChangeAtBlock) {
      this.etagChangeAtBlock = undefined;
      this.#etag = Buffer.from([9, 9, 9, 9]);
    }
    const start = answerNum * size;
    const more = start + size < image.length;
    const value = (answerNum << 4) | (more ? 8 : 0) | answerSzx;
    const bytes = value === 0 ? [] : value < 256 ? [value] : value < 65536 ? [value >> 8, value & 255] : [value >> 16, (value >> 8) & 255, value & 255];
    res.code = '2.05';
    res.setOption('Block2', Buffer.from(bytes));
    res.setOption('ETag', this.#etag);
    if (answerNum === 0) res.setOption('Size2', image.length);
    // A Buffer smaller than node-coap's block limit goes out as it is.
    (res as unknown as { _request: { options: RawOptions } })._request.options = [];
    res.end(image.subarray(start, start + size));
  }

  /** Sends one DM request to a device and waits for the response. */
  dm(to: { address: string; port: number }, method: 'GET' | 'PUT' | 'POST' | 'DELETE', path: string, o: { accept?: number; format?: number; payload?: Buffer | string } = {}): Promise<DmResponse> {
    return new Promise((resolve, reject) => {
      const req = coap.request({ host: to.address, port: to.port, method, pathname: path, agent: this.agent });
      if (o.accept !== undefined) req.setOption('Accept', o.accept);
      if (o.format !== undefined) req.setOption('Content-Format', o.format);
      req.on('response', (res: IncomingMessage) => {
        resolve({ code: res.code, payload: res.payload, contentFormat: uint(option(options(res), 'Content-Format')) });
      });
      req.on('error', reject);
      req.end(o.payload);
    });
  }

  /** Observes a resource: `values` collects the first response and every notification. */
  async observe(to: { address: string; port: number }, path: string, accept = 0): Promise<{ code: string; values: string[]; close: (deregister?: boolean) => void }> {
    return new Promise((resolve, reject) => {
      const req = coap.request({ host: to.address, port: to.port, method: 'GET', pathname: path, observe: true, agent: this.agent });
      req.setOption('Accept', accept);
      req.on('response', (res: IncomingMessage & { close?: (eager?: boolean) => void }) => {
        const values: string[] = [];
        res.on('data', (chunk: Buffer) => values.push(chunk.toString()));
        res.on('error', () => undefined);
        resolve({ code: res.code, values, close: (deregister = false) => res.close?.(deregister) });
      });
      req.on('error', reject);
      req.end();
    });
  }

  async close(): Promise<void> {
    this.agent.close();
    if (this.agentSocket !== undefined) await new Promise<void>((resolve) => this.agentSocket?.close(() => resolve()));
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    // node-coap leaves a socket it was given open: the DTLS layer (and its UDP socket) closes after it.
    if (this.dtls !== undefined) await new Promise<void>((resolve) => this.dtls?.close(() => resolve()));
  }
}
