// LwM2M 1.1 Core §6.2.1, alternate root path: a device that registers with </lwm2m>;rt="oma.lwm2m"
// serves its objects under /lwm2m only (the simulator answers 4.04 elsewhere). Ferry's follow-up
// Read of /3/0 and an update's Observe, Write and Execute go to /lwm2m/3/0 and /lwm2m/5/0/….
import * as assert from 'uvu/assert';
import * as devices from '../../server/store/devices.ts';
import { SimDevice, type SimDeviceEvent } from '../../simulator/device.ts';
import { forEachDatabase } from '../helpers/db.ts';
import { eventually } from '../helpers/ferry.ts';
import { requestUpdate, signedPackage, simRun, trustedAnchor, updateOutcome, uploadPackage } from './kit.ts';

forEachDatabase('alternate root path', ({ suite, get }) => {
  const run = simRun(suite, () => get().db, { updateTimeout: 20, requestTimeout: 5 });

  suite('a device under /lwm2m gets its /3/0 read and the update\'s Observe, Write and Execute there', async () => {
    const dm: Array<{ method: string; path: string; code: string }> = [];
    const sim = new SimDevice({
      endpoint: 'root-0', server: { host: '127.0.0.1', port: run.ferry.coapAddress!.port }, rootPath: '/lwm2m',
      trustedKeys: [trustedAnchor()], factoryImage: signedPackage('1.0.0', 2048, 0, 1),
      lifetime: 60, rebootDelayMs: 100, coap: { ackTimeoutMs: 300, maxRetransmit: 3 },
      log: (e: SimDeviceEvent) => { if (e.type === 'dm') dm.push({ method: e.method, path: e.path, code: e.code }); },
    });
    run.sims.push(sim);
    await sim.start();
    const device = await eventually(async () => {
      const d = await devices.findByEndpoint(get().db, 'root-0');
      return d?.hardwareClass === 'sim-1' ? d : undefined;
    }, 10_000, 'the /3/0 read');
    assert.is(device.rootPath, '/lwm2m');
    assert.is(device.firmwareVersion, '1.0.0');

    const id = await requestUpdate(run.ferry, 'root-0', await uploadPackage(run.ferry, signedPackage('2.0.0', 6000, 1, 2)));
    const u = await updateOutcome(run.ferry, id);
    assert.is(u.state, 'succeeded', u.reason);
    assert.is(sim.firmwareVersion, '2.0.0');

    // The device logs paths relative to its root; a request outside it would show as a 4.04 on the raw path.
    assert.equal(dm.filter((e) => e.code === '4.04'), []);
    const answered = (method: string, path: string) => dm.some((e) => e.method === method && e.path === path && e.code.startsWith('2.'));
    assert.ok(answered('GET', '/3/0'), 'Read /lwm2m/3/0');
    assert.ok(answered('GET', '/5/0/3'), 'Observe /lwm2m/5/0/3');
    assert.ok(answered('PUT', '/5/0/1'), 'Write /lwm2m/5/0/1');
    assert.ok(answered('POST', '/5/0/2'), 'Execute /lwm2m/5/0/2');
  });
});
