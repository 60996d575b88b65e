/**
 * GET /fw/<name>: the firmware download answer (RFC 7959 Block2), stateless, whatever socket
 * carried the request. Request in → image lookup (cache) → slice without copying → answer out. No
 * per-device state: each block is computed from the request alone. The lean download socket
 * (download-server.ts) and the LwM2M socket (node-coap, `firmwareResponder` below, for Package URIs
 * that name the CoAP port) both answer through `answerFirmware`.
 */
import type { IncomingMessage, OutgoingMessage } from 'coap';
import { blockSlice, decodeBlock, encodeBlock, type BlockOption } from '../../protocols/block.ts';
import { ContentFormat } from '../../protocols/content-format.ts';
import { DecodeError } from '../../protocols/errors.ts';
import { CoapOption, encodeUint, isCritical, optionNumber } from '../../protocols/coap-option.ts';
import type { DownloadAccess, DownloadAccessVerdict } from './download-access.ts';
import type { FirmwareGate } from './firmware-gate.ts';
import { SERVER_OPTIONS } from './guard.ts';
import type { CachedImage, ImageCache } from './image-cache.ts';
import { contentFormatOf, optionBuffer, replyError, send } from './message.ts';
import { coapRefusal, type CoapRefusal } from './refusal.ts';

/** The size we answer at when the device does not ask (RFC 7959 §2.4): SZX 6 = 1024 bytes. */
export const DEFAULT_SZX = 6;

/** What the answer needs from a request, whichever CoAP stack parsed it. */
export interface FwRequest {
  /** 'GET', 'POST', … */
  method: string;
  /** Uri-Path segments, 'fw' first. */
  path: string[];
  /** The Block2 option's raw value, when present. */
  block2: Buffer | undefined;
  /** A Size2 option was present (RFC 7959 §4: Size2 = 0 in a request asks for the size). */
  size2: boolean;
  accept: number | undefined;
  /** The first critical option the responder does not understand (RFC 7252 §5.4.1). */
  unknownCritical: number | undefined;
  /** The requester's IP, for the download access check. */
  address?: string;
  /** Over DTLS: the PSK identity of the requester's session. */
  identity?: string | undefined;
}

export type FwAnswer =
  | { code: '2.05'; imageId: number; etag: Buffer; block2: BlockOption | undefined; size2: number | undefined; payload: Buffer }
  | CoapRefusal & { options?: Array<[number, Buffer]> };

/** The critical options a GET /fw understands: the server's (Uri-Host, Uri-Port, Uri-Path, Uri-Query (ignored), Accept, Block2). */
const UNDERSTOOD = SERVER_OPTIONS;

/** The first critical option (RFC 7252 §5.4.6) outside UNDERSTOOD, by the name coap-packet gives it or its number. */
export function unknownCriticalOption(options: ReadonlyArray<{ name: string | number }>): number | undefined {
  for (const o of options) {
    const n = typeof o.name === 'number' ? o.name : optionNumber(o.name);
    if (n !== undefined && isCritical(n) && !UNDERSTOOD.has(n)) return n;
  }
  return undefined;
}

const NOT_FOUND = coapRefusal('FERRY_FW_NOT_FOUND', 'no such firmware image');

/** What answering a request takes: the images, and who may fetch what. */
export interface FwDeps {
  images: ImageCache;
  /** Who may download now (address proof, rates); absent: anyone. */
  access?: DownloadAccess;
  /** Which image a name stands for and whether the requester may fetch it (firmware-gate.ts); absent: /fw/<id> for any image. */
  gate?: FirmwareGate;
}

/**
 * The answer to one request; synchronous when the image is in memory and the requester may
 * download (the per-block path). `access` checks the requester first (download-access.ts), then
 * `gate` which image the path names and whether this requester may have it.
 */
export function answerFirmware(req: FwRequest, deps: FwDeps): FwAnswer | Promise<FwAnswer> {
  if (req.unknownCritical !== undefined) return coapRefusal('FERRY_COAP_BAD_OPTION', `option ${req.unknownCritical} is critical and not supported`);
  if (req.method !== 'GET') return coapRefusal('FERRY_COAP_METHOD_NOT_ALLOWED', 'only GET is allowed on /fw');
  const segment = req.path[1];
  if (req.path.length !== 2 || segment === undefined) return NOT_FOUND;
  // RFC 7252 §5.10.4: an Accept we cannot satisfy is 4.06.
  if (req.accept !== undefined && req.accept !== ContentFormat.OPAQUE) return coapRefusal('FERRY_FW_NOT_ACCEPTABLE', 'firmware is application/octet-stream (42) only');
  if (deps.access === undefined || req.address === undefined) return gated(req, segment, deps);
  const verdict = deps.access.check(req.address);
  if (verdict instanceof Promise) return verdict.then((v) => refusal(v) ?? gated(req, segment, deps));
  return refusal(verdict) ?? gated(req, segment, deps);
}

