/**
 * The firmware download socket: a lean, stateless CoAP responder on coap-packet, on a UDP port of
 * its own (the one Package URIs name). Datagram in → parse → GET /fw/<id> → image slice → datagram
 * out. It keeps nothing per device: no exchange table, no response cache, no retransmission state.
 * A duplicate request (a retransmission) is answered again, identically: GET is safe and
 * idempotent and the answer depends on the request alone (RFC 7252 §4.5 allows this in place of
 * deduplication). Memory is O(images), held by the image cache. Every datagram crosses the guard
 * (guard.ts) first, which has read it and answered what is malformed, a ping, or a request with an
 * option or method this socket does not serve; every requester meets the download access check
 * (download-access.ts).
 */
import type { RemoteInfo, Socket } from 'node:dgram';
import { encodeBlock } from '../../protocols/block.ts';
import { encodeMessage, optionValue, type CoapMessage, type CoapType } from '../../protocols/coap-message.ts';
import { CoapOption, decodeUint, encodeUint } from '../../protocols/coap-option.ts';
import { ContentFormat } from '../../protocols/content-format.ts';
import type { Logger } from '../log.ts';
import { AddressProof } from './address-proof.ts';
import type { DownloadAccess } from './download-access.ts';
import { EchoMinter } from './echo.ts';
import { answerFirmware, type BlockServed, type FwAnswer, type FwDeps, type FwRequest } from './fw.ts';
import { BASIC_METHODS, GuardedSocket, SERVER_OPTIONS, type GuardedListener } from './guard.ts';
import type { ImageCache } from './image-cache.ts';
import { dtlsOf, listenUdp, type DtlsLayerOptions } from './udp-socket.ts';
import type { DtlsSocket } from '../dtls/socket.ts';
import type { FirmwareGate } from './firmware-gate.ts';
import { coapRefusal } from './refusal.ts';

/** Counters since start (exposed for metrics and tests). */
export interface DownloadStats {
  /** Requests answered (blocks and errors). */
  requests: number;
  /** 2.05 blocks sent. */
  blocks: number;
  /** 4.xx answers. */
  refused: number;
  /** Messages that need no answer: ACKs, RSTs and responses (the guard counts what is malformed). */
  ignored: number;
}

/** Request codes the guard lets through (RFC 7252 §12.1.1); any other code is an answer or empty. */
const METHODS: Record<number, string> = { 1: 'GET', 2: 'POST', 3: 'PUT', 4: 'DELETE' };

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
  /** Which image a name stands for and who may fetch it (firmware-gate.ts); absent: /fw/<id> for any image. */
  gate?: FirmwareGate;
  /** coaps: the DTLS layer under the guard (udp-socket.ts); absent: plain CoAP. */
  dtls?: DtlsLayerOptions;
}

export class DownloadServer {
  readonly socket: Socket;
  readonly guard: GuardedSocket;
  readonly stats: DownloadStats = { requests: 0, blocks: 0, refused: 0, ignored: 0 };
  private readonly images: ImageCache;
  private readonly log: Logger;
  private readonly onBlock: ((b: BlockServed) => void) | undefined;
  private readonly access: DownloadAccess | undefined;
  private readonly gate: FirmwareGate | undefined;
  /** What answerFirmware needs, built once: the same for every request. */
  private readonly fw: FwDeps;
  /** The DTLS layer of a coaps download socket; undefined for plain CoAP. */
  readonly dtls: DtlsSocket | undefined;
  /** Message IDs of our NON responses (RFC 7252 §4.4); one counter for the socket, not per peer. */
  private messageId = Math.floor(Math.random() * 0x10000);

  private constructor(guard: GuardedSocket, o: DownloadServerOptions) {
    this.guard = guard;
    this.socket = guard.socket;
    this.images = o.images;
    this.log = o.log;
    this.onBlock = o.onBlock;
    this.access = o.access;
    this.gate = o.gate;
    this.fw = { images: o.images, ...(o.access ? { access: o.access } : {}), ...(o.gate ? { gate: o.gate } : {}) };
    this.dtls = dtlsOf(guard);
    guard.on('message', ((_msg, rinfo, m) => this.receive(m, rinfo)) satisfies GuardedListener);
    guard.on('error', (err: Error) => this.log.warn({ err }, 'download socket error'));
  }

