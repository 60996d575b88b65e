/**
 * What a slot holds: a 16-byte slot header (the image length, u32 little-endian, written after
 * the image so an interrupted transfer leaves an unset length) and the image bytes after it.
 * `checkSlot` runs the slot's image through the same ImageVerifier a download goes through:
 * the bootloader trusts nothing it has not checked on its own anchors.
 */
import type { FlashArea } from '../flash.ts';
import { ImageVerifier, fail } from './verifier.ts';
import type { DeviceIdentity, Verdict } from './verifier.ts';
import { UpdateResult } from '../../protocols/objects.ts';

export const SLOT_HEADER = 16;
const UNSET = 0xffffffff;

/** The image length, or undefined when the slot holds no complete image. */
export function readSlotLength(data: FlashArea): number | undefined {
  const n = data.read(0, 4).readUInt32LE(0);
  return n === UNSET || SLOT_HEADER + n > data.size ? undefined : n;
}

export async function writeSlotLength(data: FlashArea, length: number): Promise<void> {
  const unit = data.flash.writeSize;
  const field = Buffer.alloc(Math.max(4, unit), 0xff);
  field.writeUInt32LE(length, 0);
  await data.write(0, field);
}

/** Sectors the slot's image occupies (0 when it holds none). */
export function usedSectors(data: FlashArea): number {
  const n = readSlotLength(data);
  return n === undefined ? 0 : Math.ceil((SLOT_HEADER + n) / data.sectorSize);
}

/** Checks the image in a slot as the bootloader does before it swaps or boots it. */
export function checkSlot(data: FlashArea, id: DeviceIdentity): Verdict {
  const length = readSlotLength(data);
  if (length === undefined) return fail(UpdateResult.INTEGRITY_CHECK_FAILURE, 'the slot holds no complete image');
  const verifier = new ImageVerifier(id, data.size - SLOT_HEADER);
  let refused: Verdict | undefined;
  data.scan(SLOT_HEADER, length, (chunk) => {
    refused ??= verifier.update(chunk);
  });
  return refused ?? verifier.finish();
}

/** Writes a whole image into an erased slot (a factory image). */
export async function writeWholeImage(data: FlashArea, image: Buffer): Promise<void> {
  for (let i = 0; i < data.sectorCount; i++) if (!data.sectorErased(i)) await data.erase(i);
  const unit = data.flash.writeSize;
  const padded = Buffer.alloc(Math.ceil(image.length / unit) * unit, 0xff);
  image.copy(padded);
  await data.write(SLOT_HEADER, padded);
  await writeSlotLength(data, image.length);
  data.flush();
}
