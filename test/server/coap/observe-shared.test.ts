// Observations of one device by several owners (RFC 7641 §4.1: one entry per client and resource on
// the device): the engine and an operator share one, reference-counted; a device that leaves, expires
// or registers anew has none left (nor a stale value in the API); the engine observes again what an
// active update needs after a new registration.
import * as assert from 'uvu/assert';
import { ContentFormat } from '../../../protocols/content-format.ts';
import type { DmResponse } from '../../../server/coap/dm-client.ts';
import type { Ferry } from '../../../server/main.ts';
import * as devices from '../../../server/store/devices.ts';
import { CoapEndpoint } from '../../../simulator/coap/endpoint.ts';
import { SimDevice } from '../../../simulator/device.ts';
import { makeSimImage } from '../../../simulator/image.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { eventually, startTestFerry } from '../../helpers/ferry.ts';

const STATE = '/5/0/3';

forEachDatabase('coap/shared observations', ({ suite, get }) => {
  let ferry: Ferry;
  let sim: SimDevice | undefined;
  let raw: CoapEndpoint | undefined;
  suite.before.each(async () => { ferry = await startTestFerry(get().db, { requestTimeout: 3 }); });
  suite.after.each(async () => {
    await sim?.stop();
    await raw?.close();
    sim = undefined;
    raw = undefined;
    await ferry.close();
  });

  const call = (method: 'GET' | 'POST' | 'DELETE', url: string) => ferry.api.inject({ method, url: `/api/v1/devices/${url}` });
  const startSim = async (endpoint: string) => {
    sim = new SimDevice({ endpoint, server: { host: '127.0.0.1', port: ferry.coapAddress!.port }, lifetime: 60, coap: { ackTimeoutMs: 300 } });
    await sim.start();
    const d = await eventually(async () => { const x = await devices.findByEndpoint(get().db, endpoint); return x?.firmwareVersion ? x : undefined; }, 5000, 'inventory');
    return { endpoint, address: d.address!, port: d.port! };
  };

  suite('engine and API observe /5/0/3: one device observation; cancelling the API one keeps the engine stream', async () => {
    const target = await startSim('obs-1');
    const engineValues: string[] = [];
    const first = await ferry.dm.observe(target, STATE, ContentFormat.TEXT, (r: DmResponse) => engineValues.push(r.payload.toString()), 'engine');
    assert.is(first.payload.toString(), '0');
    const api = await call('POST', 'obs-1/observe/5/0/3');
    assert.is(api.statusCode, 200, api.body);
    assert.is(api.json().values[0].value, 0, 'the second owner gets the current value');
    assert.equal(ferry.dm.observers('obs-1', STATE), ['engine', 'api']);
    assert.is(sim!.observerCount, 1, 'one observation on the device');

    assert.is((await call('DELETE', 'obs-1/observe/5/0/3')).statusCode, 204);
    assert.equal(ferry.dm.observers('obs-1', STATE), ['engine']);
    await new Promise((r) => setTimeout(r, 200));
    assert.is(sim!.observerCount, 1, 'the API cancel did not deregister the shared observation');

    // A download that fails at once moves State 0 → 1 → 0: notifications the engine must still get.
    const before = engineValues.length;
    const w = await ferry.api.inject({ method: 'PUT', url: '/api/v1/devices/obs-1/lwm2m/5/0/1', payload: { value: `coap://127.0.0.1:${ferry.downloadAddress!.port}/fw/999` } });
    assert.is(w.statusCode, 204, w.body);
    await eventually(() => (engineValues.slice(before).includes('1') ? true : undefined), 5000, 'a State notification to the engine');

    assert.ok(ferry.dm.cancelObserve('obs-1', STATE, 'engine'));
    await eventually(() => (sim!.observerCount === 0 ? true : undefined), 3000, 'the last cancel deregisters on the device');
    assert.equal(ferry.dm.observedPaths('obs-1'), []);
  });

  suite('after de-registration the API has no latest value (404) and the DM client no observation', async () => {
    await startSim('obs-2');
    assert.is((await call('POST', 'obs-2/observe/5/0/3')).statusCode, 200);
    assert.is((await call('GET', 'obs-2/observe/5/0/3')).statusCode, 200);
    await sim!.stop();
    sim = undefined;
    await eventually(async () => ((await devices.findByEndpoint(get().db, 'obs-2'))?.status === 'deregistered' ? true : undefined), 3000, 'de-registered');
    const latest = await call('GET', 'obs-2/observe/5/0/3');
    assert.is(latest.statusCode, 404, latest.body);
    assert.equal(ferry.dm.observedPaths('obs-2'), []);
  });

  suite('a new registration drops the observations and the stale API value', async () => {
    const target = await startSim('obs-3');
    assert.is((await call('POST', 'obs-3/observe/5/0/3')).statusCode, 200);
    ferry.dm.registered(target, false); // what the registration interface does on a new Register
    assert.equal(ferry.dm.observedPaths('obs-3'), []);
    assert.is((await call('GET', 'obs-3/observe/5/0/3')).statusCode, 404);
  });

  // A hand-driven device: answers every request, takes observations, never downloads.
  let observeGets: string[] = [];
  const rawDevice = async (endpoint: string, lifetime: number) => {
    observeGets = [];
    raw = await CoapEndpoint.bind({ bindAddress: '127.0.0.1', ackTimeoutMs: 300 });
    raw.onRequest((req, reply) => {
      if (req.method === 'GET' && req.options.observe === 0) observeGets.push(`/${req.pathSegments.join('/')}`);
      if (req.method === 'GET' && req.options.observe === 0) reply({ code: '2.05', contentFormat: 0, payload: '0', observe: 2 });
      else if (req.method === 'GET') reply({ code: '2.05', contentFormat: 0, payload: '0' });
      else reply({ code: '2.04' });
    });
    const register = () => raw!.request({
      host: '127.0.0.1', port: ferry.coapAddress!.port, method: 'POST', pathSegments: ['rd'],
      query: [`ep=${endpoint}`, `lt=${lifetime}`, 'lwm2m=1.0'], contentFormat: 40, payload: '</3/0>,</5/0>',
    });
    return register;
  };

  suite('an expired registration loses its observations', async () => {
    const register = await rawDevice('obs-4', 1);
    assert.is((await register()).code, '2.01');
    const target = { endpoint: 'obs-4', address: '127.0.0.1', port: raw!.address().port };
    await ferry.dm.observe(target, STATE, ContentFormat.TEXT, () => undefined, 'engine');
    assert.equal(ferry.dm.observedPaths('obs-4'), [STATE]);
    await eventually(async () => ((await devices.findByEndpoint(get().db, 'obs-4'))?.status === 'expired' ? true : undefined), 5000, 'expiry');
    await eventually(() => (ferry.dm.observedPaths('obs-4').length === 0 ? true : undefined), 2000, 'observations dropped');
  });

  suite('a device that registers anew during an update gets the engine observations back', async () => {
    const register = await rawDevice('obs-5', 60);
    assert.is((await register()).code, '2.01');
    const up = await ferry.api.inject({
      method: 'POST', url: '/api/v1/firmware?version=2.0.0&hardwareClass=sim-1',
      headers: { 'content-type': 'application/octet-stream' }, payload: makeSimImage({ version: '2.0.0', size: 4000, seed: 1 }),
    });
    assert.is(up.statusCode, 201, up.body);
    const req = await ferry.api.inject({ method: 'POST', url: '/api/v1/devices/obs-5/update', payload: { firmwareId: up.json().id } });
    assert.is(req.statusCode, 202, req.body);
    const watched = () => ferry.dm.observedPaths('obs-5').sort().join(',') === '/5/0/3,/5/0/5' ? true : undefined;
    await eventually(watched, 5000, 'the engine observes State and Update Result');
    assert.equal(observeGets.filter((p) => p === STATE).length, 1);
    assert.is((await register()).code, '2.01');
    await eventually(() => (observeGets.filter((p) => p === STATE).length === 2 ? true : undefined), 5000, 'a second GET+Observe of State');
    await eventually(watched, 5000, 'observed again after the new registration');
  });
});
