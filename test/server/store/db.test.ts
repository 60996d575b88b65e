import { setTimeout as sleep } from 'node:timers/promises';
import * as assert from 'uvu/assert';
import type { Queryable } from '../../../server/store/db.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { rejects } from '../../helpers/assert.ts';

const addDevice = (q: Queryable, endpoint: string) =>
  q.query<{ id: number }>(
    `INSERT INTO devices (endpoint, lifetime, expires_at) VALUES ($1, 300, now() + interval '300 seconds') RETURNING id`,
    [endpoint],
  );

const endpoints = async (q: Queryable) =>
  (await q.query<{ endpoint: string }>('SELECT endpoint FROM devices ORDER BY endpoint')).rows.map((r) => r.endpoint);


forEachDatabase('store/db', ({ suite, get, database }) => {
  suite('query: rows and rowCount; ids start at 1 after reset', async () => {
    const { db } = get();
    const inserted = await db.query<{ id: number }>(
      `INSERT INTO devices (endpoint, lifetime, expires_at)
       SELECT 'ep-' || g, 60, now() FROM generate_series(1, 3) g RETURNING id`,
    );
    assert.equal(inserted.rows, [{ id: 1 }, { id: 2 }, { id: 3 }]);
    assert.is(inserted.rowCount, 3);
    assert.is((await db.query(`UPDATE devices SET lifetime = 120 WHERE id > 1`)).rowCount, 2);
    assert.is((await db.query('SELECT * FROM devices')).rowCount, 3);
    assert.is((await db.query('CREATE TEMP TABLE IF NOT EXISTS scratch (n integer)')).rowCount, 0);
    assert.is((await db.query('DELETE FROM devices WHERE id = $1', [3])).rowCount, 1);
  });

  suite('exec runs several statements', async () => {
    const { db } = get();
    await db.exec(`
      INSERT INTO devices (endpoint, lifetime, expires_at) VALUES ('a', 60, now());
      INSERT INTO devices (endpoint, lifetime, expires_at) VALUES ('b', 60, now());`);
    assert.equal(await endpoints(db), ['a', 'b']);
  });

  suite('transaction commits and returns the value', async () => {
    const { db } = get();
    const id = await db.transaction(async (tx) => {
      const { rows } = await addDevice(tx, 'committed');
      await tx.exec(`UPDATE devices SET lifetime = 61; UPDATE devices SET model_number = 'x'`);
      return rows[0]?.id;
    });
    assert.is(id, 1);
    assert.equal(await endpoints(db), ['committed']);
  });

  suite('transaction rollback leaves nothing and rethrows the same error', async () => {
    const { db } = get();
    const boom = new Error('boom');
    const err = await rejects(
      db.transaction(async (tx) => {
        await addDevice(tx, 'rolled-back');
        await tx.exec(`INSERT INTO devices (endpoint, lifetime, expires_at) VALUES ('also', 60, now())`);
        assert.equal(await endpoints(tx), ['also', 'rolled-back']);
        throw boom;
      }),
    );
    assert.is(err, boom);
    assert.equal(await endpoints(db), []);
    // The sequence is not transactional on either driver.
    assert.is((await addDevice(db, 'next')).rows[0]?.id, 3);
  });

  suite('an SQL error inside the transaction rolls it back', async () => {
    const { db } = get();
    const err = await rejects(
      db.transaction(async (tx) => {
        await addDevice(tx, 'dup');
        await addDevice(tx, 'dup');
      }),
    );
    assert.match(err.message, 'duplicate key');
    assert.equal(await endpoints(db), []);
  });

  suite('an SQL error the callback swallowed makes the commit fail, not succeed silently', async () => {
    const { db } = get();
    await rejects(
      db.transaction(async (tx) => {
        await addDevice(tx, 'kept?');
        await tx.query('SELECT 1/0').catch(() => {});
      }),
    );
    assert.equal(await endpoints(db), []);
  });

  suite("another caller's query during a transaction is not part of it", async () => {
    const { db } = get();
    let started!: () => void;
    const inside = new Promise<void>((r) => (started = r));
    const tx = db.transaction(async (t) => {
      await addDevice(t, 'in-tx');
      started();
      await sleep(50);
      throw new Error('rollback');
    });
    await inside;
    const outside = addDevice(db, 'outside');
    await rejects(tx);
    await outside;
    assert.equal(await endpoints(db), ['outside']);
  });

  suite('the transaction handle is dead once the transaction ends', async () => {
    const { db } = get();
    let saved: Queryable | undefined;
    await db.transaction(async (tx) => {
      saved = tx;
    });
    await rejects(saved!.query('SELECT 1'));
  });

  if (database === 'pglite') {
    suite('pglite: db.query inside db.transaction is refused instead of hanging', async () => {
      const { db } = get();
      const err = await rejects(
        db.transaction(async () => {
          await db.query('SELECT 1');
        }),
      );
      assert.match(err.message, 'use the transaction\'s handle');
      // After the transaction, the same async context may use db again.
      assert.is((await db.query('SELECT 1 AS one')).rows.length, 1);
    });
  }
});
