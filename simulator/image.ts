/**
 * The simulator's raw image format, a stand-in until signed packages (FRY1) exist:
 *
 *   'FRYSIM01' (8 bytes) | u8 version length | version (UTF-8) | SHA-256 of body (32) | body
 *
 * `readSimImage` checks a whole buffer; `SimImageVerifier` checks the same thing on a stream of
 * blocks in order, so a device never holds the image twice (it keeps a running SHA-256).
 */
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { seededRandom } from './clock.ts';

export const SIM_IMAGE_MAGIC = Buffer.from('FRYSIM01', 'latin1');
const DIGEST_LENGTH = 32;

export type SimImageCheck = { version: string; ok: true } | { ok: false; reason: 'unsupported' | 'integrity' };

/** Header length for a version string: magic, length byte, version, digest. */
export function simImageHeaderSize(version: string): number {
  return SIM_IMAGE_MAGIC.length + 1 + Buffer.byteLength(version, 'utf8') + DIGEST_LENGTH;
}

/**
 * Builds an image of `size` bytes in total (or just the header, if `size` is smaller than it),
 * with a deterministic pseudo-random body: the same options give the same bytes.
 */
export function makeSimImage(opts: { version: string; size: number; seed?: number }): Buffer {
  const version = Buffer.from(opts.version, 'utf8');
  if (version.length === 0 || version.length > 255) throw new RangeError('version must be 1 to 255 bytes of UTF-8');
  if (!Number.isSafeInteger(opts.size) || opts.size < 0) throw new RangeError(`size must be a non-negative integer, got ${opts.size}`);
  const headerSize = simImageHeaderSize(opts.version);
  const body = Buffer.alloc(Math.max(0, opts.size - headerSize));
  const random = seededRandom(opts.seed ?? 0x5eed);
  let i = 0;
  for (; i + 4 <= body.length; i += 4) body.writeUInt32LE(Math.floor(random() * 0x100000000) >>> 0, i);
  for (; i < body.length; i++) body[i] = Math.floor(random() * 256);
  const digest = createHash('sha256').update(body).digest();
  return Buffer.concat([SIM_IMAGE_MAGIC, Buffer.from([version.length]), version, digest, body]);
}

/** Checks a whole image: bad magic or too short is 'unsupported', a wrong digest is 'integrity'. */
export function readSimImage(buf: Buffer): SimImageCheck {
  const v = new SimImageVerifier();
  v.update(buf);
  return v.finish();
}

/** The running check: feed the image in order with `update`, then call `finish` once. */
export class SimImageVerifier {
  #header: Buffer = Buffer.alloc(0);
  #headerSize: number | undefined;
  #version = '';
  #expected: Buffer | undefined;
  #hash: Hash | undefined;
  #unsupported = false;
  #bytes = 0;
  #result: SimImageCheck | undefined;

  /** Bytes seen so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The version from the header, once the header has arrived. */
  get version(): string | undefined {
    return this.#expected === undefined ? undefined : this.#version;
  }

  /** False as soon as the bytes seen cannot be a simulator image. */
  get plausible(): boolean {
    return !this.#unsupported;
  }

  update(chunk: Buffer): void {
    if (this.#result !== undefined) throw new Error('SimImageVerifier: update after finish');
    this.#bytes += chunk.length;
    if (this.#unsupported) return;
    if (this.#hash !== undefined) {
      this.#hash.update(chunk);
      return;
    }
    this.#header = Buffer.concat([this.#header, chunk]);
    const magicLen = SIM_IMAGE_MAGIC.length;
    const seen = Math.min(this.#header.length, magicLen);
    if (!this.#header.subarray(0, seen).equals(SIM_IMAGE_MAGIC.subarray(0, seen))) {
      this.#unsupported = true;
      return;
    }
    if (this.#headerSize === undefined && this.#header.length > magicLen) {
      const versionLength = this.#header[magicLen] ?? 0;
      if (versionLength === 0) {
        this.#unsupported = true;
        return;
      }
      this.#headerSize = magicLen + 1 + versionLength + DIGEST_LENGTH;
    }
    if (this.#headerSize === undefined || this.#header.length < this.#headerSize) return;
    const versionEnd = this.#headerSize - DIGEST_LENGTH;
    try {
      this.#version = new TextDecoder('utf-8', { fatal: true }).decode(this.#header.subarray(magicLen + 1, versionEnd));
    } catch {
      this.#unsupported = true;
      return;
    }
    this.#expected = Buffer.from(this.#header.subarray(versionEnd, this.#headerSize));
    this.#hash = createHash('sha256').update(this.#header.subarray(this.#headerSize));
    this.#header = Buffer.alloc(0);
  }

  /** The verdict; later calls return the same one. */
  finish(): SimImageCheck {
    this.#result ??= this.#verdict();
    return this.#result;
  }

  #verdict(): SimImageCheck {
    if (this.#unsupported || this.#hash === undefined || this.#expected === undefined) {
      return { ok: false, reason: 'unsupported' };
    }
    if (!this.#hash.digest().equals(this.#expected)) return { ok: false, reason: 'integrity' };
    return { ok: true, version: this.#version };
  }
}
