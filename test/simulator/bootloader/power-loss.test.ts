// The bootloader's power loss at every flash operation of an update, exhaustively: cut before
// the operation, or tear it halfway (a torn erase leaves garbage, a torn write its first units).
// After the power comes back the device must boot a valid image, and the right one.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PowerLoss } from '../../../simulator/flash.ts';
import type { FlashMode } from '../../../simulator/flash.ts';
import { download, pkg, rig, slotImage } from './kit.ts';
import type { Rig } from './kit.ts';

const A = pkg('1.0.0', { seed: 11, size: 4000, sequence: 1 });
const B = pkg('2.0.0', { seed: 22, size: 5600, sequence: 2 });

/** A device running A with B downloaded; `then` takes it to the state the cut happens in. */
async function prepared(mode: FlashMode, geometry: { sectorSize?: number; slotSize?: number } = {}, a = A, b = B): Promise<Rig> {
  const r = await rig(mode, a, geometry);
  const v = await download(r, b);
  assert.ok(v.ok, v.ok ? '' : v.reason);
  return r;
}

/** Runs `work` with the power cut at its n-th flash operation; true if the cut happened. */
async function cutAt(r: Rig, n: number, kind: 'before' | 'torn', work: () => Promise<unknown>): Promise<boolean> {
  const start = r.boot.flash.ops;
  r.boot.flash.powerCut = (_op, i) => (i === start + n ? kind : undefined);
  try {
    await work();
    return false;
  } catch (err) {
    if (!(err instanceof PowerLoss)) throw err;
    return true;
  } finally {
    r.boot.flash.powerCut = undefined;
    r.boot.flash.powerOn();
  }
}

async function opsOf(r: Rig, work: () => Promise<unknown>): Promise<number> {
  const start = r.boot.flash.ops;
  await work();
  return r.boot.flash.ops - start;
}

/** Request + boot of B, cut anywhere: afterwards A runs confirmed, or B runs on trial with A kept. */
async function checkAfterUpdateCut(r: Rig, what: string): Promise<'A' | 'B'> {
  const boot = await r.boot.boot();
  assert.ok(boot.ok, `${what}: bricked: ${boot.ok ? '' : boot.reason}`);
  if (!boot.ok) return 'A';
  if (boot.image.version === '2.0.0') {
    assert.ok(boot.trial, `${what}: B runs on trial`);
    assert.equal(slotImage(r, 'primary', B.length), B, `${what}: B intact in the primary`);
    assert.equal(slotImage(r, 'secondary', A.length), A, `${what}: A kept in the secondary`);
    return 'B';
  }
  assert.is(boot.image.version, '1.0.0', what);
  assert.not.ok(boot.trial, what);
  assert.equal(slotImage(r, 'primary', A.length), A, `${what}: A intact`);
  return 'A';
}

for (const mode of ['full', 'digest'] as const) {
  test(`${mode}: power loss at every operation of a test swap (and of the request before it)`, async () => {
    const total = await opsOf(await prepared(mode), async () => {
      await (await prepared(mode)).boot.requestUpdate();
    }).then(async (requestOps) => {
      const r = await prepared(mode);
      await r.boot.requestUpdate();
      return requestOps + await opsOf(r, () => r.boot.boot());
    });
    assert.ok(total > 40, `a swap of six sectors takes many operations (${total})`);
    let ranB = 0;
    for (let n = 0; n < total; n++) {
      for (const kind of ['before', 'torn'] as const) {
        const r = await prepared(mode);
        const what = `cut ${kind} operation ${n} of ${total}`;
        assert.ok(await cutAt(r, n, kind, async () => { await r.boot.requestUpdate(); await r.boot.boot(); }), what);
        if ((await checkAfterUpdateCut(r, what)) === 'B') {
          ranB += 1;
          // The recovered trial still reverts on a reset without confirmation.
          const revert = await r.boot.boot();
          assert.ok(revert.ok && revert.image.version === '1.0.0' && !revert.trial, `${what}: revert after recovery`);
        }
      }
    }
    assert.ok(ranB > total, 'once the request is written, every cut ends in B on trial');
  });

  test(`${mode}: power loss at every operation of a revert`, async () => {
    const onTrial = async (): Promise<Rig> => {
      const r = await prepared(mode);
      await r.boot.requestUpdate();
      const b = await r.boot.boot();
      assert.ok(b.ok && b.trial);
      return r;
    };
    const probe = await onTrial();
    const total = await opsOf(probe, () => probe.boot.boot());
    for (let n = 0; n < total; n++) {
      for (const kind of ['before', 'torn'] as const) {
        const r = await onTrial();
        const what = `revert, cut ${kind} operation ${n} of ${total}`;
        assert.ok(await cutAt(r, n, kind, () => r.boot.boot()), what);
        const boot = await r.boot.boot();
        assert.ok(boot.ok && boot.image.version === '1.0.0' && !boot.trial, what);
        assert.equal(slotImage(r, 'primary', A.length), A, what);
        assert.equal(slotImage(r, 'secondary', B.length), B, what);
        assert.is(r.boot.pendingSwap(), 'none', `${what}: no second revert`);
      }
    }
  });
}

test('full: two power losses, the second one while the first is being recovered, every pair', async () => {
  const geometry = { sectorSize: 1024, slotSize: 4096 };
  const a = pkg('1.0.0', { seed: 5, size: 2000, sequence: 1 });
  const b = pkg('2.0.0', { seed: 6, size: 2600, sequence: 2 });
  const requested = async (): Promise<Rig> => {
    const r = await prepared('full', geometry, a, b);
    await r.boot.requestUpdate();
    return r;
  };
  const probe = await requested();
  const total = await opsOf(probe, () => probe.boot.boot());
  let pairs = 0;
  for (let n = 0; n < total; n++) {
    const first = await requested();
    assert.ok(await cutAt(first, n, 'torn', () => first.boot.boot()));
    const recovery = await opsOf(first, () => first.boot.boot());
    for (let m = 0; m < recovery; m++) {
      const r = await requested();
      await cutAt(r, n, 'torn', () => r.boot.boot());
      assert.ok(await cutAt(r, m, 'torn', () => r.boot.boot()), `second cut ${m} after first cut ${n}`);
      const boot = await r.boot.boot();
      assert.ok(boot.ok && boot.image.version === '2.0.0' && boot.trial, `cuts at ${n} then ${m}`);
      assert.equal(slotImage(r, 'primary', b.length), b);
      assert.equal(slotImage(r, 'secondary', a.length), a);
      pairs += 1;
    }
  }
  assert.ok(pairs > 100, `${pairs} pairs`);
});

test.run();
