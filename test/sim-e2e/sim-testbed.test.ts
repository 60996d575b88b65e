// `ferry sim --testbed` against a real server: with an operator's token each simulated device is
// marked a testbed once it has registered (audited with the token's user); with approval required
// an image not approved yet then reaches them by --update (without --testbed the run stops,
// saying why). A viewer's token stops the run.
import * as assert from 'uvu/assert';
import type { Ferry } from '../../server/main.ts';
import { forEachDatabase } from '../helpers/db.ts';
import { eventually, startTestFerry } from '../helpers/ferry.ts';
import { uploadAs, userWithTokens } from '../server/governance/kit.ts';
import { backgroundFleet } from './campaign-kit.ts';
import { signedPackage } from './kit.ts';

/** The fleet's report once the run has stopped by itself (within 20 s). */
const stopped = (fleet: ReturnType<typeof backgroundFleet>) =>
  eventually(() => Promise.race([fleet.done, new Promise<undefined>((r) => setTimeout(() => r(undefined), 100))]), 20_000, 'the run to stop');

forEachDatabase('ferry sim --testbed', ({ suite, get }) => {
  let ferry: Ferry;
  suite.before.each(async () => { ferry = await startTestFerry(get().db, { releaseApproval: 'required' }); });
  suite.after.each(async () => { await ferry.close(); });

  suite('an operator token: every device is marked a testbed, and an image not approved yet updates them', async () => {
    const dana = await userWithTokens(ferry, 'dana', ['operator']);
    const id = await uploadAs(ferry, dana['operator']!, signedPackage('2.0.0', 4096, 1, 5));
    const fleet = backgroundFleet(ferry.coapAddress!.port, {
      devices: 2, prefix: 'bench', testbed: { api: ferry.apiUrl, token: dana['operator']! },
      driver: { api: ferry.apiUrl, token: dana['operator']!, updateTo: id, retryMs: 200, maxAttempts: 5, testbed: true },
      until: (s) => s.updated === 2,
    });
    const report = await fleet.done;
    assert.is(report.apiFailure, undefined, JSON.stringify(report.apiFailure));
    const { rows } = await get().db.query<{ endpoint: string; testbed: boolean; firmware_version: string }>('SELECT endpoint, testbed, firmware_version FROM devices ORDER BY endpoint');
    assert.equal(rows.map((r) => [r.endpoint, r.testbed, r.firmware_version]), [['bench-1', true, '2.0.0'], ['bench-2', true, '2.0.0']]);
    const events = await get().db.query<{ actor: string; data: { user?: string; testbed?: boolean } }>(`SELECT actor, data FROM events WHERE kind = 'device.testbed' ORDER BY id`);
    assert.equal(events.rows.map((e) => [e.actor, e.data.user, e.data.testbed]), [['token:dana-operator', 'dana', true], ['token:dana-operator', 'dana', true]]);
  });

  suite('--update with an image not approved and no --testbed: the run stops, saying why', async () => {
    const dana = await userWithTokens(ferry, 'dana', ['operator']);
    const id = await uploadAs(ferry, dana['operator']!, signedPackage('2.0.0', 4096, 1, 5));
    const fleet = backgroundFleet(ferry.coapAddress!.port, { devices: 1, prefix: 'p', driver: { api: ferry.apiUrl, token: dana['operator']!, updateTo: id } });
    const report = await stopped(fleet);
    assert.is(report.apiFailure?.kind, 'release-refused');
    assert.match(report.apiFailure!.message, new RegExp(`will not update p-1 to image ${id}: it is not approved \\(409\\): run with --testbed`));
  });

  suite('a viewer token: the run stops with a message naming the role it needs; no device is marked', async () => {
    const vic = await userWithTokens(ferry, 'vic', ['viewer']);
    const fleet = backgroundFleet(ferry.coapAddress!.port, { devices: 1, prefix: 'v', testbed: { api: ferry.apiUrl, token: vic['viewer']!, tokenSource: '--api-token' } });
    const report = await stopped(fleet);
    assert.is(report.apiFailure?.kind, 'auth');
    assert.match(report.apiFailure!.message, /refused to mark v-1 a testbed \(403: .*\): the token from --api-token needs the operator role/);
    assert.is((await get().db.query(`SELECT 1 FROM devices WHERE testbed`)).rows.length, 0);
  });
});
