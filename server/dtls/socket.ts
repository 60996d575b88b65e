/**
 * The DTLS 1.2 PSK server layer between a bound UDP socket and a CoAP stack. It looks like a
 * dgram.Socket to node-coap (its prototype is dgram.Socket's): 'message' carries the plaintext of
 * application data records with the peer's rinfo, and send() protects a datagram for the peer's
 * session. Underneath: the stateless cookie exchange (RFC 6347 §4.2.1), a handshake per peer once
 * its cookie is valid (handshake.ts), sessions in epoch 1 (protection.ts), alerts, and caps on
 * sessions, half-open handshakes and idle time, kept by one timer for the whole layer.
 * A new ClientHello from a live session's address starts a new handshake; the old session serves
 * until the new one completes (§4.2.8).
 *
 * Connection ID (RFC 9146): a client that offers connection_id gets a fresh random CID of
 * CID_LENGTH bytes, unique among live sessions and handshakes, and its protected records then come
 * as tls12_cid records. Those find their session by CID (a second map, cleared with the session),
 * every other record by the peer's address. The session's address moves only on a tls12_cid record
 * that authenticates and is newer than any the session has seen (§6), so a replayed or reordered
 * old record from another address never moves it back; on a move the address map is re-keyed and
 * 'rebind' is emitted ({ from, to, identity }) for the layer above to move what it keeps by address.
 * send() finds a session by the address it is given. For a while after a move (RFC 7252's
 * EXCHANGE_LIFETIME, 247 s) a datagram addressed to the old address still finds the session that
 * left it, and goes to the session's new address, sealed with its keys: node-coap retransmits a
 * request to the address it first sent it to, and the answer to a request that came before the
 * move goes there too. Nothing is ever sent to the old address; a handshake completed from it
 * (another device there now) ends the forwarding at once.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Socket, type RemoteInfo } from 'node:dgram';
import { AlertDescription, AlertLevel, encodeAlert, parseAlert } from '../../protocols/dtls-alert.ts';
import { HandshakeType, decodeHandshakeFragments, encodeHandshake } from '../../protocols/dtls-handshake.ts';
import { encodeHelloVerifyRequest, parseClientHello } from '../../protocols/dtls-hello.ts';
import { ContentType, DTLS_1_0, encodeRecord, splitRecords, type DtlsRecord } from '../../protocols/dtls-record.ts';
import { CookieJar } from './cookie.ts';
import { HandshakeFailure, ServerHandshake, isPeerError, type Established, type PskLookup } from './handshake.ts';

/**
 * The length of every CID this server issues. A tls12_cid header does not carry the CID's length
 * (RFC 9146 §4): the receiver knows it, so a server that issues one fixed length can split any record.
 */
export const CID_LENGTH = 6;

export interface DtlsOptions {
  socket: Socket;
  pskFor: PskLookup;
  /** The PSK identity hint of the ServerKeyExchange; absent: no ServerKeyExchange (RFC 4279 §2). */
  identityHint?: Buffer;
  maxSessions?: number;
  maxHalfOpen?: number;
  /**
   * Half-open handshakes one IP address may hold at once, so one host with many ports cannot fill
   * maxHalfOpen for everyone (a NAT's devices past it are served when they retransmit).
   */
  maxHalfOpenPerAddress?: number;
  /** A session with no authenticated record for this long is forgotten (ms). */
  idleMs?: number;
  /** A handshake not complete after this long is dropped (ms). */
  handshakeMs?: number;
  /** The first retransmission timeout, doubled on each retransmission (§4.2.4.1), ms. */
  retransmitMs?: number;
  /** How often the layer's timer looks at retransmissions and expiry (ms). */
  tickMs?: number;
}

/** A handshake completed: the 'session' event. */
export interface SessionStarted {
  identity: Buffer;
  address: string;
  port: number;
}

export interface DtlsStats {
  helloVerifyRequests: number;
  handshakesStarted: number;
  handshakesCompleted: number;
  /** Handshakes that failed at the client's Finished (wrong key or unknown identity alike). */
  failedAtFinished: number;
  handshakesFailed: number;
  /** Protected records that did not authenticate, were replayed or carry an unknown CID: dropped silently (§4.1.2.7). */
  recordsDropped: number;
  retransmissions: number;
  /** Sessions whose peer address moved on an authenticated tls12_cid record (RFC 9146 §6). */
  rebinds: number;
}

/** A peer's UDP address. */
export interface PeerAddress {
  address: string;
  port: number;
}

