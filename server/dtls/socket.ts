/**
 * The DTLS 1.2 PSK server layer between a bound UDP socket and a CoAP stack. It looks like a
 * dgram.Socket to node-coap (its prototype is dgram.Socket's): 'message' carries the plaintext of
 * application data records with the peer's rinfo, and send() protects a datagram for the peer's
 * session. Underneath: the stateless cookie exchange (RFC 6347 §4.2.1), a handshake per peer once
 * its cookie is valid (handshake.ts), sessions in epoch 1 (protection.ts), alerts, and caps on
 * sessions, half-open handshakes and idle time, kept by one timer for the whole layer.
 * A new ClientHello from a live session's address starts a new handshake; the old session serves
 * until the new one completes (§4.2.8).
 */
import { EventEmitter } from 'node:events';
import { Socket, type RemoteInfo } from 'node:dgram';
import { AlertDescription, AlertLevel, encodeAlert, parseAlert } from '../../protocols/dtls-alert.ts';
import { HandshakeType, decodeHandshakeFragments, encodeHandshake } from '../../protocols/dtls-handshake.ts';
import { encodeHelloVerifyRequest, parseClientHello } from '../../protocols/dtls-hello.ts';
import { ContentType, DTLS_1_0, encodeRecord, splitRecords, type DtlsRecord } from '../../protocols/dtls-record.ts';
import { CookieJar } from './cookie.ts';
import { HandshakeFailure, ServerHandshake, isPeerError, type Established, type PskLookup } from './handshake.ts';

export interface DtlsOptions {
  socket: Socket;
  pskFor: PskLookup;
  /** The PSK identity hint of the ServerKeyExchange; absent: no ServerKeyExchange (RFC 4279 §2). */
  identityHint?: Buffer;
  maxSessions?: number;
  maxHalfOpen?: number;
  /** A session with no authenticated record for this long is forgotten (ms). */
  idleMs?: number;
  /** A handshake not complete after this long is dropped (ms). */
  handshakeMs?: number;
  /** The first retransmission timeout, doubled on each retransmission (§4.2.4.1), ms. */
  retransmitMs?: number;
  /** How often the layer's timer looks at retransmissions and expiry (ms). */
  tickMs?: number;
}

export interface DtlsStats {
  helloVerifyRequests: number;
  handshakesStarted: number;
  handshakesCompleted: number;
  /** Handshakes that failed at the client's Finished (wrong key or unknown identity alike). */
  failedAtFinished: number;
  handshakesFailed: number;
  /** Protected records that did not authenticate or were replayed: dropped silently (§4.1.2.7). */
  recordsDropped: number;
  retransmissions: number;
}

interface HalfOpen {
  hs: ServerHandshake;
  started: number;
  retransmitAt: number;
  timeout: number;
  chain: Promise<void>;
}

interface Session extends Established {
  lastSeen: number;
}

type SendCallback = (error: Error | null, bytes?: number) => void;

export class DtlsSocket extends EventEmitter {
  readonly socket: Socket;
  readonly stats: DtlsStats = { helloVerifyRequests: 0, handshakesStarted: 0, handshakesCompleted: 0, failedAtFinished: 0, handshakesFailed: 0, recordsDropped: 0, retransmissions: 0 };
  private readonly o: Required<Omit<DtlsOptions, 'identityHint'>> & { identityHint: Buffer | undefined };
  private readonly cookies = new CookieJar();
  private readonly halfOpen = new Map<string, HalfOpen>();
  private readonly sessions = new Map<string, Session>();
  private readonly timer: NodeJS.Timeout;

  constructor(o: DtlsOptions) {
    super();
    this.o = {
      maxSessions: 10_000, maxHalfOpen: 1_000, idleMs: 30 * 60_000, handshakeMs: 60_000, retransmitMs: 1_000, tickMs: 250,
      ...o, identityHint: o.identityHint,
    };
    this.socket = o.socket;
    o.socket.on('message', (msg, rinfo) => this.receive(msg, rinfo));
    o.socket.on('error', (err) => this.emit('error', err));
    o.socket.on('close', () => this.emit('close'));
    this.timer = setInterval(() => this.tick(), this.o.tickMs).unref();
  }

  /** Live sessions and half-open handshakes (metrics, tests). */
  get counts(): { sessions: number; halfOpen: number } {
    return { sessions: this.sessions.size, halfOpen: this.halfOpen.size };
  }

  /** The PSK identity of the peer's session, or undefined when it has none. */
  identityOf(address: string, port: number): Buffer | undefined {
    return this.sessions.get(peerKey(address, port))?.identity;
  }

