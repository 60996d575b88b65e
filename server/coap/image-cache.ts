/**
 * Firmware bytes for the download path: an LRU bounded in bytes, loaded from the store on a miss,
 * one load for many concurrent misses (lru-cache's fetch coalesces them). Memory is O(images).
 * The digest, and the ETag derived from it, are computed once per load from the bytes served.
 * An image larger than the whole cache (uploads that large are refused, but one may have been
 * stored before --image-cache-mb was lowered) is held outside it, one at a time, so its blocks are
 * not each a reload of the whole image from the store.
 */
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';

export interface CachedImage {
  /** Exactly the bytes a device receives (the whole package, or only the vendor payload). */
  payload: Buffer;
  /** Hex SHA-256 of the payload. */
  sha256: string;
  /** ETag (RFC 7252 §5.10.6) derived from the digest of the bytes served: its first 8 bytes. */
  etag: Buffer;
}

export type ImageLoader = (id: number) => Promise<{ payload: Buffer } | null>;

export class ImageCache {
  private readonly cache: LRUCache<number, CachedImage>;
  /** The one image too large for the cache, held beside it (lru-cache does not store it). */
  private oversized: { id: number; image: CachedImage } | undefined;

  constructor(opts: { maxBytes: number; load: ImageLoader }) {
    this.cache = new LRUCache<number, CachedImage>({
      maxSize: opts.maxBytes,
      sizeCalculation: (v) => Math.max(1, v.payload.length),
      fetchMethod: async (id) => {
        const row = await opts.load(id);
        if (!row) return undefined;
        const image = imageOf(row.payload);
        if (image.payload.length > opts.maxBytes) this.oversized = { id, image };
        return image;
      },
    });
  }

  /** The image, or undefined when no such image exists. */
  get(id: number): Promise<CachedImage | undefined> {
    const held = this.cached(id);
    return held ? Promise.resolve(held) : this.cache.fetch(id);
  }

  /** The image when it is already in memory (the per-block fast path), else undefined. */
  cached(id: number): CachedImage | undefined {
    return this.cache.get(id) ?? (this.oversized?.id === id ? this.oversized.image : undefined);
  }

  /** Forget an image (deleted or replaced). */
  evict(id: number): void {
    this.cache.delete(id);
    if (this.oversized?.id === id) this.oversized = undefined;
  }

  /** Bytes of the image held beside the cache because it is larger than all of it (0: none). */
  get oversizedBytes(): number {
    return this.oversized?.image.payload.length ?? 0;
  }

  get bytes(): number {
    return this.cache.calculatedSize;
  }
}

function imageOf(payload: Buffer): CachedImage {
  const digest = createHash('sha256').update(payload).digest();
  return { payload, sha256: digest.toString('hex'), etag: digest.subarray(0, 8) };
}
