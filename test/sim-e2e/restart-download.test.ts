// A server restarted under a download (restart safety), the device on an hour-long
// registration, so no registration Update brings the update back to the new process: it takes
// the update up by reading where the device is once the update has gone quiet, well before its
// deadline. Real Ferry (closed and started again on the same ports and database), a simulated
// device over loopback UDP, on every test database.
import * as assert from 'uvu/assert';
import * as updates from '../../server/store/updates.ts';
import { forEachDatabase } from '../helpers/db.ts';
import { eventually, startTestFerry } from '../helpers/ferry.ts';
import { backgroundFleet, inventoried } from './campaign-kit.ts';
import { signedPackage, simRun, updateOutcome, uploadPackage } from './kit.ts';

forEachDatabase('a server restarted under a download', ({ suite, get }) => {
  const SERVER = { updateTimeout: 60, pokeAfter: 3, requestTimeout: 5 };
  const run = simRun(suite, () => get().db, SERVER);

  suite('the server restarts mid-download, the device on an hour-long registration: the new process takes the update up by reading, and it completes', async () => {
    // A 60 s timeout: the update is taken up after 3 s quiet, long before its deadline would bring it back.
    const first = run.ferry;
    // 20 ms each way and 256-byte blocks: 32 KiB take 5 s, time to restart the server under the download.
    const fleet = backgroundFleet(first.coapAddress!.port, {
      devices: 1, prefix: 'long', lifetime: 3600, blockSzx: 4, faults: { link: { latencyMs: 20 }, device: {} }, coap: { ackTimeoutMs: 500, maxRetransmit: 5 },
    });
    try {
      await inventoried(get().db, 1);
      const firmwareId = await uploadPackage(first, signedPackage('2.0.0', 32 * 1024, 1, 7));
      const id = (await first.engine.requestUpdate('long-1', firmwareId)).id;
      await eventually(async () => ((await updates.getUpdate(get().db, id))?.state === 'downloading' ? true : undefined), 10_000, 'the download under way');
      const ports = { coapPort: first.coapAddress!.port, downloadPort: first.downloadAddress!.port };
      await first.close();
      run.ferry = await startTestFerry(get().db, { ...SERVER, ...ports });
      assert.is(run.ferry.engine.pokeAfterSeconds, 3);
      const u = await updateOutcome(run.ferry, id, 45_000);
      assert.is(u.state, 'succeeded', u.reason ?? '');
      assert.is(fleet.devices[0]!.firmwareVersion, '2.0.0');
      assert.is(fleet.devices[0]!.counters.updates, 1);
      const on = u.events.filter((e: { kind: string }) => e.kind === 'update.state').map((e: { data: { state: string; on: string } }) => `${e.data.state} on ${e.data.on}`);
      assert.ok(on.includes('downloaded on found'), `taken up by reading: ${on.join(', ')}`);
    } finally {
      await fleet.stop();
    }
  });
});
