/**
 * DTLS as a layer of the simulator's transport seam (../coap/transport.ts): wrapped around a UDP
 * socket (or the fault layer), it runs the client handshake with one server and then carries the
 * CoAP endpoint's datagrams as DTLS application data, one datagram per record. Datagrams sent
 * before the handshake ends wait for it; datagrams for another peer, or from another peer, are
 * refused. `rebind` moves the session to a new socket (a NAT rebinding), which only a session
 * with a Connection ID survives (RFC 9146 §6).
 */
import { realClock } from '../clock.ts';
import type { Clock } from '../clock.ts';
import type { Peer } from '../coap/outbox.ts';
import type { DatagramTransport, TransportLayer } from '../coap/transport.ts';
import { DtlsError } from './errors.ts';
import { DtlsSession } from './session.ts';
import type { DtlsClientOptions } from './session.ts';

export interface DtlsTransportOptions extends DtlsClientOptions {
  /** The DTLS server (its address and DTLS port). */
  server: Peer;
  /** Reports the handshake failing or the session ending by alert. */
  onError?: (err: DtlsError) => void;
  /** The server ended the session with close_notify (RFC 5246 §7.2.1). */
  onClosed?: () => void;
}

const samePeer = (a: Peer, b: Peer): boolean => a.port === b.port && a.address === b.address;

export class DtlsTransport implements DatagramTransport {
  readonly session: DtlsSession;
  readonly #server: Peer;
  #inner: DatagramTransport;
  #handler: (buf: Buffer, peer: Peer) => void = () => {};
  #queue: { buf: Buffer; done: ((err?: Error) => void) | undefined }[] = [];
  #failed: DtlsError | undefined;
  readonly #clock: Clock;
  #lastSend: Promise<void> = Promise.resolve();

  constructor(inner: DatagramTransport, opts: DtlsTransportOptions) {
    this.#inner = inner;
    this.#server = opts.server;
    this.#clock = opts.clock ?? realClock;
    this.session = new DtlsSession((datagram) => {
      this.#lastSend = new Promise<void>((resolve) => this.#inner.send(datagram, this.#server, () => resolve()));
    }, opts);
    this.session.onData = (data) => this.#handler(data, this.#server);
    this.session.onClose = (err) => {
      if (err !== undefined) opts.onError?.(err);
      else opts.onClosed?.();
    };
    this.#listen(inner);
    this.session.start().then(
      () => this.#flush(),
      (err: DtlsError) => {
        this.#failed = err;
        for (const q of this.#queue.splice(0)) q.done?.(err);
        opts.onError?.(err);
      },
    );
  }

  /** Settles when the handshake ends. */
  get ready(): Promise<void> {
    return this.session.ready;
  }

  send(buf: Buffer, peer: Peer, done?: (err?: Error) => void): void {
    if (!samePeer(peer, this.#server)) {
      done?.(new DtlsError('protocol', `DTLS session is with ${this.#server.address}:${this.#server.port}, not ${peer.address}:${peer.port}`));
      return;
    }
    if (this.#failed !== undefined) {
      done?.(this.#failed);
      return;
    }
    if (!this.session.established) {
      this.#queue.push({ buf, done });
      return;
    }
    try {
      this.session.sendApplicationData(buf);
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
   * Sends close_notify, then closes the socket underneath once the alert has left (or after
   * 200 ms: a layer below may drop it without a word).
   */
  async close(): Promise<void> {
    this.session.close();
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
    if (this.session.peerCid === undefined) throw new DtlsError('protocol', 'rebinding needs a Connection ID from the server (RFC 9146)');
    const old = this.#inner;
    this.#inner = next;
    this.#listen(next);
    await old.close();
  }

  #listen(inner: DatagramTransport): void {
    inner.onMessage((buf, peer) => {
      if (inner === this.#inner && samePeer(peer, this.#server)) this.session.receive(buf);
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
