/**
 * The guard in front of a CoAP stack: a `dgram.Socket` look-alike (its prototype is
 * dgram.Socket's, since node-coap only uses its duplicate cache on a real Socket) that every
 * datagram crosses, in and out, before node-coap or the download responder sees it.
 *
 * In: count the bytes an unproven source sent (address-proof.ts); drop what an unproven source
 * sends past its rate; reject format errors as RFC 7252 says (a CON gets a Reset, §4.2; a NON is
 * dropped, §4.3), answer a CoAP ping with a Reset only (§4.3); refuse a request with a critical
 * option it does not understand (4.02 to a CON, a NON dropped, §5.4.1) or a method the socket does
 * not serve (4.05, §5.8); hold Block1 bodies to their limits (block1-ledger.ts); take an Echo we
 * made (RFC 9175) or a response to a request of ours as proof of the source address. What passes
 * goes to the stack's 'message' listeners with the message as read here (a third argument
 * node-coap ignores), and nothing they throw reaches the socket.
 * Out: an unproven address gets at most three times the bytes it sent in answers (RFC 9175 §2.4);
 * an error answer past that goes with its diagnostic cut to fit (its code kept), the rest is
 * withheld, as if lost. Requests of ours are not answers: the DM client sends an
 * unproven address one, unretransmitted, per datagram it hears from it (dm-client.ts).
 * Malformed traffic is counted, and summed up in the log once an interval, never a line a datagram.
 */
import { EventEmitter } from 'node:events';
import { Socket, type RemoteInfo } from 'node:dgram';
import { codeText, decodeCoapMessage, encodeMessage, firstBadOption, optionValue, readHeader, type CoapMessage, type CoapType } from '../../protocols/coap-message.ts';
import { CoapOption, encodeUint } from '../../protocols/coap-option.ts';
import { DecodeError } from '../../protocols/errors.ts';
import type { Logger } from '../log.ts';
import type { AddressProof } from './address-proof.ts';
import { Block1Ledger, type Block1Limits } from './block1-ledger.ts';
import type { EchoMinter } from './echo.ts';
import { RateLimit } from './rate-limit.ts';
import { coapRefusal, cutDiagnostic, type CoapRefusal } from './refusal.ts';

export interface GuardOptions {
  /** The bound UDP socket the guard owns. */
  socket: Socket;
  /** 'coap' or 'download', in logs and metrics. */
  name: string;
  proof: AddressProof;
  echo: EchoMinter;
  log: Logger;
  /** Critical options the stack behind understands in a request (RFC 7252 §5.4.1). */
  understood: ReadonlySet<number>;
  /** Request methods served (codes 0.01–0.04 = GET, POST, PUT, DELETE); others are 4.05. */
  methods: ReadonlySet<number>;
  /**
   * Block1 bodies and their limits; absent: Block1 is not understood here. `answered`: whether the
   * stack holds its answer to this request (Message ID and token), to send to a duplicate.
   */
  block1?: {
    limits?: Partial<Block1Limits>;
    forget: (key: string) => void;
    answered?: (rinfo: RemoteInfo, messageId: number, token: Buffer) => boolean;
  };
  /** Datagrams per second (and burst) an unproven source address may send; perSecond 0: no limit. */
  unprovenRate?: { perSecond: number; burst: number };
  /** How often the summary of dropped traffic may be logged (ms). */
  logEveryMs?: number;
}

/** Counters since start (metrics, tests). */
export interface GuardStats {
  datagrams: number;
  /** Not CoAP at all, or another version (§3): dropped. */
  malformed: number;
  /** Format errors (§3, §4.1): a CON got a Reset. */
  formatErrors: number;
  /** Requests refused with a 4.xx: here (bad options, methods, Block1 limits) or by a handler (endpoint.ts). */
  refused: number;
  /** Datagrams from unproven sources over their rate: dropped. */
  rateLimited: number;
  /** Datagrams not sent to an unproven address because they would pass 3× what it sent. */
  withheld: number;
  /** CoAP pings (empty CON) answered with a Reset. */
  pings: number;
  /** Exceptions the stack threw on a datagram (a bug: logged with the stack). */
  handlerErrors: number;
}

type SendCallback = (error: Error | null, bytes?: number) => void;

/** A 'message' listener: the datagram and its sender, as on a dgram.Socket, and the message the guard read. */
export type GuardedListener = (msg: Buffer, rinfo: RemoteInfo, m: CoapMessage) => void;

