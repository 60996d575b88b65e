/**
 * A small CoAP (RFC 7252) message layer on one UDP socket, on coap-packet's parse/generate.
 * Client role (client.ts): requests with fresh tokens, CON retransmission, piggybacked and
 * separate responses, RST, an overall timeout. Server role (server.ts): one handler; CON
 * requests are answered piggybacked, NON with NON; duplicates are answered from a bounded cache.
 * Observe notifications go out through `notify` (observe.ts keeps the observer list).
 * Clock and randomness are injected; nothing here throws past the socket handler.
 */
import { generate, parse } from 'coap-packet';
import type { Packet, ParsedPacket } from 'coap-packet';
import { realClock } from '../clock.ts';
import type { Clock, Random } from '../clock.ts';
import { ClientExchanges } from './client.ts';
import { DedupCache } from './dedup.ts';
import { CoapError, CoapErrorCode } from './errors.ts';
import { emptyStats } from './messages.ts';
import type { CoapReply, CoapResponse, EndpointStats, Peer, RequestHandler, RequestParams } from './messages.ts';
import { Outbox, peerKey } from './outbox.ts';
import { ServerExchanges } from './server.ts';
import { bindUdp } from './transport.ts';
import type { DatagramTransport, TransportLayer, UdpTransport } from './transport.ts';
import type { Wire } from './wire.ts';

export interface EndpointOptions {
  bindAddress?: string;
  port?: number;
  clock?: Clock;
  random?: Random;
  /** RFC 7252 §4.8 transmission parameters: 2000 ms, 1.5, 4. */
  ackTimeoutMs?: number;
  ackRandomFactor?: number;
  maxRetransmit?: number;
  /** Overall bound on one client exchange; default MAX_TRANSMIT_WAIT (93 s with the defaults). */
  requestTimeoutMs?: number;
  /** How long a received Message ID counts as a duplicate; default EXCHANGE_LIFETIME (247 s). */
  exchangeLifetimeMs?: number;
  /** How many received messages the duplicate cache remembers; default 256. */
  dedupSize?: number;
  /** Largest datagram we build; default 1280 (RFC 7252 §4.6). */
  maxMessageSize?: number;
  /** Fault hooks for tests: return true to lose the n-th (0-based) datagram. */
  dropOutgoing?: (n: number, datagram: Buffer, peer: Peer) => boolean;
  dropIncoming?: (n: number, datagram: Buffer, peer: Peer) => boolean;
  /** Layers around the UDP socket, innermost first (the fault layer, a sleeping radio). */
  layers?: readonly TransportLayer[];
}

export type NotifyOutcome = 'acked' | 'reset' | 'timeout' | 'sent';

export class CoapEndpoint {
  readonly #socket: DatagramTransport;
  readonly #udp: UdpTransport;
  readonly #opts: EndpointOptions;
  readonly #wire: Wire;
  readonly #outbox: Outbox;
  readonly #dedup: DedupCache;
  readonly #client: ClientExchanges;
  readonly #server: ServerExchanges;
  readonly #stats = emptyStats();
  #nextMid: number;
  #outCount = 0;
  #inCount = 0;
  #closed = false;

  /** Binds a UDP socket (port 0 = any) on `bindAddress` (default 127.0.0.1). */
  static async bind(opts: EndpointOptions = {}): Promise<CoapEndpoint> {
    let endpoint: CoapEndpoint | undefined;
    const udp = await bindUdp(opts.bindAddress ?? '127.0.0.1', opts.port ?? 0, () => {
      if (endpoint !== undefined) endpoint.#stats.sendErrors += 1;
    });
    let socket: DatagramTransport = udp;
    for (const layer of opts.layers ?? []) socket = layer(socket);
    endpoint = new CoapEndpoint(udp, socket, opts);
    return endpoint;
  }

  private constructor(udp: UdpTransport, socket: DatagramTransport, opts: EndpointOptions) {
    this.#udp = udp;
    this.#socket = socket;
    this.#opts = opts;
    const clock = opts.clock ?? realClock;
    const random = opts.random ?? Math.random;
    const ackTimeoutMs = opts.ackTimeoutMs ?? 2000;
    const ackRandomFactor = opts.ackRandomFactor ?? 1.5;
    const maxRetransmit = opts.maxRetransmit ?? 4;
    // RFC 7252 §4.8.2: MAX_TRANSMIT_SPAN, MAX_TRANSMIT_WAIT, EXCHANGE_LIFETIME (MAX_LATENCY 100 s).
    const maxTransmitWait = ackTimeoutMs * (2 ** (maxRetransmit + 1) - 1) * ackRandomFactor;
    const maxTransmitSpan = ackTimeoutMs * (2 ** maxRetransmit - 1) * ackRandomFactor;
    const maxMessageSize = opts.maxMessageSize ?? 1280;
    this.#nextMid = Math.floor(random() * 0x10000);
    this.#wire = {
      clock,
      random,
      stats: this.#stats,
      send: (buf, peer) => this.#send(buf, peer, false),
      newMessageId: () => this.#newMessageId(),
      encode: (packet: Packet) => generate(packet, maxMessageSize),
      guard: (fn) => this.#guard(fn),
    };
    const params = { ackTimeoutMs, ackRandomFactor, maxRetransmit };
    this.#outbox = new Outbox(clock, random, params, (buf, peer, re) => this.#send(buf, peer, re));
    this.#dedup = new DedupCache(opts.dedupSize ?? 256, opts.exchangeLifetimeMs ?? maxTransmitSpan + 200_000 + ackTimeoutMs);
    this.#client = new ClientExchanges(this.#wire, this.#outbox, opts.requestTimeoutMs ?? maxTransmitWait, maxRetransmit);
    this.#server = new ServerExchanges(this.#wire, this.#dedup);
    socket.onMessage((buf, peer) => this.#onDatagram(buf, peer));
  }

