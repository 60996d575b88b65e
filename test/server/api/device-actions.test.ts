// A device's registered objects in its record; cancelling one update (queued: at once; finished,
// installing or a download the device cannot cancel: 409 saying why); decommissioning a device
// (its update cancelled, out of its live campaign, credentials deleted, its DTLS session ended,
// listed as decommissioned, its Register refused with 4.03 FERRY_RD_DECOMMISSIONED); all audited
// with the user; bad input a 4xx with its code.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { newSecretsKeyText } from '../../../server/credentials/secrets-key.ts';
import type { Ferry } from '../../../server/main.ts';
import * as devices from '../../../server/store/devices.ts';
import { insertFirmware } from '../../../server/store/firmware.ts';
import { createUpdate, transitionUpdate } from '../../../server/store/updates.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { offlineDevice } from '../../helpers/devices.ts';
import { apiCalls, eventually, exchange, startTestFerry, uriOptions } from '../../helpers/ferry.ts';
import { createSocket } from 'node:dgram';
import { generate, parse } from 'coap-packet';
import { DtlsSession } from '../../../simulator/dtls/session.ts';
import { rejects } from '../../helpers/assert.ts';

const dir = mkdtempSync(join(tmpdir(), 'ferry-device-actions-'));
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
const keyFile = join(dir, 'secrets.key');
writeFileSync(keyFile, newSecretsKeyText(), { mode: 0o600 });
const LINK_FORMAT = { name: 'Content-Format' as const, value: Buffer.from([40]) };
const KEY = 'key-of-the-decommissioned-device';

