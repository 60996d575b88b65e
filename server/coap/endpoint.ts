/**
 * Ferry's one UDP socket for LwM2M: node-coap's Server answers the device's requests (/rd, /fw)
 * and node-coap's Agent sends ours (Read, Write, Execute, Observe) from the SAME socket, so they
 * leave from the address and port the device registered to and pass its NAT binding.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { Agent, Server, type IncomingMessage, type OutgoingMessage } from 'coap';
import { generate as generatePacket } from 'coap-packet';
import { DecodeError } from '../../protocols/errors.ts';
import type { Logger } from '../log.ts';
import { CoapError, replyError } from './message.ts';

export type CoapHandler = (req: IncomingMessage, res: OutgoingMessage) => Promise<void> | void;

/**
 * The socket's receive buffer. The Linux default (~208 KiB) holds a few hundred small datagrams:
 * a fleet re-registering after an outage overflows it, and each lost Register costs its device a
 * CoAP retransmission (2–3 s, RFC 7252 §4.8). The kernel caps it at net.core.rmem_max.
 */
const RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;

export class CoapEndpoint {
  readonly socket: Socket;
  readonly server: Server;
  readonly agent: Agent;
  private readonly log: Logger;

  private constructor(socket: Socket, server: Server, agent: Agent, log: Logger) {
    this.socket = socket;
    this.server = server;
    this.agent = agent;
    this.log = log;
  }

  static async listen(opts: { host: string; port: number; log: Logger; handler: CoapHandler }): Promise<CoapEndpoint> {
    const socket = createSocket({ type: isIPv6(opts.host) ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(opts.port, opts.host, () => { socket.off('error', reject); resolve(); });
    });
    const log = opts.log;
    try {
      socket.setRecvBufferSize(RECEIVE_BUFFER_BYTES);
    } catch (err) {
      log.warn({ err }, 'could not enlarge the CoAP receive buffer');
    }
    log.debug({ bytes: socket.getRecvBufferSize() }, 'coap receive buffer');
    const server = new Server({ piggybackReplyMs: 200 });
    patchSendError(server, socket, log);
    server.listen(socket);
    server.on('error', (err: Error) => log.warn({ err }, 'coap server error'));
    server.on('request', (req: IncomingMessage, res: OutgoingMessage) => {
      void dispatch(opts.handler, req, res, log);
    });
    const agent = new Agent({ socket });
    keepRetransmissions(agent);
    agent.on('error', (err: Error) => log.warn({ err }, 'coap agent error'));
    return new CoapEndpoint(socket, server, agent, log);
  }

  address(): { address: string; port: number } {
    const a = this.socket.address();
    return { address: a.address, port: a.port };
  }

  async close(): Promise<void> {
    this.agent.close();
    this.server.close();
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
    this.log.debug('coap endpoint closed');
  }
}

async function dispatch(handler: CoapHandler, req: IncomingMessage, res: OutgoingMessage, log: Logger): Promise<void> {
  try {
    await handler(req, res);
  } catch (err) {
    const from = `${req.rsinfo.address}:${req.rsinfo.port}`;
    if (err instanceof CoapError) {
      log.info({ from, url: req.url, code: err.code }, `refused: ${err.message}`);
      safeReply(res, err.code, err.message);
    } else if (err instanceof DecodeError) {
      log.info({ from, url: req.url, code: err.code }, `bad request: ${err.reason}`);
      safeReply(res, '4.00', err.reason);
    } else {
      log.error({ err, from, url: req.url }, 'coap handler failed');
      safeReply(res, '5.00', 'internal error');
    }
  }
}

function safeReply(res: OutgoingMessage, code: string, diagnostic: string): void {
  // A response already sent cannot be sent again; the handler's failure came after it.
  if ((res as unknown as { writableEnded?: boolean }).writableEnded) return;
  try { replyError(res, code, diagnostic); } catch { /* the exchange is gone */ }
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
 * node-coap answers a datagram it cannot parse with a 5.00 sent to the right port on the wrong
 * host (it drops rsinfo.address). RFC 7252 §4.2/§4.3: a message that cannot be parsed is
 * silently ignored; we log it and drop it. An error thrown after parsing answers the right peer.
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
    const message = generatePacket({
      code, payload, messageId: packet.messageId, token: packet.token, ack: packet.confirmable === true,
    });
    socket.send(message, rsinfo.port, rsinfo.address);
  };
}