  // ── the dgram.Socket surface node-coap uses ──

  address(): ReturnType<Socket['address']> {
    return this.socket.address();
  }

  /** send(msg, [offset, length,] port, address[, callback]): one application data record to the peer's session. */
  send(msg: Buffer | Buffer[], ...args: unknown[]): void {
    let data = Array.isArray(msg) ? Buffer.concat(msg) : msg;
    let rest = args;
    if (typeof args[0] === 'number' && typeof args[1] === 'number' && typeof args[2] === 'number') {
      data = data.subarray(args[0], args[0] + args[1]);
      rest = args.slice(2);
    }
    const [port, address, callback] = rest as [number, string, SendCallback?];
    const session = this.sessions.get(peerKey(address, port));
    if (session === undefined) {
      // No session: the datagram is lost, as UDP allows.
      if (callback) queueMicrotask(() => callback(null, 0));
      return;
    }
    this.raw(session.protection.sealRecord(ContentType.application_data, data), port, address, callback);
  }

  close(callback?: () => void): void {
    clearInterval(this.timer);
    for (const [key, s] of this.sessions) {
      const [address, port] = splitKey(key);
      this.raw(s.protection.sealRecord(ContentType.alert, encodeAlert({ level: AlertLevel.warning, description: AlertDescription.close_notify })), port, address);
    }
    this.sessions.clear();
    this.halfOpen.clear();
    this.socket.close(callback);
  }

  // ── in ──

  private receive(msg: Buffer, rinfo: RemoteInfo): void {
    const key = peerKey(rinfo.address, rinfo.port);
    const { records } = splitRecords(msg);
    for (const r of records) {
      try {
        if (r.epoch === 0 && r.type === ContentType.handshake && this.clientHello(r, rinfo, key)) continue;
        const h = this.halfOpen.get(key);
        if (h !== undefined && (r.epoch === 0 || !this.sessions.has(key) || !this.sessionRecord(key, r, rinfo, true))) {
          // handshakeRecord answers a peer's error itself; anything else is reported, and the chain goes on.
          h.chain = h.chain.then(() => this.handshakeRecord(key, h, r, rinfo)).catch((e: unknown) => { this.emit('error', e); });
          continue;
        }
        if (r.epoch === 1) this.sessionRecord(key, r, rinfo, false);
      } catch (e) {
        if (!isPeerError(e)) this.emit('error', e);
      }
    }
  }

  /** A ClientHello: HelloVerifyRequest without a valid cookie, else a new handshake. True if it was one. */
  private clientHello(r: DtlsRecord, rinfo: RemoteInfo, key: string): boolean {
    const fragments = decodeHandshakeFragments(r.fragment);
    const f = fragments[0];
    if (fragments.length !== 1 || f === undefined || f.msgType !== HandshakeType.client_hello) return false;
    // A ClientHello is small; a fragmented one is refused (it would need state before the cookie).
    if (f.fragmentOffset !== 0 || f.fragmentLength !== f.length) return true;
    const ch = parseClientHello(f.body);
    const existing = this.halfOpen.get(key);
    if (existing !== undefined && existing.hs.clientRandom.equals(ch.random)) {
      this.resend(existing, rinfo);
      return true;
    }
    if (!this.cookies.check(rinfo.address, rinfo.port, ch)) {
      const cookie = this.cookies.make(rinfo.address, rinfo.port, ch);
      const body = encodeHelloVerifyRequest(cookie);
      const hvr = encodeRecord({ type: ContentType.handshake, version: DTLS_1_0, epoch: 0, sequenceNumber: r.sequenceNumber,
        fragment: encodeHandshake({ msgType: HandshakeType.hello_verify_request, messageSeq: f.messageSeq, body }) });
      // No amplification (§4.2.1): the answer is never larger than what was sent.
      if (hvr.length <= r.fragment.length + 13) {
        this.stats.helloVerifyRequests++;
        this.raw(hvr, rinfo.port, rinfo.address);
      }
      return true;
    }
    if (this.halfOpen.size >= this.o.maxHalfOpen && existing === undefined) return true;
    let hs: ServerHandshake;
    try {
      hs = new ServerHandshake({ msgType: f.msgType, messageSeq: f.messageSeq, body: f.body }, ch, r.sequenceNumber, this.o.pskFor, this.o.identityHint);
    } catch (e) {
      if (e instanceof HandshakeFailure) {
        this.stats.handshakesFailed++;
        const alert = encodeRecord({ type: ContentType.alert, version: DTLS_1_0, epoch: 0, sequenceNumber: r.sequenceNumber, fragment: encodeAlert({ level: AlertLevel.fatal, description: e.alert }) });
        this.raw(alert, rinfo.port, rinfo.address);
        return true;
      }
      throw e;
    }
    const now = Date.now();
    const h: HalfOpen = { hs, started: now, retransmitAt: now + this.o.retransmitMs, timeout: this.o.retransmitMs, chain: Promise.resolve() };
    this.halfOpen.set(key, h);
    this.stats.handshakesStarted++;
    for (const d of hs.flightDatagrams()) this.raw(d, rinfo.port, rinfo.address);
    return true;
  }

