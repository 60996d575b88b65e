/** Shared set-up for the bootloader tests: keys, packages, a small flash, an image downloaded into the secondary slot. */
import { generateSigningKey } from '../../../protocols/package-keys.ts';
import { signPackage } from '../../../protocols/package.ts';
import type { SigningKey, TrustAnchor } from '../../../protocols/package.ts';
import { Bootloader } from '../../../simulator/bootloader/bootloader.ts';
import { SLOT_HEADER } from '../../../simulator/bootloader/slot-image.ts';
import { SlotWriter } from '../../../simulator/bootloader/slot-writer.ts';
import { ImageVerifier } from '../../../simulator/bootloader/verifier.ts';
import type { DeviceIdentity, Verdict } from '../../../simulator/bootloader/verifier.ts';
import { seededRandom } from '../../../simulator/clock.ts';
import { ContentStore } from '../../../simulator/flash-store.ts';
import type { FlashMode } from '../../../simulator/flash.ts';

export const key: SigningKey = generateSigningKey('ed25519');
export const anchor: TrustAnchor = { alg: key.alg, kid: key.kid, publicKey: key.publicKey };
export const anchors: readonly TrustAnchor[] = [anchor];

export function payloadOf(size: number, seed: number): Buffer {
  const random = seededRandom(seed);
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = Math.floor(random() * 256);
  return b;
}

export function pkg(version: string, o: { size?: number; seed?: number; sequence?: number; classId?: string; signer?: SigningKey } = {}): Buffer {
  return Buffer.from(signPackage({
    payload: payloadOf(o.size ?? 5000, o.seed ?? version.length), key: o.signer ?? key, sequence: o.sequence ?? 1,
    vendorId: 'ferry', classId: o.classId ?? 'sim-1', version, created: 1_700_000_000,
  }));
}

export interface Rig {
  boot: Bootloader;
  identity: DeviceIdentity;
  store: ContentStore;
}

/** A bootloader on a small flash (1 KiB sectors, 8 KiB slots unless told) with `factory` installed. */
export async function rig(mode: FlashMode, factory: Buffer, o: { sectorSize?: number; slotSize?: number; seed?: number } = {}): Promise<Rig> {
  const identity: DeviceIdentity = { classId: 'sim-1', anchors, securityCounter: 0 };
  const store = new ContentStore();
  const boot = Bootloader.create({ mode, writeSize: 8, store, random: seededRandom(o.seed ?? 1) }, { sectorSize: o.sectorSize ?? 1024, slotSize: o.slotSize ?? 8192 }, () => identity);
  await boot.install(factory);
  return { boot, identity, store };
}

/** Streams `image` into the secondary slot in blocks of `block` bytes, as a download does. */
export async function download(r: Rig, image: Buffer, block = 256, mutate?: (chunk: Buffer, num: number) => Buffer): Promise<Verdict> {
  const slot = r.boot.secondary;
  const writer = await SlotWriter.begin(slot, new ImageVerifier(r.identity, slot.size - SLOT_HEADER));
  for (let off = 0, num = 0; off < image.length; off += block, num++) {
    const chunk = image.subarray(off, off + block);
    const failed = await writer.write(off, mutate === undefined ? chunk : mutate(Buffer.from(chunk), num));
    if (failed !== undefined) return failed;
  }
  return writer.finish();
}

/** The image bytes in a slot (its length from the slot header). */
export function slotImage(r: Rig, which: 'primary' | 'secondary', length: number): Buffer {
  return r.boot.areas[which].data.read(SLOT_HEADER, length);
}
