/**
 * The LwM2M Device Management client: Read, Write, Execute and Observe sent to one device, from
 * the socket the device registered to. One outstanding request per device (RFC 7252 §4.7,
 * NSTART = 1), the rest queued in order; each request bounded by a timeout on top of node-coap's
 * confirmable retransmission. A device that registered from an address that has not proven it
 * receives what we send (address-proof.ts: the Register may be spoofed) gets one request, not
 * retransmitted, per datagram we hear from it until the address is proven: a spoofed Register makes
 * Ferry send one small datagram to its victim, no more. Registrations this process did not see
 * (made before a restart, or on another node) are not suspected: their devices answered once.
 */
import type { Agent, IncomingMessage, ObserveReadStream, OutgoingMessage } from 'coap';
import { decodeBlock, encodeBlock, type BlockOption } from '../../protocols/block.ts';
import { CoapOption, decodeUint } from '../../protocols/coap-option.ts';
import type { Logger } from '../log.ts';
import type { Device } from '../store/rows.ts';
import { Block1Refused, DmError } from '../errors.ts';
import { sendBlock1 } from './block1.ts';
import { contentFormatOf, optionBuffer } from './message.ts';
import { Observations } from './observations.ts';

export interface Target {
  endpoint: string;
  address: string;
  port: number;
  /** The registration's alternate root path ('/' unless the device named one). */
  rootPath?: string;
  /** The device registered over DTLS: requests go through its session (the coaps socket). */
  secure?: boolean;
}

/**
 * Where DM requests to a registered device go: the address and port it registered from, under the
 * alternate root path it announced (LwM2M 1.1 Core §6.2.1, `</lwm2m>;rt="oma.lwm2m"`).
 * Undefined when the device has no address (not registered).
 */
export function targetOf(d: Pick<Device, 'endpoint' | 'address' | 'port' | 'rootPath' | 'securityMode'>): Target | undefined {
  if (!d.address || !d.port) return undefined;
  return { endpoint: d.endpoint, address: d.address, port: d.port, rootPath: d.rootPath, secure: d.securityMode === 'psk' };
}

export interface DmResponse {
  code: string;
  contentFormat?: number;
  payload: Buffer;
  /** Block1 in a response to a block-wise request (RFC 7959 §2.3, control usage). */
  block1?: BlockOption;
  /** Size1 (RFC 7252 §5.10.9), e.g. in a 4.13: the largest request body the device takes. */
  size1?: number;
}

/** The outcome of writeBlockwise: the final response, how many blocks went out, at which size in the end. */
export interface BlockwiseResult extends DmResponse {
  blocks: number;
  szx: number;
}

/** Requests fail with a DmError (../errors.ts): its `kind` says how. */
export { DmError };

export type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';

/** How long the one unretransmitted request to an unproven address waits for its answer. */
const UNPROVEN_TIMEOUT_MS = 10_000;

export interface DmRequestOptions {
  accept?: number;
  contentFormat?: number;
  payload?: Buffer;
  /** Uri-Query segments (Write-Attributes). */
  query?: readonly string[];
  /** The success code(s); anything else fails with DmError('response'). */
  expect: string | readonly string[];
}

export class DmClient {
  /** The plain CoAP socket's agent; undefined under --security psk. */
  private readonly agent: Agent | undefined;
  /** The coaps socket's agent: requests to a device that registered over DTLS go through its session. */
  private readonly secureAgent: Agent | undefined;
  private readonly timeoutMs: number;
  private readonly log: Logger;
  private readonly queues = new Map<string, Promise<unknown>>();
  /** One device observation per (endpoint, path), shared by its owners (observations.ts). */
  private readonly observations: Observations;
  /** Where each device last talked from (Register, Update): requests held across a new registration go there. */
  private readonly routes = new Map<string, { address: string; port: number; secure: boolean }>();
  private readonly forgetListeners: Array<(endpoint: string) => void> = [];
  /** Bumped by forget(): requests queued before it are cancelled, not sent. */
  private readonly epochs = new Map<string, number>();
  /** Queue mode (LwM2M Core §6.5): when each queue-mode device stops listening, and who waits. */
  private readonly awakeUntil = new Map<string, number>();
  private readonly sleepers = new Map<string, Array<() => void>>();
  /** Requests on the wire, to fail at once on close(). */
  private readonly inFlight = new Set<(err: DmError) => void>();
  private closed = false;

