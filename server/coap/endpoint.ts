/**
 * Ferry's one UDP socket for LwM2M: node-coap's Server answers the device's requests (/rd, /fw)
 * and node-coap's Agent sends ours (Read, Write, Execute, Observe) from the SAME socket, so they
 * leave from the address and port the device registered to and pass its NAT binding. Both sit
 * behind the guard (guard.ts) that udp-socket.ts puts in front of the socket, which every datagram
 * crosses first, in and out.
 */
import type { RemoteInfo, Socket } from 'node:dgram';
import { Agent, Server, type IncomingMessage, type OutgoingMessage } from 'coap';
import { generate as generatePacket } from 'coap-packet';
import { LRUCache } from 'lru-cache';
import { CoapOption } from '../../protocols/coap-option.ts';
import { DecodeError } from '../../protocols/errors.ts';
import type { Logger } from '../log.ts';
import { CoapRefusalError } from '../errors.ts';
import { AddressProof } from './address-proof.ts';
import type { Block1Limits } from './block1-ledger.ts';
import { EchoMinter } from './echo.ts';
import { BASIC_METHODS, SERVER_OPTIONS, type GuardedSocket } from './guard.ts';
import { replyError } from './message.ts';
import { coapRefusal, type CoapRefusal } from './refusal.ts';
import { dtlsOf, listenUdp, type DtlsLayerOptions } from './udp-socket.ts';
import type { DtlsSocket } from '../dtls/socket.ts';

export type CoapHandler = (req: IncomingMessage, res: OutgoingMessage) => Promise<void> | void;

/** Critical options the LwM2M socket understands in requests: the server's, and Block1 (Register and Update bodies). */
const LWM2M_OPTIONS: ReadonlySet<number> = new Set([...SERVER_OPTIONS, CoapOption.BLOCK1]);

/** Answers kept to send again to a duplicate request (RFC 7252 §4.5): a few hundred bytes each. */
const MAX_CACHED_ANSWERS = 50_000;
/** RFC 7252 §4.8.2 EXCHANGE_LIFETIME: how long a duplicate of a request may still arrive. */
const EXCHANGE_LIFETIME_MS = 247_000;

export interface EndpointOptions {
  host: string;
  port: number;
  log: Logger;
  /** What answers requests; may be given later, with serve() (until then: 5.03). */
  handler?: CoapHandler;
  /** Shared with the download socket: an address proven on one is proven on both. */
  proof?: AddressProof;
  echo?: EchoMinter;
  block1?: Partial<Block1Limits>;
  /** Datagrams per second (and burst) from a source address not yet proven; perSecond 0: none. */
  unprovenRate?: { perSecond: number; burst: number };
  /** coaps: the DTLS layer under the guard (udp-socket.ts); absent: plain CoAP. */
  dtls?: DtlsLayerOptions;
}

export class CoapEndpoint {
  readonly socket: Socket;
  readonly guard: GuardedSocket;
  readonly server: Server;
  readonly agent: Agent;
  /** The DTLS layer of a coaps endpoint (sessions, identities); undefined for plain CoAP. */
  readonly dtls: DtlsSocket | undefined;
  private readonly log: Logger;
  private handler: CoapHandler = starting;

  private constructor(guard: GuardedSocket, server: Server, agent: Agent, log: Logger) {
    this.socket = guard.socket;
    this.guard = guard;
    this.dtls = dtlsOf(guard);
    this.server = server;
    this.agent = agent;
    this.log = log;
  }

  static async listen(opts: EndpointOptions): Promise<CoapEndpoint> {
    const log = opts.log;
    const server = new Server({ piggybackReplyMs: 200 });
    // DM requests go where a device registered from; the resolver stays for any name given.
    const guard = await listenUdp({
      host: opts.host, port: opts.port, name: opts.dtls ? 'coaps' : 'coap', ...(opts.dtls ? { dtls: opts.dtls } : {}), proof: opts.proof ?? new AddressProof(), echo: opts.echo ?? new EchoMinter(), log, understood: LWM2M_OPTIONS, methods: BASIC_METHODS,
      block1: {
        ...(opts.block1 ? { limits: opts.block1 } : {}),
        forget: (key) => forgetBlock1(server, key),
        answered: (rinfo, messageId, token) => hasAnswer(server, rinfo, messageId, token),
      },
      ...(opts.unprovenRate ? { unprovenRate: opts.unprovenRate } : {}),
    });
    const guarded = guard as unknown as Socket;
    patchSendError(server, guarded, log);
    boundAnswerCache(server);
    ignoreObserve(server);
    emptyBlock1IsZero(server);
    server.listen(guarded);
    server.on('error', (err: Error) => log.warn({ err }, 'coap server error'));
    server.on('request', (req: IncomingMessage, res: OutgoingMessage) => {
      // A response stream's late failure (a send after the socket closed, say) is logged, never thrown.
      res.on('error', (err: Error) => log.warn({ err, from: `${req.rsinfo.address}:${req.rsinfo.port}` }, 'coap response failed'));
      void dispatch(endpoint.handler, req, res, log, guard);
    });
    const agent = new Agent({ socket: guarded });
    keepRetransmissions(agent);
    block1InResponses(agent);
    agent.on('error', (err: Error) => log.warn({ err }, 'coap agent error'));
    const endpoint = new CoapEndpoint(guard, server, agent, log);
    if (opts.handler) endpoint.serve(opts.handler);
    return endpoint;
  }

