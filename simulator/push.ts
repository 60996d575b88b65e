/**
 * Push delivery: the server writes the package to /5/0/0 with Block1, content-format 42 (LwM2M
 * 1.1 Core, Object 5 res. 0; RFC 7959 §2.3). Blocks go into the secondary slot in order, each
 * answered 2.31 Continue, the last one 2.04 Changed once the image checks out. A block larger than
 * the device takes gets 4.13 with a Block1 option naming the size it does take (§2.9.3); a block
 * past the next expected byte gets 4.08 Request Entity Incomplete (§2.9.2); a repeat of a block
 * already stored is answered again without writing. An empty Package resets the state machine.
 */
import { blockSize } from '../protocols/block.ts';
import { ContentFormat } from '../protocols/content-format.ts';
import { DecodeError } from '../protocols/errors.ts';
import { FirmwareState, UpdateResult } from '../protocols/objects.ts';
import type { BlockOption } from '../protocols/block.ts';
import type { Failure, Verdict } from './bootloader/verifier.ts';
import type { CoapReply, CoapRequest, ReplyFn } from './coap/messages.ts';
import type { DownloadSink } from './download.ts';
import type { FirmwareUpdateObject } from './objects/firmware-update.ts';

export interface PushHost {
  object: FirmwareUpdateObject;
  /** Largest block size exponent the device takes. */
  maxSzx: number;
  /** Bytes the slot takes (Size1 above it: 4.13). */
  capacity(): number;
  /** A fresh sink for a new transfer. */
  begin(): Promise<DownloadSink>;
  /** The last block is in and checked. */
  finished(verdict: Verdict): void;
  /** Changes a block before the sink sees it (the bit-flip fault). */
  mutate?: (chunk: Buffer, offset: number, total: number | undefined) => Buffer;
  /** After each stored block. */
  onBlock?: (offset: number, total: number | undefined) => void;
}

export class PushReceiver {
  readonly #host: PushHost;
  #sink: DownloadSink | undefined;
  #next = 0;
  #total: number | undefined;
  #queue: Promise<void> = Promise.resolve();
  /** Bumped by `cancel`: blocks of an older transfer are refused. */
  #generation = 0;

  constructor(host: PushHost) {
    this.#host = host;
  }

  get active(): boolean {
    return this.#sink !== undefined;
  }

  /** Resolves when no block is being written. */
  idle(): Promise<void> {
    return this.#queue;
  }

  /** A reset or Cancel: the transfer under way is dropped. */
  cancel(): void {
    this.#sink = undefined;
    this.#generation += 1;
  }

  /** The DM handler for a PUT or POST on /5/0/0. Replies later, once the block is in flash. */
  readonly handle = (req: CoapRequest, reply: ReplyFn): void => {
    const answer = this.#check(req);
    if ('code' in answer) {
      reply(answer);
      return;
    }
    const generation = this.#generation;
    this.#queue = this.#queue.then(async () => {
      try {
        reply(generation === this.#generation ? await this.#block(req, answer.block1) : { code: '4.08', payload: 'the transfer was cancelled' });
      } catch (err) {
        reply({ code: '5.00', payload: err instanceof Error ? err.message : 'internal error' });
      }
    });
  };

  #check(req: CoapRequest): CoapReply | { block1: BlockOption } {
    const o = this.#host.object;
    if (!o.acceptsPush) return { code: '4.05', payload: 'this device takes pull only (Delivery Method 0)' };
    const cf = req.options.contentFormat;
    if (cf !== undefined && cf !== ContentFormat.OPAQUE) return { code: '4.15', payload: 'the Package is opaque (content-format 42)' };
    let block1: BlockOption | undefined;
    try {
      block1 = req.options.block1;
    } catch (err) {
      if (err instanceof DecodeError) return { code: '4.00', payload: err.reason };
      throw err;
    }
    if (block1 === undefined) {
      // Object 5 res. 0: writing an empty Package resets the state machine.
      if (req.payload.length === 0) {
        const r = o.reset();
        if (!r.ok) return { code: r.code, payload: r.reason };
        this.cancel();
        r.after?.();
        return { code: '2.04' };
      }
      return { block1: { num: 0, more: false, szx: 6 } };
    }
    // RFC 7959 §2.9.3: 4.13 with a Block1 option giving the largest SZX we take.
    if (block1.szx > this.#host.maxSzx && block1.num === 0) {
      return { code: '4.13', block1: { num: 0, more: false, szx: this.#host.maxSzx }, payload: `blocks of at most ${blockSize(this.#host.maxSzx)} bytes` };
    }
    return { block1 };
  }

  async #block(req: CoapRequest, block1: BlockOption): Promise<CoapReply> {
    const o = this.#host.object;
    const size = req.options.block1 === undefined ? req.payload.length : blockSize(block1.szx);
    const offset = block1.num * size;
    if (block1.num === 0 && offset === 0) {
      if (o.state === FirmwareState.DOWNLOADING && o.packageUri !== '') return { code: '4.00', payload: 'a pull download is under way' };
      if (!o.pushStarted()) return { code: '4.00', payload: `cannot take a Package in State ${o.state}; write an empty Package to reset` };
      this.#sink = await this.#host.begin();
      this.#next = 0;
      this.#total = req.options.size1;
    }
    const sink = this.#sink;
    if (sink === undefined || o.state !== FirmwareState.DOWNLOADING) return { code: '4.08', payload: 'no transfer under way: start with block 0' };
    if (offset > this.#next) return { code: '4.08', payload: `block ${block1.num} skips bytes ${this.#next}…${offset - 1}` };
    if (block1.more && req.payload.length !== size) return { code: '4.00', payload: `block ${block1.num} has ${req.payload.length} bytes, expected ${size}` };
    if (this.#total !== undefined) {
      const refused = sink.announce(this.#total);
      if (refused !== undefined) return this.#refuse(refused);
    }
    const chunk = this.#host.mutate === undefined ? req.payload : this.#host.mutate(Buffer.from(req.payload), offset, this.#total);
    const refused = await sink.write(offset, chunk);
    if (refused !== undefined) return this.#refuse(refused);
    this.#next = Math.max(this.#next, offset + req.payload.length);
    this.#host.onBlock?.(this.#next, this.#total);
    const echo = req.options.block1 === undefined ? {} : { block1: { num: block1.num, more: block1.more, szx: block1.szx } };
    if (block1.more) return { code: '2.31', ...echo };
    const verdict = await sink.finish();
    this.#sink = undefined;
    this.#host.finished(verdict);
    return verdict.ok ? { code: '2.04', ...echo } : { code: '4.00', payload: verdict.reason };
  }

  #refuse(f: Failure): CoapReply {
    this.#sink = undefined;
    this.#host.finished(f);
    if (f.result === UpdateResult.NOT_ENOUGH_FLASH) return { code: '4.13', size1: this.#host.capacity(), payload: f.reason };
    return { code: '4.00', payload: f.reason };
  }
}