  private readonly queueAwakeMs: number;
  private readonly isProven: (address: string) => boolean;
  /** Devices that registered from an address not proven yet. */
  private readonly suspects = new Set<string>();
  /** Suspects that have had their one request since we last heard from them. */
  private readonly triedUnproven = new Set<string>();

  constructor(opts: { agent?: Agent; secureAgent?: Agent; timeoutMs: number; log: Logger; queueAwakeMs?: number; isProven?: (address: string) => boolean }) {
    this.agent = opts.agent;
    this.secureAgent = opts.secureAgent;
    this.isProven = opts.isProven ?? (() => true);
    this.timeoutMs = opts.timeoutMs;
    this.log = opts.log;
    this.queueAwakeMs = opts.queueAwakeMs ?? 93_000;
    this.observations = new Observations(opts.log);
  }

  /**
   * A new registration (Register, not Update) of `t.endpoint`: the device rebooted or came back,
   * so its observations are gone (on its side too). Requests queued or held for it are not: it is
   * reachable again, and they go out now, in order, once each, to the address it registered from.
   */
  registered(t: Target, queueMode: boolean): void {
    if (this.isProven(t.address)) this.suspects.delete(t.endpoint);
    else this.suspects.add(t.endpoint);
    this.dropObservations(t.endpoint);
    this.heard(t.endpoint, queueMode, t);
  }

  /**
   * The device's DTLS session moved to a new address (RFC 9146: its NAT binding changed); requests
   * to it, those queued included, go there from now on.
   */
  moved(endpoint: string, to: { address: string; port: number }): void {
    const route = this.routes.get(endpoint);
    if (route?.secure === true) this.routes.set(endpoint, { address: to.address, port: to.port, secure: true });
  }

  /** Called with the endpoint whenever its observations are dropped (new registration, de-registration, expiry). */
  onForget(listener: (endpoint: string) => void): void {
    this.forgetListeners.push(listener);
  }

  /**
   * The device just talked (Register or Update). A queue-mode device listens for a while after
   * that (LwM2M Core §6.5, recommended 93 s); its held requests go out now, in order.
   * A device not in queue mode is always reachable. `from`: the address it talked from, where
   * its requests go from now on, those already queued included.
   */
  heard(endpoint: string, queueMode: boolean, from?: { address: string; port: number; secure?: boolean }): void {
    if (from) this.routes.set(endpoint, { address: from.address, port: from.port, secure: from.secure === true });
    this.triedUnproven.delete(endpoint);
    if (!queueMode) {
      this.awakeUntil.delete(endpoint);
    } else {
      this.awakeUntil.set(endpoint, Date.now() + this.queueAwakeMs);
    }
    const waiting = this.sleepers.get(endpoint);
    this.sleepers.delete(endpoint);
    for (const wake of waiting ?? []) wake();
  }

  /** Requests held for a sleeping queue-mode device. */
  heldFor(endpoint: string): number {
    return this.sleepers.get(endpoint)?.length ?? 0;
  }

  /** Resolves when the device can be reached: at once unless it is a queue-mode device asleep. */
  private reachable(endpoint: string): Promise<void> | undefined {
    const until = this.awakeUntil.get(endpoint);
    if (until === undefined || Date.now() < until) return undefined;
    return new Promise((resolve) => {
      const list = this.sleepers.get(endpoint) ?? [];
      list.push(resolve);
      this.sleepers.set(endpoint, list);
    });
  }

  /** Read (LwM2M DM): GET, expects 2.05 Content. */
  read(t: Target, path: string, accept?: number): Promise<DmResponse> {
    return this.enqueue(t, () => this.send(t, 'GET', path, { accept, expect: '2.05' }));
  }

  /** Write, replace (LwM2M DM): PUT, expects 2.04 Changed. */
  write(t: Target, path: string, payload: Buffer, contentFormat: number): Promise<DmResponse> {
    return this.enqueue(t, () => this.send(t, 'PUT', path, { payload, contentFormat, expect: '2.04' }));
  }

