import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { seededRandom } from '../../simulator/clock.ts';
import type { Clock } from '../../simulator/clock.ts';
import { ContentStore } from '../../simulator/flash-store.ts';
import { Flash, FlashError, PowerLoss } from '../../simulator/flash.ts';
import { rejects } from '../helpers/assert.ts';

const code = (e: Error): string => (e instanceof FlashError ? e.code : e.message);
const step = (e: Error): number => (e instanceof PowerLoss ? e.step : -1);

test('flash erases to 0xFF and writes only erased units of the write size', async () => {
  const flash = new Flash({ writeSize: 8 });
  const area = flash.addArea('a', 256, 4);
  assert.ok(area.isErased(0, area.size));
  assert.equal(area.read(0, 4), Buffer.from([0xff, 0xff, 0xff, 0xff]));
  await area.write(256, Buffer.alloc(16, 0x11));
  assert.equal(area.read(256, 16), Buffer.alloc(16, 0x11));
  assert.ok(!area.sectorErased(1));
  // A second write over programmed flash is a bug in the caller.
  assert.is(code(await rejects(area.write(256, Buffer.alloc(8, 0)))), 'not-erased');
  assert.is(code(await rejects(area.write(3, Buffer.alloc(8)))), 'unaligned');
  assert.is(code(await rejects(area.write(0, Buffer.alloc(5)))), 'unaligned');
  assert.is(code(await rejects(area.write(1024, Buffer.alloc(8)))), 'out-of-range');
  await area.erase(1);
  assert.ok(area.sectorErased(1));
  assert.is(flash.ops, 2, 'one write, one erase (refused operations do not count)');
});

test('erase and write take time on the injected clock', async () => {
  const timers: number[] = [];
  const clock: Clock = { now: () => 0, setTimeout: (fn, ms) => { timers.push(ms); fn(); return 0; }, clearTimeout: () => {} };
  const flash = new Flash({ clock, eraseMs: 25, writeBytesPerMs: 64, writeSize: 4 });
  const area = flash.addArea('a', 1024, 2);
  await area.erase(0);
  await area.write(0, Buffer.alloc(256));
  await area.copySector(area, 0, 1);
  assert.equal(timers, [25, 4, 16]);
});

test('power cut before an operation, and a torn one: nothing works until the power is back', async () => {
  const flash = new Flash({ writeSize: 4, random: seededRandom(3) });
  const area = flash.addArea('a', 64, 2);
  await area.write(0, Buffer.alloc(64, 0));
  flash.powerCut = (op, n) => (n === 1 ? 'before' : n === 2 ? 'torn' : undefined);
  assert.is(step(await rejects(area.erase(0))), 1);
  assert.equal(area.read(0, 64), Buffer.alloc(64, 0), 'a cut before the erase changes nothing');
  assert.instance(await rejects(area.write(64, Buffer.alloc(8))), PowerLoss);
  flash.powerOn();
  assert.is(step(await rejects(area.erase(0))), 2);
  const torn = area.read(0, 64);
  assert.ok(!torn.equals(Buffer.alloc(64, 0)) && !torn.equals(Buffer.alloc(64, 0xff)), 'a torn erase leaves garbage');
  flash.powerOn();
  flash.powerCut = undefined;
  await area.erase(0);
  assert.ok(area.sectorErased(0));
});

test('a torn write lands only its first units', async () => {
  const flash = new Flash({ writeSize: 4, random: () => 0.5 });
  const area = flash.addArea('a', 64, 1);
  flash.powerCut = () => 'torn';
  assert.instance(await rejects(area.write(0, Buffer.alloc(32, 0x22))), PowerLoss);
  const after = area.read(0, 32);
  assert.equal(after.subarray(0, 16), Buffer.alloc(16, 0x22));
  assert.equal(after.subarray(16), Buffer.alloc(16, 0xff));
});

test('digest mode: devices holding the same bytes share one copy; erasing releases it', async () => {
  const store = new ContentStore();
  const image = Buffer.alloc(3 * 512, 0);
  for (let i = 0; i < image.length; i++) image[i] = (i * 7 + (i >> 9)) & 0xff;
  const flashes = Array.from({ length: 20 }, () => new Flash({ mode: 'digest', writeSize: 4, store }));
  for (const f of flashes) {
    const a = f.addArea('slot', 512, 4);
    for (let off = 0; off < image.length; off += 128) await a.write(off, image.subarray(off, off + 128));
    a.flush();
    assert.equal(a.read(0, image.length), image);
    assert.is(a.ownBytes(), 0);
  }
  assert.is(store.size, 3, 'three distinct sectors for twenty devices');
  assert.is(store.bytes, 3 * 512);
  // A sector copied between areas is a reference, not bytes.
  const f0 = flashes[0]!;
  const other = f0.addArea('other', 512, 4);
  await other.copySector(f0.area('slot'), 2, 0);
  assert.equal(other.read(0, 512), image.subarray(1024));
  assert.is(store.size, 3);
  // A write into a sealed sector copies it out first; the others keep theirs.
  await f0.area('slot').write(3 * 512, Buffer.alloc(4, 0));
  for (const f of flashes) await f.area('slot').erase(0);
  assert.is(store.size, 2);
  for (const f of flashes) f.dispose();
  assert.is(store.size, 0);
});

test('digest and full modes hash the same bytes the same way', async () => {
  const { createHash } = await import('node:crypto');
  const data = Buffer.from('the same bytes in both modes, with an erased gap after them');
  const hashes = [];
  for (const mode of ['full', 'digest'] as const) {
    const f = new Flash({ mode, writeSize: 1, store: new ContentStore() });
    const a = f.addArea('a', 32, 4);
    await a.write(10, data);
    a.flush();
    const h = createHash('sha256');
    a.hash(0, a.size, h);
    hashes.push(h.digest('hex'));
  }
  assert.is(hashes[0], hashes[1]);
});

test.run();
