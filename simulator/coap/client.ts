/**
 * The client role of the endpoint: requests with fresh tokens, matched to their responses by
 * token (RFC 7252 §5.3.2), piggybacked in the ACK or separate (CON/NON), CON retransmission
 * through the outbox, RST and an overall timeout as typed errors, and Observe notifications
 * for requests that asked for them.
 */
import { isIP } from 'node:net';
import type { ParsedPacket } from 'coap-packet';
import { CoapOptions, encodeOptions } from './codec.ts';
import { CoapError, CoapErrorCode } from './errors.ts';
import { METHOD_CODES, toPayload } from './messages.ts';
import type { CoapResponse, Peer, RequestParams } from './messages.ts';
import type { Outbox } from './outbox.ts';
import type { Wire } from './wire.ts';

interface PendingRequest {
  readonly tokenHex: string;
  readonly peer: Peer;
  readonly resolve: (res: CoapResponse) => void;
  readonly reject: (err: Error) => void;
  readonly onNotify: RequestParams['onNotify'];
  timer: unknown;
  stopSending: () => void;
  observing: boolean;
  unlisten: () => void;
}

export class ClientExchanges {
  readonly #wire: Wire;
  readonly #outbox: Outbox;
  readonly #requestTimeoutMs: number;
  readonly #maxRetransmit: number;
  readonly #requests = new Map<string, PendingRequest>();

  constructor(wire: Wire, outbox: Outbox, requestTimeoutMs: number, maxRetransmit: number) {
    this.#wire = wire;
    this.#outbox = outbox;
    this.#requestTimeoutMs = requestTimeoutMs;
    this.#maxRetransmit = maxRetransmit;
  }

  request(p: RequestParams): Promise<CoapResponse> {
    if (p.signal?.aborted === true) return Promise.reject(new CoapError(CoapErrorCode.CANCELLED, 'request cancelled'));
    const peer = { address: p.host, port: p.port };
    const token = this.#newToken();
    const messageId = this.#wire.newMessageId();
    const confirmable = p.confirmable ?? true;
    let buf: Buffer;
    try {
      const options = encodeOptions({ ...p, uriPath: p.pathSegments, uriQuery: p.query });
      buf = this.#wire.encode({ code: METHOD_CODES[p.method], messageId, token, confirmable, options, payload: toPayload(p.payload) });
    } catch (err) {
      return Promise.reject(new CoapError(CoapErrorCode.ENCODE, err instanceof Error ? err.message : String(err)));
    }
    const timeoutMs = p.timeoutMs ?? this.#requestTimeoutMs;
    return new Promise<CoapResponse>((resolve, reject) => {
      const pending: PendingRequest = {
        tokenHex: token.toString('hex'),
        peer,
        resolve,
        reject,
        onNotify: p.onNotify,
        timer: undefined,
        stopSending: () => {},
        observing: false,
        unlisten: () => {},
      };
      this.#requests.set(pending.tokenHex, pending);
      const signal = p.signal;
      if (signal !== undefined) {
        const onAbort = (): void => this.#fail(pending, new CoapError(CoapErrorCode.CANCELLED, 'request cancelled'));
        signal.addEventListener('abort', onAbort, { once: true });
        pending.unlisten = () => signal.removeEventListener('abort', onAbort);
      }
      pending.timer = this.#wire.clock.setTimeout(() => {
        this.#fail(pending, new CoapError(CoapErrorCode.TIMEOUT, `no response within ${timeoutMs} ms`));
      }, timeoutMs);
      pending.stopSending = this.#outbox.send(peer, messageId, buf, confirmable, {
        onAck: (msg) => {
          if (msg.code !== '0.00') this.onResponse(msg, peer, 'piggybacked');
        },
        onReset: () => this.#fail(pending, new CoapError(CoapErrorCode.RESET, 'peer answered with Reset')),
        onGiveUp: () => {
          if (!confirmable) return;
          this.#fail(pending, new CoapError(CoapErrorCode.TIMEOUT, `no ACK after ${this.#maxRetransmit} retransmissions`));
        },
      });
    });
  }

  /** Matches a response to its request by token; false if nobody waits for it (answer RST). */
  onResponse(msg: ParsedPacket, peer: Peer, transport: CoapResponse['transport']): boolean {
    const pending = this.#requests.get(msg.token.toString('hex'));
    if (pending === undefined || !samePeer(pending.peer, peer)) return false;
    const res: CoapResponse = {
      code: msg.code,
      options: new CoapOptions(msg.options),
      payload: msg.payload,
      token: msg.token,
      messageId: msg.messageId,
      peer,
      transport,
    };
    if (pending.observing) {
      let keep = true;
      this.#wire.guard(() => {
        keep = pending.onNotify?.(res) !== false;
      });
      if (!keep) this.#finish(pending);
      return keep;
    }
    // RFC 7252 §5.2.2: a separate response also acknowledges our request.
    pending.stopSending();
    if (pending.onNotify !== undefined && res.options.observe !== undefined && msg.code.startsWith('2.')) {
      pending.observing = true;
      this.#wire.clock.clearTimeout(pending.timer);
    } else {
      this.#finish(pending);
    }
    pending.resolve(res);
    return true;
  }

  /** Rejects everything pending with COAP_CLOSED. */
  closeAll(): void {
    const pending = [...this.#requests.values()];
    this.#requests.clear();
    for (const p of pending) {
      this.#wire.clock.clearTimeout(p.timer);
      p.unlisten();
      p.reject(new CoapError(CoapErrorCode.CLOSED, 'endpoint closed'));
    }
  }

  #newToken(): Buffer {
    for (;;) {
      const token = Buffer.alloc(4);
      token.writeUInt32BE(Math.floor(this.#wire.random() * 0x100000000) >>> 0);
      if (!this.#requests.has(token.toString('hex'))) return token;
    }
  }

  #finish(pending: PendingRequest): void {
    if (this.#requests.get(pending.tokenHex) === pending) this.#requests.delete(pending.tokenHex);
    this.#wire.clock.clearTimeout(pending.timer);
    pending.stopSending();
    pending.unlisten();
  }

  #fail(pending: PendingRequest, err: CoapError): void {
    if (this.#requests.get(pending.tokenHex) !== pending) return;
    this.#finish(pending);
    pending.reject(err);
  }
}

/** Responses must come from the endpoint we asked; a host name matches any address on that port. */
function samePeer(asked: Peer, from: Peer): boolean {
  if (asked.port !== from.port) return false;
  return isIP(asked.address) === 0 || asked.address === from.address;
}
