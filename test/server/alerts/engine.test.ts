// Alerts raised by real updates, on real parts: a Ferry with a webhook on a local HTTP server,
// simulated devices over loopback UDP, on every test database.
import { createHmac } from 'node:crypto';
import * as assert from 'uvu/assert';
import type { Ferry } from '../../../server/main.ts';
import * as devices from '../../../server/store/devices.ts';
import { SimDevice } from '../../../simulator/device.ts';
import { makeSimImage } from '../../../simulator/image.ts';
import type { DeliveryMethod } from '../../../simulator/objects/firmware-update.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { eventually, startTestFerry } from '../../helpers/ferry.ts';
import { startHook, type Hook } from '../../helpers/webhook.ts';
import { requestUpdate, signedPackage, trustedAnchor, updateOutcome } from '../../sim-e2e/kit.ts';

const SECRET = 'alert-test-secret';

forEachDatabase('alerts end to end', ({ suite, get }) => {
  let hook: Hook | undefined;
  let ferry: Ferry | undefined;
  let sims: SimDevice[] = [];
  suite.after.each(async () => {
    await Promise.all(sims.map((s) => s.stop()));
    await ferry?.close();
    await hook?.close();
    sims = [];
    ferry = hook = undefined;
  });

  const alertsOf = async (f: Ferry, query: string) => {
    const res = await f.api.inject({ method: 'GET', url: `/api/v1/alerts?${query}` });
    assert.is(res.statusCode, 200, res.body);
    return res.json().items as Array<{ id: number; kind: string; endpoint: string; updateId: number; data: Record<string, unknown>; webhook: { state: string } }>;
  };
  const device = (endpoint: string, deliveryMethod: DeliveryMethod) => new SimDevice({
    endpoint, server: { host: '127.0.0.1', port: ferry!.coapAddress!.port }, lifetime: 60, rebootDelayMs: 100,
    coap: { ackTimeoutMs: 300, maxRetransmit: 3 }, trustedKeys: [trustedAnchor()], factoryImage: signedPackage('1.0.0', 2048, 0),
    deliveryMethod, fault: { kind: 'bit-flip', at: 0.5, bit: 3 },
  });

  suite('a flipped bit (Update Result 5), pulled and pushed: one update.integrity alert each, listed and POSTed signed', async () => {
    hook = await startHook();
    ferry = await startTestFerry(get().db, { alertWebhook: hook.url, alertWebhookSecret: SECRET, updateTimeout: 20 });
    sims = [device('flip-pull', 'pull'), device('flip-push', 'push')];
    await Promise.all(sims.map((s) => s.start()));
    for (const s of sims) {
      await eventually(async () => ((await devices.findByEndpoint(get().db, s.endpoint))?.firmwareVersion === '1.0.0' ? true : undefined), 10_000, `${s.endpoint} inventory`);
    }
    const up = await ferry.api.inject({ method: 'POST', url: '/api/v1/firmware?version=2.0.0&hardwareClass=sim-1', headers: { 'content-type': 'application/octet-stream' }, payload: makeSimImage({ version: '2.0.0', size: 6000 }) });
    assert.is(up.statusCode, 201, up.body);
    const ids = await Promise.all(sims.map((s) => requestUpdate(ferry!, s.endpoint, up.json().id)));
    for (const id of ids) {
      const u = await updateOutcome(ferry, id);
      assert.is(u.resultCode, 5, u.reason);
    }
    const listed = await eventually(async () => {
      const rows = await alertsOf(ferry!, 'kind=update.integrity');
      return rows.length === 2 && rows.every((r) => r.webhook.state === 'delivered') ? rows : undefined;
    }, 10_000, 'two delivered integrity alerts');
    assert.equal(listed.map((a) => a.endpoint).sort(), ['flip-pull', 'flip-push']);
    for (const a of listed) assert.ok(ids.includes(a.updateId));
    assert.equal(listed.map((a) => a.data['delivery']).sort(), ['pull', 'push']);
    assert.is((await alertsOf(ferry, '')).length, 2, 'nothing else raised');

    assert.is(hook.requests.length, 2);
    for (const r of hook.requests) {
      assert.is(r.method, 'POST');
      assert.is(r.headers['content-type'], 'application/json');
      assert.is(r.headers['x-ferry-signature'], `sha256=${createHmac('sha256', SECRET).update(r.body).digest('hex')}`);
      const body = JSON.parse(r.body);
      const alert = listed.find((a) => a.id === body.id)!;
      assert.equal(Object.keys(body).sort(), ['at', 'data', 'device', 'id', 'kind', 'message', 'severity', 'updateId']);
      assert.equal(body.device, { endpoint: alert.endpoint });
      assert.is(body.kind, 'update.integrity');
      assert.is(body.severity, 'warning');
      assert.is(body.updateId, alert.updateId);
      assert.is(body.data.resultCode, 5);
      assert.match(body.message, /integrity check failure/);
      assert.ok(!Number.isNaN(Date.parse(body.at)));
    }
    assert.is(ferry.alerts.counts()['update.integrity'], 2);
  });

  suite('a device silent past --update-timeout: update.stalled', async () => {
    ferry = await startTestFerry(get().db, { updateTimeout: 1 });
    await devices.register(get().db, {
      endpoint: 'gone-0', registrationId: 'gone', lifetime: 60, lwm2mVersion: '1.1', binding: 'U', queueMode: false,
      objectLinks: '</5/0>', address: '127.0.0.1', port: 9,
    });
    await devices.deregister(get().db, 'gone');
    const fw = await ferry.api.inject({
      method: 'POST', url: '/api/v1/firmware?version=6&hardwareClass=sim-1', headers: { 'content-type': 'application/octet-stream' }, payload: Buffer.from('x'),
    });
    const id = await requestUpdate(ferry, 'gone-0', fw.json().id);
    const u = await updateOutcome(ferry, id, 6000);
    assert.match(u.reason, /timeout/);
    const [alert, ...rest] = await eventually(async () => {
      const rows = await alertsOf(ferry!, 'kind=update.stalled');
      return rows.length > 0 ? rows : undefined;
    }, 3000, 'the stalled alert');
    assert.is(rest.length, 0);
    assert.is(alert!.updateId, id);
    assert.is(alert!.endpoint, 'gone-0');
    assert.is(alert!.data['from'], 'queued');
    assert.is(alert!.data['timeoutSeconds'], 1);
    assert.is(alert!.webhook.state, 'none');
  });

  suite('the stalled alert and its transition are one transaction: while the alert cannot be stored, the update does not move', async () => {
    const db = get().db;
    ferry = await startTestFerry(db, { updateTimeout: 1 });
    await devices.register(db, {
      endpoint: 'gone-1', registrationId: 'gone1', lifetime: 60, lwm2mVersion: '1.1', binding: 'U', queueMode: false,
      objectLinks: '</5/0>', address: '127.0.0.1', port: 9,
    });
    await devices.deregister(db, 'gone1');
    const fw = await ferry.api.inject({
      method: 'POST', url: '/api/v1/firmware?version=7&hardwareClass=sim-1', headers: { 'content-type': 'application/octet-stream' }, payload: Buffer.from('y'),
    });
    await db.query(`ALTER TABLE alerts ADD CONSTRAINT test_no_stalled CHECK (kind <> 'update.stalled')`);
    try {
      const id = await requestUpdate(ferry, 'gone-1', fw.json().id);
      // Several sweeps past the deadline: each timeout fails on the alert insert and rolls back.
      await new Promise((r) => setTimeout(r, 3500));
      const stuck = await ferry.api.inject({ method: 'GET', url: `/api/v1/updates/${id}` });
      assert.is(stuck.json().state, 'queued', 'no transition without its alert');
      assert.is((await alertsOf(ferry, 'kind=update.stalled')).length, 0);
      await db.query('ALTER TABLE alerts DROP CONSTRAINT test_no_stalled');
      const u = await updateOutcome(ferry, id, 6000);
      assert.match(u.reason, /timeout/);
      const rows = await eventually(async () => {
        const r = await alertsOf(ferry!, 'kind=update.stalled');
        return r.length > 0 ? r : undefined;
      }, 3000, 'the stalled alert');
      assert.is(rows.length, 1);
      assert.is(rows[0]!.updateId, id);
    } finally {
      await db.query('ALTER TABLE alerts DROP CONSTRAINT IF EXISTS test_no_stalled');
    }
  });

  suite('a delivery pending at shutdown goes out after the restart', async () => {
    hook = await startHook(() => 'hang');
    ferry = await startTestFerry(get().db, { alertWebhook: hook.url });
    const raised = await ferry.alerts.raise({ kind: 'campaign.paused', campaignId: 3, message: 'campaign 3 paused', data: { wave: 1 } });
    await eventually(() => (hook!.requests.length === 1 ? true : undefined), 3000, 'the first attempt');
    await ferry.close();
    hook.answer = () => 200;
    ferry = await startTestFerry(get().db, { alertWebhook: hook.url });
    const [alert] = await eventually(async () => {
      const rows = await alertsOf(ferry!, 'kind=campaign.paused');
      return rows[0]?.webhook.state === 'delivered' ? rows : undefined;
    }, 5000, 'delivery after the restart');
    assert.is(alert!.id, raised!.id);
    assert.is(hook.requests.length, 2);
    const body = JSON.parse(hook.requests[1]!.body);
    assert.is(body.campaignId, 3);
    assert.is(body.device, undefined);
    assert.is(body.severity, 'critical');
  });
});