  /**
   * Write, replace, with Block1 (RFC 7959 §2.3), e.g. the firmware package to /5/0/0 (push):
   * server-paced with the block-size negotiation of block1.ts, the whole transfer holding the
   * device's queue (NSTART = 1). Each block is one Agent request carrying Block1 as raw option 27,
   * so node-coap's own Block1 segmentation (which ignores 4.13 and renumbers blocks) stays out.
   */
  writeBlockwise(
    t: Target, path: string, payload: Buffer, contentFormat: number,
    o: { szx?: number; onBlock?: (b: { offset: number; length: number; szx: number }) => void } = {},
  ): Promise<BlockwiseResult> {
    return this.enqueue(t, () => sendBlock1(payload, o.szx ?? 6, (b) => this.send(t, 'PUT', path, {
      payload: b.payload, contentFormat, block1: encodeBlock(b.block1), ...(b.size1 !== undefined ? { size1: b.size1 } : {}), expect: b.expect,
    }), {
      ...(o.onBlock ? { onBlock: o.onBlock } : {}),
      onSmaller: (from, to) => this.log.info({ endpoint: t.endpoint, path, from, to }, 'block size reduced after 4.13'),
    }).catch((err: unknown) => {
      throw err instanceof Block1Refused ? new DmError('response', err.message, err.coapCode) : err;
    }));
  }

  /** Execute (LwM2M DM): POST with optional arguments, expects 2.04 Changed. */
  execute(t: Target, path: string, args?: string): Promise<DmResponse> {
    const payload = args === undefined ? undefined : Buffer.from(args, 'utf8');
    return this.enqueue(t, () => this.send(t, 'POST', path, { payload, expect: '2.04' }));
  }

  /**
   * Observe (LwM2M Information Reporting, RFC 7641): resolves with the first response; every
   * value, the first included, goes to `onValue`. One device observation per path, shared: a
   * second owner joins it and gets its current value (in the format the first owner asked for);
   * the same owner observing again just replaces its onValue.
   */
  observe(t: Target, path: string, accept: number | undefined, onValue: (r: DmResponse) => void, owner = 'engine'): Promise<DmResponse> {
    return this.observations.observe(t.endpoint, path, owner, onValue, async () => {
      let stream: ObserveReadStream | undefined;
      const first = await this.enqueue(t, () => this.send(t, 'GET', path, { accept, expect: '2.05', observe: true, onStream: (s) => { stream = s; } }));
      return { stream: stream!, first };
    });
  }

  /** Cancel Observe for one owner; the last owner's cancel sends a GET with Observe=1 (RFC 7641 §3.6). False when none. */
  cancelObserve(endpoint: string, path: string, owner = 'engine'): boolean {
    return this.observations.cancel(endpoint, path, owner);
  }

  /** Who shares the observation of `path` on `endpoint`. */
  observers(endpoint: string, path: string): string[] {
    return this.observations.owners(endpoint, path);
  }

  /** Any other LwM2M operation, queued like the rest (see lwm2m-operations.ts). */
  request(t: Target, method: Method, path: string, o: DmRequestOptions): Promise<DmResponse> {
    return this.enqueue(t, () => this.send(t, method, path, o));
  }

  /** The device de-registered or expired: drop its observations, and fail the requests queued for it. */
  forget(endpoint: string): void {
    this.epochs.set(endpoint, (this.epochs.get(endpoint) ?? 0) + 1);
    this.routes.delete(endpoint);
    this.suspects.delete(endpoint);
    this.triedUnproven.delete(endpoint);
    // Held requests cannot reach a device that left: release them so they fail as cancelled.
    const waiting = this.sleepers.get(endpoint);
    this.sleepers.delete(endpoint);
    for (const wake of waiting ?? []) wake();
    this.dropObservations(endpoint);
  }

  /** Shutdown: close every observation, fail what is in flight, refuse what comes. */
  close(): void {
    this.closed = true;
    for (const endpoint of new Set([...this.observations.endpoints(), ...this.sleepers.keys()])) this.forget(endpoint);
    for (const fail of [...this.inFlight]) fail(new DmError('cancelled', 'the server is shutting down'));
  }

  observedPaths(endpoint: string): string[] {
    return this.observations.paths(endpoint);
  }

  private dropObservations(endpoint: string): void {
    this.observations.forget(endpoint);
    for (const listener of this.forgetListeners) {
      try { listener(endpoint); } catch (err) { this.log.warn({ err, endpoint }, 'forget listener failed'); }
    }
  }

