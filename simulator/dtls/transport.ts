/**
 * DTLS as a layer of the simulator's transport seam (../coap/transport.ts): wrapped around a UDP
 * socket (or the fault layer), it runs the client handshake with one server and then carries the
 * CoAP endpoint's datagrams as DTLS application data, one datagram per record. Datagrams sent
 * before the handshake ends wait for it; datagrams for another peer, or from another peer, are
 * refused.
 *
 * A session that ended (a fatal alert, close_notify, a handshake that failed) is replaced by a new
 * handshake when the next datagram is sent; `renew` starts one at once (the server restarted and
 * answers nothing in the old session any more). `rebind` moves the session to a new socket (a NAT
 * rebinding), which only a session with a Connection ID survives (RFC 9146 §6).
 */
import { realClock } from '../clock.ts';
import type { Clock } from '../clock.ts';
import type { Peer } from '../coap/outbox.ts';
import type { DatagramTransport, TransportLayer } from '../coap/transport.ts';
import { DtlsError } from './errors.ts';
import { DtlsSession } from './session.ts';
import type { DtlsClientOptions } from './session.ts';

/** What happened to a transport's sessions; one object may be shared by many transports (a fleet). */
export interface DtlsCounters {
  /** Handshakes completed, the first ones and the ones after. */
  handshakes: number;
  /** Handshakes completed after a transport's first: a session lost and made again. */
  rehandshakes: number;
  /** Handshakes that failed (an alert, a time-out) and sessions ended by a fatal alert. */
  failures: number;
}

export const emptyDtlsCounters = (): DtlsCounters => ({ handshakes: 0, rehandshakes: 0, failures: 0 });

export interface DtlsTransportOptions extends DtlsClientOptions {
  /** The DTLS server (its address and DTLS port). */
  server: Peer;
  /** Reports the handshake failing or the session ending by alert. */
  onError?: (err: DtlsError) => void;
  /** The server ended the session with close_notify (RFC 5246 §7.2.1). */
  onClosed?: () => void;
  /** A handshake completed; `renewed` when it replaced an earlier session. */
  onHandshake?: (renewed: boolean) => void;
  /** Counted into (default: the transport's own). */
  counters?: DtlsCounters;
}

const samePeer = (a: Peer, b: Peer): boolean => a.port === b.port && a.address === b.address;

export class DtlsTransport implements DatagramTransport {
  readonly counters: DtlsCounters;
  readonly #opts: DtlsTransportOptions;
  readonly #server: Peer;
  #session!: DtlsSession;
  #inner: DatagramTransport;
  #handler: (buf: Buffer, peer: Peer) => void = () => {};
  #queue: { buf: Buffer; done: ((err?: Error) => void) | undefined }[] = [];
  /** The session ended (alert, close_notify) or its handshake failed: the next send starts another. */
  #ended = false;
  #everEstablished = false;
  #closed = false;
  readonly #clock: Clock;
  #lastSend: Promise<void> = Promise.resolve();

  constructor(inner: DatagramTransport, opts: DtlsTransportOptions) {
    this.#inner = inner;
    this.#opts = opts;
    this.#server = opts.server;
    this.#clock = opts.clock ?? realClock;
    this.counters = opts.counters ?? emptyDtlsCounters();
    this.#listen(inner);
    this.#handshake();
  }

  /** The current session (a new one after each renewal). */
  get session(): DtlsSession {
    return this.#session;
  }

  /** Settles when the current session's handshake ends. */
  get ready(): Promise<void> {
    return this.#session.ready;
  }

  send(buf: Buffer, peer: Peer, done?: (err?: Error) => void): void {
    if (!samePeer(peer, this.#server)) {
      done?.(new DtlsError('protocol', `DTLS session is with ${this.#server.address}:${this.#server.port}, not ${peer.address}:${peer.port}`));
      return;
    }
    if (this.#closed) {
      done?.(new DtlsError('closed', 'DTLS transport closed'));
      return;
    }
    if (this.#ended) this.#handshake();
    if (!this.#session.established) {
      this.#queue.push({ buf, done });
      return;
    }
    try {
      this.#session.sendApplicationData(buf);
      done?.();
    } catch (err) {
      done?.(err instanceof Error ? err : new Error(String(err)));
    }
  }

  onMessage(handler: (buf: Buffer, peer: Peer) => void): void {
    this.#handler = handler;
  }

  address(): Peer {
    return this.#inner.address();
  }

  /**
   * A new handshake now, on the same socket, in place of the current session (sent nothing more:
   * a close_notify of the old session could end the new one at a server that keys sessions by
   * address). Settles when it ends.
   */
  renew(): Promise<void> {
    if (this.#closed) return Promise.reject(new DtlsError('closed', 'DTLS transport closed'));
    this.#handshake();
    return this.#session.ready;
  }

  /**
   * Sends close_notify, then closes the socket underneath once the alert has left (or after
   * 200 ms: a layer below may drop it without a word).
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#session.close();
    for (const q of this.#queue.splice(0)) q.done?.(new DtlsError('closed', 'DTLS transport closed'));
    let timer: unknown;
    const cap = new Promise<void>((resolve) => (timer = this.#clock.setTimeout(resolve, 200)));
    await Promise.race([this.#lastSend, cap]);
    this.#clock.clearTimeout(timer);
    await this.#inner.close();
  }

  /**
   * Carries on over `next` (a new socket: a new source port), closing the old one. Without a
   * Connection ID from the server the server cannot tell our records apart after the move.
   */
  async rebind(next: DatagramTransport): Promise<void> {
    if (this.#session.peerCid === undefined) throw new DtlsError('protocol', 'rebinding needs a Connection ID from the server (RFC 9146)');
    const old = this.#inner;
    this.#inner = next;
    this.#listen(next);
    await old.close();
  }

  /** Starts a session; the one before it, if any, is dropped without a word. */
  #handshake(): void {
    this.#ended = false;
    const renewed = this.#everEstablished;
    const session = new DtlsSession((datagram) => {
      if (this.#session !== session) return;
      this.#lastSend = new Promise<void>((resolve) => this.#inner.send(datagram, this.#server, () => resolve()));
    }, this.#opts);
    this.#session?.abandon();
    this.#session = session;
    session.onData = (data) => this.#handler(data, this.#server);
    session.onClose = (err) => {
      if (this.#session !== session) return;
      this.#ended = true;
      if (err !== undefined) {
        this.counters.failures += 1;
        this.#opts.onError?.(err);
      } else {
        this.#opts.onClosed?.();
      }
    };
    session.start().then(
      () => {
        if (this.#session !== session) return;
        this.#everEstablished = true;
        this.counters.handshakes += 1;
        if (renewed) this.counters.rehandshakes += 1;
        this.#opts.onHandshake?.(renewed);
        this.#flush();
      },
      (err: DtlsError) => {
        if (this.#session !== session || this.#closed) return;
        this.#ended = true;
        this.counters.failures += 1;
        for (const q of this.#queue.splice(0)) q.done?.(err);
        this.#opts.onError?.(err);
      },
    );
  }

  #listen(inner: DatagramTransport): void {
    inner.onMessage((buf, peer) => {
      if (inner === this.#inner && samePeer(peer, this.#server)) this.#session.receive(buf);
    });
  }

  #flush(): void {
    for (const q of this.#queue.splice(0)) this.send(q.buf, this.#server, q.done);
  }
}

/** The layer form: the handshake starts as soon as the layer is wrapped around the socket. */
export function dtlsClientLayer(opts: DtlsTransportOptions): TransportLayer {
  return (inner) => new DtlsTransport(inner, opts);
}
