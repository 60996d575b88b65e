// --hardware-class-from: what names a device's hardware class (the model number by
// default, configurable), from the flag and the environment, derived from /3/0, and end to end.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HARDWARE_CLASS_SOURCES, hardwareClass } from '../../../server/coap/device-info.ts';
import { parseConfig } from '../../../server/config.ts';
import { ConfigError } from '../../../server/errors.ts';
import type { Ferry } from '../../../server/main.ts';
import * as devices from '../../../server/store/devices.ts';
import { SimDevice } from '../../../simulator/device.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { eventually, startTestFerry } from '../../helpers/ferry.ts';

test('the derivation: each source from the /3/0 fields; null when a field it needs is missing', () => {
  const table: Array<[(typeof HARDWARE_CLASS_SOURCES)[number], string | null, string | null, string | null, string | null]> = [
    // source               manufacturer       model     hardware  → class
    ['model', 'Ferry Simulator', 'sim-1', 'rev-a', 'sim-1'],
    ['manufacturer-model', 'Ferry Simulator', 'sim-1', 'rev-a', 'Ferry Simulator/sim-1'],
    ['hardware-version', 'Ferry Simulator', 'sim-1', 'rev-a', 'rev-a'],
    ['model', 'Acme', null, 'rev-b', null],
    ['manufacturer-model', null, 'sim-1', 'rev-a', null],
    ['manufacturer-model', 'Acme', null, 'rev-a', null],
    ['hardware-version', 'Acme', 'sim-1', null, null],
  ];
  for (const [from, manufacturer, model, hw, expected] of table) {
    assert.is(hardwareClass(from, manufacturer, model, hw), expected, `${from} of ${manufacturer}, ${model}, ${hw}`);
  }
  assert.equal([...HARDWARE_CLASS_SOURCES], ['model', 'manufacturer-model', 'hardware-version']);
});

test('the setting: default model; the flag wins over FERRY_HARDWARE_CLASS_FROM; an unknown source is refused', () => {
  const from = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
    const c = parseConfig(argv, env);
    if (c === 'help') throw new Error('help');
    return c.hardwareClassFrom;
  };
  assert.is(from([]), 'model');
  assert.is(from(['--hardware-class-from', 'manufacturer-model']), 'manufacturer-model');
  assert.is(from([], { FERRY_HARDWARE_CLASS_FROM: 'hardware-version' }), 'hardware-version');
  assert.is(from(['--hardware-class-from', 'model'], { FERRY_HARDWARE_CLASS_FROM: 'hardware-version' }), 'model');
  assert.throws(() => from(['--hardware-class-from', 'serial']), (e: unknown) => e instanceof ConfigError && /must be one of model, manufacturer-model, hardware-version/.test(e.message));
});

test.run();

forEachDatabase('hardware class from manufacturer-model', ({ suite, get }) => {
  let ferry: Ferry;
  let sim: SimDevice | undefined;
  suite.before(async () => { ferry = await startTestFerry(get().db, { hardwareClassFrom: 'manufacturer-model' }); });
  suite.after(async () => { await sim?.stop(); await ferry.close(); });

  suite('a simulated device registers and its class is "Ferry Simulator/sim-1"', async () => {
    sim = new SimDevice({ endpoint: 'hw-1', server: { host: '127.0.0.1', port: ferry.coapAddress!.port }, lifetime: 60, coap: { ackTimeoutMs: 300, maxRetransmit: 3 } });
    await sim.start();
    const device = await eventually(async () => {
      const d = await devices.findByEndpoint(get().db, 'hw-1');
      return d?.hardwareClass ? d : undefined;
    }, 10_000, 'the device info read');
    assert.is(device.hardwareClass, 'Ferry Simulator/sim-1');
    assert.is(device.manufacturer, 'Ferry Simulator');
    assert.is(device.modelNumber, 'sim-1');
  });
});