  /**
   * Starts answering requests with `handler`. The socket and the agent exist before: what the
   * handler needs (the DM client on the agent, the update engine) is built on them first.
   */
  serve(handler: CoapHandler): void {
    this.handler = handler;
  }

  address(): { address: string; port: number } {
    const a = this.socket.address();
    return { address: a.address, port: a.port };
  }

  async close(): Promise<void> {
    this.agent.close();
    this.server.close();
    await new Promise<void>((resolve) => this.guard.close(() => resolve()));
    this.log.debug('coap endpoint closed');
  }
}

/** Until serve(): RFC 7252 §5.9.3.4 5.03 Service Unavailable, Max-Age the seconds to wait. */
const starting: CoapHandler = (_req, res) => {
  res.setOption('Max-Age', 1);
  replyError(res, coapRefusal('FERRY_COAP_STARTING', 'starting'));
};

/**
 * Runs a handler; its refusals become 4.xx answers. They are counted with the guard's refusals
 * (summed in the log once an interval) and logged one by one at debug level only: hostile traffic
 * must not write a log line a datagram.
 */
async function dispatch(handler: CoapHandler, req: IncomingMessage, res: OutgoingMessage, log: Logger, guard: GuardedSocket): Promise<void> {
  try {
    await handler(req, res);
  } catch (err) {
    const from = `${req.rsinfo.address}:${req.rsinfo.port}`;
    if (err instanceof CoapRefusalError) {
      guard.stats.refused++;
      log.debug({ from, url: req.url, code: err.code }, `refused: ${err.message}`);
      safeReply(res, coapRefusal(err.code, err.message));
    } else if (err instanceof DecodeError) {
      guard.stats.refused++;
      log.debug({ from, url: req.url, code: err.code }, `bad request: ${err.reason}`);
      safeReply(res, coapRefusal('FERRY_DECODE', err.reason));
    } else {
      log.error({ err, from, url: req.url }, 'coap handler failed');
      safeReply(res, coapRefusal('FERRY_INTERNAL', 'internal error'));
    }
  }
}

function safeReply(res: OutgoingMessage, refusal: CoapRefusal): void {
  // A response already sent cannot be sent again; the handler's failure came after it.
  if ((res as unknown as { writableEnded?: boolean }).writableEnded) return;
  try { replyError(res, refusal); } catch { /* the exchange is gone */ }
}

/**
 * node-coap's Agent resets the retransmission of every request still in flight when its count of
 * open requests reaches zero (`_cleanUp` → `_doClose`). On a socket of ours that reset is all it
 * does, and the count drifts (a request answered with an error and then aborted is counted off
 * twice), so it hits zero while requests are in flight and a lost CON is never sent again
 * (RFC 7252 §4.2 wants it retransmitted). Keep the count, drop the reset; close() still aborts all.
 */
function keepRetransmissions(agent: Agent): void {
  const a = agent as unknown as { _cleanUp: () => void; _requests: number };
  a._cleanUp = () => { a._requests -= 1; };
}

/**
 * node-coap keeps each answer for EXCHANGE_LIFETIME to send again to a duplicate request (RFC 7252
 * §4.5), in a cache bounded only by 32 MiB of message bytes, each answer with its sender, whose
 * timer holds the request and response objects for minutes: some 5 KB of heap an answer, and over
 * a million small answers at that bound (a flood of requests grew the heap by hundreds of MB in
 * minutes). Here at most MAX_CACHED_ANSWERS are kept, the least recently used dropped first (a
 * duplicate of an older request is processed again), and an answer that is never retransmitted (an
 * ACK or a NON, §4.2, §4.3) is kept as its bytes alone, its sender stopped once it has sent it.
 */
function boundAnswerCache(server: Server): void {
  type Answer = Buffer & { sender?: { reset(): void } };
  const answers = new LRUCache<string, Answer>({ max: MAX_CACHED_ANSWERS, ttl: EXCHANGE_LIFETIME_MS, dispose: (a) => a.sender?.reset() });
  const set = answers.set.bind(answers);
  answers.set = (key, answer, options) => {
    if (answer === undefined || ((answer[0]! >> 4) & 3) === 0) return set(key, answer, options); // a CON: its sender retransmits until acknowledged
    queueMicrotask(() => answer.sender?.reset()); // node-coap gives an answer its sender after caching it
    return set(key, Buffer.from(answer) as Answer, options);
  };
  (server as unknown as { _lru: LRUCache<string, Answer> })._lru = answers;
}