export class GuardedSocket extends EventEmitter {
  readonly socket: Socket;
  readonly name: string;
  readonly stats: GuardStats = { datagrams: 0, malformed: 0, formatErrors: 0, refused: 0, rateLimited: 0, withheld: 0, pings: 0, handlerErrors: 0 };
  readonly block1: Block1Ledger | undefined;
  private readonly o: GuardOptions;
  private readonly proof: AddressProof;
  private readonly unproven: RateLimit | undefined;
  private readonly timer: NodeJS.Timeout;
  private logged: GuardStats = { ...this.stats };
  private messageId = Math.floor(Math.random() * 0x10000);

  constructor(o: GuardOptions) {
    super();
    this.o = o;
    this.socket = o.socket;
    this.name = o.name;
    this.proof = o.proof;
    this.block1 = o.block1 ? new Block1Ledger({ forget: o.block1.forget, ...(o.block1.limits ? { limits: o.block1.limits } : {}) }) : undefined;
    this.unproven = o.unprovenRate && o.unprovenRate.perSecond > 0 ? new RateLimit(o.unprovenRate) : undefined;
    o.socket.on('message', (msg, rinfo) => {
      try {
        this.receive(msg, rinfo);
      } catch (err) {
        this.stats.handlerErrors++;
        this.o.log.error({ err, socket: this.name, from: `${rinfo.address}:${rinfo.port}` }, 'guard failed on a datagram');
      }
    });
    o.socket.on('error', (err) => this.emit('error', err));
    o.socket.on('close', () => this.emit('close'));
    this.timer = setInterval(() => this.tick(), o.logEveryMs ?? 10_000).unref();
  }

  // ── the dgram.Socket surface node-coap and the download responder use ──

  address(): ReturnType<Socket['address']> {
    return this.socket.address();
  }

  /** send(msg, [offset, length,] port, address[, callback]): through the amplification limit. */
  send(msg: Buffer | Buffer[], ...args: unknown[]): void {
    let port: number; let address: string; let callback: SendCallback | undefined;
    let data: Buffer | Buffer[] = msg;
    if (typeof args[0] === 'number' && typeof args[1] === 'number' && typeof args[2] === 'number') {
      const [offset, length] = args as [number, number];
      data = Buffer.isBuffer(msg) ? msg.subarray(offset, offset + length) : msg;
      [port, address, callback] = args.slice(2) as [number, string, SendCallback?];
    } else {
      [port, address, callback] = args as [number, string, SendCallback?];
    }
    const bytes = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.length;
    const head = Array.isArray(data) ? data[0] : data;
    const request = head !== undefined && this.noteRequestSent(head, address);
    if (!request && !this.proof.spend(address, bytes)) {
      // An error answer goes with its diagnostic cut to what fits (its code at least) or without it; else not at all.
      const cut = Buffer.isBuffer(data) ? withDiagnosticCut(data, this.proof.allowance(address)) : undefined;
      if (cut === undefined || !this.proof.spend(address, cut.length)) {
        this.stats.withheld++;
        if (callback) queueMicrotask(() => callback(null, 0)); // as if lost on the way
        return;
      }
      data = cut;
    }
    try {
      this.socket.send(data, port, address, callback);
    } catch (err) {
      // The socket is closing: the datagram is lost, as UDP allows; nothing throws into the stack.
      if (callback) queueMicrotask(() => callback(err as Error));
    }
  }

  close(callback?: () => void): void {
    clearInterval(this.timer);
    this.block1?.clear();
    this.socket.close(callback);
  }

  // ── in ──

