/**
 * Streams a received image into the secondary slot. Each byte goes through the ImageVerifier
 * first; nothing reaches flash before the verifier accepts the header (a FRY1 manifest verified
 * on the device's trust anchors). Sectors are erased as the write reaches them; writes are whole
 * write units, the unaligned tail waits in RAM. The slot starts with a small header whose length
 * field is written last, so a slot holds a complete image or none (slot-image.ts reads it).
 *
 * Positions are absolute: bytes already received are skipped, a gap is refused. After a reset,
 * `resume` replays what is in flash through a fresh verifier, and the transfer goes on from there.
 */
import { UpdateResult } from '../../protocols/objects.ts';
import type { FlashArea } from '../flash.ts';
import { SLOT_HEADER, writeSlotLength } from './slot-image.ts';
import { fail } from './verifier.ts';
import type { Failure, ImageVerifier, Verdict } from './verifier.ts';

export class SlotWriter {
  readonly #data: FlashArea;
  readonly #verifier: ImageVerifier;
  /** Image bytes received (and checked). */
  #received = 0;
  /** Image bytes in flash. */
  #written = 0;
  #held: Buffer[] = [];
  #pending: Buffer = Buffer.alloc(0);
  /** Sectors [0, prepared) are erased where not yet written. */
  #prepared = 0;
  #failure: Failure | undefined;

  private constructor(data: FlashArea, verifier: ImageVerifier) {
    this.#data = data;
    this.#verifier = verifier;
  }

  /** A fresh transfer: the slot's first sector is erased, which also clears its length field. */
  static async begin(data: FlashArea, verifier: ImageVerifier): Promise<SlotWriter> {
    const w = new SlotWriter(data, verifier);
    await w.#prepareUpTo(0);
    return w;
  }

  /**
   * Continues a transfer after a reset: the first `written` image bytes are in flash already.
   * Returns undefined when what is there does not check out (start again).
   */
  static async resume(data: FlashArea, verifier: ImageVerifier, saved: number): Promise<SlotWriter | undefined> {
    if (saved <= 0 || SLOT_HEADER + saved > data.size) return undefined;
    const written = programmedEnd(data, saved);
    const w = new SlotWriter(data, verifier);
    let failed = false;
    data.scan(SLOT_HEADER, written, (chunk) => {
      if (!failed && verifier.update(chunk) !== undefined) failed = true;
    });
    if (failed || !verifier.accepted) return undefined;
    w.#received = written;
    w.#written = written;
    w.#prepared = Math.ceil((SLOT_HEADER + written) / data.sectorSize);
    return w;
  }

  get received(): number {
    return this.#received;
  }

  /** Image bytes safely in flash: where a transfer resumes after a reset. */
  get written(): number {
    return this.#written;
  }

  get failure(): Failure | undefined {
    return this.#failure;
  }

  announce(total: number): Failure | undefined {
    return (this.#failure ??= this.#verifier.announce(total));
  }

  /** Takes the bytes at image offset `offset`: repeats are skipped, a gap fails. */
  async write(offset: number, chunk: Buffer): Promise<Failure | undefined> {
    if (this.#failure !== undefined) return this.#failure;
    if (offset > this.#received) return fail(UpdateResult.CONNECTION_LOST, `a gap: bytes from ${offset} arrived, ${this.#received} were expected`);
    const fresh = chunk.subarray(Math.min(chunk.length, this.#received - offset));
    if (fresh.length === 0) return undefined;
    const refused = this.#verifier.update(fresh);
    if (refused !== undefined) return (this.#failure = refused);
    this.#received += fresh.length;
    if (!this.#verifier.accepted) {
      this.#held.push(fresh);
      return undefined;
    }
    const bytes = this.#held.length === 0 ? fresh : Buffer.concat([...this.#held, fresh]);
    this.#held = [];
    await this.#program(bytes);
    return undefined;
  }

  /** All bytes are in: the verdict; on success the tail and the length field are written. */
  async finish(): Promise<Verdict> {
    if (this.#failure !== undefined) return this.#failure;
    const verdict = this.#verifier.finish();
    if (!verdict.ok) return (this.#failure = verdict);
    const unit = this.#data.flash.writeSize;
    if (this.#pending.length > 0) {
      const last = Buffer.alloc(unit, 0xff);
      this.#pending.copy(last);
      await this.#writeAt(this.#written, last);
      this.#pending = Buffer.alloc(0);
    }
    await writeSlotLength(this.#data, this.#received);
    this.#data.flush();
    return verdict;
  }

  async #program(bytes: Buffer): Promise<void> {
    const unit = this.#data.flash.writeSize;
    const all = this.#pending.length === 0 ? bytes : Buffer.concat([this.#pending, bytes]);
    const aligned = all.length - (all.length % unit);
    this.#pending = Buffer.from(all.subarray(aligned));
    if (aligned === 0) return;
    await this.#writeAt(this.#written, all.subarray(0, aligned));
    this.#written += aligned;
  }

  /** Writes image bytes at image offset `at`, erasing each sector the first time it is reached. */
  async #writeAt(at: number, bytes: Buffer): Promise<void> {
    const size = this.#data.sectorSize;
    for (let done = 0; done < bytes.length; ) {
      const pos = SLOT_HEADER + at + done;
      const sector = Math.floor(pos / size);
      await this.#prepareUpTo(sector);
      const n = Math.min(bytes.length - done, (sector + 1) * size - pos);
      await this.#data.write(pos, bytes.subarray(done, done + n));
      done += n;
    }
  }

  async #prepareUpTo(sector: number): Promise<void> {
    while (this.#prepared <= sector) {
      if (!this.#data.sectorErased(this.#prepared)) await this.#data.erase(this.#prepared);
      this.#prepared += 1;
    }
  }
}

/**
 * Where the programmed bytes really end: a write that was under way when the device reset may
 * have landed after the count was saved. Whole units from `saved` on that are not blank count too.
 */
function programmedEnd(data: FlashArea, saved: number): number {
  const unit = data.flash.writeSize;
  let end = saved - (saved % unit);
  if (end < saved) return saved;
  while (SLOT_HEADER + end + unit <= data.size && !data.isErased(SLOT_HEADER + end, unit)) end += unit;
  return end;
}
