/**
 * The shared sector store behind `--flash digest`: a sealed sector is named by the SHA-256 of its
 * bytes, and each distinct content is kept once per process, reference-counted. Ten thousand
 * devices holding the same image cost one image, plus a reference per sector each.
 */
import { createHash } from 'node:crypto';

/** One distinct sector content. `bytes` is never written to: copy it before changing it. */
export interface SectorContent {
  readonly digest: string;
  readonly bytes: Buffer;
  refs: number;
}

export class ContentStore {
  readonly #entries = new Map<string, SectorContent>();

  /** Distinct contents held. */
  get size(): number {
    return this.#entries.size;
  }

  /** Bytes held, all contents together. */
  get bytes(): number {
    let n = 0;
    for (const e of this.#entries.values()) n += e.bytes.length;
    return n;
  }

  /** Takes ownership of `bytes` (the caller must not change them afterwards) and returns one reference. */
  intern(bytes: Buffer): SectorContent {
    const digest = createHash('sha256').update(bytes).digest('base64');
    const found = this.#entries.get(digest);
    if (found !== undefined) {
      found.refs += 1;
      return found;
    }
    const entry: SectorContent = { digest, bytes, refs: 1 };
    this.#entries.set(digest, entry);
    return entry;
  }

  /** One more reference to a content already held (a sector copied). */
  retain(content: SectorContent): SectorContent {
    content.refs += 1;
    return content;
  }

  /** Drops one reference; the content goes when nobody holds it. */
  release(content: SectorContent): void {
    content.refs -= 1;
    if (content.refs <= 0) this.#entries.delete(content.digest);
  }
}

/** The store every digest-mode flash in this process shares unless given its own. */
export const sharedContentStore = new ContentStore();
