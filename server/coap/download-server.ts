/**
 * The firmware download socket: a lean, stateless CoAP responder on coap-packet, on a UDP port of
 * its own (the one Package URIs name). Datagram in → parse → GET /fw/<id> → image slice → datagram
 * out. It keeps nothing per device: no exchange table, no response cache, no retransmission state.
 * A duplicate request (a retransmission) is answered again, identically: GET is safe and
 * idempotent and the answer depends on the request alone (RFC 7252 §4.5 allows this in place of
 * deduplication). Memory is O(images), held by the image cache. Every datagram crosses the guard
 * (guard.ts) first, and every requester the download access check (download-access.ts).
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { parse, type ParsedPacket } from 'coap-packet';
import { encodeBlock } from '../../protocols/block.ts';
import type { Logger } from '../log.ts';
import { AddressProof } from './address-proof.ts';
import type { DownloadAccess } from './download-access.ts';
import { EchoMinter } from './echo.ts';
import { answerFirmware, unknownCriticalOption, type BlockServed, type FwAnswer, type FwRequest } from './fw.ts';
import { BASIC_METHODS, GuardedSocket, SERVER_OPTIONS } from './guard.ts';
import type { ImageCache } from './image-cache.ts';
import { uintBuffer } from './message.ts';
import { encodeMessage, type MessageType } from './wire.ts';

/** Counters since start (exposed for metrics and tests). */
export interface DownloadStats {
  /** Requests answered (blocks and errors). */
  requests: number;
  /** 2.05 blocks sent. */
  blocks: number;
  /** 4.xx answers. */
  refused: number;
  /** Datagrams that are not CoAP (RFC 7252 §4.2: silently ignored). */
  malformed: number;
  /** Well-formed messages that need no answer: ACKs, RSTs, responses, non-confirmable pings. */
  ignored: number;
}

const METHODS: Record<string, string> = {
  '0.01': 'GET', '0.02': 'POST', '0.03': 'PUT', '0.04': 'DELETE', '0.05': 'FETCH', '0.06': 'PATCH', '0.07': 'iPATCH',
};
/** Linux caps this at net.core.rmem_max; a burst of thousands of requests must not overflow it. */
const RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;

export interface DownloadServerOptions {
  host: string;
  port: number;
  images: ImageCache;
  log: Logger;
  /** Shared with the LwM2M socket: an address proven on one is proven on both. */
  proof?: AddressProof;
  echo?: EchoMinter;
  /** Who may download now; without it every well-formed request is answered. */
  access?: DownloadAccess;
  unprovenRate?: { perSecond: number; burst: number };
  onBlock?: (b: BlockServed) => void;
}

export class DownloadServer {
  readonly socket: Socket;
  readonly guard: GuardedSocket;
  readonly stats: DownloadStats = { requests: 0, blocks: 0, refused: 0, malformed: 0, ignored: 0 };
  private readonly images: ImageCache;
  private readonly log: Logger;
  private readonly onBlock: ((b: BlockServed) => void) | undefined;
  private readonly access: DownloadAccess | undefined;
  /** Message IDs of our NON responses (RFC 7252 §4.4); one counter for the socket, not per peer. */
  private messageId = Math.floor(Math.random() * 0x10000);

  private constructor(guard: GuardedSocket, o: DownloadServerOptions) {
    this.guard = guard;
    this.socket = guard.socket;
    this.images = o.images;
    this.log = o.log;
    this.onBlock = o.onBlock;
    this.access = o.access;
    guard.on('message', (msg: Buffer, rinfo: RemoteInfo) => this.receive(msg, rinfo));
    guard.on('error', (err: Error) => this.log.warn({ err }, 'download socket error'));
  }

  static async listen(o: DownloadServerOptions): Promise<DownloadServer> {
    const family = isIPv6(o.host) ? 6 : 4;
    // Replies go to rinfo.address, always an IP literal: skip dns.lookup and its nextTick per datagram.
    const socket = createSocket({
      type: family === 6 ? 'udp6' : 'udp4',
      lookup: (address, _family, callback) => callback(null, address, family),
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(o.port, o.host, () => { socket.off('error', reject); resolve(); });
    });
    try { socket.setRecvBufferSize(RECEIVE_BUFFER_BYTES); } catch { /* the system default stays */ }
    const guard = new GuardedSocket({
      socket, name: 'download', proof: o.proof ?? new AddressProof(), echo: o.echo ?? new EchoMinter(), log: o.log, understood: SERVER_OPTIONS, methods: BASIC_METHODS,
      ...(o.unprovenRate ? { unprovenRate: o.unprovenRate } : {}),
    });
    return new DownloadServer(guard, o);
  }

  address(): { address: string; port: number } {
    const a = this.socket.address();
    return { address: a.address, port: a.port };
  }

  close(): Promise<void> {
    return new Promise<void>((resolve) => this.guard.close(() => resolve()));
  }

