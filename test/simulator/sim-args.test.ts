// `ferry sim` flags that shape the devices (--delivery, Object 5 res. 9; --root-path, LwM2M Core
// §6.2.1) and drive the API (--api, and the token from --api-token or the environment), and the
// DTLS-PSK flags (--security, --psk-file, a coaps:// --server, the nat-rebind fault).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SIM_HELP, fleetOptions, readSimArgs, UsageError } from '../../simulator/sim-args.ts';

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

test('--testbed: marks through --api with the operator token; without --api a usage error; it is in --help', async () => {
  const o = await fleetOptions(readSimArgs(['--testbed', '--api', 'http://127.0.0.1:8080']), { FERRY_API_TOKEN: 'fry_op' });
  assert.equal(o.testbed, { api: 'http://127.0.0.1:8080', token: 'fry_op', tokenSource: 'FERRY_API_TOKEN' });
  assert.is((await options()).testbed, undefined);
  await usageError(['--testbed'], /--testbed needs --api URL/);
  assert.match(SIM_HELP, /--testbed {13}mark each device a testbed/);
});

async function usageError(argv: string[], pattern: RegExp): Promise<void> {
  try {
    await fleetOptions(readSimArgs(argv), {});
    assert.unreachable(argv.join(' '));
  } catch (err) {
    assert.instance(err, UsageError, argv.join(' '));
    assert.match((err as Error).message, pattern);
  }
}

test('--security psk: a coaps:// server (default 127.0.0.1:5684), the file to write, a seed always', async () => {
  const o = await options('--security', 'psk', '--psk-file', 'creds.csv');
  assert.is(o.server, 'coaps://127.0.0.1:5684');
  assert.is(o.security, 'psk');
  assert.is(o.credentialsFile, 'creds.csv');
  assert.is(o.provision, undefined);
  assert.type(o.seed, 'number', 'a psk run picks a seed, shown in the report, to derive the same keys again');
  const seeded = await options('--server', 'coaps://10.0.0.1', '--seed', '5');
  assert.is(seeded.security, 'psk', 'a coaps:// server means psk');
  assert.is(seeded.seed, 5);
  const plain = await options();
  assert.is(plain.security, 'nosec');
  assert.is(plain.server, 'coap://127.0.0.1:5683');
  assert.is(plain.seed, undefined);
});

test('--security psk with --api: the credentials are imported through the API with the token', async () => {
  const o = await fleetOptions(readSimArgs(['--security', 'psk', '--api', 'http://127.0.0.1:8080']), { FERRY_API_TOKEN: 'fry_x' });
  assert.equal(o.provision, { api: 'http://127.0.0.1:8080', token: 'fry_x', tokenSource: 'FERRY_API_TOKEN' });
  assert.is(o.driver, undefined, 'no updates asked for');
  const nosec = await fleetOptions(readSimArgs(['--api', 'http://127.0.0.1:8080']), {});
  assert.is(nosec.provision, undefined);
});

test('the DTLS flags refuse what does not fit together', async () => {
  await usageError(['--security', 'tls'], /--security is nosec or psk/);
  await usageError(['--security', 'psk', '--server', 'coap://127.0.0.1:5683', '--seed', '1'], /--security psk needs a coaps:\/\/ --server/);
  await usageError(['--security', 'nosec', '--server', 'coaps://127.0.0.1'], /a coaps:\/\/ --server needs --security psk/);
  await usageError(['--psk-file', 'x.csv'], /--psk-file needs --security psk/);
  await usageError(['--security', 'psk'], /--psk-file FILE or --api URL/);
  await usageError(['--server', 'http://127.0.0.1'], /coap:\/\/host:port or coaps:\/\/host:port/);
});

test('--fault nat-rebind=P is a device fault; --help documents the DTLS flags', async () => {
  const o = await options('--fault', 'nat-rebind=0.25');
  assert.equal(o.faults?.device['nat-rebind'], { amount: 0.25 });
  for (const flag of ['--security nosec|psk', '--psk-file FILE', 'coaps://', 'nat-rebind', 'HMAC-SHA256']) assert.ok(SIM_HELP.includes(flag), flag);
});

test.run();