forEachDatabase('api, cancel an update and decommission a device', ({ suite, get }) => {
  let ferry: Ferry;
  suite.before(async () => { ferry = await startTestFerry(get().db, { secretsKeyFile: keyFile }); });
  suite.after(async () => { await ferry.close(); });
  const { call, expect } = apiCalls(() => ferry);
  const queued = async (endpoint: string, version = '2.0.0') => {
    const device = await offlineDevice(get().db, endpoint);
    const image = await insertFirmware(get().db, { version, hardwareClass: 'sim-1', payload: Buffer.alloc(64, 1) });
    const update = await createUpdate(get().db, { deviceId: device.id, firmwareId: image.id, deadlineSeconds: 600 });
    return { device, image, update };
  };
  const registerPlain = (ep: string) => exchange(ferry.coapAddress!.port, {
    code: 'POST', options: [...uriOptions('/rd', [`ep=${ep}`, 'lt=120', 'lwm2m=1.1']), LINK_FORMAT], payload: Buffer.from('</1/0>,</3/0>,</5/0>'),
  });

  suite('the device record lists the objects and instances its client registered', async () => {
    await devices.register(get().db, {
      endpoint: 'objs', registrationId: 'r-objs', lifetime: 60, lwm2mVersion: '1.1', binding: 'U', queueMode: false,
      objectLinks: '</1/0>,</3/0>,</5;ver=1.1>,</5/0>,</3303/0>,</3303/1>', address: '127.0.0.1', port: 9,
      objects: [{ objectId: 1, instances: [0] }, { objectId: 3, instances: [0] }, { objectId: 5, version: '1.1', instances: [0] }, { objectId: 3303, instances: [0, 1] }],
    });
    const d = await expect(call('GET', '/api/v1/devices/objs'), 200);
    assert.equal(d.objects, [
      { objectId: 1, instances: [0] }, { objectId: 3, instances: [0] }, { objectId: 5, version: '1.1', instances: [0] }, { objectId: 3303, instances: [0, 1] },
    ]);
    assert.is(d.decommissionedAt, null);
  });

  suite('cancel: a queued update at once, audited with the user; then its image can be deleted', async () => {
    const { image, update } = await queued('q-1');
    await expect(call('DELETE', `/api/v1/firmware/${image.id}`), 409, 'FERRY_FIRMWARE_IN_USE');
    const cancelled = await expect(call('POST', `/api/v1/updates/${update.id}/cancel`, { reason: 'device is in the scrap pile' }), 200);
    assert.equal([cancelled.state, cancelled.reason, cancelled.endpoint], ['cancelled', 'device is in the scrap pile', 'q-1']);
    const history = await expect(call('GET', `/api/v1/updates/${update.id}`), 200);
    const last = history.events.at(-1);
    assert.equal([last.kind, last.data.state, last.data.on], ['update.state', 'cancelled', 'cancel']);
    assert.match(last.actor, /^token:/);
    assert.match(last.data.user, /./);
    const again = await expect(call('POST', `/api/v1/updates/${update.id}/cancel`), 409, 'FERRY_UPDATE_NOT_CANCELLABLE');
    assert.match(again.message, /finished \(cancelled\)/);
    await expect(call('DELETE', `/api/v1/firmware/${image.id}`), 204);
  });

  suite('cancel: no body, an empty body with a JSON type, or {} alike; installing and un-cancellable downloads are 409 saying why', async () => {
    const a = await queued('q-a', '2.0.1');
    await expect(call('POST', `/api/v1/updates/${a.update.id}/cancel`, '', { 'content-type': 'application/json' }), 200);
    const b = await queued('q-b', '2.0.2');
    await transitionUpdate(get().db, b.update.id, { to: 'sent', from: ['queued'] });
    await transitionUpdate(get().db, b.update.id, { to: 'downloading', from: ['sent'] });
    const noCancel = await expect(call('POST', `/api/v1/updates/${b.update.id}/cancel`, {}), 409, 'FERRY_UPDATE_NOT_CANCELLABLE');
    assert.match(noCancel.message, /no Object 5 Cancel \(\/5\/0\/10/);
    await transitionUpdate(get().db, b.update.id, { to: 'downloaded', from: ['downloading'] });
    await transitionUpdate(get().db, b.update.id, { to: 'updating', from: ['downloaded'] });
    const installing = await expect(call('POST', `/api/v1/updates/${b.update.id}/cancel`), 409, 'FERRY_UPDATE_NOT_CANCELLABLE');
    assert.match(installing.message, /installing/);
    await expect(call('POST', '/api/v1/updates/999999/cancel'), 404, 'FERRY_UPDATE_NOT_FOUND');
    await expect(call('POST', '/api/v1/updates/abc/cancel'), 400, 'FERRY_VALIDATION');
    await expect(call('POST', `/api/v1/updates/${b.update.id}/cancel`, { reason: '' }), 400, 'FERRY_VALIDATION');
    await expect(call('POST', `/api/v1/updates/${b.update.id}/cancel`, { why: 'x' }), 400, 'FERRY_VALIDATION');
  });

  suite('cancel: a download on a device with Object 5 Cancel goes through the engine (202), audited with the user', async () => {
    const { db } = get();
    const { device, update } = await queued('q-v11', '2.0.3');
    await db.query(`UPDATE devices SET objects = '[{"objectId":5,"version":"1.1","instances":[0]}]'::jsonb WHERE id = $1`, [device.id]);
    await transitionUpdate(db, update.id, { to: 'sent', from: ['queued'] });
    await transitionUpdate(db, update.id, { to: 'downloading', from: ['sent'] });
    const asked = await expect(call('POST', `/api/v1/updates/${update.id}/cancel`, { reason: 'wrong image' }), 202);
    assert.equal([asked.state, asked.endpoint], ['downloading', 'q-v11'], 'cancelled when the device acknowledges /5/0/10');
    const events = await expect(call('GET', `/api/v1/events?kind=update.cancel_requested`), 200);
    assert.equal(events.items.map((e: { updateId: number; data: { reason: string } }) => [e.updateId, e.data.reason]), [[update.id, 'wrong image']]);
    assert.match(events.items[0].actor, /^token:/);
    assert.match(events.items[0].data.user, /./);
  });

  suite('decommission: update cancelled, out of its campaign, credentials gone, listed and filtered, audited; its Register refused', async () => {
    const { db } = get();
    const { device, update } = await queued('dc-1', '3.0.0');
    await offlineDevice(db, 'dc-keep');
    await expect(call('PUT', '/api/v1/devices/dc-1/credentials', { identity: 'id-dc-1', key: Buffer.from(KEY).toString('hex') }), 200);
    const campaign = await db.query<{ id: string }>(
      `INSERT INTO campaigns (name, firmware_id, target, policy, state, created_by) VALUES ('c', $1, '{}', '{"waves":[1]}', 'running', 'test') RETURNING id`, [update.firmwareId]);
    const campaignId = Number(campaign.rows[0]!.id);
    await db.query("INSERT INTO campaign_devices (campaign_id, device_id, wave, state) VALUES ($1, $2, 1, 'pending')", [campaignId, device.id]);

    await expect(call('POST', '/api/v1/devices/dc-1/decommission', {}), 400, 'FERRY_VALIDATION');
    await expect(call('POST', '/api/v1/devices/nobody/decommission', { reason: 'gone' }), 404, 'FERRY_DEVICE_NOT_FOUND');
    const done = await expect(call('POST', '/api/v1/devices/dc-1/decommission', { reason: 'returned to the vendor' }), 200);
    assert.equal(done, { endpoint: 'dc-1', status: 'decommissioned', cancelledUpdate: update.id, campaigns: [campaignId], credentialsDeleted: true });
    await expect(call('POST', '/api/v1/devices/dc-1/decommission', { reason: 'again' }), 409, 'FERRY_DEVICE_DECOMMISSIONED');
    await expect(call('POST', '/api/v1/devices/dc-1/update', { firmwareId: update.firmwareId }), 409, 'FERRY_DEVICE_DECOMMISSIONED');
    await expect(call('PUT', '/api/v1/devices/dc-1/credentials', { identity: 'id-dc-1', key: Buffer.from(KEY).toString('hex') }), 409, 'FERRY_DEVICE_DECOMMISSIONED');

    const record = await expect(call('GET', '/api/v1/devices/dc-1'), 200);
    assert.equal([record.status, record.decommissionReason, record.activeUpdate], ['decommissioned', 'returned to the vendor', null]);
    assert.type(record.decommissionedAt, 'string');
    assert.is((await expect(call('GET', `/api/v1/updates/${update.id}`), 200)).state, 'cancelled');
    await expect(call('GET', '/api/v1/devices/dc-1/credentials'), 404, 'FERRY_CREDENTIALS_NOT_FOUND');
    assert.is(await ferry.credentials.pskFor('id-dc-1'), undefined);
    const member = await db.query<{ state: string; active: boolean; reason: string }>('SELECT state, active, reason FROM campaign_devices WHERE device_id = $1', [device.id]);
    assert.equal(member.rows, [{ state: 'cancelled', active: false, reason: 'device decommissioned' }]);
    const listed = await expect(call('GET', '/api/v1/devices?status=decommissioned'), 200);
    assert.equal(listed.items.map((d: { endpoint: string }) => d.endpoint), ['dc-1']);
    const events = await expect(call('GET', '/api/v1/events?endpoint=dc-1&kind=device.decommissioned'), 200);
    assert.is(events.items.length, 1);
    assert.equal([events.items[0].data.reason, events.items[0].data.cancelledUpdate, events.items[0].data.campaigns], ['returned to the vendor', update.id, [campaignId]]);
    assert.type(events.items[0].data.user, 'string');

    const refused = await registerPlain('dc-1');
    assert.is(refused.code, '4.03');
    assert.match(refused.payload.toString(), /^FERRY_RD_DECOMMISSIONED: endpoint dc-1 was decommissioned/);
    assert.is((await devices.findByEndpoint(db, 'dc-1'))!.status, 'decommissioned');
    assert.is((await registerPlain('dc-keep')).code, '2.01', 'other devices register as before');
  });

  suite('decommission ends the device\'s DTLS session: its key no longer opens one', async () => {
    const ep = 'dc-dtls';
    await expect(call('PUT', `/api/v1/devices/${ep}/credentials`, { identity: `id-${ep}`, key: Buffer.from(KEY).toString('hex') }), 200);
    const socket = createSocket('udp4');
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
    const to = ferry.coapsAddress!.port;
    const open = (): DtlsSession => {
      const session = new DtlsSession((d) => socket.send(d, to, '127.0.0.1'), { psk: Buffer.from(KEY), identity: Buffer.from(`id-${ep}`), initialTimeoutMs: 200, maxRetransmits: 2 });
      socket.removeAllListeners('message');
      socket.on('message', (m) => session.receive(m));
      return session;
    };
    try {
      const session = open();
      await session.start();
      const answer = new Promise<string>((resolve) => { session.onData = (d) => resolve(parse(d).code); });
      session.sendApplicationData(generate({
        messageId: 1, token: Buffer.from([1]), code: 'POST', confirmable: true,
        options: [...uriOptions('/rd', [`ep=${ep}`, 'lt=300', 'lwm2m=1.1']), LINK_FORMAT], payload: Buffer.from('</1/0>,</3/0>,</5/0>'),
      }));
      assert.is(await answer, '2.01');
      const dtls = ferry.coaps!.dtls!;
      assert.is(dtls.counts.sessions, 1, 'the device\'s session is open');
      await expect(call('POST', `/api/v1/devices/${ep}/decommission`, { reason: 'stolen' }), 200);
      assert.is(dtls.counts.sessions, 0, 'its session ended');
      await rejects(open().start());
      assert.is(dtls.counts.sessions, 0, 'its key no longer opens one');
    } finally {
      socket.close();
    }
    assert.is((await devices.findByEndpoint(get().db, ep))!.status, 'decommissioned');
  });
});
