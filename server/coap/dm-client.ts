/**
 * The LwM2M Device Management client: Read, Write, Execute and Observe sent to one device, from
 * the socket the device registered to. One outstanding request per device (RFC 7252 §4.7,
 * NSTART = 1), the rest queued in order; each request bounded by a timeout on top of node-coap's
 * confirmable retransmission.
 */
import type { Agent, IncomingMessage, ObserveReadStream, OutgoingMessage } from 'coap';
import type { Logger } from '../log.ts';
import { contentFormatOf } from './message.ts';

export interface Target {
  endpoint: string;
  address: string;
  port: number;
  /** The registration's alternate root path ('/' unless the device named one). */
  rootPath?: string;
}

export interface DmResponse {
  code: string;
  contentFormat?: number;
  payload: Buffer;
}

export class DmError extends Error {
  readonly kind: 'timeout' | 'response' | 'transport' | 'cancelled';
  readonly coapCode?: string;
  constructor(kind: DmError['kind'], message: string, coapCode?: string) {
    super(message);
    this.name = 'DmError';
    this.kind = kind;
    if (coapCode !== undefined) this.coapCode = coapCode;
  }
}

type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';

interface Observation {
  path: string;
  stream: ObserveReadStream;
}

export class DmClient {
  private readonly agent: Agent;
  private readonly timeoutMs: number;
  private readonly log: Logger;
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly observations = new Map<string, Observation[]>();
  /** Bumped by forget(): requests queued before it are cancelled, not sent. */
  private readonly epochs = new Map<string, number>();
  /** Requests on the wire, to fail at once on close(). */
  private readonly inFlight = new Set<(err: DmError) => void>();
  private closed = false;

  constructor(opts: { agent: Agent; timeoutMs: number; log: Logger }) {
    this.agent = opts.agent;
    this.timeoutMs = opts.timeoutMs;
    this.log = opts.log;
  }

  /** Read (LwM2M DM): GET, expects 2.05 Content. */
  read(t: Target, path: string, accept?: number): Promise<DmResponse> {
    return this.enqueue(t, () => this.send(t, 'GET', path, { accept, expect: '2.05' }));
  }

  /** Write, replace (LwM2M DM): PUT, expects 2.04 Changed. */
  write(t: Target, path: string, payload: Buffer, contentFormat: number): Promise<DmResponse> {
    return this.enqueue(t, () => this.send(t, 'PUT', path, { payload, contentFormat, expect: '2.04' }));
  }

  /** Execute (LwM2M DM): POST with optional arguments, expects 2.04 Changed. */
  execute(t: Target, path: string, args?: string): Promise<DmResponse> {
    const payload = args === undefined ? undefined : Buffer.from(args, 'utf8');
    return this.enqueue(t, () => this.send(t, 'POST', path, { payload, expect: '2.04' }));
  }

  /**
   * Observe (LwM2M Information Reporting, RFC 7641): resolves with the first response; every
   * value, the first included, goes to `onValue`. A new observation of the same path replaces the old.
   */
  observe(t: Target, path: string, accept: number | undefined, onValue: (r: DmResponse) => void): Promise<DmResponse> {
    return this.enqueue(t, () => this.send(t, 'GET', path, { accept, expect: '2.05', observe: true, onValue }));
  }

  /** The device rebooted, de-registered or expired: drop its observations and queued requests. */
  forget(endpoint: string): void {
    this.epochs.set(endpoint, (this.epochs.get(endpoint) ?? 0) + 1);
    for (const o of this.observations.get(endpoint) ?? []) closeQuietly(o.stream);
    this.observations.delete(endpoint);
  }

  /** Shutdown: close every observation, fail what is in flight, refuse what comes. */
  close(): void {
    this.closed = true;
    for (const endpoint of [...this.observations.keys()]) this.forget(endpoint);
    for (const fail of [...this.inFlight]) fail(new DmError('cancelled', 'the server is shutting down'));
  }

  observedPaths(endpoint: string): string[] {
    return (this.observations.get(endpoint) ?? []).map((o) => o.path);
  }

