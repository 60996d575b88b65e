import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { generateSigningKey } from '../../../protocols/package-keys.ts';
import { SLOT_HEADER, readSlotLength } from '../../../simulator/bootloader/slot-image.ts';
import { SlotWriter } from '../../../simulator/bootloader/slot-writer.ts';
import { SwapType, statusSource, swapTypeOf } from '../../../simulator/bootloader/trailer.ts';
import type { Flag, Magic, TrailerState } from '../../../simulator/bootloader/trailer.ts';
import { ImageVerifier } from '../../../simulator/bootloader/verifier.ts';
import { makeSimImage } from '../../../simulator/image.ts';
import { download, pkg, rig, slotImage } from './kit.ts';

const t = (magic: Magic, imageOk: Flag, copyDone: Flag): TrailerState => ({ magic, imageOk, copyDone, swapType: undefined, swapSize: undefined });

// MCUboot docs/design.md "Image Trailers": States I–IV, evaluated in order.
const SWAP_TABLE: [string, TrailerState, TrailerState, number][] = [
  ['State I: secondary good, image ok unset → TEST', t('unset', 'unset', 'unset'), t('good', 'unset', 'unset'), SwapType.TEST],
  ['State I wins over a primary that would revert', t('good', 'unset', 'set'), t('good', 'unset', 'unset'), SwapType.TEST],
  ['State II: secondary good, image ok set → PERM', t('good', 'set', 'set'), t('good', 'set', 'unset'), SwapType.PERM],
  ['State III: primary good, unconfirmed, copied; secondary unset → REVERT', t('good', 'unset', 'set'), t('unset', 'unset', 'unset'), SwapType.REVERT],
  ['State III needs the secondary magic unset', t('good', 'unset', 'set'), t('bad', 'unset', 'unset'), SwapType.NONE],
  ['State IV: a confirmed primary → NONE', t('good', 'set', 'set'), t('unset', 'unset', 'unset'), SwapType.NONE],
  ['State IV: a primary not copied → NONE', t('good', 'unset', 'unset'), t('unset', 'unset', 'unset'), SwapType.NONE],
  ['State IV: a bad image ok byte in the secondary → NONE', t('good', 'set', 'set'), t('good', 'bad', 'unset'), SwapType.NONE],
  ['State IV: factory flash, nothing written → NONE', t('unset', 'unset', 'unset'), t('unset', 'unset', 'unset'), SwapType.NONE],
];

for (const [name, primary, secondary, expected] of SWAP_TABLE) {
  test(`swap type, ${name}`, () => assert.is(swapTypeOf(primary, secondary), expected));
}

test('status source (design.md "Reset Recovery", in this layout)', () => {
  assert.is(statusSource(t('good', 'set', 'set'), t('unset', 'unset', 'unset')), 'none');
  assert.is(statusSource(t('good', 'unset', 'unset'), t('unset', 'unset', 'unset')), 'primary');
  assert.is(statusSource(t('bad', 'unset', 'unset'), t('good', 'unset', 'unset')), 'scratch');
  assert.is(statusSource(t('good', 'set', 'set'), t('good', 'unset', 'unset')), 'scratch', 'the scratch copy only exists before any sector moved');
  assert.is(statusSource(t('unset', 'unset', 'unset'), t('unset', 'unset', 'unset')), 'none');
});

for (const mode of ['full', 'digest'] as const) {
  test(`${mode}: update, trial boot, revert on a reset without confirm, update again, confirm`, async () => {
    const a = pkg('1.0.0', { seed: 1, sequence: 1 });
    const b = pkg('2.0.0', { seed: 2, size: 6000, sequence: 2 });
    const r = await rig(mode, a);
    let boot = await r.boot.boot();
    assert.ok(boot.ok && boot.image.version === '1.0.0' && boot.swap === 'none' && !boot.trial);
    const v = await download(r, b);
    assert.ok(v.ok, v.ok ? '' : v.reason);
    await r.boot.requestUpdate();
    assert.is(r.boot.pendingSwap(), 'test');
    boot = await r.boot.boot();
    assert.ok(boot.ok);
    if (!boot.ok) return;
    assert.is(boot.image.version, '2.0.0');
    assert.is(boot.swap, 'test');
    assert.ok(boot.trial);
    assert.equal(slotImage(r, 'primary', b.length), b);
    assert.equal(slotImage(r, 'secondary', a.length), a, 'the old image waits in the secondary slot');
    // Reset without confirming: MCUboot reverts (State III).
    assert.is(r.boot.pendingSwap(), 'revert');
    boot = await r.boot.boot();
    assert.ok(boot.ok && boot.image.version === '1.0.0' && boot.swap === 'revert' && !boot.trial);
    assert.equal(slotImage(r, 'primary', a.length), a);
    assert.is(r.boot.pendingSwap(), 'none');
    // The same image again, confirmed this time.
    assert.ok((await download(r, b)).ok);
    await r.boot.requestUpdate();
    boot = await r.boot.boot();
    assert.ok(boot.ok && boot.trial);
    assert.ok(await r.boot.confirm());
    assert.not.ok(r.boot.isTrial());
    boot = await r.boot.boot();
    assert.ok(boot.ok && boot.image.version === '2.0.0' && boot.swap === 'none' && !boot.trial);
    assert.not.ok(await r.boot.confirm(), 'nothing left to confirm');
  });
}

test('a permanent update needs no confirmation', async () => {
  const r = await rig('full', pkg('1.0.0'));
  assert.ok((await download(r, pkg('3.0.0', { seed: 9 }))).ok);
  await r.boot.requestUpdate(true);
  assert.is(r.boot.pendingSwap(), 'perm');
  const boot = await r.boot.boot();
  assert.ok(boot.ok && boot.swap === 'perm' && !boot.trial && boot.image.version === '3.0.0');
  const again = await r.boot.boot();
  assert.ok(again.ok && again.swap === 'none' && again.image.version === '3.0.0');
});

