// One firmware update end to end, on real parts: Ferry (node-coap over loopback UDP, the update
// engine, the store) and simulated LwM2M devices, on every test database.
import * as assert from 'uvu/assert';
import type { Ferry } from '../../server/main.ts';
import * as devices from '../../server/store/devices.ts';
import { makeSimImage } from '../../simulator/image.ts';
import { SimDevice } from '../../simulator/device.ts';
import { forEachDatabase } from '../helpers/db.ts';
import { eventually, startTestFerry } from '../helpers/ferry.ts';
import { signedPackage, simRun, trustedAnchor, updateOutcome } from './kit.ts';

const FAST_COAP = { ackTimeoutMs: 300, maxRetransmit: 3 };

forEachDatabase('update end to end', ({ suite, get }) => {
  const run = simRun(suite, () => get().db, { updateTimeout: 20, requestTimeout: 5 });

  /**
   * `signed`: the devices trust the server's signing key and boot a signed factory package, so they
   * take the package a raw upload is signed into (the default delivery); otherwise they take only
   * unsigned simulator images, sent with ?delivery=payload.
   */
  const startDevices = async (n: number, prefix: string, szxOf: (i: number) => number, signed = true) => {
    run.sims = Array.from({ length: n }, (_, i) => new SimDevice({
      endpoint: `${prefix}-${i}`, server: { host: '127.0.0.1', port: run.ferry.coapAddress!.port },
      blockSzx: szxOf(i), lifetime: 60, rebootDelayMs: 100, coap: FAST_COAP,
      ...(signed ? { trustedKeys: [trustedAnchor()], factoryImage: signedPackage('1.0.0', 2048, 0) } : {}),
    }));
    await Promise.all(run.sims.map((s) => s.start()));
    // Registered and read: the inventory knows each device's class and version.
    for (const s of run.sims) {
      await eventually(async () => {
        const d = await devices.findByEndpoint(get().db, s.endpoint);
        return d?.hardwareClass === 'sim-1' && d.firmwareVersion === '1.0.0' ? d : undefined;
      }, 10_000, `${s.endpoint} inventory`);
    }
  };
  const upload = async (image: Buffer, version: string, query = '') => {
    const res = await run.ferry.api.inject({
      method: 'POST', url: `/api/v1/firmware?version=${version}&hardwareClass=sim-1${query}`,
      headers: { 'content-type': 'application/octet-stream' }, payload: image,
    });
    assert.is(res.statusCode, 201);
    return res.json().id as number;
  };
  const requestUpdate = async (endpoint: string, firmwareId: number) => {
    const res = await run.ferry.api.inject({ method: 'POST', url: `/api/v1/devices/${endpoint}/update`, payload: { firmwareId } });
    assert.is(res.statusCode, 202, res.body);
    return res.json().id as number;
  };
  const finished = (id: number) => updateOutcome(run.ferry, id);

  suite('five devices update to 2.0.0 by Block2 pull, each at its own block size', async () => {
    await startDevices(5, 'e2e', (i) => [0, 2, 4, 5, 6][i]!); // 16, 64, 256, 512, 1024-byte blocks
    const firmwareId = await upload(makeSimImage({ version: '2.0.0', size: 12_000, seed: 7 }), '2.0.0');
    const started = Date.now();
    const ids = await Promise.all(run.sims.map((s) => requestUpdate(s.endpoint, firmwareId)));
    const results = await Promise.all(ids.map(finished));
    const ms = Date.now() - started;
    console.log(`  five-device update on ${get().name}: ${ms} ms`);

    for (const [i, r] of results.entries()) {
      assert.is(r.state, 'succeeded', `${run.sims[i]!.endpoint}: ${r.reason}`);
      assert.is(r.resultCode, 1);
      assert.is(r.reportedVersion, '2.0.0');
      assert.is(r.versionMismatch, false);
      // Each transition wrote one event, in order.
      const states = r.events.filter((e: { kind: string }) => e.kind === 'update.state').map((e: { data: { state: string } }) => e.data.state);
      assert.equal(states.filter((s: string) => s !== 'downloading'), ['sent', 'downloaded', 'updating', 'succeeded']);
      assert.is(run.sims[i]!.firmwareVersion, '2.0.0');
      assert.is(run.sims[i]!.running?.format, 'fry1', 'the device verified and booted the signed package (default delivery)');
    }
    const list = await run.ferry.api.inject({ method: 'GET', url: '/api/v1/devices' });
    for (const d of list.json().items) assert.is(d.firmwareVersion, '2.0.0', d.endpoint);
    // The device really fetched block by block at its own size.
    assert.ok(run.sims[0]!.counters.blocks >= Math.ceil(12_000 / 16), 'the 16-byte device fetched every block');
    const rows = await get().db.query<{ n: number }>("SELECT count(*)::int AS n FROM events WHERE kind = 'update.state'");
    assert.ok((rows.rows[0]?.n ?? 0) >= 20);
  });

  suite('registrations racing a new update do not start a second download', async () => {
    await startDevices(1, 'race', () => 6);
    const firmwareId = await upload(makeSimImage({ version: '2.1.0', size: 5000 }), '2.1.0');
    const id = await requestUpdate('race-0', firmwareId);
    const device = (await devices.findByEndpoint(get().db, 'race-0'))!;
    await Promise.all([run.ferry.engine.deviceRegistered(device), run.ferry.engine.deviceRegistered(device)]);
    const r = await finished(id);
    assert.is(r.state, 'succeeded', r.reason);
    assert.is(run.sims[0]!.counters.downloads, 1);
    const written = r.events.filter((e: { data: { state?: string } }) => e.data.state === 'sent');
    assert.is(written.length, 1);
  });

  suite('a corrupted image fails with Update Result 5 (integrity check failure)', async () => {
    // Signed, a corrupted raw image would be signed as it is: the simulator image's own digest is
    // what catches it, on a device that takes the payload alone.
    await startDevices(1, 'bad', () => 6, false);
    const image = makeSimImage({ version: '3.0.0', size: 4000, seed: 3 });
    image[image.length - 10]! ^= 0x01;
    const id = await requestUpdate('bad-0', await upload(image, '3.0.0', '&delivery=payload'));
    const r = await finished(id);
    assert.is(r.state, 'failed');
    assert.is(r.resultCode, 5);
    assert.match(r.reason, /integrity/);
    assert.is((await devices.findByEndpoint(get().db, 'bad-0'))?.firmwareVersion, '1.0.0');
  });

  suite('a device reporting another version than the image\'s is flagged', async () => {
    // A package names its version in the signed manifest; a payload-only device reports its image's own.
    await startDevices(1, 'odd', () => 6, false);
    const id = await requestUpdate('odd-0', await upload(makeSimImage({ version: '4.0.1', size: 3000 }), '4.0.0', '&delivery=payload'));
    const r = await finished(id);
    assert.is(r.state, 'succeeded');
    assert.is(r.versionMismatch, true);
    assert.is(r.reportedVersion, '4.0.1');
    assert.is((await devices.findByEndpoint(get().db, 'odd-0'))?.firmwareVersion, '4.0.1');
  });

  suite('a device that does not answer fails the update with a reason', async () => {
    // Registered from a port where nobody listens: the observe request times out.
    await devices.register(get().db, {
      endpoint: 'mute-0', registrationId: 'mute', lifetime: 60, lwm2mVersion: '1.1', binding: 'U', queueMode: false,
      objectLinks: '</5/0>', address: '127.0.0.1', port: 9,
    });
    const id = await requestUpdate('mute-0', await upload(makeSimImage({ version: '5.0.0', size: 100 }), '5.0.0'));
    const r = await finished(id);
    assert.is(r.state, 'failed');
    assert.match(r.reason, /observe failed/);
  });

  suite('an overdue update of a device another node holds is that node\'s for one more timeout, then any node\'s', async () => {
    const db = get().db;
    await devices.register(db, {
      endpoint: 'elsewhere-0', registrationId: 'elsewhere', lifetime: 60, lwm2mVersion: '1.1', binding: 'U', queueMode: false,
      objectLinks: '</5/0>', address: '127.0.0.1', port: 9,
    });
    await devices.deregister(db, 'elsewhere');
    await db.query(`UPDATE devices SET owner_node = 'node-elsewhere' WHERE endpoint = 'elsewhere-0'`);
    const fw = await run.ferry.api.inject({
      method: 'POST', url: '/api/v1/firmware?version=7&hardwareClass=sim-1',
      headers: { 'content-type': 'application/octet-stream' }, payload: Buffer.from('y'),
    });
    const id = (await run.ferry.api.inject({ method: 'POST', url: '/api/v1/devices/elsewhere-0/update', payload: { firmwareId: fw.json().id } })).json().id;
    const state = async () => (await run.ferry.api.inject({ method: 'GET', url: `/api/v1/updates/${id}` })).json().state;
    // Overdue by less than a timeout (20 s): the other node may still extend it.
    await db.query(`UPDATE device_updates SET deadline = now() - interval '5 seconds' WHERE id = $1`, [id]);
    await run.ferry.engine.sweep();
    await run.ferry.engine.idle();
    assert.is(await state(), 'queued');
    // Overdue by more: that node is gone; this one times it out.
    await db.query(`UPDATE device_updates SET deadline = now() - interval '25 seconds' WHERE id = $1`, [id]);
    await run.ferry.engine.sweep();
    await run.ferry.engine.idle();
    assert.is(await state(), 'failed');
  });
});

