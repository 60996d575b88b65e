// The audit chain: sealed events verify untouched; a row changed, deleted, swapped or put in
// between, and a tail cut off (through the signed checkpoint), are each named; writers and
// sealers at once keep one valid chain; archiving keeps it verifiable; another key is told apart.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite as uvuSuite } from 'uvu';
import * as assert from 'uvu/assert';
import { archiveEvents } from '../../../server/audit/archive.ts';
import { Auditor } from '../../../server/audit/auditor.ts';
import { keyChain } from '../../../server/audit/keying.ts';
import { sealPending } from '../../../server/audit/chain.ts';
import { writeCheckpoint } from '../../../server/audit/checkpoints.ts';
import { exportEvents } from '../../../server/audit/export.ts';
import { AuditSigner } from '../../../server/audit/signer.ts';
import { verifyChain } from '../../../server/audit/verify.ts';
import { SecretsKey } from '../../../server/credentials/secrets-key.ts';
import { silentLogger } from '../../../server/log.ts';
import type { Db } from '../../../server/store/db.ts';
import { recordEvents, type EventInput } from '../../../server/store/events.ts';
import { MIGRATIONS_DIR, migrate } from '../../../server/store/migrate.ts';
import { openPg } from '../../../server/store/pg.ts';
import { createTestSchema, databaseUrl, forEachDatabase } from '../../helpers/db.ts';
import { offlineDevice } from '../../helpers/devices.ts';

const signer = new AuditSigner(new SecretsKey(randomBytes(32)));
const events = (n: number, tag = 'e'): EventInput[] =>
  Array.from({ length: n }, (_, i) => ({ kind: 'registration.created', actor: 'device', endpoint: `${tag}-${i}`, data: { i, z: 'last', a: { y: 1, b: [1, 'x'] } } }));

/** Writes `n` events and seals them; returns the events' ids by sequence number (index 0: sequence 1). */
async function sealed(db: Db, n: number): Promise<number[]> {
  await recordEvents(db, events(n));
  const out = await sealPending(db, signer, { pageSize: 7 });
  assert.ok('sealed' in out);
  const { rows } = await db.query<{ id: number }>('SELECT id FROM events ORDER BY seq');
  return rows.map((r) => Number(r.id));
}