  private enqueue<T>(t: Target, run: () => Promise<T>): Promise<T> {
    const epoch = this.epochs.get(t.endpoint) ?? 0;
    const previous = this.queues.get(t.endpoint) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => {
      if (this.closed) throw new DmError('cancelled', 'the server is shutting down');
      if ((this.epochs.get(t.endpoint) ?? 0) !== epoch) {
        throw new DmError('cancelled', 'the device re-registered or left before this request was sent');
      }
      return run();
    });
    const tail = next.catch(() => undefined);
    this.queues.set(t.endpoint, tail);
    void tail.then(() => { if (this.queues.get(t.endpoint) === tail) this.queues.delete(t.endpoint); });
    return next;
  }

  private send(
    t: Target,
    method: Method,
    path: string,
    o: {
      accept?: number | undefined; contentFormat?: number; payload?: Buffer | undefined; expect: string;
      observe?: boolean; onValue?: (r: DmResponse) => void;
    },
  ): Promise<DmResponse> {
    const pathname = joinRoot(t.rootPath, path);
    const options: Record<string, number> = {};
    if (o.accept !== undefined) options['Accept'] = o.accept;
    if (o.contentFormat !== undefined) options['Content-Format'] = o.contentFormat;
    const started = Date.now();
    return new Promise<DmResponse>((resolve, reject) => {
      let settled = false;
      const req: OutgoingMessage = this.agent.request({
        hostname: t.address, port: t.port, method, pathname, confirmable: true,
        ...(o.observe ? { observe: true } : {}), options,
      });
      const fail = (err: DmError): void => {
        if (settled) return;
        settled = true;
        this.inFlight.delete(fail);
        clearTimeout(timer);
        this.agent.abort(req);
        this.log.info({ endpoint: t.endpoint, method, path, kind: err.kind, coapCode: err.coapCode }, `dm ${method} ${path} failed: ${err.message}`);
        reject(err);
      };
      const timer = setTimeout(() => fail(new DmError('timeout', `no response in ${this.timeoutMs} ms`)), this.timeoutMs);
      this.inFlight.add(fail);
      req.on('error', (err: Error) => fail(new DmError('transport', err.message)));
      req.on('timeout', () => fail(new DmError('timeout', 'no acknowledgement after retransmissions')));
      req.on('response', (res: IncomingMessage) => {
        if (settled) return;
        const response = toResponse(res);
        if (response.code !== o.expect) {
          const diagnostic = response.payload.length ? `: ${response.payload.toString('utf8').slice(0, 120)}` : '';
          if (o.observe) closeQuietly(res as ObserveReadStream);
          fail(new DmError('response', `device answered ${response.code}${diagnostic}`, response.code));
          return;
        }
        settled = true;
        this.inFlight.delete(fail);
        clearTimeout(timer);
        this.log.debug({ endpoint: t.endpoint, method, path, code: response.code, ms: Date.now() - started }, 'dm response');
        if (o.observe && o.onValue) this.track(t.endpoint, path, res as ObserveReadStream, o.onValue);
        resolve(response);
      });
      req.end(o.payload);
    });
  }

  private track(endpoint: string, path: string, stream: ObserveReadStream, onValue: (r: DmResponse) => void): void {
    const list = (this.observations.get(endpoint) ?? []).filter((o) => {
      if (o.path !== path) return true;
      closeQuietly(o.stream);
      return false;
    });
    list.push({ path, stream });
    this.observations.set(endpoint, list);
    stream.on('data', (payload: Buffer) => {
      try {
        onValue({ code: stream.code, contentFormat: contentFormatOf(stream), payload: Buffer.from(payload) });
      } catch (err) {
        this.log.warn({ err, endpoint, path }, 'notification handler failed');
      }
    });
    stream.on('error', () => undefined);
  }
}

function toResponse(res: IncomingMessage): DmResponse {
  const payload = Buffer.isBuffer(res.payload) ? res.payload : Buffer.alloc(0);
  return { code: res.code, contentFormat: contentFormatOf(res), payload };
}

function joinRoot(rootPath: string | undefined, path: string): string {
  if (!rootPath || rootPath === '/') return path;
  return rootPath.replace(/\/$/, '') + path;
}

function closeQuietly(stream: ObserveReadStream): void {
  try {
    stream.removeAllListeners('data');
    stream.close();
  } catch { /* already closed */ }
}
