// `ferry sim` flags that shape the devices: --delivery (Object 5 res. 9) and --root-path (LwM2M Core §6.2.1).
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

test.run();
