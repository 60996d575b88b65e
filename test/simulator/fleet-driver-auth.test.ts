// The fleet driver against a server that wants a token: with --api-token it asks for updates;
// without one (or with a viewer's) it fails a bounded number of times and gives up, not forever.
import * as assert from 'uvu/assert';
import type { Ferry } from '../../server/main.ts';
import { ApiDriver } from '../../simulator/fleet-driver.ts';
import { forEachDatabase } from '../helpers/db.ts';
import { offlineDevice } from '../helpers/devices.ts';
import { eventually, startTestFerry, TEST_ADMIN_TOKEN } from '../helpers/ferry.ts';

forEachDatabase('fleet driver and API tokens', ({ suite, get }) => {
  let ferry: Ferry;
  suite.before(async () => { ferry = await startTestFerry(get().db); });
  suite.after(async () => { await ferry.close(); });

  const firmware = async () => {
    const res = await ferry.api.inject({ method: 'POST', url: '/api/v1/firmware?version=2.0.0&hardwareClass=sim-1', headers: { 'content-type': 'application/octet-stream' }, payload: Buffer.from('image') });
    return res.json().id as number;
  };
  const drive = async (token: string | undefined, endpoint: string) => {
    await offlineDevice(get().db, endpoint);
    const driver = new ApiDriver({ api: ferry.apiUrl, ...(token === undefined ? {} : { token }), updateTo: await firmware(), maxAttempts: 2, retryMs: 50, pollMs: 60_000 });
    driver.onEvent({ type: 'registered', registrationId: 'r', endpoint, at: Date.now() });
    return driver;
  };

  suite('with the token: the update is requested', async () => {
    const driver = await drive(TEST_ADMIN_TOKEN, 'd-1');
    try {
      await eventually(() => (driver.stats.requested === 1 ? true : undefined), 5000, 'a request');
      assert.is(driver.stats.errors, 0);
    } finally { await driver.close(); }
  });

  for (const [what, token] of [['no token', undefined], ['a wrong token', `fry_${'z'.repeat(43)}`]] as const) {
    suite(`with ${what}: two failures, then it gives up`, async () => {
      const driver = await drive(token, 'd-2');
      try {
        await eventually(() => (driver.stats.gaveUp === 1 ? true : undefined), 5000, 'giving up');
        assert.is(driver.stats.requested, 0);
        assert.is(driver.stats.errors, 2);
      } finally { await driver.close(); }
    });
  }
});