/**
 * RFC 7641 §4.1: a server that will not add the client to the observers of a resource answers the
 * request as if it had no Observe option. No resource this socket serves (/rd, /fw) is observable,
 * so the option is dropped before node-coap reads it; node-coap would otherwise answer through an
 * ObserveWriteStream, which ended as a plain response fails with an 'error' no one listens to.
 */
function ignoreObserve(server: Server): void {
  const target = server as unknown as { _handle: (packet: { code?: string; options?: Array<{ name: string | number }> }, rsinfo: unknown) => void };
  const handle = target._handle.bind(server);
  target._handle = (packet, rsinfo) => {
    if (packet.code?.startsWith('0.') && packet.options) packet.options = packet.options.filter((o) => o.name !== 'Observe');
    handle(packet, rsinfo);
  };
}

/**
 * RFC 7252 §3.2: a uint option may be zero bytes long, the value 0; an empty Block1 is block 0, the
 * last, of 16 bytes (RFC 7959 §2.2), as the guard reads it. node-coap's reassembly takes 1–3 bytes
 * only and answers anything else 5.00, so it is handed the same value as one zero byte.
 */
function emptyBlock1IsZero(server: Server): void {
  const target = server as unknown as { _handle: (packet: { options?: Array<{ name: string | number; value: Buffer }> }, rsinfo: unknown) => void };
  const handle = target._handle.bind(server);
  target._handle = (packet, rsinfo) => {
    for (const o of packet.options ?? []) if (o.name === 'Block1' && o.value.length === 0) o.value = Buffer.alloc(1);
    handle(packet, rsinfo);
  };
}

/**
 * Block1 in an answer to a request of ours (RFC 7959 §2.3), as node-coap's Agent cannot take it
 * (it throws on a value not 1–3 bytes long): empty is the value 0 (RFC 7252 §3.2), handed on as one
 * zero byte; longer than 3 bytes is outside the option's range, so the answer is rejected like one
 * with an unrecognised critical option (RFC 7252 §5.4.3, §5.4.1): the request is retransmitted or times out.
 */
function block1InResponses(agent: Agent): void {
  const target = agent as unknown as { _handle: (packet: { options?: Array<{ name: string | number; value: Buffer }> }, ...rest: unknown[]) => void };
  const handle = target._handle.bind(agent);
  target._handle = (packet, ...rest) => {
    for (const o of packet.options ?? []) {
      if (o.name !== 'Block1') continue;
      if (o.value.length > 3) return;
      if (o.value.length === 0) o.value = Buffer.alloc(1);
    }
    handle(packet, ...rest);
  };
}

/** Whether node-coap holds its answer to a request, to send again to a duplicate (its key: address:port/Message ID, token hex). */
function hasAnswer(server: Server, rinfo: RemoteInfo, messageId: number, token: Buffer): boolean {
  const answers = (server as unknown as { _lru: { peek(key: string): unknown } })._lru;
  return answers.peek(`${rinfo.address}:${rinfo.port}/${messageId}${token.toString('hex')}`) !== undefined;
}

/** Drops node-coap's copy of an unfinished Block1 body the guard gave up on (same key: token hex / address:port). */
function forgetBlock1(server: Server, key: string): void {
  (server as unknown as { _block1Cache: { remove(key: string): boolean } })._block1Cache.remove(key);
}

/**
 * node-coap answers a datagram it cannot parse with a 5.00 sent to the right port on the wrong
 * host (it drops rsinfo.address). RFC 7252 §4.2/§4.3: a message that cannot be parsed is
 * silently ignored; we log it and drop it. An error thrown after parsing answers the right peer,
 * its diagnostic starting with FERRY_INTERNAL as ours do.
 */
function patchSendError(server: Server, socket: Socket, log: Logger): void {
  const target = server as unknown as {
    _sendError: (
      payload: Buffer, rsinfo: { address: string; port: number },
      packet?: { messageId?: number; token?: Buffer; confirmable?: boolean }, code?: string,
    ) => void;
  };
  target._sendError = (payload, rsinfo, packet, code = '5.00') => {
    if (packet === undefined) {
      log.info({ from: `${rsinfo.address}:${rsinfo.port}`, reason: payload.toString() }, 'dropped a malformed datagram');
      return;
    }
    const diagnostic = Buffer.from(coapRefusal('FERRY_INTERNAL', payload.toString()).diagnostic, 'utf8');
    const message = generatePacket({
      code, payload: diagnostic, messageId: packet.messageId, token: packet.token, ack: packet.confirmable === true,
    });
    log.error({ from: `${rsinfo.address}:${rsinfo.port}`, code, reason: payload.toString() }, 'coap stack failed on a request');
    socket.send(message, rsinfo.port, rsinfo.address);
  };
}