/** The 'rebind' event: a session with a CID now lives at `to` (RFC 9146 §6). */
export interface RebindEvent {
  from: PeerAddress;
  to: PeerAddress;
  /** The session's PSK identity. */
  identity: Buffer;
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
  /** The peer's address now: the session's key in the address map. */
  address: string;
  port: number;
  family: string;
}

type SendCallback = (error: Error | null, bytes?: number) => void;

export class DtlsSocket extends EventEmitter {
  readonly socket: Socket;
  readonly stats: DtlsStats = { helloVerifyRequests: 0, handshakesStarted: 0, handshakesCompleted: 0, failedAtFinished: 0, handshakesFailed: 0, recordsDropped: 0, retransmissions: 0, rebinds: 0 };
  private readonly o: Required<Omit<DtlsOptions, 'identityHint'>> & Pick<DtlsOptions, 'identityHint'>;
  private readonly cookies = new CookieJar();
  private readonly halfOpen = new PerAddressMap<HalfOpen>();
  private readonly sessions = new Map<string, Session>();
  /** A moved session's old address → the session, for sends addressed there (see the top); bounded in time. */
  private readonly movedFrom = new Map<string, { session: Session; until: number }>();
  /** The sessions with a CID, by the CID's hex (RFC 9146); an entry goes with its session. */
  private readonly byCid = new Map<string, Session>();
  private readonly timer: NodeJS.Timeout;
  /**
   * The session whose record is being delivered to the 'message' listeners, while they run: the
   * layer above asks for its identity and answers it within that call, so send() and identityOf()
   * find it without building its address key and looking it up again.
   */
  private delivering: Session | undefined;

