// The download path's image cache (each firmware block is sliced from the image it holds):
// bounded in bytes, one store load for many concurrent misses, and an image larger than the whole
// cache held beside it instead of reloaded for every block.
import { createHash } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ImageCache } from '../../../server/coap/image-cache.ts';
import { insertFirmware, loadFirmwarePayload } from '../../../server/store/firmware.ts';
import { forEachDatabase } from '../../helpers/db.ts';

/** Images by id, and a count of loads per id: the store's part, kept in memory for the pure cases. */
function memoryStore(sizes: Record<number, number>) {
  const loads = new Map<number, number>();
  const load = async (id: number) => {
    loads.set(id, (loads.get(id) ?? 0) + 1);
    const size = sizes[id];
    return size === undefined ? null : { payload: Buffer.alloc(size, id) };
  };
  return { load, loads, total: () => [...loads.values()].reduce((a, b) => a + b, 0) };
}

test('bounded in bytes: the least recently used image goes once the sum passes the bound, and never more is held', async () => {
  const store = memoryStore({ 1: 3000, 2: 3000, 3: 3000, 4: 3000, 5: 3000, 6: 10_000 });
  const cache = new ImageCache({ maxBytes: 10_000, load: store.load });
  for (const id of [1, 2, 3]) {
    assert.ok(await cache.get(id));
    assert.ok(cache.bytes <= 10_000);
  }
  assert.is(cache.bytes, 9000);
  await cache.get(1); // 1 is now the most recently used; 2 the least
  await cache.get(4); // 12,000 > 10,000: 2 goes
  assert.is(cache.bytes, 9000);
  assert.ok(cache.cached(1) && cache.cached(3) && cache.cached(4));
  assert.is(cache.cached(2), undefined, 'the least recently used image was evicted');
  await cache.get(2);
  assert.is(store.loads.get(2), 2, 'an evicted image is loaded again');
  // An image the size of the whole cache fits, alone.
  await cache.get(6);
  assert.is(cache.bytes, 10_000);
  assert.equal([1, 2, 3, 4].map((id) => cache.cached(id)), [undefined, undefined, undefined, undefined]);
  assert.is(cache.oversizedBytes, 0);
  // What the cache hands out: the payload, its SHA-256 and the ETag from it.
  const image = (await cache.get(6))!;
  const digest = createHash('sha256').update(Buffer.alloc(10_000, 6)).digest();
  assert.is(image.sha256, digest.toString('hex'));
  assert.ok(image.etag.equals(digest.subarray(0, 8)));
  assert.is(await cache.get(99), undefined, 'no such image');
});

test('an image larger than the whole cache is held beside it: 100 block lookups, one load, the bound kept', async () => {
  const store = memoryStore({ 1: 4000, 2: 25_000, 3: 30_000 });
  const cache = new ImageCache({ maxBytes: 10_000, load: store.load });
  await cache.get(1);
  assert.ok(await cache.get(2));
  for (let block = 0; block < 100; block++) {
    // As the responder does for each Block2 request: the fast path, the load only on a miss.
    const image = cache.cached(2) ?? await cache.get(2);
    assert.is(image?.payload.length, 25_000);
  }
  assert.is(store.loads.get(2), 1, 'not reloaded for every block');
  assert.is(cache.bytes, 4000, 'the cache itself stays within its bound');
  assert.is(cache.oversizedBytes, 25_000);
  assert.ok(cache.cached(1), 'the images that fit are not pushed out by it');
  // One at a time: the next oversized image replaces it.
  await cache.get(3);
  assert.is(cache.oversizedBytes, 30_000);
  assert.is(cache.cached(2), undefined);
  cache.evict(3);
  assert.is(cache.oversizedBytes, 0);
});

test.run();

forEachDatabase('image cache over the store', ({ suite, get }) => {
  suite('100 concurrent misses of one image: exactly one store load, and all get the same bytes', async () => {
    const payload = Buffer.from(Array.from({ length: 50_000 }, (_, i) => (i * 31) & 0xff));
    const { id } = await insertFirmware(get().db, { version: '1.0.0', hardwareClass: 'sim-1', payload });
    let loads = 0;
    const cache = new ImageCache({ maxBytes: 1024 * 1024, load: (n) => { loads++; return loadFirmwarePayload(get().db, n); } });
    const images = await Promise.all(Array.from({ length: 100 }, () => cache.get(id)));
    assert.is(loads, 1);
    assert.ok(images.every((image) => image !== undefined && image === images[0]), 'one shared image, no copies');
    assert.ok(images[0]!.payload.equals(payload));
    // Concurrent misses of an image that does not exist coalesce too, and are not remembered.
    const missing = await Promise.all(Array.from({ length: 100 }, () => cache.get(id + 1)));
    assert.ok(missing.every((m) => m === undefined));
    assert.is(loads, 2);
  });
});
