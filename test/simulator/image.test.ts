import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SIM_IMAGE_MAGIC, SimImageVerifier, makeSimImage, readSimImage, simImageHeaderSize } from '../../simulator/image.ts';

test('makeSimImage: layout, total size and determinism', () => {
  const img = makeSimImage({ version: '2.0.0', size: 4000, seed: 1 });
  assert.is(img.length, 4000);
  assert.ok(img.subarray(0, 8).equals(SIM_IMAGE_MAGIC));
  assert.is(img[8], 5);
  assert.is(img.subarray(9, 14).toString(), '2.0.0');
  assert.is(simImageHeaderSize('2.0.0'), 8 + 1 + 5 + 32);
  assert.ok(img.equals(makeSimImage({ version: '2.0.0', size: 4000, seed: 1 })));
  assert.not.ok(img.equals(makeSimImage({ version: '2.0.0', size: 4000, seed: 2 })));
  assert.is(makeSimImage({ version: 'v', size: 1 }).length, simImageHeaderSize('v'), 'never smaller than the header');
});

test('readSimImage: a good image gives its version', () => {
  assert.equal(readSimImage(makeSimImage({ version: '1.2.3', size: 10_000 })), { ok: true, version: '1.2.3' });
});

test('readSimImage: truncated or foreign bytes are unsupported', () => {
  const img = makeSimImage({ version: '1.2.3', size: 1000 });
  assert.equal(readSimImage(img.subarray(0, 20)), { ok: false, reason: 'unsupported' });
  assert.equal(readSimImage(Buffer.alloc(0)), { ok: false, reason: 'unsupported' });
  assert.equal(readSimImage(Buffer.from('FRY1 signed package, not a sim image')), { ok: false, reason: 'unsupported' });
  const badMagic = Buffer.from(img);
  badMagic[7] = 0x32;
  assert.equal(readSimImage(badMagic), { ok: false, reason: 'unsupported' });
});

test('readSimImage: a flipped bit in the body or the digest is an integrity failure', () => {
  const img = makeSimImage({ version: '1.2.3', size: 1000 });
  const body = Buffer.from(img);
  body[900] = (body[900] ?? 0) ^ 0x01;
  assert.equal(readSimImage(body), { ok: false, reason: 'integrity' });
  const digest = Buffer.from(img);
  digest[20] = (digest[20] ?? 0) ^ 0x80;
  assert.equal(readSimImage(digest), { ok: false, reason: 'integrity' });
  assert.equal(readSimImage(img.subarray(0, 999)), { ok: false, reason: 'integrity' }, 'a short body');
});

test('SimImageVerifier: the running check over blocks equals the whole check', () => {
  const img = makeSimImage({ version: '3.1.4', size: 5000, seed: 9 });
  for (const size of [1, 7, 16, 512, 1024, 5000]) {
    const v = new SimImageVerifier();
    for (let off = 0; off < img.length; off += size) v.update(img.subarray(off, off + size));
    assert.is(v.version, '3.1.4');
    assert.is(v.bytes, img.length);
    assert.equal(v.finish(), { ok: true, version: '3.1.4' }, `blocks of ${size}`);
    assert.equal(v.finish(), { ok: true, version: '3.1.4' }, 'finish is idempotent');
  }
  const v = new SimImageVerifier();
  v.update(Buffer.from('NOTSIM'));
  assert.is(v.plausible, false, 'a foreign magic is seen early');
});

test.run();
