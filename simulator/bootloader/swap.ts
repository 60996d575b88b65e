/**
 * Swapping the primary and secondary slots through the scratch area, sector by sector, with a
 * status record written after each step, after MCUboot's swap-using-scratch (docs/design.md
 * "Image Swapping", "Swap Status", "Reset Recovery"). A power loss at any flash operation leaves
 * enough behind for `resumeSwap` to finish the job on the next boot.
 *
 *   A  scratch trailer: erase, write swap size, swap type (and image ok for PERM), magic last
 *   B  primary trailer: erase, write the same, magic last          (the scratch copy covers B)
 *   C  erase the secondary trailer (no second swap) and the scratch trailer
 *   D  for each sector index i from the highest down (design.md states 0 → 1 → 2 → 3):
 *        1: erase scratch, copy secondary[i] → scratch,  record (i, 1)
 *        2: erase secondary[i], copy primary[i] → it,     record (i, 2)
 *        3: erase primary[i], copy scratch → it,          record (i, 3)
 *   E  REVERT: image ok (before copy done, or an interrupted revert would revert again);
 *      then copy done.
 * Resuming a step redoes it from its erase: its sources are intact until its record is written.
 */
import type { FlashArea } from '../flash.ts';
import { SwapType, statusSource } from './trailer.ts';
import type { TrailerLayout, TrailerState } from './trailer.ts';

export interface SlotAreas {
  data: FlashArea;
  trailer: FlashArea;
}

export interface SwapAreas {
  primary: SlotAreas;
  secondary: SlotAreas;
  scratch: SlotAreas;
  layout: TrailerLayout;
}

interface Intent {
  type: SwapType;
  sectors: number;
}

/** Swaps `sectors` data sectors for a TEST, PERM or REVERT swap. */
export async function startSwap(a: SwapAreas, type: SwapType, sectors: number): Promise<void> {
  if (type === SwapType.NONE) throw new Error('startSwap: nothing to swap');
  const intent: Intent = { type, sectors: Math.min(Math.max(1, sectors), a.layout.slotSectors) };
  await recordIntent(a.scratch.trailer, a.layout, intent);
  await moveIntentToPrimary(a, intent);
  await swapSectors(a, intent.sectors - 1, 0);
  await finish(a, intent.type);
}

/**
 * Finishes a swap a reset interrupted; returns its type, or undefined when none was under way.
 * Safe to call at every boot, and again if the power goes while it runs.
 */
export async function resumeSwap(a: SwapAreas): Promise<SwapType | undefined> {
  const primary = a.layout.read(a.primary.trailer);
  const scratch = a.layout.read(a.scratch.trailer);
  const source = statusSource(primary, scratch);
  if (source === 'none') return undefined;
  const intent = intentOf(source === 'scratch' ? scratch : primary, a.layout.slotSectors);
  if (intent === undefined) return undefined;
  if (source === 'scratch') {
    await moveIntentToPrimary(a, intent);
    await swapSectors(a, intent.sectors - 1, 0);
  } else {
    await clearIntentCopies(a);
    const at = progress(a, intent.sectors);
    if (at !== undefined) await swapSectors(a, at.index, at.state);
  }
  await finish(a, intent.type);
  return intent.type;
}

function intentOf(t: TrailerState, slotSectors: number): Intent | undefined {
  const { swapType, swapSize } = t;
  if (swapType !== SwapType.TEST && swapType !== SwapType.PERM && swapType !== SwapType.REVERT) return undefined;
  if (swapSize === undefined || swapSize < 1 || swapSize > slotSectors) return undefined;
  return { type: swapType, sectors: swapSize };
}

async function recordIntent(trailer: FlashArea, layout: TrailerLayout, intent: Intent): Promise<void> {
  await trailer.erase(0);
  await layout.write(trailer, 'swapSize', intent.sectors);
  await layout.write(trailer, 'swapType', intent.type);
  if (intent.type === SwapType.PERM) await layout.write(trailer, 'imageOk', 1);
  await layout.write(trailer, 'magic', 0);
}

async function moveIntentToPrimary(a: SwapAreas, intent: Intent): Promise<void> {
  await recordIntent(a.primary.trailer, a.layout, intent);
  await clearIntentCopies(a);
}

async function clearIntentCopies(a: SwapAreas): Promise<void> {
  await eraseIfNeeded(a.secondary.trailer, 0);
  await eraseIfNeeded(a.scratch.trailer, 0);
}

/** The first unfinished step: sector index and the state it has reached (undefined: all done). */
function progress(a: SwapAreas, sectors: number): { index: number; state: number } | undefined {
  for (let i = sectors - 1; i >= 0; i--) {
    const state = a.layout.sectorState(a.primary.trailer, i);
    if (state < 3) return { index: i, state };
  }
  return undefined;
}

/** Runs step state+1 … 3 of sector `from`, then all three steps of each lower sector. */
async function swapSectors(a: SwapAreas, from: number, state: number): Promise<void> {
  const { primary, secondary, scratch, layout } = a;
  for (let i = from; i >= 0; i--) {
    for (let step = i === from ? state + 1 : 1; step <= 3; step++) {
      if (step === 1) {
        await eraseIfNeeded(scratch.data, 0);
        await scratch.data.copySector(secondary.data, i, 0);
      } else if (step === 2) {
        await eraseIfNeeded(secondary.data, i);
        await secondary.data.copySector(primary.data, i, i);
      } else {
        await eraseIfNeeded(primary.data, i);
        await primary.data.copySector(scratch.data, 0, i);
      }
      await layout.writeRecord(primary.trailer, i, step);
    }
  }
}

async function finish(a: SwapAreas, type: SwapType): Promise<void> {
  const t = a.layout.read(a.primary.trailer);
  if (type === SwapType.REVERT && t.imageOk === 'unset') await a.layout.write(a.primary.trailer, 'imageOk', 1);
  if (t.copyDone === 'unset') await a.layout.write(a.primary.trailer, 'copyDone', 1);
  a.primary.data.flush();
  a.secondary.data.flush();
}

async function eraseIfNeeded(area: FlashArea, index: number): Promise<void> {
  if (!area.sectorErased(index)) await area.erase(index);
}
