// The fleet driver against a real server. With an operator's token it asks for updates. What no
// wait can mend stops it at once, through check() before the fleet starts or on a request during
// the run: a token refused (none or a wrong one: 401; a viewer's: 403), an API nothing listens
// on, an image that does not exist (or is deleted mid-run), an image for another hardware class.
// What a wait can mend (a device the server does not know yet, an update still active) is retried
// and counted by kind.
import { createServer } from 'node:net';
import * as assert from 'uvu/assert';
import type { Ferry } from '../../server/main.ts';
import { ApiDriver } from '../../simulator/fleet-driver.ts';
import type { ApiFailure, DriverOptions } from '../../simulator/fleet-driver.ts';
import { forEachDatabase } from '../helpers/db.ts';
import { offlineDevice } from '../helpers/devices.ts';
import { eventually, startTestFerry, TEST_ADMIN_TOKEN } from '../helpers/ferry.ts';

const WRONG = `fry_${'z'.repeat(43)}`;

/** A loopback port nothing listens on (bound, then closed). */
const closedPort = (): Promise<number> => new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address() as { port: number };
    s.close(() => resolve(port));
  });
});

forEachDatabase('fleet driver against the admin API', ({ suite, get }) => {
  let ferry: Ferry;
  suite.before(async () => { ferry = await startTestFerry(get().db); });
  suite.after(async () => { await ferry.close(); });

  const firmware = async (version = '2.0.0') => {
    const res = await ferry.api.inject({ method: 'POST', url: `/api/v1/firmware?version=${version}&hardwareClass=sim-1`, headers: { 'content-type': 'application/octet-stream' }, payload: Buffer.from('image') });
    return res.json().id as number;
  };
  const viewerToken = async () => {
    const res = await ferry.api.inject({ method: 'POST', url: '/api/v1/tokens', payload: { name: `viewer-${Date.now()}`, role: 'viewer' } });
    return res.json().token as string;
  };
  /** A driver (its failures collected) that has just seen `endpoint` register. */
  const drive = (o: Partial<DriverOptions> & { updateTo: number }, endpoint: string) => {
    const failures: ApiFailure[] = [];
    const driver = new ApiDriver({ api: ferry.apiUrl, maxAttempts: 2, retryMs: 50, pollMs: 60_000, ...o }, (f) => failures.push(f));
    driver.onEvent({ type: 'registered', registrationId: 'r', endpoint, at: Date.now() });
    return { driver, failures };
  };
  const failed = (failures: ApiFailure[]) => eventually(() => failures[0], 5000, 'the driver to stop');

  suite('with an operator token: the check passes and the update is requested', async () => {
    await offlineDevice(get().db, 'd-1');
    const { driver, failures } = drive({ token: TEST_ADMIN_TOKEN, updateTo: await firmware() }, 'd-1');
    try {
      assert.is(await driver.check(), undefined);
      await eventually(() => (driver.stats.requested === 1 ? true : undefined), 5000, 'a request');
      assert.is(driver.stats.errors, 0);
      assert.equal(failures, []);
    } finally { await driver.close(); }
  });

  for (const [what, token, line] of [
    ['no token', undefined, /^the API at http:\/\/127\.0\.0\.1:\d+ wants a token \(401: send a bearer token.*\): set --api-token or FERRY_API_TOKEN$/],
    ['a wrong token', WRONG, /^the API at http:\/\/127\.0\.0\.1:\d+ refused the token from FERRY_API_TOKEN \(401: the token is unknown or revoked\): set --api-token or FERRY_API_TOKEN$/],
  ] as const) {
    suite(`with ${what}: the check fails with 401, and so does a request during the run, once`, async () => {
      const updateTo = await firmware();
      const opts = { api: ferry.apiUrl, ...(token === undefined ? {} : { token }), tokenSource: 'FERRY_API_TOKEN', updateTo };
      const checker = new ApiDriver(opts);
      const early = await checker.check();
      await checker.close();
      assert.is(early?.kind, 'auth');
      assert.is(early?.status, 401);
      assert.match(early?.message ?? '', line);

      await offlineDevice(get().db, 'd-2');
      const { driver, failures } = drive(opts, 'd-2');
      try {
        const f = await failed(failures);
        assert.is(f.status, 401);
        assert.match(f.message, line);
        driver.onEvent({ type: 'update-failed', endpoint: 'd-2', result: 5, at: Date.now() } as never);
        assert.is(failures.length, 1, 'stopped: no more requests, one failure');
        assert.is(driver.stats.requested, 0);
      } finally { await driver.close(); }
    });
  }

  suite('with a viewer token: the check passes (it only reads), the first update request stops it with 403', async () => {
    await offlineDevice(get().db, 'd-3');
    const failures: ApiFailure[] = [];
    const driver = new ApiDriver({ api: ferry.apiUrl, maxAttempts: 2, retryMs: 50, pollMs: 60_000, token: await viewerToken(), updateTo: await firmware() }, (f) => failures.push(f));
    try {
      // The check first, as the simulator runs it, before any device has registered.
      assert.is(await driver.check(), undefined);
      driver.onEvent({ type: 'registered', registrationId: 'r', endpoint: 'd-3', at: Date.now() });
      const f = await failed(failures);
      assert.is(f.kind, 'auth');
      assert.is(f.status, 403);
      assert.match(f.message, /refused the token from --api-token while asking for an update \(403: this needs the operator role; token viewer-\d+ is viewer\): it needs an operator token$/);
    } finally { await driver.close(); }
  });

  suite('an API nothing listens on: the check fails naming the address, and so does a request during the run', async () => {
    const port = await closedPort();
    const line = `cannot reach the API at http://127.0.0.1:${port} (connect ECONNREFUSED 127.0.0.1:${port}): check --api`;
    const checker = new ApiDriver({ api: `http://127.0.0.1:${port}/`, token: TEST_ADMIN_TOKEN, updateTo: 1 });
    const f = await checker.check();
    await checker.close();
    assert.is(f?.kind, 'unreachable');
    assert.is(f?.message, line);
    const { driver, failures } = drive({ api: `http://127.0.0.1:${port}`, token: TEST_ADMIN_TOKEN, updateTo: 1 }, 'd-6');
    try {
      assert.is((await failed(failures)).message, line);
      assert.is(driver.stats.gaveUp, 0, 'stopped, not retried');
    } finally { await driver.close(); }
  });

  suite('an image that does not exist: the check fails with 404', async () => {
    const driver = new ApiDriver({ api: ferry.apiUrl, token: TEST_ADMIN_TOKEN, updateTo: 424_242 });
    const f = await driver.check();
    await driver.close();
    assert.is(f?.kind, 'no-image');
    assert.match(f?.message ?? '', /^the API at http:\/\/127\.0\.0\.1:\d+ has no firmware image 424242 \(404: no firmware image 424242\): check --update$/);
  });

  suite('a device not known yet is waited for and counted; the image deleted meanwhile stops the run', async () => {
    const updateTo = await firmware();
    const { driver, failures } = drive({ token: TEST_ADMIN_TOKEN, updateTo }, 'nobody-knows-me');
    try {
      assert.is(await driver.check(), undefined);
      await eventually(() => ((driver.stats.errorsByKind['HTTP 404 (device not known yet)'] ?? 0) >= 2 ? true : undefined), 5000, 'two 404s');
      assert.equal(failures, [], 'a device not known yet is no reason to stop');
      assert.is(driver.stats.gaveUp, 0, 'waiting spends no attempt');
      assert.is((await ferry.api.inject({ method: 'DELETE', url: `/api/v1/firmware/${updateTo}` })).statusCode, 204);
      const f = await failed(failures);
      assert.is(f.kind, 'no-image');
      assert.match(f.message, new RegExp(`has no firmware image ${updateTo} \\(404`));
    } finally { await driver.close(); }
  });

  suite('an update still active (409) is waited for and counted', async () => {
    await offlineDevice(get().db, 'd-4');
    const { driver, failures } = drive({ token: TEST_ADMIN_TOKEN, updateTo: await firmware() }, 'd-4');
    try {
      await eventually(() => (driver.stats.requested === 1 ? true : undefined), 5000, 'a request');
      // The device says it failed; the server's update (the device is offline) is still active.
      driver.onEvent({ type: 'update-failed', endpoint: 'd-4', result: 5, at: Date.now() } as never);
      await eventually(() => ((driver.stats.errorsByKind['HTTP 409 (busy)'] ?? 0) >= 2 ? true : undefined), 5000, 'two 409s');
      assert.equal(failures, []);
    } finally { await driver.close(); }
  });

  suite('an image for another hardware class stops the run (409, never mended by waiting)', async () => {
    await offlineDevice(get().db, 'd-5', 'other-9');
    const updateTo = await firmware();
    const { driver, failures } = drive({ token: TEST_ADMIN_TOKEN, updateTo }, 'd-5');
    try {
      assert.is(await driver.check(), undefined, 'the check learns the image\'s class');
      const f = await failed(failures);
      assert.is(f.kind, 'wrong-class');
      assert.match(f.message, new RegExp(`will not update d-5 to image ${updateTo}: the image is for hardware class sim-1, the device is other-9 \\(409\\): check --update and --model$`));
    } finally { await driver.close(); }
  });
});
