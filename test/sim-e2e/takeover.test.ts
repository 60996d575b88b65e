// Updates whose server-side state is out of date, brought back in line by reading the device.
// One a dead process left half done (restart safety) is taken up by the running one at the
// device's next registration Update: the state is built in the database as that process left it,
// so the moment of the crash is exact. One whose notifications never arrive is read once its
// deadline passes while the device talks. Real Ferry, simulated devices over loopback UDP, on
// every test database.
import * as assert from 'uvu/assert';
import * as devices from '../../server/store/devices.ts';
import * as updates from '../../server/store/updates.ts';
import { SimDevice, type SimDeviceConfig } from '../../simulator/device.ts';
import { forEachDatabase } from '../helpers/db.ts';
import { eventually, startTestFerry } from '../helpers/ferry.ts';
import { signedPackage, simRun, trustedAnchor, updateOutcome, uploadPackage } from './kit.ts';

const FACTORY = signedPackage('1.0.0', 2048, 0, 1);
const NEW = signedPackage('2.0.0', 8_000, 1, 2);

forEachDatabase('an update out of step with its device', ({ suite, get }) => {
  // A short timeout (the devices send an Update every 2–3.2 s, well inside it): the poke, a read of
  // where the device is, comes when an update is this overdue.
  const run = simRun(suite, () => get().db, { updateTimeout: 8, requestTimeout: 5 });

  const start = async (endpoint: string, config: Partial<SimDeviceConfig>) => {
    const sim = new SimDevice({
      endpoint, server: { host: '127.0.0.1', port: run.ferry.coapAddress!.port }, trustedKeys: [trustedAnchor()], factoryImage: FACTORY,
      lifetime: 4, rebootDelayMs: 100, coap: { ackTimeoutMs: 300, maxRetransmit: 3 }, ...config,
    });
    run.sims.push(sim);
    await sim.start();
    return eventually(async () => {
      const d = await devices.findByEndpoint(get().db, endpoint);
      return d?.hardwareClass === 'sim-1' ? d : undefined;
    }, 10_000, `${endpoint} inventory`);
  };
  /** The update as a process that died left it: created, then moved by `leftAt` (not followed by this one). */
  const leftBehind = async (deviceId: number, firmwareId: number, leftAt: (id: number) => Promise<unknown>) => {
    const u = await updates.createUpdate(get().db, { deviceId, firmwareId, deadlineSeconds: 20 });
    await leftAt(u.id);
    return u.id;
  };

  suite('chose pull, died before the Package URI went out: the update completes', async () => {
    const device = await start('left-pull', { deliveryMethod: 'pull' });
    const firmwareId = await uploadPackage(run.ferry, NEW);
    const id = await leftBehind(device.id, firmwareId, (u) => updates.recordDelivery(get().db, u, 'pull', { why: 'the dead process' }));
    const u = await updateOutcome(run.ferry, id);
    assert.is(u.state, 'succeeded', u.reason ?? '');
    assert.is(run.sims[0]!.firmwareVersion, '2.0.0');
    const chosen = u.events.filter((e: { kind: string }) => e.kind === 'update.delivery');
    assert.is(chosen.length, 2, 'chosen again by the process that took it up');
    assert.is(chosen[1].data.previous, 'pull');
  });

  suite('a push cut off before it began (sent, the device Idle): the update fails as interrupted, never stalls', async () => {
    const device = await start('left-push', { deliveryMethod: 'push' });
    const firmwareId = await uploadPackage(run.ferry, NEW);
    const id = await leftBehind(device.id, firmwareId, async (u) => {
      await updates.recordDelivery(get().db, u, 'push', { why: 'the dead process' });
      await updates.transitionUpdate(get().db, u, { to: 'sent', from: ['queued'], deadlineSeconds: 20 });
    });
    const u = await updateOutcome(run.ferry, id, 15_000);
    assert.is(u.state, 'failed');
    assert.match(u.reason, /^interrupted: the device is Idle/);
    assert.is(run.sims[0]!.firmwareVersion, '1.0.0');
    // The device is free for the next try, which pushes from the start.
    const next = await updateOutcome(run.ferry, (await run.ferry.engine.requestUpdate('left-push', firmwareId)).id);
    assert.is(next.state, 'succeeded', next.reason ?? '');
    assert.is(run.sims[0]!.firmwareVersion, '2.0.0');
  });

  suite('no notification ever arrives (observe-lost): the overdue update reads where the device is, and completes', async () => {
    assert.is(run.ferry.engine.pokeAfterSeconds, 5, 'a quarter of the 8 s timeout, raised to the 5 s floor');
    await start('mute', { deliveryMethod: 'pull', fault: { kind: 'observe-lost' } });
    const firmwareId = await uploadPackage(run.ferry, NEW);
    const u = await updateOutcome(run.ferry, (await run.ferry.engine.requestUpdate('mute', firmwareId)).id, 25_000);
    assert.is(u.state, 'succeeded', u.reason ?? '');
    assert.is(run.sims[0]!.firmwareVersion, '2.0.0');
    const states = u.events.filter((e: { kind: string }) => e.kind === 'update.state').map((e: { data: { state: string; on: string } }) => `${e.data.state} on ${e.data.on}`);
    assert.ok(states.includes('downloaded on found'), `Downloaded learnt by reading: ${states.join(', ')}`);
  });

  suite('a long-lived registration, no notification: the download that ended quietly is read after the poke interval, and completes', async () => {
    // A 20 s timeout, a poke after 2 s quiet (--poke-after), and a device that sends no registration Update for an hour.
    await run.ferry.close();
    run.ferry = await startTestFerry(get().db, { updateTimeout: 20, pokeAfter: 2, requestTimeout: 5 });
    assert.is(run.ferry.engine.pokeAfterSeconds, 2);
    await start('mute-long', { deliveryMethod: 'pull', fault: { kind: 'observe-lost' }, lifetime: 3600 });
    const firmwareId = await uploadPackage(run.ferry, NEW);
    const u = await updateOutcome(run.ferry, (await run.ferry.engine.requestUpdate('mute-long', firmwareId)).id, 25_000);
    assert.is(u.state, 'succeeded', u.reason ?? '');
    const states = u.events.filter((e: { kind: string }) => e.kind === 'update.state').map((e: { data: { state: string; on: string } }) => `${e.data.state} on ${e.data.on}`);
    assert.ok(states.includes('downloaded on found'), `Downloaded learnt by reading: ${states.join(', ')}`);
  });
});