  private receive(msg: Buffer, rinfo: RemoteInfo): void {
    this.stats.datagrams++;
    const from = rinfo.address;
    this.proof.received(from, msg.length);
    if (this.unproven && !this.proof.isProven(from) && !this.unproven.take(from)) {
      this.stats.rateLimited++;
      return;
    }
    let header;
    try {
      header = readHeader(msg);
    } catch {
      this.stats.malformed++; // §3: not CoAP 1, silently ignored
      return;
    }
    let m: CoapMessage;
    try {
      m = decodeCoapMessage(msg);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      this.stats.formatErrors++;
      // §4.2: a confirmable message that cannot be processed is rejected with a Reset.
      if (header.type === 'CON') this.reply(rinfo, 'RST', header.messageId, Buffer.alloc(0), '0.00');
      return;
    }
    if (m.code === 0) return this.empty(m, msg, rinfo);
    const cls = m.code >>> 5;
    if (cls >= 2 && cls <= 5) {
      this.proof.responseReceived(from, m.token);
      return this.pass(msg, rinfo, m);
    }
    if (cls !== 0) {
      this.stats.formatErrors++; // classes 1, 6 and 7 are reserved (§12.1)
      if (m.type === 'CON') this.reply(rinfo, 'RST', m.messageId, Buffer.alloc(0), '0.00');
      return;
    }
    if (m.type === 'ACK' || m.type === 'RST') { this.stats.formatErrors++; return; } // a request is CON or NON (§4.2, §4.3)
    this.request(m, msg, rinfo);
  }

  private empty(m: CoapMessage, msg: Buffer, rinfo: RemoteInfo): void {
    if (m.type === 'CON') { // §4.3: a ping, answered with a Reset only
      this.stats.pings++;
      this.reply(rinfo, 'RST', m.messageId, Buffer.alloc(0), '0.00');
      return;
    }
    if (m.type === 'NON') { this.stats.formatErrors++; return; } // §4.3: a NON is never Empty
    this.pass(msg, rinfo, m); // an empty ACK or RST answers a CON of ours
  }

  private request(m: CoapMessage, msg: Buffer, rinfo: RemoteInfo): void {
    if (!this.o.methods.has(m.code)) return this.refuse(m, rinfo, coapRefusal('FERRY_COAP_METHOD_NOT_ALLOWED', `method ${codeText(m.code)} is not allowed here`));
    const bad = firstBadOption(m.options, this.o.understood);
    if (bad !== undefined) return this.refuse(m, rinfo, coapRefusal('FERRY_COAP_BAD_OPTION', `option ${bad} is critical and not supported`));
    const echo = optionValue(m.options, CoapOption.ECHO);
    if (echo !== undefined && this.o.echo.verify(rinfo.address, echo)) this.proof.prove(rinfo.address);
    const block1 = optionValue(m.options, CoapOption.BLOCK1);
    if (block1 !== undefined && this.block1) {
      // Without a token node-coap cannot tell one body from another (it keys them by token and peer).
      if (m.token.length === 0) return this.refuse(m, rinfo, coapRefusal('FERRY_BLOCK1_NO_TOKEN', 'a Block1 request needs a token'));
      const key = `${m.token.toString('hex')}/${rinfo.address}:${rinfo.port}`;
      const v = this.block1.check(key, rinfo.address, block1, m.payload.length);
      if (!v.ok) {
        const options: Array<[number, Buffer]> = v.size1 === undefined ? [] : [[CoapOption.SIZE1, encodeUint(v.size1)]];
        return this.refuse(m, rinfo, v, options);
      }
      // The last block of a finished body again: a retransmission the stack answers from its cache
      // (RFC 7252 §4.5), or a block that ends no body held here (RFC 7959 §2.9.2).
      if (v.again && !this.o.block1?.answered?.(rinfo, m.messageId, m.token)) {
        return this.refuse(m, rinfo, coapRefusal('FERRY_BLOCK1_INCOMPLETE', 'this block ends a body that is already complete; start again at block 0'));
      }
    }
    this.pass(msg, rinfo, m);
  }

  /** Refuses a request (no closure per request: this runs on every datagram's path). */
  private refuse(m: CoapMessage, rinfo: RemoteInfo, r: CoapRefusal, options: Array<[number, Buffer]> = []): void {
    this.stats.refused++;
    // §5.4.1: a NON with an unrecognised critical option is rejected (dropped); other refusals are answered.
    if (m.type === 'NON' && r.code === '4.02') return;
    this.answer(m, rinfo, r.code, options, r.diagnostic);
  }

  /** To each listener (node-coap's server and agent both listen), each on its own: one that throws stops no other. */
  private pass(msg: Buffer, rinfo: RemoteInfo, m: CoapMessage): void {
    for (const listener of this.listeners('message') as GuardedListener[]) {
      try {
        listener.call(this, msg, rinfo, m);
      } catch (err) {
        this.stats.handlerErrors++;
        this.o.log.error({ err, socket: this.name, from: `${rinfo.address}:${rinfo.port}` }, 'coap stack threw on a datagram');
      }
    }
  }

