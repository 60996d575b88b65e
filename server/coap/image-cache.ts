/**
 * Firmware bytes for the download path: an LRU bounded in bytes, loaded from the store on a miss,
 * one load for many concurrent misses (lru-cache's fetch coalesces them). Memory is O(images).
 */
import { LRUCache } from 'lru-cache';

export interface CachedImage {
  payload: Buffer;
  /** Hex SHA-256 of the payload. */
  sha256: string;
  /** ETag (RFC 7252 §5.10.6) derived from the digest: its first 8 bytes. */
  etag: Buffer;
}

export type ImageLoader = (id: number) => Promise<{ payload: Buffer; sha256: string } | null>;

export class ImageCache {
  private readonly cache: LRUCache<number, CachedImage>;

  constructor(opts: { maxBytes: number; load: ImageLoader }) {
    this.cache = new LRUCache<number, CachedImage>({
      maxSize: opts.maxBytes,
      sizeCalculation: (v) => Math.max(1, v.payload.length),
      fetchMethod: async (id) => {
        const row = await opts.load(id);
        if (!row) return undefined;
        return { payload: row.payload, sha256: row.sha256, etag: Buffer.from(row.sha256.slice(0, 16), 'hex') };
      },
    });
  }

  /** The image, or undefined when no such image exists. */
  get(id: number): Promise<CachedImage | undefined> {
    return this.cache.fetch(id);
  }

  /** Forget an image (deleted or replaced). */
  evict(id: number): void {
    this.cache.delete(id);
  }

  get bytes(): number {
    return this.cache.calculatedSize;
  }
}
