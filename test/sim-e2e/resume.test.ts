// Resume, against a real Ferry server: a device that resets halfway through a download
// continues from its next block; the bytes on air for its whole download stay under 1.1 × those
// of a clean one.
import * as assert from 'uvu/assert';
import * as devices from '../../server/store/devices.ts';
import { SimDevice } from '../../simulator/device.ts';
import type { SimDeviceEvent } from '../../simulator/device.ts';
import type { DeviceFault } from '../../simulator/faults.ts';
import { forEachDatabase } from '../helpers/db.ts';
import { eventually } from '../helpers/ferry.ts';
import { requestUpdate, signedPackage, simRun, trustedAnchor, updateOutcome, uploadPackage } from './kit.ts';

const FACTORY = signedPackage('1.0.0', 4096, 0, 1);
const NEW = signedPackage('2.0.0', 64 * 1024, 1, 2);

forEachDatabase('resume against Ferry', ({ suite, get }) => {
  const run = simRun(suite, () => get().db, { updateTimeout: 30, requestTimeout: 10 });

  /** Air bytes (both ways) from the first download-started to download-done. */
  const device = (endpoint: string, fault?: DeviceFault) => {
    const air = { start: -1, end: -1, resumedAt: undefined as number | undefined };
    let d: SimDevice | undefined;
    const bytes = (): number => (d?.coapStats?.bytesSent ?? 0) + (d?.coapStats?.bytesReceived ?? 0);
    d = new SimDevice({
      endpoint, server: { host: '127.0.0.1', port: run.ferry.coapAddress!.port }, trustedKeys: [trustedAnchor()], factoryImage: FACTORY,
      blockSzx: 5, lifetime: 60, rebootDelayMs: 100, coap: { ackTimeoutMs: 300, maxRetransmit: 3 }, ...(fault === undefined ? {} : { fault }),
      log: (e: SimDeviceEvent) => {
        if (e.type === 'download-started' && air.start < 0) air.start = bytes();
        if (e.type === 'download-started' && e.resumedAt !== undefined) air.resumedAt = e.resumedAt;
        if (e.type === 'download-done') air.end = bytes();
      },
    });
    run.sims.push(d);
    return { sim: d, air };
  };

  suite('a reset halfway through resumes at the next block: under 1.1 × the bytes on air of a clean download', async () => {
    const clean = device('clean-0');
    const resumed = device('resumed-0', { kind: 'reboot-during-download', at: 0.5 });
    await Promise.all(run.sims.map((s) => s.start()));
    for (const s of run.sims) {
      await eventually(async () => (await devices.findByEndpoint(get().db, s.endpoint))?.hardwareClass === 'sim-1' || undefined, 10_000, `${s.endpoint} inventory`);
    }
    const firmwareId = await uploadPackage(run.ferry, NEW);
    const ids = await Promise.all(run.sims.map((s) => requestUpdate(run.ferry, s.endpoint, firmwareId)));
    const outcomes = await Promise.all(ids.map((id) => updateOutcome(run.ferry, id, 40_000)));
    for (const u of outcomes) assert.is(u.state, 'succeeded', u.reason);
    for (const s of run.sims) assert.is(s.firmwareVersion, '2.0.0');

    assert.ok(resumed.air.resumedAt !== undefined && resumed.air.resumedAt > NEW.length * 0.4, `resumed at byte ${resumed.air.resumedAt}`);
    assert.is(resumed.sim.counters.reboots, 2, 'the reset during the download, then the update');
    const cleanBytes = clean.air.end - clean.air.start;
    const resumedBytes = resumed.air.end - resumed.air.start;
    console.log(`  bytes on air: clean ${cleanBytes}, resumed ${resumedBytes} (${(resumedBytes / cleanBytes).toFixed(3)} ×)`);
    assert.ok(cleanBytes > NEW.length, 'the whole package went over the air');
    assert.ok(resumedBytes < 1.1 * cleanBytes, `${resumedBytes} < 1.1 × ${cleanBytes}`);
    const blocks = Math.ceil(NEW.length / 512);
    assert.ok(resumed.sim.counters.blocks <= blocks + 2, `${resumed.sim.counters.blocks} blocks fetched for ${blocks}`);
  });
});
