// Device management through the API against a simulated LwM2M device, once in TLV mode and once in
// SenML-CBOR mode (the device announces ct=11542 or ct=112 and answers reads in it): Read, Write,
// partial Write, Execute (with arguments), Discover, Write-Attributes, Create and Delete (Object 19),
// Observe and Cancel, values as JSON, device errors as 4xx.
import * as assert from 'uvu/assert';
import type { Ferry } from '../../../server/main.ts';
import * as devices from '../../../server/store/devices.ts';
import { ContentFormat } from '../../../protocols/content-format.ts';
import { SimDevice } from '../../../simulator/device.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { eventually, startTestFerry } from '../../helpers/ferry.ts';

for (const [mode, format] of [['TLV', ContentFormat.TLV], ['SenML-CBOR', ContentFormat.SENML_CBOR]] as const) forEachDatabase(`api/lwm2m ${mode}`, ({ suite, get }) => {
  let ferry: Ferry;
  let sim: SimDevice;
  /** What the device was asked (its DM log): method, path, the code it answered. */
  let asked: string[] = [];
  suite.before.each(async () => {
    ferry = await startTestFerry(get().db, { requestTimeout: 3 });
    asked = [];
    sim = new SimDevice({
      endpoint: 'dm-0', server: { host: '127.0.0.1', port: ferry.coapAddress!.port }, lifetime: 60, contentFormat: format, coap: { ackTimeoutMs: 300 },
      log: (e) => { if (e.type === 'dm') asked.push(`${e.method} ${e.path} ${e.code}`); },
    });
    await sim.start();
    await eventually(async () => ((await devices.findByEndpoint(get().db, 'dm-0'))?.firmwareVersion ? true : undefined), 5000, 'inventory');
  });
  suite.after.each(async () => { await sim.stop(); await ferry.close(); });

  const call = (method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, payload?: object) =>
    ferry.api.inject({ method, url: `/api/v1/devices/${url}`, ...(payload ? { payload } : {}) });

  suite(`Read an instance (${mode}, the format the device announced) and a resource as text`, async () => {
    const inst = await call('GET', 'dm-0/lwm2m/3/0');
    assert.is(inst.statusCode, 200, inst.body);
    assert.is(inst.json().contentFormat, format);
    const values = Object.fromEntries(inst.json().values.map((v: { path: string; value: unknown }) => [v.path, v.value]));
    assert.is(values['/3/0/0'], 'Ferry Simulator');
    assert.is(values['/3/0/1'], 'sim-1');
    assert.is(values['/3/0/3'], '1.0.0');
    const one = await call('GET', 'dm-0/lwm2m/3/0/1?format=text');
    assert.is(one.statusCode, 200);
    assert.equal(one.json(), { path: '/3/0/1', contentFormat: 0, values: [{ path: '/3/0/1', value: 'sim-1' }] });
  });

  suite('Write a resource, then read it back', async () => {
    const w = await call('PUT', 'dm-0/lwm2m/1/0/1', { value: 120 });
    assert.is(w.statusCode, 204, w.body);
    const r = await call('GET', 'dm-0/lwm2m/1/0/1');
    assert.is(r.json().values[0].value, 120);
  });

  suite('partial Write (?mode=update, POST on the instance, Core §6.3.3) changes only what it names', async () => {
    const before = await call('GET', 'dm-0/lwm2m/1/0');
    const valuesOf = (r: typeof before) => Object.fromEntries(r.json().values.map((v: { path: string; value: unknown }) => [v.path, v.value]));
    assert.is(valuesOf(before)['/1/0/6'], false);
    assert.is((await call('PUT', 'dm-0/lwm2m/1/0/6', { value: true })).statusCode, 204);
    const w = await call('PUT', 'dm-0/lwm2m/1/0?mode=update', { values: [{ path: '/1/0/1', value: 77 }] });
    assert.is(w.statusCode, 204, w.body);
    assert.ok(asked.includes('POST /1/0 2.04'), `a partial update is a POST on the instance: ${asked.join('; ')}`);
    const after = valuesOf(await call('GET', 'dm-0/lwm2m/1/0'));
    assert.is(after['/1/0/1'], 77);
    assert.is(after['/1/0/6'], true, 'a resource the partial write did not name keeps its value');
    assert.is(after['/1/0/0'], 1);
  });

  suite('Execute with arguments (Core §5.4.3) reaches the device as given; bad arguments are the device\'s 4.00', async () => {
    const x = await call('POST', 'dm-0/execute/1/0/8', { arguments: "0='fast',1" });
    assert.is(x.statusCode, 204, x.body);
    assert.equal(sim.executions.at(-1), { path: '/1/0/8', args: "0='fast',1" });
    assert.is((await call('POST', 'dm-0/execute/1/0/8', { arguments: 'not args' })).statusCode, 400);
  });

  suite('Create an Object 19 instance, Read it, see it in Discover and in the registration, Delete it, then 404', async () => {
    const c = await call('POST', 'dm-0/lwm2m/19', { values: [{ path: '/19/1/3', value: 'calibration' }, { path: '/19/1/5', value: 42 }] });
    assert.is(c.statusCode, 201, c.body);
    assert.ok(asked.includes('POST /19 2.01'), asked.join('; '));
    const r = await call('GET', 'dm-0/lwm2m/19/1');
    assert.is(r.statusCode, 200, r.body);
    const values = Object.fromEntries(r.json().values.map((v: { path: string; value: unknown }) => [v.path, v.value]));
    assert.is(values['/19/1/3'], 'calibration');
    assert.is(values['/19/1/5'], 42);
    const d = await call('GET', 'dm-0/discover/19');
    assert.ok(d.json().links.some((l: { uri: string }) => l.uri === '/19/1'), d.body);
    // The device sends a registration update with its objects after a Create.
    await eventually(async () => {
      const row = await devices.findByEndpoint(get().db, 'dm-0');
      return row?.objects.find((o) => o.objectId === 19)?.instances.includes(1) ? true : undefined;
    }, 3000, '/19/1 in the stored registration');
    assert.is((await call('POST', 'dm-0/lwm2m/19', { values: [{ path: '/19/1/3', value: 'again' }] })).statusCode, 400, 'an existing instance');
    assert.is((await call('DELETE', 'dm-0/lwm2m/19/1')).statusCode, 204);
    assert.is((await call('GET', 'dm-0/lwm2m/19/1')).statusCode, 404);
    assert.is((await call('DELETE', 'dm-0/lwm2m/19/1')).statusCode, 404);
    assert.is((await call('DELETE', 'dm-0/lwm2m/3/0')).statusCode, 405, 'Object 3 has no Delete');
    await eventually(async () => {
      const row = await devices.findByEndpoint(get().db, 'dm-0');
      return row?.objects.find((o) => o.objectId === 19)?.instances.includes(1) === false ? true : undefined;
    }, 3000, '/19/1 gone from the stored registration');
  });

  suite('Execute, Discover, Write-Attributes', async () => {
    assert.is((await call('POST', 'dm-0/execute/1/0/8')).statusCode, 204);
    const d = await call('GET', 'dm-0/discover/3/0');
    assert.is(d.statusCode, 200, d.body);
    assert.ok(d.json().links.some((l: { uri: string }) => l.uri === '/3/0/0'));
    assert.is((await call('PUT', 'dm-0/attributes/3/0/9', { pmin: 1, pmax: 30 })).statusCode, 204);
  });

  suite('Observe, its latest value, Cancel', async () => {
    const o = await call('POST', 'dm-0/observe/5/0/3');
    assert.is(o.statusCode, 200, o.body);
    assert.is(o.json().values[0].value, 0);
    const latest = await call('GET', 'dm-0/observe/5/0/3');
    assert.is(latest.statusCode, 200);
    assert.is(latest.json().values[0].value, 0);
    assert.is((await call('DELETE', 'dm-0/observe/5/0/3')).statusCode, 204);
    assert.is((await call('DELETE', 'dm-0/observe/5/0/3')).statusCode, 404);
    assert.is((await call('GET', 'dm-0/observe/5/0/3')).statusCode, 404);
  });

  suite('refusals: device errors mirrored, bad input 400, unknown device 404, offline 409', async () => {
    const cases: Array<[string, ReturnType<typeof call>, number]> = [
      ['no such object on the device', call('GET', 'dm-0/lwm2m/99/0'), 404],
      ['read-only resource', call('PUT', 'dm-0/lwm2m/3/0/0', { value: 'x' }), 405],
      ['bad path', call('GET', 'dm-0/lwm2m/abc'), 400],
      ['id past 65534', call('GET', 'dm-0/lwm2m/65535'), 400],
      ['unknown format', call('GET', 'dm-0/lwm2m/3/0?format=xml'), 400],
      ['no value', call('PUT', 'dm-0/lwm2m/1/0/1', {}), 400],
      ['wrong type', call('PUT', 'dm-0/lwm2m/1/0/1', { value: 'soon' }), 400],
      ['bad base64 object', call('PUT', 'dm-0/lwm2m/1/0/1', { value: { hex: 'ff' } }), 400],
      ['unknown device', call('GET', 'nobody/lwm2m/3/0'), 404],
      ['execute on an instance', call('POST', 'dm-0/execute/3/0'), 400],
      ['unknown attribute', call('PUT', 'dm-0/attributes/3/0/9', { color: 1 }), 400],
    ];
    for (const [what, pending, status] of cases) {
      const res = await pending;
      assert.is(res.statusCode, status, `${what}: ${res.body}`);
      assert.type(res.json().message, 'string', what);
    }
    await sim.stop();
    const off = await call('GET', 'dm-0/lwm2m/3/0');
    assert.is(off.statusCode, 409);
  });
});