/** The image the gate lets this requester have, then the block asked for. */
function gated(req: FwRequest, segment: string, deps: FwDeps): FwAnswer | Promise<FwAnswer> {
  if (deps.gate === undefined) return /^[1-9]\d{0,15}$/.test(segment) ? answerBlock(req, Number(segment), deps.images) : NOT_FOUND;
  const resolved = deps.gate.resolve(segment, { address: req.address ?? '', identity: req.identity });
  if (resolved instanceof Promise) return resolved.then((r) => (typeof r === 'number' ? answerBlock(req, r, deps.images) : r));
  return typeof resolved === 'number' ? answerBlock(req, resolved, deps.images) : resolved;
}

/** The answer for a requester that may not download now; undefined when it may. */
function refusal(v: DownloadAccessVerdict): FwAnswer | undefined {
  // RFC 9175 §2.4: 4.01 with an Echo and no payload, well within three times the request's size.
  if (v.kind === 'echo') return { code: '4.01', diagnostic: '', options: [[CoapOption.ECHO, v.echo]] };
  if (v.kind === 'busy') return { ...coapRefusal('FERRY_FW_RATE_LIMITED', 'too many requests from this address'), options: [[CoapOption.MAX_AGE, encodeUint(v.maxAge)]] };
  return undefined;
}

function answerBlock(req: FwRequest, id: number, images: ImageCache): FwAnswer | Promise<FwAnswer> {
  let asked: BlockOption | undefined;
  try {
    asked = req.block2 === undefined ? undefined : decodeBlock(req.block2);
  } catch (err) {
    if (!(err instanceof DecodeError)) throw err;
    // RFC 7959 §2.2: SZX 7 in a request is 4.00; RFC 7252 §5.4.3: a too-long value is an unrecognised (critical) option.
    return coapRefusal(err.code === 'block.szx' ? 'FERRY_BLOCK_INVALID' : 'FERRY_COAP_BAD_OPTION', err.reason);
  }
  const image = images.cached(id);
  if (image) return blockAnswer(id, image, asked, req.size2);
  return images.get(id).then((loaded) => (loaded ? blockAnswer(id, loaded, asked, req.size2) : NOT_FOUND));
}

function blockAnswer(imageId: number, image: CachedImage, asked: BlockOption | undefined, size2Asked: boolean): FwAnswer {
  const total = image.payload.length;
  const szx = Math.min(asked?.szx ?? DEFAULT_SZX, DEFAULT_SZX);
  const num = asked ? asked.num : 0;
  const slice = blockSlice(num, szx, total);
  // RFC 7959 §2.2: a block beyond the end of the representation is a bad option.
  if (!slice) return coapRefusal('FERRY_BLOCK_PAST_END', `block ${num} is past the end (${total} bytes)`);
  return {
    code: '2.05', imageId, etag: image.etag,
    // RFC 7959 §2.4: without Block2 in the request, block 0 at our size with M=1 when it does not fit.
    block2: asked || slice.more ? { num, more: slice.more, szx } : undefined,
    // RFC 7959 §4: Size2 tells the total on the first block, or whenever the request carries Size2.
    size2: num === 0 || size2Asked ? total : undefined,
    payload: image.payload.subarray(slice.start, slice.end),
  };
}

export interface BlockServed {
  address: string;
  port: number;
  imageId: number;
  num: number;
  szx: number;
  more: boolean;
}

/** GET /fw/<name> on the LwM2M socket (node-coap), for Package URIs that name the CoAP port. */
export function firmwareResponder(opts: FwDeps & { onBlock?: (b: BlockServed) => void; identityOf?: ((address: string, port: number) => Buffer | undefined) | undefined }) {
  return async function handleFirmware(req: IncomingMessage, res: OutgoingMessage, segments: string[]): Promise<void> {
    const options = (req as unknown as { options?: Array<{ name: string | number }> }).options ?? [];
    const answer = await answerFirmware({
      method: req.method, path: segments, block2: optionBuffer(req, 'Block2'), address: req.rsinfo.address,
      identity: opts.identityOf?.(req.rsinfo.address, req.rsinfo.port)?.toString('utf8'),
      size2: optionBuffer(req, 'Size2') !== undefined, accept: contentFormatOf(req, 'Accept'), unknownCritical: unknownCriticalOption(options),
    }, opts);
    if (!('payload' in answer)) {
      for (const [number, value] of answer.options ?? []) res.setOption(String(number), value);
      return replyError(res, answer);
    }
    res.code = '2.05';
    res.setOption('ETag', answer.etag);
    res.setOption('Content-Format', ContentFormat.OPAQUE);
    if (answer.block2) res.setOption('Block2', encodeBlock(answer.block2));
    if (answer.size2 !== undefined) res.setOption('Size2', answer.size2);
    const b = answer.block2 ?? { num: 0, more: false, szx: DEFAULT_SZX };
    opts.onBlock?.({ address: req.rsinfo.address, port: req.rsinfo.port, imageId: answer.imageId, ...b });
    // node-coap's own end() would re-slice and cache per client; the slice here is already the block.
    send(res, answer.payload);
  };
}
