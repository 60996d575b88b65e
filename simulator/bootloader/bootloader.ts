/**
 * The simulated MCU bootloader, after MCUboot (docs/design.md "High-Level Operation"):
 *
 *   1. Finish a swap a reset interrupted (swap.ts), then boot.
 *   2. Otherwise read the trailers: TEST, PERM or REVERT asks for a swap. The image to be swapped
 *      in is checked first (signature on the device's own anchors, class, rollback, digest); a bad
 *      one is not swapped, its trailer is erased and the running image is marked OK.
 *   3. Check the image in the primary slot and boot it; if it does not check out there is nothing
 *      to boot: the device is bricked (MCUboot hangs rather than boot an invalid image).
 *
 * The application asks for an update with `requestUpdate` (the secondary trailer: magic, and
 * image ok for a permanent one) and confirms a trial image with `confirm` (primary image ok).
 * An unconfirmed trial image is swapped back out on the next reset (State III, REVERT).
 */
import { Flash } from '../flash.ts';
import type { FlashArea, FlashOptions } from '../flash.ts';
import { checkSlot, readSlotLength, usedSectors, writeWholeImage } from './slot-image.ts';
import { startSwap, resumeSwap } from './swap.ts';
import type { SwapAreas } from './swap.ts';
import { SwapType, TrailerLayout, swapTypeOf } from './trailer.ts';
import type { DeviceIdentity, Failure, ImageInfo } from './verifier.ts';

export interface Geometry {
  /** Erase unit of the slots (default 4096). */
  sectorSize?: number;
  /** Bytes per slot, a multiple of the sector size (default 512 KiB). */
  slotSize?: number;
}

export const SWAP_NAMES: Readonly<Record<number, string>> = { 1: 'none', 2: 'test', 3: 'perm', 4: 'revert' };

export type BootResult =
  | {
      ok: true;
      image: ImageInfo;
      /** The swap this boot did or finished: 'none', 'test', 'perm', 'revert'. */
      swap: string;
      /** A swap was under way when the device reset, and this boot finished it. */
      resumed: boolean;
      /** A trial image, not yet confirmed: the next reset reverts it. */
      trial: boolean;
      /** The secondary image this boot refused to swap in, and why. */
      refused?: Failure;
    }
  | { ok: false; reason: string };

export class Bootloader {
  readonly flash: Flash;
  readonly areas: SwapAreas;
  readonly #identity: () => DeviceIdentity;

  constructor(flash: Flash, geometry: Geometry, identity: () => DeviceIdentity) {
    const sectorSize = geometry.sectorSize ?? 4096;
    const slotSize = geometry.slotSize ?? 512 * 1024;
    if (slotSize % sectorSize !== 0 || slotSize < sectorSize) throw new RangeError(`slot size ${slotSize} is not a multiple of the sector size ${sectorSize}`);
    const sectors = slotSize / sectorSize;
    const layout = new TrailerLayout(sectors, flash.writeSize);
    const slot = (name: string, n: number): { data: FlashArea; trailer: FlashArea } => ({
      data: flash.addArea(name, sectorSize, n),
      trailer: flash.addArea(`${name}-trailer`, layout.size, 1, { bytes: true }),
    });
    this.flash = flash;
    this.areas = { primary: slot('primary', sectors), secondary: slot('secondary', sectors), scratch: slot('scratch', 1), layout };
    this.#identity = identity;
  }

  static create(flash: FlashOptions, geometry: Geometry, identity: () => DeviceIdentity): Bootloader {
    return new Bootloader(new Flash(flash), geometry, identity);
  }

  get secondary(): FlashArea {
    return this.areas.secondary.data;
  }

  /** Writes a factory image into the primary slot, confirmed, and leaves the secondary empty. */
  async install(image: Buffer): Promise<void> {
    const { primary, secondary, scratch, layout } = this.areas;
    for (const t of [primary.trailer, secondary.trailer, scratch.trailer]) if (!t.sectorErased(0)) await t.erase(0);
    if (!secondary.data.sectorErased(0)) await secondary.data.erase(0);
    await writeWholeImage(primary.data, image);
    await layout.write(primary.trailer, 'copyDone', 1);
    await layout.write(primary.trailer, 'imageOk', 1);
    await layout.write(primary.trailer, 'magic', 0);
  }

  /** One boot. Throws PowerLoss if the power goes meanwhile; booting again carries on. */
  async boot(): Promise<BootResult> {
    const { primary, secondary, layout } = this.areas;
    const resumed = await resumeSwap(this.areas);
    let swap: number = resumed ?? SwapType.NONE;
    let refused: Failure | undefined;
    if (resumed === undefined) {
      const p = layout.read(primary.trailer);
      const type = swapTypeOf(p, layout.read(secondary.trailer));
      if (type !== SwapType.NONE) {
        const check = checkSlot(secondary.data, this.#identity());
        if (check.ok) {
          await startSwap(this.areas, type, Math.max(usedSectors(primary.data), usedSectors(secondary.data)));
          swap = type;
        } else {
          // design.md: the image does not validate, so no swap; mark the primary OK so it is not tried again.
          refused = check;
          await secondary.trailer.erase(0);
          if (p.magic === 'good' && p.imageOk === 'unset') await layout.write(primary.trailer, 'imageOk', 1);
        }
      }
    }
    const check = checkSlot(primary.data, this.#identity());
    if (!check.ok) return { ok: false, reason: `no valid image in the primary slot: ${check.reason}` };
    return {
      ok: true,
      image: check.image,
      swap: SWAP_NAMES[swap] ?? String(swap),
      resumed: resumed !== undefined,
      trial: this.isTrial(),
      ...(refused === undefined ? {} : { refused }),
    };
  }

  /** The application marks the secondary image for the next boot: a test swap, or a permanent one. */
  async requestUpdate(permanent = false): Promise<void> {
    const { secondary, layout } = this.areas;
    if (readSlotLength(secondary.data) === undefined) throw new Error('the secondary slot holds no complete image');
    if (!secondary.trailer.sectorErased(0)) await secondary.trailer.erase(0);
    if (permanent) await layout.write(secondary.trailer, 'imageOk', 1);
    await layout.write(secondary.trailer, 'magic', 0);
  }

  /** The running trial image is good: write image ok. False when there was nothing to confirm. */
  async confirm(): Promise<boolean> {
    const { primary, layout } = this.areas;
    const t = layout.read(primary.trailer);
    if (t.magic !== 'good' || t.imageOk !== 'unset') return false;
    await layout.write(primary.trailer, 'imageOk', 1);
    return true;
  }

  /** The primary holds an unconfirmed image that a reset would revert (State III). */
  isTrial(): boolean {
    const t = this.areas.layout.read(this.areas.primary.trailer);
    return t.magic === 'good' && t.copyDone === 'set' && t.imageOk === 'unset';
  }

  /** What the next boot would swap: 'none', 'test', 'perm' or 'revert'. */
  pendingSwap(): string {
    const { primary, secondary, layout } = this.areas;
    return SWAP_NAMES[swapTypeOf(layout.read(primary.trailer), layout.read(secondary.trailer))] ?? 'none';
  }

  /** The image in the primary slot as the bootloader would check it now. */
  checkPrimary(): ReturnType<typeof checkSlot> {
    return checkSlot(this.areas.primary.data, this.#identity());
  }
}
