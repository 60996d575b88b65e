/**
 * GET /fw/<image id>: the firmware download responder (RFC 7959 Block2), stateless.
 * Request in → image lookup (cache) → slice without copying → response out. No per-device state:
 * each block is computed from the request alone.
 */
import type { IncomingMessage, OutgoingMessage } from 'coap';
import { blockSlice, decodeBlock, encodeBlock, type BlockOption } from '../../protocols/block.ts';
import { ContentFormat } from '../../protocols/content-format.ts';
import type { ImageCache } from './image-cache.ts';
import { optionBuffer, replyError, send } from './message.ts';

/** The size we answer at when the device does not ask (RFC 7959 §2.4): SZX 6 = 1024 bytes. */
export const DEFAULT_SZX = 6;

export interface BlockServed {
  address: string;
  port: number;
  imageId: number;
  num: number;
  szx: number;
  more: boolean;
}

export function firmwareResponder(opts: { images: ImageCache; onBlock?: (b: BlockServed) => void }) {
  return async function handleFirmware(req: IncomingMessage, res: OutgoingMessage, segments: string[]): Promise<void> {
    if (req.method !== 'GET') return replyError(res, '4.05', 'only GET is allowed on /fw');
    const idText = segments[1];
    if (segments.length !== 2 || idText === undefined || !/^[1-9]\d{0,15}$/.test(idText)) {
      return replyError(res, '4.04', 'no such firmware image');
    }
    const raw = optionBuffer(req, 'Block2');
    const asked: BlockOption | undefined = raw === undefined ? undefined : decodeBlock(raw); // DecodeError → 4.00
    const image = await opts.images.get(Number(idText));
    if (!image) return replyError(res, '4.04', 'no such firmware image');

    const total = image.payload.length;
    const szx = Math.min(asked?.szx ?? DEFAULT_SZX, DEFAULT_SZX);
    const num = asked ? asked.num : 0;
    const slice = blockSlice(num, szx, total);
    // RFC 7959 §2.2: a block beyond the end of the representation is a bad option.
    if (!slice) return replyError(res, '4.02', `block ${num} is past the end (${total} bytes)`);

    res.code = '2.05';
    res.setOption('Content-Format', ContentFormat.OPAQUE);
    res.setOption('ETag', image.etag);
    if (asked || slice.more) res.setOption('Block2', encodeBlock({ num, more: slice.more, szx }));
    // Size2 (RFC 7959 §4) tells the total on the first block, or whenever asked for with Size2=0.
    if (num === 0 || optionBuffer(req, 'Size2') !== undefined) res.setOption('Size2', total);
    opts.onBlock?.({ address: req.rsinfo.address, port: req.rsinfo.port, imageId: Number(idText), num, szx, more: slice.more });
    // node-coap's own end() would re-slice and cache per client; the slice here is already the block.
    send(res, image.payload.subarray(slice.start, slice.end));
  };
}
