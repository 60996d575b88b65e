// Device retention: devices that left (expired, de-registered) long ago and hold nothing (no
// update, no campaign, no tag) are purged in bounded batches; their events stay, naming the
// endpoint as text (migration 0009 fills it for events written before it).
import * as assert from 'uvu/assert';
import * as devices from '../../../server/store/devices.ts';
import { listEvents, recordEvent } from '../../../server/store/events.ts';
import { insertFirmware } from '../../../server/store/firmware.ts';
import { MIGRATIONS_DIR, migrate } from '../../../server/store/migrate.ts';
import { createUpdate } from '../../../server/store/updates.ts';
import { forEachDatabase } from '../../helpers/db.ts';

const DAY = 86400;

forEachDatabase('store/retention', ({ suite, get }) => {
  /** A registered device, then made to have left `daysAgo` days ago (expired or de-registered). */
  const left = async (endpoint: string, how: 'expired' | 'deregistered', daysAgo: number): Promise<number> => {
    const { db } = get();
    const { device } = await devices.register(db, {
      endpoint, registrationId: `r-${endpoint}`, lifetime: 60, lwm2mVersion: '1.1', binding: 'U', queueMode: false,
      objectLinks: '</3/0>', address: '127.0.0.1', port: 9,
    });
    if (how === 'deregistered') await devices.deregister(db, `r-${endpoint}`);
    // expired: its 60 s lifetime ran out `daysAgo` days ago; de-registered: its De-register was
    // then, its 30-day lifetime still running.
    const at = `now() - make_interval(days => ${Number(daysAgo)})`;
    await db.query(how === 'expired'
      ? `UPDATE devices SET status = 'expired', registration_id = NULL, expires_at = ${at}, last_seen = ${at} - interval '60 seconds' WHERE id = $1`
      : `UPDATE devices SET last_seen = ${at}, expires_at = ${at} + interval '30 days' WHERE id = $1`, [device.id]);
    return device.id;
  };
  const remaining = async () =>
    (await get().db.query<{ endpoint: string }>('SELECT endpoint FROM devices ORDER BY endpoint')).rows.map((r) => r.endpoint);

  suite('past the retention and holding nothing: deleted; an update, a campaign, a tag, a recent departure or a registration keeps a device', async () => {
    const { db } = get();
    await left('gone-expired', 'expired', 8);
    await left('gone-dereg', 'deregistered', 8);
    await left('recent-expired', 'expired', 6);
    await left('recent-dereg', 'deregistered', 6);
    const updated = await left('kept-update', 'expired', 30);
    const image = await insertFirmware(db, { version: '1.0.0', hardwareClass: 'c', payload: Buffer.from('image') });
    await createUpdate(db, { deviceId: updated, firmwareId: image.id, deadlineSeconds: 60 });
    await db.query("UPDATE device_updates SET state = 'failed', finished_at = now()");
    await left('kept-tag', 'deregistered', 30);
    await devices.setTags(db, 'kept-tag', ['pilot']);
    const member = await left('kept-campaign', 'expired', 30);
    const campaign = await db.query<{ id: number }>(
      `INSERT INTO campaigns (name, firmware_id, target, policy, state) VALUES ('c', $1, '{}', '{}', 'completed') RETURNING id`, [image.id]);
    await db.query("INSERT INTO campaign_devices (campaign_id, device_id, wave, state, active) VALUES ($1, $2, 1, 'skipped', false)",
      [campaign.rows[0]!.id, member]);
    await devices.register(db, {
      endpoint: 'alive', registrationId: 'r-alive', lifetime: 60, lwm2mVersion: '1.1', binding: 'U', queueMode: false,
      objectLinks: '</3/0>', address: '127.0.0.1', port: 9,
    });
    await db.query("UPDATE devices SET last_seen = now() - interval '30 days' WHERE endpoint = 'alive'");

    const purged = await devices.purgeLeftDevices(db, { retentionSeconds: 7 * DAY });
    assert.equal(purged.map((d) => d.endpoint).sort(), ['gone-dereg', 'gone-expired']);
    assert.equal(await remaining(), ['alive', 'kept-campaign', 'kept-tag', 'kept-update', 'recent-dereg', 'recent-expired']);
    assert.equal(await devices.purgeLeftDevices(db, { retentionSeconds: 7 * DAY }), [], 'nothing left to purge');
    // A shorter retention reaches the recent ones; the keeps still hold.
    assert.equal((await devices.purgeLeftDevices(db, { retentionSeconds: 5 * DAY })).map((d) => d.endpoint).sort(), ['recent-dereg', 'recent-expired']);
    assert.equal(await remaining(), ['alive', 'kept-campaign', 'kept-tag', 'kept-update']);
  });

  suite("a purged device's events stay, with its endpoint; the purge is in the audit log", async () => {
    const { db } = get();
    const id = await left('gone-1', 'deregistered', 10);
    await recordEvent(db, { kind: 'test.note', deviceId: id, data: { n: 1 } });
    await devices.purgeLeftDevices(db, { retentionSeconds: 7 * DAY });
    assert.is(await devices.findByEndpoint(db, 'gone-1'), null);
    const rows = await db.query<{ kind: string; device_id: number | null; endpoint: string }>(
      "SELECT kind, device_id, endpoint FROM events WHERE endpoint = 'gone-1' ORDER BY id");
    assert.equal(rows.rows.map((r) => r.kind), ['registration.created', 'registration.deleted', 'test.note']);
    assert.ok(rows.rows.every((r) => r.device_id === null), 'the device id is gone (ON DELETE SET NULL)');
    const listed = await listEvents(db, { endpoint: 'gone-1' });
    assert.equal(listed.map((e) => [e.kind, e.endpoint]), [['registration.created', 'gone-1'], ['registration.deleted', 'gone-1'], ['test.note', 'gone-1']]);
    const purge = await listEvents(db, { kindPrefix: 'device.purged' });
    assert.is(purge.length, 1);
    assert.equal(purge[0]!.data, { count: 1, retentionSeconds: 7 * DAY, endpoints: ['gone-1'] });
    // It comes back: a new device, its old events still found by name.
    await devices.register(db, {
      endpoint: 'gone-1', registrationId: 'r-again', lifetime: 60, lwm2mVersion: '1.1', binding: 'U', queueMode: false,
      objectLinks: '</3/0>', address: '127.0.0.1', port: 9,
    });
    assert.equal((await listEvents(db, { endpoint: 'gone-1' })).map((e) => e.kind),
      ['registration.created', 'registration.deleted', 'test.note', 'registration.created']);
  });

  suite('bounded batches: batchSize a transaction, maxBatches a call; the rest waits for the next call', async () => {
    const { db } = get();
    for (let i = 0; i < 7; i++) await left(`batch-${i}`, 'expired', 9);
    const first = await devices.purgeLeftDevices(db, { retentionSeconds: 7 * DAY, batchSize: 2, maxBatches: 3 });
    assert.is(first.length, 6);
    assert.equal((await remaining()).length, 1);
    const second = await devices.purgeLeftDevices(db, { retentionSeconds: 7 * DAY, batchSize: 2, maxBatches: 3 });
    assert.is(second.length, 1);
    const purges = await listEvents(db, { kindPrefix: 'device.purged' });
    assert.equal(purges.map((e) => e.data['count']), [2, 2, 2, 1], 'one event per batch');
  });

  suite('retentionSweep: 0 is off; otherwise at most once per interval, however often it is called', async () => {
    const { db } = get();
    await left('swept-1', 'expired', 9);
    assert.equal(await devices.retentionSweep(db, { retentionSeconds: 0 })(), []);
    assert.equal(await remaining(), ['swept-1']);
    const sweep = devices.retentionSweep(db, { retentionSeconds: 7 * DAY, everyMs: 3_600_000 });
    assert.equal((await sweep()).map((d) => d.endpoint), ['swept-1']);
    await left('swept-2', 'expired', 9);
    assert.equal(await sweep(), [], 'not again within the interval');
    assert.equal(await remaining(), ['swept-2']);
  });

  suite('events record the endpoint of their device; migration 0009 fills it for events written before it', async () => {
    const { db } = get();
    const id = await left('old-1', 'expired', 1);
    await recordEvent(db, { kind: 'test.new', deviceId: id });
    assert.equal((await db.query("SELECT endpoint FROM events WHERE kind = 'test.new'")).rows, [{ endpoint: 'old-1' }]);
    // The schema as it was before 0009, an event written then, and 0009 applied again.
    await db.exec('ALTER TABLE events DROP COLUMN endpoint');
    await db.query('DELETE FROM schema_migrations WHERE version = 9');
    await db.query("INSERT INTO events (kind, device_id) VALUES ('test.old', $1), ('test.none', NULL)", [id]);
    await migrate(db, { dir: MIGRATIONS_DIR });
    const rows = await db.query<{ kind: string; endpoint: string | null }>("SELECT kind, endpoint FROM events WHERE kind LIKE 'test.%' ORDER BY id");
    assert.equal(rows.rows, [{ kind: 'test.new', endpoint: 'old-1' }, { kind: 'test.old', endpoint: 'old-1' }, { kind: 'test.none', endpoint: null }]);
    const applied = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM schema_migrations WHERE version = 9');
    assert.is(applied.rows[0]?.n, 1);
  });
});
