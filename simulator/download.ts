/**
 * The pull download of a firmware package: GET with Block2, one block at a time, in order
 * (RFC 7959 §2.4). The device picks its block size; a server that answers with a smaller one is
 * followed (the next NUM comes from the byte offset). Bytes go to a sink (the slot writer, which
 * checks them as they come). The ETag must stay the same, or the transfer starts over with a
 * fresh sink. A transfer may resume where a previous one left off — from the last whole block the
 * sink holds — as long as the ETag it answers with is the one saved (a resumed download).
 * The outcome carries an LwM2M Update Result code (Object 5, resource 5). Over coaps:// the
 * endpoint is the device's second DTLS session; a block that timed out is asked again in a new
 * session (the server may have restarted and forgotten the old one).
 */
import { blockSize } from '../protocols/block.ts';
import { UpdateResult } from '../protocols/objects.ts';
import type { Failure, Verdict } from './bootloader/verifier.ts';
import type { CoapEndpoint } from './coap/endpoint.ts';
import { isCoapError } from './coap/errors.ts';
import type { CoapResponse } from './coap/messages.ts';
import type { PackageLocation } from './objects/firmware-update.ts';

export interface DownloadSink {
  /** Image bytes already held: a resumed transfer goes on from the last whole block below this. */
  readonly written: number;
  announce(total: number): Failure | undefined;
  write(offset: number, chunk: Buffer): Promise<Failure | undefined>;
  finish(): Promise<Verdict>;
}

export interface BlockProgress {
  /** Image bytes received so far. */
  offset: number;
  total: number | undefined;
  etag: Buffer | undefined;
  /** What the sink holds in flash now (saved for a resume). */
  written: number;
}

export interface DownloadOptions {
  endpoint: CoapEndpoint;
  location: PackageLocation;
  /** Block size exponent we ask for (5 = 512 bytes). */
  szx: number;
  /** A fresh sink (from byte 0). */
  sink: () => Promise<DownloadSink>;
  /** Go on with this sink if the server still answers this ETag. */
  resume?: { sink: DownloadSink; etag: Buffer };
  signal?: AbortSignal;
  /** How often one block is asked again after a timeout before giving up; default 2. */
  blockRetries?: number;
  /** Before a block is asked again after a timeout: a new DTLS session (coaps:// only). */
  renewSession?: () => Promise<void>;
  /** How often the transfer may start over on an ETag change; default 3. */
  maxRestarts?: number;
  /** After each block is in the sink. */
  onBlock?: (p: BlockProgress) => void;
  /** Changes a block before the sink sees it (the bit-flip fault). */
  mutate?: (chunk: Buffer, offset: number, total: number | undefined) => Buffer;
}

export type DownloadOutcome =
  | { ok: true; verdict: Extract<Verdict, { ok: true }>; bytes: number; blocks: number; restarts: number; resumedAt: number | undefined }
  | { ok: false; result: number; reason: string; bytes: number; blocks: number };

class Stop extends Error {
  readonly result: number;
  constructor(result: number, reason: string) {
    super(reason);
    this.result = result;
  }
}

export async function downloadFirmware(opts: DownloadOptions): Promise<DownloadOutcome> {
  const counted = { blocks: 0, bytes: 0 };
  let resumedAt: number | undefined;
  try {
    let restarts = 0;
    let resume = opts.resume;
    for (;;) {
      const sink = resume?.sink ?? (await opts.sink());
      const start = resume === undefined ? 0 : sink.written - (sink.written % blockSize(opts.szx));
      if (resume !== undefined) resumedAt = start;
      const attempt = await transfer(opts, sink, start, resume?.etag, counted);
      resume = undefined;
      if (attempt !== 'restart') {
        if (!attempt.ok) throw new Stop(attempt.result, attempt.reason);
        return { ok: true, verdict: attempt, ...counted, restarts, resumedAt };
      }
      restarts += 1;
      if (restarts > (opts.maxRestarts ?? 3)) throw new Stop(UpdateResult.CONNECTION_LOST, 'the package kept changing (ETag) during the download');
    }
  } catch (err) {
    if (err instanceof Stop) return { ok: false, result: err.result, reason: err.message, ...counted };
    const reason = err instanceof Error ? err.message : String(err);
    return { ok: false, result: UpdateResult.CONNECTION_LOST, reason, ...counted };
  }
}