test('the manifest is verified before any payload byte reaches flash', async () => {
  const r = await rig('full', pkg('1.0.0'));
  const stranger = generateSigningKey('ed25519');
  const cases: [string, Buffer, number, RegExp][] = [
    ['signed by an unknown key', pkg('2.0.0', { signer: stranger }), 5, /not trusted/],
    ['for another hardware class', pkg('2.0.0', { classId: 'other-1' }), 6, /class other-1/],
    ['not a package at all', Buffer.from('GIF89a, not firmware'), 6, /FRY1/],
    ['too large for the slot', pkg('2.0.0', { size: 9000 }), 2, /fit/],
  ];
  const tampered = pkg('2.0.0');
  tampered[60]! ^= 0x01; // inside the COSE_Sign1
  cases.push(['with a tampered manifest', tampered, 5, /signature|header/]);
  for (const [name, image, result, reason] of cases) {
    const v = await download(r, image, 64);
    assert.ok(!v.ok, name);
    if (v.ok) continue;
    assert.is(v.result, result, name);
    assert.match(v.reason, reason, name);
    assert.ok(r.boot.secondary.isErased(0, r.boot.secondary.size), `${name}: the secondary slot stays blank`);
  }
});

test('anti-rollback: a sequence below the security counter is refused (8); equal is allowed', async () => {
  const r = await rig('full', pkg('1.0.0'));
  r.identity.securityCounter = 5;
  const old = await download(r, pkg('0.9.0', { sequence: 4 }));
  assert.ok(!old.ok && old.result === 8 && /rollback/.test(old.reason));
  assert.ok((await download(r, pkg('1.0.1', { sequence: 5 }))).ok);
});

test('a flipped bit in the payload fails the digest (5); the slot stays without an image', async () => {
  const r = await rig('full', pkg('1.0.0'));
  const v = await download(r, pkg('2.0.0', { seed: 4 }), 256, (chunk, num) => {
    if (num === 10) chunk[17]! ^= 0x10;
    return chunk;
  });
  assert.ok(!v.ok && v.result === 5 && /SHA-256/.test(v.reason));
  assert.is(readSlotLength(r.boot.secondary), undefined);
});

test('out of RAM (3): a header larger than the device can hold', async () => {
  const r = await rig('full', pkg('1.0.0'));
  const prefix = Buffer.from([0x46, 0x52, 0x59, 0x31, 0, 0, 0xf0, 0]); // FRY1, manifest of 61,440 bytes
  const v = await download(r, Buffer.concat([prefix, Buffer.alloc(64)]), 16);
  assert.ok(!v.ok && v.result === 3, v.ok ? '' : v.reason);
});

test('an image corrupted in flash after its download is not swapped in (5); the old one keeps running', async () => {
  const r = await rig('full', pkg('1.0.0'));
  assert.ok((await download(r, pkg('2.0.0', { seed: 3 }))).ok);
  await r.boot.requestUpdate();
  // One bit the flash lost in the payload: rewrite its sector with the bit flipped.
  const slot = r.boot.secondary;
  const sector = Math.floor((SLOT_HEADER + 4000) / slot.sectorSize);
  const bytes = slot.read(sector * slot.sectorSize, slot.sectorSize);
  bytes[(SLOT_HEADER + 4000) % slot.sectorSize]! ^= 0x04;
  await slot.erase(sector);
  await slot.write(sector * slot.sectorSize, bytes);
  const boot = await r.boot.boot();
  assert.ok(boot.ok && boot.image.version === '1.0.0' && boot.swap === 'none');
  assert.ok(boot.ok && boot.refused?.result === 5);
  assert.is(r.boot.pendingSwap(), 'none', 'the refused image is not tried again');
});

test('unsigned simulator images: taken by a device without anchors, refused by one with anchors', async () => {
  const sim = makeSimImage({ version: '2.0.0', size: 3000 });
  const r = await rig('full', pkg('1.0.0'));
  const refused = await download(r, sim);
  assert.ok(!refused.ok && refused.result === 6);
  r.identity.anchors = [];
  const taken = await download(r, sim);
  assert.ok(taken.ok && taken.image.format === 'frysim01' && taken.image.version === '2.0.0');
});

test('a transfer resumes from what is in flash after a reset', async () => {
  const r = await rig('digest', pkg('1.0.0'));
  const b = pkg('2.0.0', { seed: 7, size: 6000 });
  const capacity = r.boot.secondary.size - SLOT_HEADER;
  const first = await SlotWriter.begin(r.boot.secondary, new ImageVerifier(r.identity, capacity));
  for (let off = 0; off < 3000; off += 256) assert.is(await first.write(off, b.subarray(off, off + 256)), undefined);
  const saved = first.written;
  assert.ok(saved >= 2816 && saved <= 3072);
  // The device resets: the writer is gone, the flash is not.
  const again = await SlotWriter.resume(r.boot.secondary, new ImageVerifier(r.identity, capacity), saved);
  assert.ok(again);
  if (again === undefined) return;
  const from = Math.floor(again.written / 256) * 256;
  for (let off = from; off < b.length; off += 256) assert.is(await again.write(off, b.subarray(off, off + 256)), undefined);
  const v = await again.finish();
  assert.ok(v.ok);
  assert.equal(slotImage(r, 'secondary', b.length), b);
  // A gap is refused.
  const gap = await SlotWriter.begin(r.boot.secondary, new ImageVerifier(r.identity, capacity));
  const refused = await gap.write(512, b.subarray(512, 768));
  assert.ok(refused !== undefined && refused.result === 4);
});

test.run();