  constructor(o: DtlsOptions) {
    super();
    this.o = {
      maxSessions: 10_000, maxHalfOpen: 1_000, maxHalfOpenPerAddress: 100, idleMs: 30 * 60_000, handshakeMs: 60_000, retransmitMs: 1_000, tickMs: 250,
      ...o,
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

  /** Sessions that have a Connection ID: the size of the CID map (tests). */
  get connectionIds(): number {
    return this.byCid.size;
  }

  /** The PSK identity of the peer's session, or undefined when it has none. */
  identityOf(address: string, port: number): Buffer | undefined {
    return this.sessionAt(address, port)?.identity;
  }

  /** The live session at this address: the one being delivered, when it is that one (see `delivering`). */
  private sessionAt(address: string, port: number): Session | undefined {
    const d = this.delivering;
    if (d !== undefined && d.port === port && d.address === address) return d;
    return this.sessions.get(peerKey(address, port));
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
    // A session that moved (Connection ID) is still found at its old address for a while: to its new one.
    const session = this.sessionAt(address, port) ?? this.forwarded(peerKey(address, port));
    if (session === undefined) {
      // No session: the datagram is lost, as UDP allows.
      if (callback) queueMicrotask(() => callback(null, 0));
      return;
    }
    this.raw(session.protection.sealRecord(ContentType.application_data, data), session.port, session.address, callback);
  }

  /** Sends each session close_notify (RFC 5246 §7.2.1), then closes the UDP socket once they have left. */
  close(callback?: () => void): void {
    clearInterval(this.timer);
    const alerts = [...this.sessions.values()].map((s) => ({ s, record: s.protection.sealRecord(ContentType.alert, encodeAlert({ level: AlertLevel.warning, description: AlertDescription.close_notify })) }));
    this.sessions.clear();
    this.delivering = undefined;
    this.byCid.clear();
    this.halfOpen.clear();
    // A datagram still being sent when its socket closes is lost: the socket waits for the alerts.
    let pending = alerts.length + 1;
    const sent = (): void => {
      if (--pending > 0) return;
      try {
        this.socket.close(callback);
      } catch {
        // Closed already.
        if (callback) queueMicrotask(callback);
      }
    };
    for (const { s, record } of alerts) this.raw(record, s.port, s.address, () => sent());
    sent();
  }

  // ── in ──

  private receive(msg: Buffer, rinfo: RemoteInfo): void {
    const first = msg[0] ?? 0;
    if (first >= 64 && first <= 127) {
      // Plain CoAP (version 1: 64–127), not DTLS (a content type, 20–63, as RFC 7983 §7 sorts first
      // bytes): to the 'plain' listeners, if any (plain-side.ts); otherwise dropped.
      this.emit('plain', msg, rinfo);
      return;
    }
    const key = peerKey(rinfo.address, rinfo.port);
    const { records } = splitRecords(msg, CID_LENGTH);
    for (const r of records) {
      try {
        if (r.cid !== undefined) {
          this.cidRecord(r, r.cid, rinfo, key);
          continue;
        }
        if (r.epoch === 0 && r.type === ContentType.handshake && this.clientHello(r, rinfo, key)) continue;
        const h = this.halfOpen.get(key);
        const s = this.sessions.get(key);
        if (h !== undefined && (r.epoch === 0 || s === undefined || !this.sessionRecord(s, r, rinfo, true))) {
          // handshakeRecord answers a peer's error itself; anything else is reported, and the chain goes on.
          h.chain = h.chain.then(() => this.handshakeRecord(key, h, r, rinfo)).catch((e: unknown) => { this.emit('error', e); });
          continue;
        }
        if (r.epoch === 1 && s !== undefined) this.sessionRecord(s, r, rinfo, false);
      } catch (e) {
        if (!isPeerError(e)) this.emit('error', e);
      }
    }
  }

  /**
   * A tls12_cid record: for the session with its CID, wherever it comes from; else the Finished of
   * the handshake at this address that issued the CID; else, an unknown CID, dropped silently.
   */
  private cidRecord(r: DtlsRecord, cid: Buffer, rinfo: RemoteInfo, key: string): void {
    const s = this.byCid.get(cid.toString('hex'));
    if (s !== undefined) {
      this.sessionRecord(s, r, rinfo, false);
      return;
    }
    const h = this.halfOpen.get(key);
    if (h !== undefined && h.hs.cid !== undefined && h.hs.cid.equals(cid)) {
      h.chain = h.chain.then(() => this.handshakeRecord(key, h, r, rinfo)).catch((e: unknown) => { this.emit('error', e); });
      return;
    }
    this.stats.recordsDropped++;
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
    if (existing === undefined && (this.halfOpen.size >= this.o.maxHalfOpen || this.halfOpen.countAt(rinfo.address) >= this.o.maxHalfOpenPerAddress)) return true;
    let hs: ServerHandshake;
    try {
      const cid = ch.connectionId !== undefined ? this.freshCid() : undefined;
      hs = new ServerHandshake({ msgType: f.msgType, messageSeq: f.messageSeq, body: f.body }, ch, r.sequenceNumber, this.o.pskFor, this.o.identityHint, cid);
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
        const old = this.sessions.get(key);
        if (old === undefined && this.sessions.size >= this.o.maxSessions) return;
        // The completed handshake replaces the session at its address, and that session's CID goes with it.
        if (old !== undefined) this.dropSession(old);
        const s: Session = { ...step.established, lastSeen: Date.now(), address: rinfo.address, port: rinfo.port, family: rinfo.family };
        this.movedFrom.delete(key);
        this.sessions.set(key, s);
        if (s.cid !== undefined) this.byCid.set(s.cid.toString('hex'), s);
        this.stats.handshakesCompleted++;
        this.emit('session', { identity: step.established.identity, address: rinfo.address, port: rinfo.port } satisfies SessionStarted);
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

  /**
   * A record for a session; false if it did not authenticate. A tls12_cid record from another
   * address that authenticates and is the newest yet moves the session there first (RFC 9146 §6).
   * What the record carries is then the peer's at the session's address, where answers go.
   */
  private sessionRecord(s: Session, r: DtlsRecord, rinfo: RemoteInfo, quiet: boolean): boolean {
    const opened = s.protection.openRecord(r);
    if (opened === undefined) {
      if (!quiet) this.stats.recordsDropped++;
      return false;
    }
    s.lastSeen = Date.now();
    if (r.cid !== undefined && opened.newest && (rinfo.address !== s.address || rinfo.port !== s.port)) this.rebind(s, rinfo);
    const { type, content } = opened;
    if (type === ContentType.application_data) {
      this.deliver(s, content);
    } else if (type === ContentType.alert) {
      const alert = parseAlert(content);
      if (alert.description === AlertDescription.close_notify || alert.level === AlertLevel.fatal) this.dropSession(s);
    } else if (type === ContentType.handshake) {
      // The client repeats its Finished: our final flight was lost (§4.2.4).
      this.stats.retransmissions++;
      for (const d of s.finalFlight()) this.raw(d, s.port, s.address);
    }
    return true;
  }

  /** The plaintext of an application data record to the 'message' listeners, as from the session's address. */
  private deliver(s: Session, content: Buffer): void {
    const outer = this.delivering;
    this.delivering = s;
    try {
      this.emit('message', content, { address: s.address, family: s.family, port: s.port, size: content.length });
    } finally {
      this.delivering = outer;
    }
  }

  /**
   * Moves a session to the address its newest authenticated record came from (RFC 9146 §6). A
   * session still keyed at that address is stale (the address is the mover's now) and is dropped.
   */
  private rebind(s: Session, rinfo: RemoteInfo): void {
    const from: PeerAddress = { address: s.address, port: s.port };
    const to: PeerAddress = { address: rinfo.address, port: rinfo.port };
    const there = this.sessions.get(peerKey(to.address, to.port));
    if (there !== undefined && there !== s) this.dropSession(there);
    const fromKey = peerKey(from.address, from.port);
    if (this.sessions.get(fromKey) === s) this.sessions.delete(fromKey);
    s.address = to.address;
    s.port = to.port;
    s.family = rinfo.family;
    const toKey = peerKey(to.address, to.port);
    this.sessions.set(toKey, s);
    this.movedFrom.delete(toKey);
    if (this.movedFrom.size < this.o.maxSessions) this.movedFrom.set(fromKey, { session: s, until: Date.now() + FORWARD_MS });
    this.stats.rebinds++;
    const event: RebindEvent = { from, to, identity: s.identity };
    this.emit('rebind', event);
  }

  /** The live session that moved away from `key` not long ago, if any. */
  private forwarded(key: string): Session | undefined {
    const f = this.movedFrom.get(key);
    if (f === undefined || Date.now() > f.until || this.sessions.get(peerKey(f.session.address, f.session.port)) !== f.session) return undefined;
    return f.session;
  }

  /**
   * Ends every session of a PSK identity (its credentials were revoked): its records are dropped
   * from now on, and the peer must handshake again, which its key no longer passes. Returns how many.
   */
  forgetIdentity(identity: string): number {
    const id = Buffer.from(identity, 'utf8');
    const ended = new Set([...this.sessions.values(), ...this.byCid.values()].filter((s) => s.identity.equals(id)));
    for (const s of ended) this.dropSession(s);
    return ended.size;
  }

  /** Forgets a session: its address entry and its CID entry. */
  private dropSession(s: Session): void {
    if (this.delivering === s) this.delivering = undefined;
    const key = peerKey(s.address, s.port);
    if (this.sessions.get(key) === s) this.sessions.delete(key);
    if (s.cid !== undefined) {
      const c = s.cid.toString('hex');
      if (this.byCid.get(c) === s) this.byCid.delete(c);
    }
  }

  /** A random CID unique among live sessions and handshakes (RFC 9146 §3 leaves the choice to the receiver). */
  private freshCid(): Buffer {
    for (;;) {
      const cid = randomBytes(CID_LENGTH);
      if (this.byCid.has(cid.toString('hex'))) continue;
      let taken = false;
      for (const h of this.halfOpen.values()) if (h.hs.cid !== undefined && h.hs.cid.equals(cid)) taken = true;
      if (!taken) return cid;
    }
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
    for (const s of this.sessions.values()) if (now - s.lastSeen > this.o.idleMs) this.dropSession(s);
    for (const [key, f] of this.movedFrom) if (now > f.until || this.sessions.get(peerKey(f.session.address, f.session.port)) !== f.session) this.movedFrom.delete(key);
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

/** A map keyed by peerKey that counts its entries by IP address. */
class PerAddressMap<V> extends Map<string, V> {
  private readonly perAddress = new Map<string, number>();

  countAt(address: string): number {
    return this.perAddress.get(address) ?? 0;
  }

  override set(key: string, value: V): this {
    if (!this.has(key)) this.bump(splitKey(key)[0], 1);
    return super.set(key, value);
  }

  override delete(key: string): boolean {
    const had = super.delete(key);
    if (had) this.bump(splitKey(key)[0], -1);
    return had;
  }

  override clear(): void {
    super.clear();
    this.perAddress.clear();
  }

  private bump(address: string, by: number): void {
    const n = (this.perAddress.get(address) ?? 0) + by;
    if (n > 0) this.perAddress.set(address, n);
    else this.perAddress.delete(address);
  }
}

/** How long a moved session is still found at its old address: RFC 7252 §4.8.2 EXCHANGE_LIFETIME. */
const FORWARD_MS = 247_000;

function peerKey(address: string, port: number): string {
  return `${port}/${address}`;
}

function splitKey(key: string): [string, number] {
  const at = key.indexOf('/');
  return [key.slice(at + 1), Number(key.slice(0, at))];
}