forEachDatabase('update timeout', ({ suite, get }) => {
  let ferry: Ferry;
  suite.before(async () => { ferry = await startTestFerry(get().db, { updateTimeout: 1 }); });
  suite.after(async () => { await ferry.close(); });

  suite('an update for a silent device fails with reason timeout', async () => {
    const { device } = await devices.register(get().db, {
      endpoint: 'gone-0', registrationId: 'gone', lifetime: 60, lwm2mVersion: '1.1', binding: 'U', queueMode: false,
      objectLinks: '</5/0>', address: '127.0.0.1', port: 9,
    });
    await devices.deregister(get().db, 'gone');
    const fw = await ferry.api.inject({
      method: 'POST', url: '/api/v1/firmware?version=6&hardwareClass=sim-1',
      headers: { 'content-type': 'application/octet-stream' }, payload: Buffer.from('x'),
    });
    const res = await ferry.api.inject({ method: 'POST', url: '/api/v1/devices/gone-0/update', payload: { firmwareId: fw.json().id } });
    const id = res.json().id;
    const r = await eventually(async () => {
      const u = (await ferry.api.inject({ method: 'GET', url: `/api/v1/updates/${id}` })).json();
      return u.state === 'failed' ? u : undefined;
    }, 6000, 'timeout');
    assert.match(r.reason, /timeout/);
    assert.ok(device.id > 0);
  });
});
