// Queue mode (LwM2M Core §6.5): requests for a queue-mode device that is asleep wait, in order,
// until it next talks (a registration Update), then go out once each.
import * as assert from 'uvu/assert';
import type { Ferry } from '../../../server/main.ts';
import { CoapEndpoint } from '../../../simulator/coap/endpoint.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { eventually, startTestFerry } from '../../helpers/ferry.ts';
import { requestUpdate, signedPackage, uploadPackage } from '../../sim-e2e/kit.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

forEachDatabase('coap/queue mode', ({ suite, get }) => {
  let ferry: Ferry;
  let device: CoapEndpoint;
  suite.before.each(async () => {
    ferry = await startTestFerry(get().db, { queueAwake: 1, requestTimeout: 3 });
    device = await CoapEndpoint.bind({ bindAddress: '127.0.0.1', ackTimeoutMs: 300 });
  });
  suite.after.each(async () => { await device.close(); await ferry.close(); });

  suite('held while asleep, sent once each and in order after the next Update', async () => {
    const seen: string[] = [];
    device.onRequest((req, reply) => {
      seen.push(`${req.method} /${req.pathSegments.join('/')}`);
      reply({ code: '2.05', contentFormat: 0, payload: `value of /${req.pathSegments.join('/')}` });
    });
    const server = { host: '127.0.0.1', port: ferry.coapAddress!.port };
    const reg = await device.request({
      ...server, method: 'POST', pathSegments: ['rd'], query: ['ep=q-1', 'lt=60', 'lwm2m=1.1', 'b=U', 'Q'],
      contentFormat: 40, payload: '</1/0>,</3/0>,</5/0>',
    });
    assert.is(reg.code, '2.01');
    const registrationId = reg.options.locationPath[1]!;
    // Awake right after registering: the follow-up Read of /3/0 reaches the device.
    await eventually(() => (seen.includes('GET /3/0') ? true : undefined), 3000, 'the follow-up read');
    await sleep(1300); // past the 1 s awake window

    const target = { endpoint: 'q-1', address: '127.0.0.1', port: device.address().port };
    const before = seen.length;
    const first = ferry.dm.read(target, '/3/0/0', 0);
    const second = ferry.dm.read(target, '/3/0/1', 0);
    await sleep(500);
    assert.is(seen.length, before, 'nothing is sent to a sleeping device');
    assert.is(ferry.dm.heldFor('q-1'), 1, 'the first request waits; the second queues behind it');

    const upd = await device.request({ ...server, method: 'POST', pathSegments: ['rd', registrationId] });
    assert.is(upd.code, '2.04');
    assert.is((await first).payload.toString(), 'value of /3/0/0');
    assert.is((await second).payload.toString(), 'value of /3/0/1');
    assert.equal(seen.slice(before), ['GET /3/0/0', 'GET /3/0/1']);
    await sleep(300);
    assert.is(seen.length, before + 2, 'none sent twice');
  });

  suite('a queue-mode device that registers anew (a reboot) gets the held requests, in order, once each', async () => {
    const seen: string[] = [];
    device.onRequest((req, reply) => {
      seen.push(`${req.method} /${req.pathSegments.join('/')}`);
      reply({ code: '2.05', contentFormat: 0, payload: `value of /${req.pathSegments.join('/')}` });
    });
    const server = { host: '127.0.0.1', port: ferry.coapAddress!.port };
    const register = () => device.request({
      ...server, method: 'POST', pathSegments: ['rd'], query: ['ep=q-2', 'lt=60', 'b=UQ'], contentFormat: 40, payload: '</3/0>',
    });
    assert.is((await register()).code, '2.01');
    await eventually(() => (seen.includes('GET /3/0') ? true : undefined), 3000, 'the follow-up read');
    await sleep(1300);
    const target = { endpoint: 'q-2', address: '127.0.0.1', port: device.address().port };
    const before = seen.length;
    const first = ferry.dm.read(target, '/3/0/9', 0);
    const second = ferry.dm.read(target, '/3/0/10', 0);
    await sleep(300);
    assert.is(seen.length, before, 'nothing is sent to a sleeping device');
    assert.is((await register()).code, '2.01');
    assert.is((await first).payload.toString(), 'value of /3/0/9');
    assert.is((await second).payload.toString(), 'value of /3/0/10');
    await sleep(300);
    // The held requests go first, then the new registration's own follow-up read of /3/0.
    assert.equal(seen.slice(before), ['GET /3/0/9', 'GET /3/0/10', 'GET /3/0']);
  });

  suite('a device that comes back from another port (a reboot behind NAT) gets the held request there', async () => {
    const oldSeen: string[] = [];
    device.onRequest((req, reply) => { oldSeen.push(`/${req.pathSegments.join('/')}`); reply({ code: '2.05', contentFormat: 0, payload: 'old' }); });
    const server = { host: '127.0.0.1', port: ferry.coapAddress!.port };
    const query = ['ep=q-4', 'lt=60', 'lwm2m=1.1', 'Q'];
    assert.is((await device.request({ ...server, method: 'POST', pathSegments: ['rd'], query, contentFormat: 40, payload: '</3/0>' })).code, '2.01');
    await sleep(1300);
    const held = ferry.dm.read({ endpoint: 'q-4', address: '127.0.0.1', port: device.address().port }, '/3/0/9', 0);
    const rebooted = await CoapEndpoint.bind({ bindAddress: '127.0.0.1', ackTimeoutMs: 300 });
    try {
      rebooted.onRequest((_req, reply) => reply({ code: '2.05', contentFormat: 0, payload: 'new' }));
      assert.is((await rebooted.request({ ...server, method: 'POST', pathSegments: ['rd'], query, contentFormat: 40, payload: '</3/0>' })).code, '2.01');
      assert.is((await held).payload.toString(), 'new');
      assert.not.ok(oldSeen.includes('/3/0/9'), 'nothing went to the old port');
    } finally {
      await rebooted.close();
    }
  });

  suite('a held request for a device that de-registers fails as cancelled', async () => {
    device.onRequest((_req, reply) => reply({ code: '2.05', contentFormat: 0, payload: '1' }));
    const server = { host: '127.0.0.1', port: ferry.coapAddress!.port };
    const reg = await device.request({
      ...server, method: 'POST', pathSegments: ['rd'], query: ['ep=q-3', 'lt=60', 'b=UQ'], contentFormat: 40, payload: '</3/0>',
    });
    assert.is(reg.code, '2.01');
    await sleep(1300);
    const held = ferry.dm.read({ endpoint: 'q-3', address: '127.0.0.1', port: device.address().port }, '/3/0/9', 0);
    assert.is((await device.request({ ...server, method: 'DELETE', pathSegments: reg.options.locationPath })).code, '2.02');
    const err = await held.then(() => undefined, (e: Error) => e);
    assert.ok(err, 'the held request is cancelled');
    assert.match(err!.message, /left/);
  });
  suite('an update for a sleeping device: its sleep does not count against --update-timeout; its de-registration ends the wait', async () => {
    await ferry.close();
    ferry = await startTestFerry(get().db, { queueAwake: 1, requestTimeout: 3, updateTimeout: 1 });
    device.onRequest((_req, reply) => reply({ code: '2.05', contentFormat: 0, payload: 'x' }));
    const server = { host: '127.0.0.1', port: ferry.coapAddress!.port };
    const reg = await device.request({
      ...server, method: 'POST', pathSegments: ['rd'], query: ['ep=q-3', 'lt=60', 'lwm2m=1.1', 'b=UQ'], contentFormat: 40, payload: '</3/0>,</5/0>',
    });
    assert.is(reg.code, '2.01');
    await sleep(1300); // asleep: past the 1 s awake window
    const id = await requestUpdate(ferry, 'q-3', await uploadPackage(ferry, signedPackage('2.0.0', 2048, 1)));
    await sleep(3000); // three update timeouts
    const waiting = (await ferry.api.inject({ method: 'GET', url: `/api/v1/updates/${id}` })).json();
    assert.is(waiting.state, 'queued', `still waiting for the device: ${waiting.reason}`);
    assert.ok(ferry.dm.heldFor('q-3') >= 1, 'its first request is held');
    const gone = await device.request({ ...server, method: 'DELETE', pathSegments: ['rd', reg.options.locationPath[1]!] });
    assert.is(gone.code, '2.02');
    const failed = await eventually(async () => {
      const u = (await ferry.api.inject({ method: 'GET', url: `/api/v1/updates/${id}` })).json();
      return u.state === 'failed' ? u : undefined;
    }, 5000, 'the update fails once the device has left');
    assert.ok(failed.reason);
  });
});