  address(): Peer {
    return this.#socket.address();
  }

  get stats(): Readonly<EndpointStats> {
    return { ...this.#stats };
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Sets the handler for incoming requests (server role). */
  onRequest(handler: RequestHandler): void {
    this.#server.handler = handler;
  }

  /** Sends a request; resolves with the response, rejects with a CoapError. */
  request(p: RequestParams): Promise<CoapResponse> {
    if (this.#closed) return Promise.reject(new CoapError(CoapErrorCode.CLOSED, 'endpoint closed'));
    return this.#client.request(p);
  }

  /**
   * Sends one Observe notification (RFC 7641 §4.2) on an existing token. CON notifications are
   * retransmitted; `onDone` says how it ended. Returns a function that stops retransmitting.
   */
  notify(peer: Peer, token: Buffer, reply: CoapReply, opts: { confirmable?: boolean; onDone?: (o: NotifyOutcome) => void } = {}): () => void {
    if (this.#closed) return () => {};
    const confirmable = opts.confirmable ?? true;
    const messageId = this.#newMessageId();
    const buf = this.#server.encodeReply(reply, { messageId, token, confirmable, ack: false });
    const done = (o: NotifyOutcome): void => this.#guard(() => opts.onDone?.(o));
    return this.#outbox.send(peer, messageId, buf, confirmable, {
      onAck: () => done('acked'),
      onReset: () => done('reset'),
      onGiveUp: () => done(confirmable ? 'timeout' : 'sent'),
    });
  }

  /**
   * The UDP socket underneath moves to a new port (a NAT rebinding); the layers above, exchanges
   * under way and observations carry on.
   */
  async rebind(): Promise<void> {
    if (!this.#closed) await this.#udp.rebind();
  }

  /** Stops every timer, rejects pending requests with COAP_CLOSED and closes the socket. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#outbox.clear();
    this.#client.closeAll();
    this.#dedup.clear();
    await this.#socket.close();
  }

  #newMessageId(): number {
    const mid = this.#nextMid;
    this.#nextMid = (mid + 1) & 0xffff;
    return mid;
  }

  #send(buf: Buffer, peer: Peer, retransmission: boolean): void {
    if (this.#closed) return;
    const n = this.#outCount++;
    this.#stats.packetsSent += 1;
    this.#stats.bytesSent += buf.length;
    if (retransmission) this.#stats.retransmissions += 1;
    if (this.#opts.dropOutgoing?.(n, buf, peer) === true) {
      this.#stats.droppedOutgoing += 1;
      return;
    }
    this.#socket.send(buf, peer, (err) => {
      if (err) this.#stats.sendErrors += 1;
    });
  }

  #guard(fn: () => void): void {
    try {
      fn();
    } catch {
      this.#stats.handlerErrors += 1;
    }
  }

  #onDatagram(buf: Buffer, peer: Peer): void {
    if (this.#closed) return;
    const n = this.#inCount++;
    this.#stats.packetsReceived += 1;
    this.#stats.bytesReceived += buf.length;
    if (this.#opts.dropIncoming?.(n, buf, peer) === true) {
      this.#stats.droppedIncoming += 1;
      return;
    }
    let msg: ParsedPacket;
    try {
      msg = parse(buf);
      const cls = Number(msg.code.split('.')[0]);
      // RFC 7252 §3: token length 9-15 is a format error; classes 1, 6, 7 are reserved.
      if (msg.token.length > 8 || ![0, 2, 4, 5].includes(cls)) throw new Error('format');
      if (msg.code !== '0.00' && msg.reset) throw new Error('non-empty Reset');
    } catch {
      this.#stats.malformed += 1;
      return;
    }
    this.#guard(() => this.#dispatch(msg, peer));
  }

  #dispatch(msg: ParsedPacket, peer: Peer): void {
    if (msg.code === '0.00') {
      if (msg.ack) this.#outbox.ack(peer, msg);
      else if (msg.reset) this.#outbox.reset(peer, msg.messageId);
      // RFC 7252 §4.3: an empty CON ("CoAP ping") is answered with RST.
      else if (msg.confirmable) this.#send(generate({ code: '0.00', messageId: msg.messageId, reset: true }), peer, false);
      return;
    }
    if (msg.code.startsWith('0.')) {
      this.#server.onRequest(msg, peer);
      return;
    }
    if (msg.ack) {
      this.#outbox.ack(peer, msg);
      return;
    }
    // A separate response or a notification: CON is ACKed (or RST if unknown), once per MID.
    const key = `${peerKey(peer)}/${msg.messageId}`;
    const now = this.#wire.clock.now();
    const seen = this.#dedup.get(key, now);
    if (seen !== undefined) {
      this.#stats.duplicates += 1;
      if (seen.response !== undefined) this.#send(seen.response, peer, false);
      return;
    }
    const entry = this.#dedup.add(key, now);
    const accepted = this.#client.onResponse(msg, peer, msg.confirmable ? 'con' : 'non');
    if (msg.confirmable || !accepted) {
      const answer = generate({ code: '0.00', messageId: msg.messageId, ack: accepted && msg.confirmable, reset: !accepted });
      if (msg.confirmable) entry.response = answer;
      this.#send(answer, peer, false);
    }
  }
}

export type { CoapReply, CoapRequest, CoapResponse, EndpointStats, Peer, RequestHandler, RequestParams } from './messages.ts';
export { CoapError, CoapErrorCode } from './errors.ts';
