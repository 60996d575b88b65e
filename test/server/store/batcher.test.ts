// Batched registrations: many Registers, one transaction; the batcher groups what arrives together.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Batcher } from '../../../server/store/batcher.ts';
import * as devices from '../../../server/store/devices.ts';
import { forEachDatabase } from '../../helpers/db.ts';

const reg = (endpoint: string, registrationId: string): devices.NewRegistration => ({
  endpoint, registrationId, lifetime: 60, lwm2mVersion: '1.1', binding: 'U', queueMode: false,
  objectLinks: '</3/0>', address: '127.0.0.1', port: 5000, contentFormats: [112, 11542], objects: [{ objectId: 3, instances: [0] }],
});

test('batcher: items pushed together run in one call; one key never twice in a batch; errors reach each caller', async () => {
  const calls: string[][] = [];
  const b = new Batcher(async (items: string[]) => { calls.push(items); return items.map((i) => i.toUpperCase()); }, { key: (i) => i });
  const out = await Promise.all(['a', 'b', 'a', 'c'].map((i) => b.push(i)));
  assert.equal(out, ['A', 'B', 'A', 'C']);
  assert.equal(calls, [['a', 'b', 'c'], ['a']]);
  const failing = new Batcher(async () => { throw new Error('db down'); }, { key: (i: number) => String(i) });
  const errors = await Promise.all([1, 2].map((i) => failing.push(i).catch((e: Error) => e.message)));
  assert.equal(errors, ['db down', 'db down']);
});

test('batcher: a failed batch is retried item by item, so only the bad item fails', async () => {
  const calls: number[][] = [];
  const failed: number[] = [];
  const b = new Batcher(async (items: number[]) => {
    calls.push(items);
    if (items.includes(3)) throw new Error('bad item 3');
    return items.map((i) => i * 10);
  }, { key: String, onBatchFailed: (_err, n) => failed.push(n) });
  const out = await Promise.all([1, 2, 3, 4].map((i) => b.push(i).catch((e: Error) => e.message)));
  assert.equal(out, [10, 20, 'bad item 3', 40]);
  assert.equal(calls, [[1, 2, 3, 4], [1], [2], [3], [4]]);
  assert.equal(failed, [4]);
});

test.run();

forEachDatabase('store/registerMany', ({ suite, get }) => {
  suite('100 registrations in one call: rows, parsed payload and one event each', async () => {
    const regs = Array.from({ length: 100 }, (_, i) => reg(`d-${i}`, `r-${i}`));
    const out = await devices.registerMany(get().db, regs);
    assert.is(out.length, 100);
    assert.equal(out.map((o) => o.device.endpoint), regs.map((r) => r.endpoint));
    assert.ok(out.every((o) => !o.replaced));
    assert.equal(out[7]!.device.contentFormats, [112, 11542]);
    assert.equal(out[7]!.device.objects, [{ objectId: 3, instances: [0] }]);
    const n = await get().db.query<{ n: number }>("SELECT count(*)::int AS n FROM events WHERE kind = 'registration.created'");
    assert.is(n.rows[0]?.n, 100);
  });

  suite('a batch that re-registers known endpoints replaces them and says so', async () => {
    await devices.registerMany(get().db, [reg('x', 'r1'), reg('y', 'r2')]);
    const out = await devices.registerMany(get().db, [reg('x', 'r3'), reg('z', 'r4')]);
    assert.equal(out.map((o) => [o.device.endpoint, o.device.registrationId, o.replaced]), [['x', 'r3', true], ['z', 'r4', false]]);
    const ev = await get().db.query<{ data: { replaced?: string } }>(
      "SELECT data FROM events WHERE kind = 'registration.created' ORDER BY id DESC LIMIT 2");
    assert.ok(ev.rows.some((e) => e.data.replaced === 'r1'));
  });

  suite('a value the database refuses (NUL in text) fails its own registration only, through the batcher', async () => {
    const b = new Batcher((regs: devices.NewRegistration[]) => devices.registerMany(get().db, regs), { key: (r) => r.endpoint });
    const bad = { ...reg('bad', 'r-bad'), objectLinks: '</1/0>;title="a\u0000b"', objects: [{ objectId: 5, version: '1\u0000', instances: [0] }] };
    const out = await Promise.all([reg('g-1', 'r-1'), bad, reg('g-2', 'r-2')].map((r) => b.push(r).then((o) => o.device.endpoint, () => 'refused')));
    assert.equal(out, ['g-1', 'refused', 'g-2']);
    const rows = await get().db.query<{ endpoint: string }>('SELECT endpoint FROM devices ORDER BY endpoint');
    assert.equal(rows.rows.map((r) => r.endpoint), ['g-1', 'g-2']);
  });
});