  private enqueue<T>(t: Target, run: () => Promise<T>): Promise<T> {
    const epoch = this.epochs.get(t.endpoint) ?? 0;
    const previous = this.queues.get(t.endpoint) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(async () => {
      // Held, not failed, while a queue-mode device sleeps; the request's timeout starts when it is sent.
      await this.reachable(t.endpoint);
      if (this.closed) throw new DmError('cancelled', 'the server is shutting down');
      if ((this.epochs.get(t.endpoint) ?? 0) !== epoch) {
        throw new DmError('cancelled', 'the device left (de-registered or expired) before this request was sent');
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
      accept?: number | undefined; contentFormat?: number; payload?: Buffer | undefined; expect: string | readonly string[];
      observe?: boolean; onStream?: (s: ObserveReadStream) => void; block1?: Buffer; size1?: number;
      query?: readonly string[] | undefined;
    },
  ): Promise<DmResponse> {
    const pathname = joinRoot(t.rootPath, path);
    const peer = this.routes.get(t.endpoint) ?? t;
    // A device that registered over DTLS is spoken to only through its session; never in plain text.
    const agent = peer.secure === true ? this.secureAgent : this.agent;
    if (agent === undefined) return Promise.reject(new DmError('transport', `this server has no ${peer.secure === true ? 'coaps' : 'plain CoAP'} socket to reach the device on`));
    const options: Record<string, number | Buffer> = {};
    if (o.accept !== undefined) options['Accept'] = o.accept;
    if (o.contentFormat !== undefined) options['Content-Format'] = o.contentFormat;
    // By number, not by name: node-coap segments any request with a 'Block1' option itself.
    if (o.block1 !== undefined) options[String(CoapOption.BLOCK1)] = o.block1;
    if (o.size1 !== undefined) options['Size1'] = o.size1;
    const started = Date.now();
    if (this.suspects.has(t.endpoint) && this.isProven(peer.address)) this.suspects.delete(t.endpoint);
    const unproven = this.suspects.has(t.endpoint);
    if (unproven) {
      if (this.triedUnproven.has(t.endpoint)) {
        return Promise.reject(new DmError('transport', `${peer.address} has not answered yet; waiting for the device to talk again`));
      }
      this.triedUnproven.add(t.endpoint);
    }
    const timeoutMs = unproven ? Math.min(this.timeoutMs, UNPROVEN_TIMEOUT_MS) : this.timeoutMs;
    return new Promise<DmResponse>((resolve, reject) => {
      let settled = false;
      const req: OutgoingMessage = agent.request({
        hostname: peer.address, port: peer.port, method, pathname, confirmable: true, ...(unproven ? { retrySend: 0 } : {}),
        ...(o.observe ? { observe: true } : {}), ...(o.query?.length ? { query: o.query.join('&') } : {}), options,
      });
      const fail = (err: DmError): void => {
        if (settled) return;
        settled = true;
        this.inFlight.delete(fail);
        clearTimeout(timer);
        agent.abort(req);
        this.log.info({ endpoint: t.endpoint, method, path, kind: err.kind, coapCode: err.coapCode }, `dm ${method} ${path} failed: ${err.message}`);
        reject(err);
      };
      const timer = setTimeout(() => fail(new DmError('timeout', `no response in ${timeoutMs} ms`)), timeoutMs);
      this.inFlight.add(fail);
      req.on('error', (err: Error) => fail(new DmError('transport', err.message)));
      req.on('timeout', () => fail(new DmError('timeout', 'no acknowledgement after retransmissions')));
      req.on('response', (res: IncomingMessage) => {
        if (settled) return;
        const response = toResponse(res);
        if (typeof o.expect === 'string' ? response.code !== o.expect : !o.expect.includes(response.code)) {
          const diagnostic = response.payload.length ? `: ${response.payload.toString('utf8').slice(0, 120)}` : '';
          if (o.observe) closeQuietly(res as ObserveReadStream);
          fail(new DmError('response', `device answered ${response.code}${diagnostic}`, response.code));
          return;
        }
        settled = true;
        this.inFlight.delete(fail);
        clearTimeout(timer);
        this.log.debug({ endpoint: t.endpoint, method, path, code: response.code, ms: Date.now() - started }, 'dm response');
        if (o.observe) o.onStream?.(res as ObserveReadStream);
        resolve(response);
      });
      req.end(o.payload);
    });
  }
}

function toResponse(res: IncomingMessage): DmResponse {
  const payload = Buffer.isBuffer(res.payload) ? res.payload : Buffer.alloc(0);
  const response: DmResponse = { code: res.code, contentFormat: contentFormatOf(res), payload };
  const block1 = optionBuffer(res, 'Block1');
  const size1 = optionBuffer(res, 'Size1');
  try {
    if (block1 !== undefined) response.block1 = decodeBlock(block1);
  } catch { /* a malformed Block1 in a response is no size hint */ }
  // RFC 7252 §5.10.9: Size1 is 0–4 bytes; a longer one is out of range, and Size1 is elective: ignored (§5.4.3).
  const size1Value = size1 === undefined ? undefined : decodeUint(size1);
  if (size1Value !== undefined) response.size1 = size1Value;
  return response;
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
