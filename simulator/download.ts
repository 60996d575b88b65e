/**
 * The pull download of a firmware package: GET with Block2, one block at a time, in order
 * (RFC 7959 §2.4). The device picks its block size; a server that answers with a smaller one
 * is followed (the next NUM comes from the byte offset). The ETag must stay the same, or the
 * transfer starts over. Bytes go into a running SHA-256 (SimImageVerifier); they are kept only
 * if asked. The outcome is an LwM2M Update Result code (Object 5, resource 5).
 */
import { blockSize } from '../protocols/block.ts';
import { UpdateResult } from '../protocols/objects.ts';
import type { CoapEndpoint } from './coap/endpoint.ts';
import { isCoapError } from './coap/errors.ts';
import type { CoapResponse } from './coap/messages.ts';
import { SimImageVerifier } from './image.ts';
import type { PackageLocation } from './objects/firmware-update.ts';

export interface DownloadOptions {
  endpoint: CoapEndpoint;
  location: PackageLocation;
  /** Block size exponent we ask for (5 = 512 bytes). */
  szx: number;
  signal?: AbortSignal;
  keepImage?: boolean;
  /** Space for the image; a larger Size2 gives Update Result 2 (not enough flash). */
  maxBytes?: number;
  /** How often one block is asked again after a timeout before giving up; default 2. */
  blockRetries?: number;
  /** How often the transfer may start over on an ETag change; default 3. */
  maxRestarts?: number;
  onBlock?: (bytes: number, total: number | undefined) => void;
}

export type DownloadOutcome =
  | { ok: true; version: string; bytes: number; blocks: number; restarts: number; image?: Buffer }
  | { ok: false; result: number; reason: string; bytes: number; blocks: number };

class Failure extends Error {
  readonly result: number;
  constructor(result: number, reason: string) {
    super(reason);
    this.result = result;
  }
}

export async function downloadFirmware(opts: DownloadOptions): Promise<DownloadOutcome> {
  let blocks = 0;
  let bytes = 0;
  try {
    let restarts = 0;
    for (;;) {
      const attempt = await transfer(opts, (n) => {
        blocks += 1;
        bytes += n;
      });
      if (attempt !== 'restart') return { ...attempt, restarts };
      restarts += 1;
      if (restarts > (opts.maxRestarts ?? 3)) throw new Failure(UpdateResult.CONNECTION_LOST, 'the package kept changing (ETag) during the download');
    }
  } catch (err) {
    if (err instanceof Failure) return { ok: false, result: err.result, reason: err.message, bytes, blocks };
    const reason = err instanceof Error ? err.message : String(err);
    return { ok: false, result: UpdateResult.CONNECTION_LOST, reason, bytes, blocks };
  }
}

/** One pass from byte 0; 'restart' when the ETag changed under us. */
async function transfer(
  opts: DownloadOptions,
  counted: (n: number) => void,
): Promise<'restart' | { ok: true; version: string; bytes: number; blocks: number; image?: Buffer }> {
  const verifier = new SimImageVerifier();
  const kept: Buffer[] = [];
  let szx = opts.szx;
  let offset = 0;
  let blocks = 0;
  let etag: Buffer | undefined;
  let total: number | undefined;
  for (;;) {
    if (opts.signal?.aborted === true) throw new Failure(UpdateResult.CANCELLED, 'download cancelled');
    const num = offset / blockSize(szx);
    const res = await fetchBlock(opts, num, szx);
    if (res.code === '4.04') throw new Failure(UpdateResult.INVALID_URI, 'the package URI answered 4.04 Not Found');
    if (res.code !== '2.05') throw new Failure(UpdateResult.CONNECTION_LOST, `the package URI answered ${res.code}`);
    const block2 = res.options.block2;
    if (block2 !== undefined) {
      // RFC 7959 §2.4: the answer may use a smaller SZX; NUM × size must still be our offset.
      if (block2.num * blockSize(block2.szx) !== offset || block2.szx > szx) {
        throw new Failure(UpdateResult.CONNECTION_LOST, `asked for byte ${offset}, got block ${block2.num} of size ${blockSize(block2.szx)}`);
      }
      if (block2.more && res.payload.length !== blockSize(block2.szx)) {
        throw new Failure(UpdateResult.CONNECTION_LOST, `block ${block2.num} has ${res.payload.length} bytes, expected ${blockSize(block2.szx)}`);
      }
      szx = block2.szx;
    } else if (offset !== 0) {
      throw new Failure(UpdateResult.CONNECTION_LOST, 'the server stopped sending Block2');
    }
    const tag = res.options.etag;
    if (blocks === 0) {
      etag = tag;
      total = res.options.size2;
      if (total !== undefined && opts.maxBytes !== undefined && total > opts.maxBytes) {
        throw new Failure(UpdateResult.NOT_ENOUGH_FLASH, `package is ${total} bytes, ${opts.maxBytes} fit`);
      }
    } else if (!sameTag(etag, tag)) {
      return 'restart';
    }
    verifier.update(res.payload);
    if (opts.keepImage === true) kept.push(res.payload);
    offset += res.payload.length;
    blocks += 1;
    counted(res.payload.length);
    opts.onBlock?.(offset, total);
    if (!verifier.plausible) throw new Failure(UpdateResult.UNSUPPORTED_PACKAGE_TYPE, 'not a simulator image (bad magic)');
    if (opts.maxBytes !== undefined && offset > opts.maxBytes) {
      throw new Failure(UpdateResult.NOT_ENOUGH_FLASH, `package is larger than ${opts.maxBytes} bytes`);
    }
    if (block2 === undefined || !block2.more) break;
  }
  const check = verifier.finish();
  if (!check.ok) {
    if (check.reason === 'integrity') throw new Failure(UpdateResult.INTEGRITY_CHECK_FAILURE, 'SHA-256 of the image body does not match its header');
    throw new Failure(UpdateResult.UNSUPPORTED_PACKAGE_TYPE, 'not a simulator image');
  }
  const done = { ok: true as const, version: check.version, bytes: offset, blocks };
  return opts.keepImage === true ? { ...done, image: Buffer.concat(kept, offset) } : done;
}

async function fetchBlock(opts: DownloadOptions, num: number, szx: number): Promise<CoapResponse> {
  const { host, port, pathSegments, query } = opts.location;
  const retries = opts.blockRetries ?? 2;
  for (let attempt = 0; ; attempt++) {
    try {
      return await opts.endpoint.request({
        host,
        port,
        method: 'GET',
        pathSegments,
        query,
        block2: { num, more: false, szx },
        // RFC 7959 §4: Size2 = 0 on the first block asks for the total size.
        ...(num === 0 ? { size2: 0 } : {}),
      });
    } catch (err) {
      if (isCoapError(err, 'COAP_TIMEOUT') && attempt < retries && opts.signal?.aborted !== true) continue;
      const reason = err instanceof Error ? err.message : String(err);
      throw new Failure(UpdateResult.CONNECTION_LOST, `block ${num}: ${reason}`);
    }
  }
}

function sameTag(a: Buffer | undefined, b: Buffer | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.equals(b);
}