forEachDatabase('store/audit-chain', ({ suite, get, database }) => {
  suite('an untouched log verifies, across pages, and each sealed row has the next sequence number', async () => {
    const { db } = get();
    await sealed(db, 25);
    await recordEvents(db, events(3, 'late'));
    await sealPending(db, signer);
    const { rows } = await db.query<{ seq: number; link: string }>('SELECT seq, link FROM events ORDER BY seq');
    assert.equal(rows.map((r) => Number(r.seq)), Array.from({ length: 28 }, (_, i) => i + 1));
    assert.ok(rows.every((r) => /^[0-9a-f]{64}$/.test(r.link)));
    await writeCheckpoint(db, signer);
    for (const pageSize of [1, 5, 1000]) {
      const v = await verifyChain(db, signer, { pageSize });
      assert.equal(v, { ok: true, checked: 28, keyed: true, from: 0, through: 28, unsealed: 0, forgedCheckpoints: 0, checkpoint: v.checkpoint! });
      assert.is(v.checkpoint?.sequence, 28);
    }
  });

  suite('a row whose data is altered in SQL is named: changed', async () => {
    const { db } = get();
    const ids = await sealed(db, 12);
    await db.query(`UPDATE events SET data = jsonb_set(data, '{i}', '99') WHERE id = $1`, [ids[6]]);
    assert.equal((await verifyChain(db, signer, { pageSize: 5 })).firstBad, { sequence: 7, id: ids[6]!, problem: 'changed' });
  });

  suite('a row whose kind, actor, endpoint or time is altered is named: changed', async () => {
    const { db } = get();
    const ids = await sealed(db, 6);
    for (const [column, value] of [['kind', "'x'"], ['actor', "'token:x'"], ['endpoint', "'other'"], ['at', "at + interval '1 microsecond'"], ['link', "repeat('a', 64)"]]) {
      // Inside a transaction rolled back, so each column is altered alone.
      const rolledBack = new Error('rolled back');
      await db.transaction(async (tx) => {
        await tx.query(`UPDATE events SET ${column} = ${value} WHERE id = $1`, [ids[3]]);
        assert.equal((await verifyChain(tx, signer)).firstBad, { sequence: 4, id: ids[3]!, problem: 'changed' }, column);
        throw rolledBack;
      }).catch((err: unknown) => { if (err !== rolledBack) throw err; });
    }
  });

  suite('a deleted row is named by its sequence number: missing', async () => {
    const { db } = get();
    const ids = await sealed(db, 10);
    await db.query('DELETE FROM events WHERE id = $1', [ids[4]]);
    assert.equal((await verifyChain(db, signer)).firstBad, { sequence: 5, id: null, problem: 'missing' });
  });

  suite('two rows whose sequence numbers are swapped: the first is named out of order', async () => {
    const { db } = get();
    const ids = await sealed(db, 10);
    await db.query('UPDATE events SET seq = -1 WHERE seq = 3');
    await db.query('UPDATE events SET seq = 3 WHERE seq = 4');
    await db.query('UPDATE events SET seq = 4 WHERE seq = -1');
    assert.equal((await verifyChain(db, signer)).firstBad, { sequence: 3, id: ids[3]!, problem: 'out-of-order' });
  });

  suite('a row put in between, the rest renumbered after it: named out of order', async () => {
    const { db } = get();
    const ids = await sealed(db, 10);
    await db.query('UPDATE events SET seq = seq + 1000 WHERE seq >= 6');
    await db.query('UPDATE events SET seq = seq - 999 WHERE seq >= 1000');
    const { rows: [ins] } = await db.query<{ id: number }>(
      `INSERT INTO events (kind, actor, endpoint, data, seq, link) SELECT kind, actor, endpoint, data, 6, link FROM events WHERE id = $1 RETURNING id`, [ids[4]]);
    assert.equal((await verifyChain(db, signer)).firstBad, { sequence: 6, id: Number(ins!.id), problem: 'out-of-order' });
  });

  suite('a repeated sequence number is named out of order', async () => {
    const { db } = get();
    await sealed(db, 5);
    await db.query('DROP INDEX events_seq');
    try {
      const { rows: [ins] } = await db.query<{ id: number }>(
        `INSERT INTO events (kind, actor, data, seq, link) SELECT kind, actor, data, 3, link FROM events WHERE seq = 3 RETURNING id`);
      assert.equal((await verifyChain(db, signer)).firstBad, { sequence: 3, id: Number(ins!.id), problem: 'out-of-order' });
    } finally {
      await db.query('DELETE FROM events WHERE seq = 3 AND id > 5');
      await db.query('CREATE UNIQUE INDEX events_seq ON events (seq) WHERE seq IS NOT NULL');
    }
  });

  suite('the tail cut off, the head moved back with it: found through the signed checkpoint', async () => {
    const { db } = get();
    await sealed(db, 10);
    await writeCheckpoint(db, signer);
    await db.query('DELETE FROM events WHERE seq > 7');
    await db.query('UPDATE audit_chain SET seq = 7, link = (SELECT link FROM events WHERE seq = 7)');
    const v = await verifyChain(db, signer);
    assert.equal(v.firstBad, { sequence: 8, id: null, problem: 'truncated' });
    assert.is(v.checkpoint?.sequence, 10);
    // Without the checkpoint nothing shows it: what is left chains well.
    await db.query('DELETE FROM audit_checkpoints');
    assert.is((await verifyChain(db, signer)).ok, true);
  });

  suite('the checkpoints deleted too: the checkpoint file still shows the cut; a forged checkpoint is counted', async () => {
    const { db } = get();
    const dir = mkdtempSync(join(tmpdir(), 'ferry-audit-'));
    try {
      const file = join(dir, 'checkpoints.ndjson');
      await sealed(db, 10);
      await writeCheckpoint(db, signer, { file });
      await db.query('DELETE FROM audit_checkpoints');
      await db.query('DELETE FROM events WHERE seq > 8');
      await db.query('UPDATE audit_chain SET seq = 8, link = (SELECT link FROM events WHERE seq = 8)');
      assert.equal((await verifyChain(db, signer, { checkpointFile: file })).firstBad, { sequence: 9, id: null, problem: 'truncated' });
      assert.is((await verifyChain(db, signer)).ok, true);
      await db.query(`INSERT INTO audit_checkpoints (seq, link, at, mac) VALUES (8, (SELECT link FROM events WHERE seq = 8), '2030-01-01T00:00:00.000Z', repeat('0', 64))`);
      const v = await verifyChain(db, signer);
      assert.is(v.ok, false);
      assert.is(v.forgedCheckpoints, 1);
      assert.is(v.firstBad, undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  suite('a device purged after its events were sealed: they still verify, their endpoint and update id kept', async () => {
    const { db } = get();
    const device = await offlineDevice(db, 'purged-1');
    await recordEvents(db, [{ kind: 'update.state', deviceId: device.id, updateId: 424242, data: { to: 'succeeded' } }]);
    await sealPending(db, signer);
    await db.query('DELETE FROM devices WHERE id = $1', [device.id]);
    const { rows } = await db.query<{ device_id: number | null; update_id: number; endpoint: string }>('SELECT device_id, update_id, endpoint FROM events WHERE kind = $1', ['update.state']);
    assert.equal(rows.map((r) => [r.device_id, Number(r.update_id), r.endpoint]), [[null, 424242, 'purged-1']]);
    assert.is((await verifyChain(db, signer)).ok, true);
  });

  suite('a chain sealed under one key: another key, or none, neither seals nor verifies it, and says why', async () => {
    const { db } = get();
    await sealed(db, 3);
    await recordEvents(db, events(2, 'more'));
    for (const other of [new AuditSigner(new SecretsKey(randomBytes(32))), new AuditSigner(undefined)]) {
      const out = await sealPending(db, other);
      assert.ok('refused' in out);
      const v = await verifyChain(db, other);
      assert.is(v.ok, false);
      assert.match(v.error ?? '', other.keyed ? /another master key/ : /no master key/);
    }
    assert.is((await db.query('SELECT 1 FROM events WHERE seq IS NULL')).rows.length, 2);
  });

  suite('without a master key: chained with plain SHA-256, and a change is still found', async () => {
    const { db } = get();
    const lab = new AuditSigner(undefined);
    await recordEvents(db, events(4));
    await sealPending(db, lab);
    await writeCheckpoint(db, lab);
    const v = await verifyChain(db, lab);
    assert.is(v.ok, true);
    assert.is(v.keyed, false);
    await db.query(`UPDATE events SET kind = 'x' WHERE seq = 2`);
    assert.is((await verifyChain(db, lab)).firstBad?.problem, 'changed');
  });

  suite('an unkeyed chain given a key: checked, then keyed from its head; what follows is HMAC and verifies', async () => {
    const { db } = get();
    const lab = new AuditSigner(undefined);
    await recordEvents(db, events(5, 'lab'));
    await sealPending(db, lab);
    await writeCheckpoint(db, lab);
    await recordEvents(db, events(3, 'keyed'));
    const auditor = new Auditor({ db, signer, log: silentLogger(), retentionSeconds: 0 });
    await auditor.tick();
    const v = await verifyChain(db, signer);
    assert.equal([v.ok, v.keyed, v.from, v.checked, v.through, v.forgedCheckpoints], [true, true, 5, 3, 8, 0], JSON.stringify(v));
    assert.is((await db.query('SELECT 1 FROM events WHERE seq IS NULL')).rows.length, 0);
    assert.equal(await keyChain(db, signer), { notNeeded: true });
    // The lab signer can no longer seal or check it.
    assert.ok('refused' in await sealPending(db, lab));
    // Keyed rows are checked under the key.
    await db.query(`UPDATE events SET kind = 'x' WHERE seq = 7`);
    assert.equal((await verifyChain(db, signer)).firstBad?.problem, 'changed');
  });

  suite('an unkeyed chain that does not verify is not keyed: sealing stays stopped', async () => {
    const { db } = get();
    const lab = new AuditSigner(undefined);
    await recordEvents(db, events(4, 'lab'));
    await sealPending(db, lab);
    await db.query('DELETE FROM events WHERE seq = 2');
    const out = await keyChain(db, signer);
    assert.ok('refused' in out && /sequence 2: missing/.test(out.refused), JSON.stringify(out));
    await recordEvents(db, events(1, 'late'));
    await new Auditor({ db, signer, log: silentLogger(), retentionSeconds: 0 }).tick();
    assert.is((await db.query('SELECT 1 FROM events WHERE seq IS NULL')).rows.length, 1);
  });

  suite('archiving moves a verified prefix to events_archive; verification starts from its boundary', async () => {
    const { db } = get();
    await sealed(db, 6);
    await db.query(`UPDATE events SET at = at - interval '10 days' WHERE seq <= 4`);
    // Re-seal over the new times: the test, not an attacker, moved them.
    await db.query('UPDATE events SET seq = NULL, link = NULL');
    await db.query('DELETE FROM audit_chain');
    await sealPending(db, signer);
    await writeCheckpoint(db, signer);
    const out = await archiveEvents(db, signer, new Date(Date.now() - 86400_000));
    assert.equal(out, { archived: 4, through: 4 });
    const { rows } = await db.query<{ seq: number }>('SELECT seq FROM events_archive ORDER BY seq');
    assert.equal(rows.map((r) => Number(r.seq)), [1, 2, 3, 4]);
    await recordEvents(db, events(2, 'after'));
    await sealPending(db, signer);
    const v = await verifyChain(db, signer);
    assert.equal([v.ok, v.from, v.checked, v.through], [true, 4, 4, 8]);
    // The export still has them all, archived or not, in id order, a page at a time.
    const exported: number[] = [];
    for await (const e of exportEvents(db, {}, 3)) exported.push(e.seq!);
    assert.equal(exported, [1, 2, 3, 4, 5, 6, 7, 8]);
    const old: number[] = [];
    for await (const e of exportEvents(db, { until: new Date(Date.now() - 86400_000) }, 3)) old.push(e.seq!);
    assert.equal(old, [1, 2, 3, 4]);
    assert.equal(await archiveEvents(db, signer, new Date(Date.now() - 86400_000)), { archived: 0, through: 4 });
    // The boundary is signed: moving it on (rows deleted with it) is found.
    await db.query('DELETE FROM events WHERE seq = 5');
    await db.query('UPDATE audit_chain SET base_seq = 5, base_link = (SELECT link FROM events WHERE seq = 6)');
    assert.equal((await verifyChain(db, signer)).firstBad, { sequence: 5, id: null, problem: 'changed' });
  });

  suite('with a retention set, the auditor\'s round seals, then archives what is past it', async () => {
    const { db } = get();
    await recordEvents(db, events(4, 'old'));
    await db.query(`UPDATE events SET at = at - interval '3 days'`);
    await recordEvents(db, events(2, 'new'));
    await new Auditor({ db, signer, log: silentLogger(), retentionSeconds: 86400 }).tick();
    const { rows } = await db.query<{ endpoint: string }>('SELECT endpoint FROM events_archive ORDER BY seq');
    assert.equal(rows.map((r) => r.endpoint), ['old-0', 'old-1', 'old-2', 'old-3']);
    const v = await verifyChain(db, signer);
    assert.equal([v.ok, v.from, v.checked], [true, 4, 2]);
  });

  suite('an altered row is not archived out of sight', async () => {
    const { db } = get();
    await recordEvents(db, events(5));
    await db.query(`UPDATE events SET at = at - interval '10 days'`);
    await sealPending(db, signer);
    await db.query(`UPDATE events SET data = '{}' WHERE seq = 2`);
    const out = await archiveEvents(db, signer, new Date(Date.now() - 86400_000));
    assert.ok('refused' in out);
    assert.is((await db.query('SELECT 1 FROM events_archive')).rows.length, 0);
  });

  suite('writers in parallel transactions, batches of many, sealing between them: one valid chain', async () => {
    const { db } = get();
    const writers = Array.from({ length: 6 }, (_, w) => (async () => {
      for (let b = 0; b < 5; b++) {
        await db.transaction(async (tx) => {
          await recordEvents(tx, events(1 + ((w * 7 + b * 3) % 40), `w${w}b${b}`));
          await tx.query('SELECT pg_sleep(0.001)');
        });
        await sealPending(db, signer, { pageSize: 13 });
      }
    })());
    await Promise.all(writers);
    await sealPending(db, signer);
    const { rows: [count] } = await db.query<{ n: number }>('SELECT count(*) AS n FROM events');
    const v = await verifyChain(db, signer, { pageSize: 17 });
    assert.is(v.ok, true);
    assert.is(v.checked, Number(count!.n));
  });

  if (database === 'pg') {
    suite('a lower id committed after a higher one was sealed: sealed next, with the next sequence number', async () => {
      const { db } = get();
      let release: () => void = () => {};
      const held = new Promise<void>((r) => { release = r; });
      let written: () => void = () => {};
      const wrote = new Promise<void>((r) => { written = r; });
      const slow = db.transaction(async (tx) => {
        await recordEvents(tx, events(1, 'slow'));
        written();
        await held;
      });
      await wrote;
      await recordEvents(db, events(1, 'fast'));
      await sealPending(db, signer);
      release();
      await slow;
      await sealPending(db, signer);
      const { rows } = await db.query<{ endpoint: string; seq: number }>('SELECT endpoint, seq FROM events ORDER BY id');
      assert.equal(rows.map((r) => [r.endpoint, Number(r.seq)]), [['slow-0', 2], ['fast-0', 1]]);
      assert.is((await verifyChain(db, signer)).ok, true);
    });
  }
});

if (process.env.DATABASE_URL) {
  // Two servers' connections (two pools) on one PostgreSQL schema, each writing and sealing.
  const two = uvuSuite('store/audit-chain: two connections on one PostgreSQL');
  two('writers and sealers on both keep one valid chain', async () => {
    const { schema, drop } = await createTestSchema();
    const a = await openPg({ url: databaseUrl(), schema, max: 4, log: () => {} });
    const b = await openPg({ url: databaseUrl(), schema, max: 4, log: () => {} });
    try {
      await migrate(a, { dir: MIGRATIONS_DIR });
      const work = (db: Db, tag: string) => (async () => {
        for (let i = 0; i < 20; i++) {
          await Promise.all([
            db.transaction(async (tx) => { await recordEvents(tx, events(1 + (i % 9) * 11, `${tag}${i}`)); }),
            recordEvents(db, events(3, `${tag}${i}x`)),
            sealPending(db, signer, { pageSize: 50 }),
          ]);
        }
      })();
      await Promise.all([work(a, 'a'), work(b, 'b')]);
      await sealPending(a, signer);
      const { rows: [count] } = await a.query<{ n: number }>('SELECT count(*) AS n FROM events');
      const v = await verifyChain(b, signer);
      assert.is(v.ok, true);
      assert.is(v.checked, Number(count!.n));
      assert.is(v.unsealed, 0);
    } finally {
      await a.close();
      await b.close();
      await drop();
    }
  });
  two.run();
}
