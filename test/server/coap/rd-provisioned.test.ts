// A device provisioned before it ever registered, then registering over real UDP: the Register
// takes its provisioned row (same id, one row, its history kept), and the rate limits on new
// endpoints count it as known. Its row is made in the store, with no credentials: a device with
// credentials registers over DTLS, which this file does not speak.
import * as assert from 'uvu/assert';
import type { Config } from '../../../server/config.ts';
import type { Ferry } from '../../../server/main.ts';
import { provisionDevices } from '../../../server/store/devices.ts';
import { listEvents } from '../../../server/store/events.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { exchange, startTestFerry, uriOptions } from '../../helpers/ferry.ts';

const LINK_FORMAT = { name: 'Content-Format' as const, value: Buffer.from([40]) };
const ONE_NEW_ENDPOINT: Partial<Config> = { registerLimitIp: undefined, registerLimitIpPort: undefined, registerLimitGlobal: { rate: 1 / 3600, burst: 1 } };

forEachDatabase('coap/rd, provisioned devices', ({ suite, get }) => {
  let ferry: Ferry;
  suite.before(async () => { ferry = await startTestFerry(get().db, ONE_NEW_ENDPOINT); });
  suite.after(async () => { await ferry.close(); });
  const register = (ep: string) => exchange(ferry.coapAddress!.port, {
    code: 'POST', options: [...uriOptions('/rd', [`ep=${ep}`, 'lt=120', 'lwm2m=1.1']), LINK_FORMAT], payload: Buffer.from('</3/0>,</5/0>'),
  });

  suite('Register takes the provisioned row; provisioned endpoints pass the limit on new ones', async () => {
    const { db } = get();
    const { ids } = await db.transaction((tx) => provisionDevices(tx, ['factory-1', 'factory-2'], 'test'));
    assert.is((await register('stranger-1')).code, '2.01', 'the one new endpoint the limit lets in');
    assert.is((await register('stranger-2')).code, '4.29');
    for (const ep of ['factory-1', 'factory-2']) assert.is((await register(ep)).code, '2.01', ep);
    const rows = await db.query<{ id: string; endpoint: string; status: string; lifetime: number; objects: Array<{ objectId: number }> }>(
      "SELECT id, endpoint, status, lifetime, objects FROM devices WHERE endpoint LIKE 'factory-%' ORDER BY id");
    assert.equal(rows.rows.map((r) => [Number(r.id), r.endpoint, r.status, r.lifetime, r.objects.map((o) => o.objectId)]), [
      [ids.get('factory-1'), 'factory-1', 'registered', 120, [3, 5]],
      [ids.get('factory-2'), 'factory-2', 'registered', 120, [3, 5]],
    ]);
    const history = await listEvents(db, { endpoint: 'factory-1' });
    assert.equal(history.map((e) => e.kind), ['device.provisioned', 'registration.created']);
    assert.is(history[1]!.data['replaced'], undefined, 'a first registration, not a replacement');
  });
});