  static async listen(o: DownloadServerOptions): Promise<DownloadServer> {
    // Replies go to rinfo.address, always an IP literal.
    const guard = await listenUdp({
      host: o.host, port: o.port, addressesOnly: true, ...guardOptions(o), name: o.dtls ? 'download-coaps' : 'download', ...(o.dtls ? { dtls: o.dtls } : {}),
    });
    return new DownloadServer(guard, o);
  }

  /** A download responder on a socket that exists already (plain-side.ts: plain CoAP on a DTLS port), named `name`. */
  static over(socket: Socket, name: string, o: Omit<DownloadServerOptions, 'host' | 'port' | 'dtls'>): DownloadServer {
    return new DownloadServer(new GuardedSocket({ socket, ...guardOptions(o), name }), { ...o, host: '', port: 0 });
  }

  address(): { address: string; port: number } {
    const a = this.socket.address();
    return { address: a.address, port: a.port };
  }

  close(): Promise<void> {
    return new Promise<void>((resolve) => this.guard.close(() => resolve()));
  }

  /** One message the guard let through: a request with a method and options this socket serves, or an answer. */
  private receive(m: CoapMessage, rinfo: RemoteInfo): void {
    const method = METHODS[m.code];
    if (method === undefined) { this.stats.ignored++; return; } // an ACK, a RST or a response: we send nothing confirmable
    const path: string[] = [];
    for (const [number, value] of m.options) if (number === CoapOption.URI_PATH) path.push(value.toString('utf8'));
    const accept = optionValue(m.options, CoapOption.ACCEPT);
    const req: FwRequest = {
      method, path, block2: optionValue(m.options, CoapOption.BLOCK2), size2: optionValue(m.options, CoapOption.SIZE2) !== undefined,
      accept: accept === undefined ? undefined : decodeUint(accept, 6), unknownCritical: undefined, address: rinfo.address,
      identity: this.dtls?.identityOf(rinfo.address, rinfo.port)?.toString('utf8'),
    };
    const type: CoapType = m.type === 'CON' ? 'ACK' : 'NON';
    if (path[0] !== 'fw') return this.answer(rinfo, type, m, coapRefusal('FERRY_COAP_NOT_FOUND', 'no such resource'));
    let answer: FwAnswer | Promise<FwAnswer>;
    try {
      answer = answerFirmware(req, this.fw);
    } catch (err) {
      this.log.error({ err }, 'firmware answer failed');
      return;
    }
    if (!(answer instanceof Promise)) return this.answer(rinfo, type, m, answer);
    // Whatever fails on the way (the image load, the answer) is logged; nothing rejects unhandled.
    answer.then((a) => this.answer(rinfo, type, m, a))
      .catch((err: unknown) => this.log.error({ err }, 'firmware answer failed')); // the device retransmits
  }

  private answer(rinfo: RemoteInfo, type: CoapType, req: CoapMessage, a: FwAnswer): void {
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
    rinfo: RemoteInfo, type: CoapType, messageId: number, token: Buffer, code: string,
    options: ReadonlyArray<readonly [number, Buffer]> = [], payload?: Buffer,
  ): void {
    // The guard's send never throws: a datagram the closing socket cannot take is lost, as UDP allows.
    this.guard.send(encodeMessage({ type, code, messageId, token, options }, payload), rinfo.port, rinfo.address);
  }

  private nextMessageId(): number {
    this.messageId = (this.messageId + 1) & 0xffff;
    return this.messageId;
  }
}

function guardOptions(o: Pick<DownloadServerOptions, 'proof' | 'echo' | 'log' | 'unprovenRate'>) {
  return {
    proof: o.proof ?? new AddressProof(), echo: o.echo ?? new EchoMinter(), log: o.log, understood: SERVER_OPTIONS, methods: BASIC_METHODS,
    ...(o.unprovenRate ? { unprovenRate: o.unprovenRate } : {}),
  };
}

/** Content-Format 42, application/octet-stream (RFC 7252 §12.3). */
const OCTET_STREAM = encodeUint(ContentFormat.OPAQUE);

/** ETag, Content-Format, Block2, Size2: in option-number order. */
function responseOptions(a: Extract<FwAnswer, { payload: Buffer }>): Array<readonly [number, Buffer]> {
  const options: Array<readonly [number, Buffer]> = [[CoapOption.ETAG, a.etag], [CoapOption.CONTENT_FORMAT, OCTET_STREAM]];
  if (a.block2) options.push([CoapOption.BLOCK2, encodeBlock(a.block2)]);
  if (a.size2 !== undefined) options.push([CoapOption.SIZE2, encodeUint(a.size2)]);
  return options;
}