/** One pass from byte `start`; 'restart' when the ETag is not the one we started with. */
async function transfer(opts: DownloadOptions, sink: DownloadSink, start: number, savedEtag: Buffer | undefined, counted: { blocks: number; bytes: number }): Promise<'restart' | Verdict> {
  let szx = opts.szx;
  let offset = start;
  let etag = savedEtag;
  let total: number | undefined;
  let first = true;
  for (;;) {
    if (opts.signal?.aborted === true) throw new Stop(UpdateResult.CANCELLED, 'download cancelled');
    const num = offset / blockSize(szx);
    const res = await fetchBlock(opts, num, szx);
    if (res.code === '4.04') throw new Stop(UpdateResult.INVALID_URI, 'the package URI answered 4.04 Not Found');
    if (res.code !== '2.05') throw new Stop(UpdateResult.CONNECTION_LOST, `the package URI answered ${res.code}`);
    const block2 = res.options.block2;
    if (block2 !== undefined) {
      // RFC 7959 §2.4: the answer may use a smaller SZX; NUM × size must still be our offset.
      if (block2.num * blockSize(block2.szx) !== offset || block2.szx > szx) {
        throw new Stop(UpdateResult.CONNECTION_LOST, `asked for byte ${offset}, got block ${block2.num} of size ${blockSize(block2.szx)}`);
      }
      if (block2.more && res.payload.length !== blockSize(block2.szx)) {
        throw new Stop(UpdateResult.CONNECTION_LOST, `block ${block2.num} has ${res.payload.length} bytes, expected ${blockSize(block2.szx)}`);
      }
      szx = block2.szx;
    } else if (offset !== 0) {
      throw new Stop(UpdateResult.CONNECTION_LOST, 'the server stopped sending Block2');
    }
    counted.blocks += 1;
    counted.bytes += res.payload.length;
    const tag = res.options.etag;
    if (first && offset === 0) etag = tag;
    else if (!sameTag(etag, tag)) return 'restart';
    first = false;
    total = res.options.size2 ?? total;
    if (total !== undefined) {
      const refused = sink.announce(total);
      if (refused !== undefined) return refused;
    }
    const chunk = opts.mutate === undefined ? res.payload : opts.mutate(Buffer.from(res.payload), offset, total);
    const refused = await sink.write(offset, chunk);
    if (refused !== undefined) return refused;
    offset += res.payload.length;
    opts.onBlock?.({ offset, total, etag, written: sink.written });
    if (block2 === undefined || !block2.more) break;
  }
  return sink.finish();
}

/**
 * One block. A server that has not yet seen this address answer asks it to prove it receives
 * (RFC 9175 §2.4: 4.01 Unauthorized with an Echo); the request goes again with that Echo, once.
 */
async function fetchBlock(opts: DownloadOptions, num: number, szx: number): Promise<CoapResponse> {
  const first = await fetchBlockOnce(opts, num, szx);
  const echo = first.code === '4.01' ? first.options.echo : undefined;
  return echo === undefined ? first : fetchBlockOnce(opts, num, szx, echo);
}

async function fetchBlockOnce(opts: DownloadOptions, num: number, szx: number, echo?: Buffer): Promise<CoapResponse> {
  const { host, port, pathSegments, query } = opts.location;
  const retries = opts.blockRetries ?? 2;
  for (let attempt = 0; ; attempt++) {
    try {
      return await opts.endpoint.request({
        ...(echo === undefined ? {} : { echo }),
        host,
        port,
        method: 'GET',
        pathSegments,
        query,
        block2: { num, more: false, szx },
        // RFC 7959 §4: Size2 = 0 on the first block asks for the total size.
        ...(num === 0 ? { size2: 0 } : {}),
        ...(opts.signal === undefined ? {} : { signal: opts.signal }),
      });
    } catch (err) {
      if (isCoapError(err, 'COAP_CANCELLED')) throw new Stop(UpdateResult.CANCELLED, 'download cancelled');
      if (isCoapError(err, 'COAP_TIMEOUT') && attempt < retries && opts.signal?.aborted !== true) {
        await opts.renewSession?.().catch(() => undefined); // a failed handshake: the next request tries again
        continue;
      }
      const reason = err instanceof Error ? err.message : String(err);
      throw new Stop(UpdateResult.CONNECTION_LOST, `block ${num}: ${reason}`);
    }
  }
}

function sameTag(a: Buffer | undefined, b: Buffer | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.equals(b);
}
