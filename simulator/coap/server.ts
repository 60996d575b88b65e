/**
 * The server role of the endpoint: one handler for incoming requests. A CON request is answered
 * piggybacked in the ACK (RFC 7252 §5.2.1), a NON one with a NON response (§5.2.3). A duplicate
 * (same peer and Message ID within EXCHANGE_LIFETIME) is not handled again; a duplicate CON gets
 * the cached answer (§4.5). Unknown critical options give 4.02 (§5.4.1); a handler that throws
 * gives 5.00.
 */
import type { ParsedPacket } from 'coap-packet';
import { CoapOptions, encodeOptions } from './codec.ts';
import type { DedupCache } from './dedup.ts';
import { methodOfCode, toPayload } from './messages.ts';
import type { CoapReply, CoapRequest, Peer, RequestHandler } from './messages.ts';
import { peerKey } from './outbox.ts';
import type { Wire } from './wire.ts';

export class ServerExchanges {
  readonly #wire: Wire;
  readonly #dedup: DedupCache;
  handler: RequestHandler | undefined;

  constructor(wire: Wire, dedup: DedupCache) {
    this.#wire = wire;
    this.#dedup = dedup;
  }

  onRequest(msg: ParsedPacket, peer: Peer): void {
    const method = methodOfCode(msg.code);
    if (msg.ack || method === undefined) {
      this.#wire.stats.malformed += 1;
      return;
    }
    const key = `${peerKey(peer)}/${msg.messageId}`;
    const now = this.#wire.clock.now();
    const seen = this.#dedup.get(key, now);
    if (seen !== undefined) {
      this.#wire.stats.duplicates += 1;
      if (seen.response !== undefined) this.#wire.send(seen.response, peer);
      return;
    }
    const entry = this.#dedup.add(key, now);
    let replied = false;
    const reply = (r: CoapReply): void => {
      if (replied) return;
      replied = true;
      const head = msg.confirmable
        ? { messageId: msg.messageId, token: msg.token, ack: true }
        : { messageId: this.#wire.newMessageId(), token: msg.token, ack: false };
      let buf: Buffer;
      try {
        buf = this.encodeReply(r, { ...head, confirmable: false });
      } catch {
        buf = this.encodeReply({ code: '5.00', payload: 'response too large' }, { ...head, confirmable: false });
      }
      if (msg.confirmable) entry.response = buf;
      this.#wire.send(buf, peer);
    };
    const options = new CoapOptions(msg.options);
    const req: CoapRequest = {
      method,
      code: msg.code,
      peer,
      token: msg.token,
      messageId: msg.messageId,
      confirmable: msg.confirmable,
      options,
      pathSegments: options.uriPath,
      payload: msg.payload,
    };
    const critical = options.unknownCritical();
    if (critical.length > 0) {
      reply({ code: '4.02', payload: `unrecognized critical option ${critical[0]}` });
      return;
    }
    const handler = this.handler;
    if (handler === undefined) {
      reply({ code: '4.04', payload: 'no resources here' });
      return;
    }
    try {
      handler(req, reply);
    } catch {
      this.#wire.stats.handlerErrors += 1;
      reply({ code: '5.00', payload: 'internal error' });
    }
  }

  encodeReply(r: CoapReply, head: { messageId: number; token: Buffer; confirmable: boolean; ack: boolean }): Buffer {
    return this.#wire.encode({ ...head, code: r.code, options: encodeOptions(r), payload: toPayload(r.payload) });
  }
}
