// `ferry sim` flags that shape the devices (--delivery, Object 5 res. 9; --root-path, LwM2M Core
// §6.2.1) and drive the API (--api, and the token from --api-token or the environment).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fleetOptions, readSimArgs, UsageError } from '../../simulator/sim-args.ts';

const options = (...argv: string[]) => fleetOptions(readSimArgs(argv));

test('--root-path /lwm2m and --delivery push reach the fleet options; without them, neither is set', async () => {
  const o = await options('--root-path', '/lwm2m', '--delivery', 'push');
  assert.is(o.rootPath, '/lwm2m');
  assert.is(o.deliveryMethod, 'push');
  const plain = await options();
  assert.is(plain.rootPath, undefined);
  assert.is(plain.deliveryMethod, undefined);
});

test('a --root-path that is not a path is refused with a usage error', async () => {
  for (const bad of ['lwm2m', '/', '/a b', '/lwm2m/', '//x']) {
    try {
      await options('--root-path', bad);
      assert.unreachable(bad);
    } catch (err) {
      assert.instance(err, UsageError, bad);
      assert.match((err as Error).message, /--root-path is a path like \/lwm2m/);
    }
  }
});

test('the API token: --api-token, else FERRY_API_TOKEN, else FERRY_ADMIN_TOKEN (an empty one is unset); none without any', async () => {
  const driver = async (argv: string[], env: NodeJS.ProcessEnv) =>
    (await fleetOptions(readSimArgs(['--api', 'http://127.0.0.1:8080', '--update', '3', ...argv]), env)).driver;
  const both = { FERRY_API_TOKEN: 'fry_api', FERRY_ADMIN_TOKEN: 'fry_admin' };
  assert.equal(await driver(['--api-token', 'fry_flag'], both), { api: 'http://127.0.0.1:8080', token: 'fry_flag', tokenSource: '--api-token', updateTo: 3 });
  assert.is((await driver([], both))?.token, 'fry_api');
  assert.is((await driver([], both))?.tokenSource, 'FERRY_API_TOKEN');
  assert.is((await driver([], { FERRY_API_TOKEN: '', FERRY_ADMIN_TOKEN: 'fry_admin' }))?.tokenSource, 'FERRY_ADMIN_TOKEN');
  assert.is((await driver([], {}))?.token, undefined);
});

test('an --api that is not an http(s) URL is a usage error', async () => {
  for (const bad of ['127.0.0.1:8080', 'coap://127.0.0.1', 'http//x']) {
    try {
      await fleetOptions(readSimArgs(['--api', bad, '--update', '1']), {});
      assert.unreachable(bad);
    } catch (err) {
      assert.instance(err, UsageError, bad);
      assert.match((err as Error).message, /--api must be an http:\/\/ or https:\/\/ URL/);
    }
  }
});

test.run();