  private async handshakeRecord(key: string, h: HalfOpen, r: DtlsRecord, rinfo: RemoteInfo): Promise<void> {
    if (this.halfOpen.get(key) !== h) return;
    try {
      const step = await h.hs.receive(r);
      if (this.halfOpen.get(key) !== h) return;
      if (step.send.length > 0 && !step.established) this.stats.retransmissions++;
      for (const d of step.send) this.raw(d, rinfo.port, rinfo.address);
      if (step.established) {
        this.halfOpen.delete(key);
        if (!this.sessions.has(key) && this.sessions.size >= this.o.maxSessions) return;
        this.sessions.set(key, { ...step.established, lastSeen: Date.now() });
        this.stats.handshakesCompleted++;
      }
    } catch (e) {
      if (!isPeerError(e)) {
        this.emit('error', e);
        return;
      }
      this.halfOpen.delete(key);
      this.stats.handshakesFailed++;
      if (e instanceof HandshakeFailure) {
        if (e.atFinished) this.stats.failedAtFinished++;
        for (const d of h.hs.alertDatagram(e.alert)) this.raw(d, rinfo.port, rinfo.address);
      }
    }
  }

  /** A record for the peer's session; false if it did not authenticate (or there is no session). */
  private sessionRecord(key: string, r: DtlsRecord, rinfo: RemoteInfo, quiet: boolean): boolean {
    const s = this.sessions.get(key);
    if (s === undefined) return false;
    const content = s.protection.openRecord(r);
    if (content === undefined) {
      if (!quiet) this.stats.recordsDropped++;
      return false;
    }
    s.lastSeen = Date.now();
    if (r.type === ContentType.application_data) {
      this.emit('message', content, { address: rinfo.address, family: rinfo.family, port: rinfo.port, size: content.length });
    } else if (r.type === ContentType.alert) {
      const alert = parseAlert(content);
      if (alert.description === AlertDescription.close_notify || alert.level === AlertLevel.fatal) this.sessions.delete(key);
    } else if (r.type === ContentType.handshake) {
      // The client repeats its Finished: our final flight was lost (§4.2.4).
      this.stats.retransmissions++;
      for (const d of s.finalFlight()) this.raw(d, rinfo.port, rinfo.address);
    }
    return true;
  }

  private resend(h: HalfOpen, rinfo: RemoteInfo): void {
    const flight = h.hs.flightDatagrams();
    if (flight.length > 0) this.stats.retransmissions++;
    for (const d of flight) this.raw(d, rinfo.port, rinfo.address);
  }

  /** Retransmissions with a doubling timeout (§4.2.4.1, at most 60 s), handshakes past their time, idle sessions. */
  private tick(): void {
    const now = Date.now();
    for (const [key, h] of this.halfOpen) {
      if (now - h.started > this.o.handshakeMs) {
        this.halfOpen.delete(key);
        this.stats.handshakesFailed++;
        continue;
      }
      if (now < h.retransmitAt) continue;
      h.timeout = Math.min(h.timeout * 2, 60_000);
      h.retransmitAt = now + h.timeout;
      const [address, port] = splitKey(key);
      this.resend(h, { address, port, family: 'IPv4', size: 0 });
    }
    for (const [key, s] of this.sessions) if (now - s.lastSeen > this.o.idleMs) this.sessions.delete(key);
  }

  private raw(datagram: Buffer, port: number, address: string, callback?: SendCallback): void {
    try {
      this.socket.send(datagram, port, address, callback);
    } catch (err) {
      // The socket is closing: the datagram is lost, as UDP allows.
      if (callback) queueMicrotask(() => callback(err as Error));
    }
  }
}

// node-coap sends through (and caches duplicate answers for) only an `instanceof dgram.Socket`.
Object.setPrototypeOf(DtlsSocket.prototype, Socket.prototype);

function peerKey(address: string, port: number): string {
  return `${port}/${address}`;
}

function splitKey(key: string): [string, number] {
  const at = key.indexOf('/');
  return [key.slice(at + 1), Number(key.slice(0, at))];
}