  private receive(msg: Buffer, rinfo: RemoteInfo): void {
    let packet: ParsedPacket;
    try {
      packet = parse(msg);
    } catch {
      this.stats.malformed++; // RFC 7252 §4.2, §4.3: a message that cannot be parsed is silently ignored
      return;
    }
    if (packet.ack || packet.reset) { this.stats.ignored++; return; } // we send nothing confirmable
    if (packet.code === '0.00') {
      // RFC 7252 §4.3: a confirmable empty message is a ping, answered with a Reset.
      if (packet.confirmable) this.reply(rinfo, 'RST', packet.messageId, Buffer.alloc(0), '0.00');
      else this.stats.ignored++;
      return;
    }
    const method = METHODS[packet.code];
    if (method === undefined) { this.stats.ignored++; return; } // a response or a reserved class: not for a server
    let block2: Buffer | undefined;
    let size2 = false;
    let accept: number | undefined;
    /** RFC 7252 §5.4.5: a repeated non-repeatable option is treated like an unrecognised one. */
    let repeated: number | undefined;
    const path: string[] = [];
    for (const o of packet.options) {
      if (o.name === 'Uri-Path') path.push(o.value.toString('utf8'));
      else if (o.name === 'Block2') {
        if (block2 !== undefined) repeated = 23;
        block2 = o.value;
      } else if (o.name === 'Size2') size2 = true;
      else if (o.name === 'Accept') {
        if (accept !== undefined) repeated = 17;
        accept = o.value.length === 0 ? 0 : o.value.readUIntBE(0, Math.min(o.value.length, 6));
      }
    }
    const req: FwRequest = { method, path, block2, size2, accept, unknownCritical: repeated ?? unknownCriticalOption(packet.options), address: rinfo.address };
    const type: MessageType = packet.confirmable ? 'ACK' : 'NON';
    if (path[0] !== 'fw') return this.answer(rinfo, type, packet, { code: '4.04', diagnostic: 'no such resource' });
    let answer: FwAnswer | Promise<FwAnswer>;
    try {
      answer = answerFirmware(req, this.images, this.access);
    } catch (err) {
      this.log.error({ err }, 'firmware answer failed');
      return;
    }
    if (!(answer instanceof Promise)) return this.answer(rinfo, type, packet, answer);
    // Whatever fails on the way (the image load, the answer) is logged; nothing rejects unhandled.
    answer.then((a) => this.answer(rinfo, type, packet, a))
      .catch((err: unknown) => this.log.error({ err }, 'firmware answer failed')); // the device retransmits
  }

  private answer(rinfo: RemoteInfo, type: MessageType, req: ParsedPacket, a: FwAnswer): void {
    // A CON request gets a piggybacked ACK with its Message ID (RFC 7252 §5.2.1); a NON one a NON (§5.2.3).
    const messageId = type === 'ACK' ? req.messageId : this.nextMessageId();
    this.stats.requests++;
    if (!('payload' in a)) {
      this.stats.refused++;
      this.log.debug({ from: `${rinfo.address}:${rinfo.port}`, code: a.code }, `download refused: ${a.diagnostic}`);
      this.reply(rinfo, type, messageId, req.token, a.code, a.options ?? [], Buffer.from(a.diagnostic, 'utf8'));
      return;
    }
    this.stats.blocks++;
    this.reply(rinfo, type, messageId, req.token, '2.05', responseOptions(a), a.payload);
    if (this.onBlock) {
      const b = a.block2 ?? { num: 0, more: false, szx: 6 };
      this.onBlock({ address: rinfo.address, port: rinfo.port, imageId: a.imageId, num: b.num, more: b.more, szx: b.szx });
    }
  }

  private reply(
    rinfo: RemoteInfo, type: MessageType, messageId: number, token: Buffer, code: string,
    options: ReadonlyArray<readonly [number, Buffer]> = [], payload?: Buffer,
  ): void {
    try {
      this.guard.send(encodeMessage({ type, code, messageId, token, options }, payload), rinfo.port, rinfo.address);
    } catch (err) {
      this.log.warn({ err }, 'download reply not sent'); // the socket closed; nothing throws past here
    }
  }

  private nextMessageId(): number {
    this.messageId = (this.messageId + 1) & 0xffff;
    return this.messageId;
  }
}

/** Content-Format 42, application/octet-stream (RFC 7252 §12.3). */
const OCTET_STREAM = uintBuffer(42);

/** ETag (4), Content-Format (12), Block2 (23), Size2 (28): in option-number order. */
function responseOptions(a: Extract<FwAnswer, { payload: Buffer }>): Array<readonly [number, Buffer]> {
  const options: Array<readonly [number, Buffer]> = [[4, a.etag], [12, OCTET_STREAM]];
  if (a.block2) options.push([23, encodeBlock(a.block2)]);
  if (a.size2 !== undefined) options.push([28, uintBuffer(a.size2)]);
  return options;
}
