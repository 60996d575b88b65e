/**
 * The image trailer, after MCUboot's (docs/design.md "Image Trailer"): swap status records,
 * swap size, swap type, copy done, image ok and the 16-byte magic, each field padded to the
 * flash write granularity and written once after an erase. Here each slot's trailer is its own
 * erase unit after the slot's data sectors (MCUboot's layout when the last sector holds no
 * image data), and the scratch area has one too.
 *
 * Also the two decision tables: the swap type from the primary and secondary trailers
 * (design.md "Image Trailers", States I–IV) and where the status of an interrupted swap lives
 * (design.md "Reset Recovery").
 */
import type { FlashArea } from '../flash.ts';

/** MCUboot's BOOT_SWAP_TYPE_* values (bootutil_public.h). */
export const SwapType = { NONE: 1, TEST: 2, PERM: 3, REVERT: 4 } as const;
export type SwapType = (typeof SwapType)[keyof typeof SwapType];

export type Magic = 'good' | 'unset' | 'bad';
/** A one-byte flag: 0x01 set, 0xFF unset, anything else bad. */
export type Flag = 'set' | 'unset' | 'bad';

/** MCUboot's boot_img_magic: four 32-bit words in host (little-endian) order. */
export const BOOT_MAGIC: Buffer = (() => {
  const b = Buffer.alloc(16);
  [0xf395c277, 0x7fefd260, 0x0f505235, 0x8079b62c].forEach((w, i) => b.writeUInt32LE(w, i * 4));
  return b;
})();

export interface TrailerState {
  magic: Magic;
  imageOk: Flag;
  copyDone: Flag;
  /** The swap this trailer records (undefined when unset). */
  swapType: number | undefined;
  /** Data sectors the swap covers (undefined when unset). */
  swapSize: number | undefined;
}

export type Field = 'swapSize' | 'swapType' | 'copyDone' | 'imageOk' | 'magic';

/** Offsets of the trailer fields for slots of `slotSectors` data sectors and a write unit. */
export class TrailerLayout {
  readonly slotSectors: number;
  readonly unit: number;
  readonly statusSize: number;
  readonly #offsets: Record<Field, number>;
  readonly #lengths: Record<Field, number>;
  readonly size: number;

  constructor(slotSectors: number, writeSize: number) {
    this.slotSectors = slotSectors;
    this.unit = writeSize;
    const pad = (n: number): number => Math.ceil(n / writeSize) * writeSize;
    this.statusSize = slotSectors * 3 * writeSize;
    const lengths: Record<Field, number> = { swapSize: pad(4), swapType: pad(1), copyDone: pad(1), imageOk: pad(1), magic: pad(16) };
    const offsets = {} as Record<Field, number>;
    let at = this.statusSize;
    for (const f of ['swapSize', 'swapType', 'copyDone', 'imageOk', 'magic'] as const) {
      offsets[f] = at;
      at += lengths[f];
    }
    this.#offsets = offsets;
    this.#lengths = lengths;
    this.size = at;
  }

  offset(f: Field): number {
    return this.#offsets[f];
  }

  /**
   * The status record of sector `index` reaching state `state` (1…3). Records run from the
   * highest sector index down, three per index (design.md "Swap Status").
   */
  recordOffset(index: number, state: number): number {
    return ((this.slotSectors - 1 - index) * 3 + (state - 1)) * this.unit;
  }

  read(area: FlashArea): TrailerState {
    const bytes = area.read(0, this.size);
    const field = (f: Field): Buffer => bytes.subarray(this.#offsets[f], this.#offsets[f] + this.#lengths[f]);
    const magic = field('magic').subarray(0, 16);
    const swapSize = field('swapSize').readUInt32LE(0);
    const swapType = field('swapType')[0];
    return {
      magic: magic.equals(BOOT_MAGIC) ? 'good' : magic.every((b) => b === 0xff) ? 'unset' : 'bad',
      imageOk: flag(field('imageOk')[0]),
      copyDone: flag(field('copyDone')[0]),
      swapType: swapType === 0xff ? undefined : swapType,
      swapSize: swapSize === 0xffffffff ? undefined : swapSize,
    };
  }

  /** How far sector `index` has come in the swap: 0 (untouched) … 3 (done). */
  sectorState(area: FlashArea, index: number): number {
    let state = 0;
    for (let s = 1; s <= 3; s++) {
      const rec = area.read(this.recordOffset(index, s), 1)[0];
      if (rec !== s) break;
      state = s;
    }
    return state;
  }

  async writeRecord(area: FlashArea, index: number, state: number): Promise<void> {
    await area.write(this.recordOffset(index, state), this.#padded(Buffer.from([state]), this.unit));
  }

  async write(area: FlashArea, f: Field, value: number): Promise<void> {
    let bytes: Buffer;
    if (f === 'magic') bytes = BOOT_MAGIC;
    else if (f === 'swapSize') {
      bytes = Buffer.alloc(4);
      bytes.writeUInt32LE(value);
    } else bytes = Buffer.from([value]);
    await area.write(this.#offsets[f], this.#padded(bytes, this.#lengths[f]));
  }

  #padded(bytes: Buffer, length: number): Buffer {
    const out = Buffer.alloc(length, 0xff);
    bytes.copy(out);
    return out;
  }
}

function flag(b: number | undefined): Flag {
  return b === 0x01 ? 'set' : b === 0xff ? 'unset' : 'bad';
}

/**
 * MCUboot design.md, "Image Trailers", evaluated in order: State I (secondary good, image ok
 * unset) → TEST; State II (secondary good, image ok set) → PERM; State III (primary good, image
 * ok unset, copy done set; secondary unset) → REVERT; State IV, anything else → NONE.
 */
export function swapTypeOf(primary: TrailerState, secondary: TrailerState): SwapType {
  if (secondary.magic === 'good' && secondary.imageOk === 'unset') return SwapType.TEST;
  if (secondary.magic === 'good' && secondary.imageOk === 'set') return SwapType.PERM;
  if (primary.magic === 'good' && primary.imageOk === 'unset' && primary.copyDone === 'set' && secondary.magic === 'unset') {
    return SwapType.REVERT;
  }
  return SwapType.NONE;
}

export type StatusSource = 'none' | 'primary' | 'scratch';

/**
 * Where an interrupted swap keeps its progress (design.md "Reset Recovery"). In this layout the
 * scratch trailer holds the swap's intent only while the primary trailer is being rewritten, so
 * a good scratch magic wins: no sector has moved yet. Then a primary trailer with a good magic and
 * copy done unset means a swap under way; anything else, none.
 */
export function statusSource(primary: TrailerState, scratch: TrailerState): StatusSource {
  if (scratch.magic === 'good') return 'scratch';
  if (primary.magic === 'good' && primary.copyDone !== 'set') return 'primary';
  return 'none';
}