  // ── out ──

  /** A piggybacked answer to a CON (ACK with its Message ID), a NON answer to a NON (§5.2). */
  private answer(m: CoapMessage, rinfo: RemoteInfo, code: string, options: Array<[number, Buffer]>, diagnostic: string): void {
    const type: CoapType = m.type === 'CON' ? 'ACK' : 'NON';
    const messageId = type === 'ACK' ? m.messageId : this.nextMessageId();
    // The diagnostic only when (at least its code) fits what this address may be sent (RFC 9175 §2.4).
    const head = encodeMessage({ type, code, messageId, token: m.token, options })[0]!;
    const cut = cutDiagnostic(diagnostic, Math.min(this.proof.allowance(rinfo.address) - head.length - 1, 120));
    const text = cut === undefined ? undefined : Buffer.from(cut, 'utf8');
    this.send(encodeMessage({ type, code, messageId, token: m.token, options }, text), rinfo.port, rinfo.address);
  }

  private reply(rinfo: RemoteInfo, type: CoapType, messageId: number, token: Buffer, code: string): void {
    this.send(encodeMessage({ type, code, messageId, token, options: [] }), rinfo.port, rinfo.address);
  }

  /** A request of ours (a request code) names a token its answer must carry; true when `head` is one. */
  private noteRequestSent(head: Buffer, address: string): boolean {
    if (head.length < 4 || head[1] === 0 || head[1]! >>> 5 !== 0) return false;
    const tkl = head[0]! & 0x0f;
    if (tkl > 0 && tkl <= 8 && head.length >= 4 + tkl) this.proof.requestSent(address, head.subarray(4, 4 + tkl));
    return true;
  }

  private nextMessageId(): number {
    this.messageId = (this.messageId + 1) & 0xffff;
    return this.messageId;
  }

  private tick(): void {
    this.block1?.sweep();
    const now = this.stats;
    const keys = ['malformed', 'formatErrors', 'refused', 'rateLimited', 'withheld', 'handlerErrors'] as const;
    const delta = Object.fromEntries(keys.map((k) => [k, now[k] - this.logged[k]]).filter(([, n]) => (n as number) > 0));
    if (Object.keys(delta).length === 0) return;
    this.logged = { ...now };
    this.o.log.info({ socket: this.name, ...delta }, 'dropped or refused hostile or malformed traffic');
  }
}

// node-coap sends through (and caches duplicate answers for) only an `instanceof dgram.Socket`.
Object.setPrototypeOf(GuardedSocket.prototype, Socket.prototype);

/** Critical options a CoAP server of Ferry's understands in requests (RFC 7252 §5.10, RFC 7959 §2.1). */
export const SERVER_OPTIONS: ReadonlySet<number> = new Set([
  CoapOption.URI_HOST, CoapOption.URI_PORT, CoapOption.URI_PATH, CoapOption.URI_QUERY, CoapOption.ACCEPT, CoapOption.BLOCK2,
]);

/** Method codes: GET, POST, PUT, DELETE. */
export const BASIC_METHODS: ReadonlySet<number> = new Set([1, 2, 3, 4]);

/** The guards' counters as metric samples: one per socket and outcome. */
export function guardSamples(guards: ReadonlyArray<GuardedSocket | undefined>): Array<{ labels: Record<string, string>; value: number }> {
  const out: Array<{ labels: Record<string, string>; value: number }> = [];
  for (const g of guards) {
    if (!g) continue;
    for (const [outcome, value] of Object.entries(g.stats)) out.push({ labels: { socket: g.name, outcome }, value });
  }
  return out;
}

/**
 * An error answer (4.xx, 5.xx) with its diagnostic payload cut to fit `room` bytes (refusal.ts), or
 * dropped when not even its code fits; undefined for any other datagram.
 */
function withDiagnosticCut(datagram: Buffer, room: number): Buffer | undefined {
  let m: CoapMessage;
  try { m = decodeCoapMessage(datagram); } catch { return undefined; }
  if (m.code >>> 5 < 4 || m.payload.length === 0) return undefined;
  const head = datagram.subarray(0, datagram.length - m.payload.length - 1);
  const text = cutDiagnostic(m.payload.toString('utf8'), room - head.length - 1);
  return text === undefined ? head : Buffer.concat([head, Buffer.from([0xff]), Buffer.from(text, 'utf8')]);
}
