// The campaign routes through fastify.inject: create, list, progress, start/pause/resume/abort,
// device tags; bad bodies are 400s with a JSON message, refused state changes and a device in two
// running campaigns are 409s, never a 500. The devices belong to another node, so this node's
// campaign driver claims none of them and no request leaves for a device.
import * as assert from 'uvu/assert';
import type { Ferry } from '../../../server/main.ts';
import * as devices from '../../../server/store/devices.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { startTestFerry } from '../../helpers/ferry.ts';

forEachDatabase('api: campaigns', ({ suite, get }) => {
  let ferry: Ferry;
  let firmwareId = 0;
  let otherClassId = 0;
  // One server for the file; the database is emptied before each test, which seeds its own.
  suite.before(async () => { ferry = await startTestFerry(get().db, { campaignTick: 60_000 }); });
  suite.after(async () => { await ferry.close(); });
  suite.before.each(async () => {
    const up = async (q: string) => (await ferry.api.inject({ method: 'POST', url: `/api/v1/firmware?${q}`, headers: { 'content-type': 'application/octet-stream' }, payload: Buffer.from('image') })).json().id as number;
    firmwareId = await up('version=2.0.0&hardwareClass=sim-1');
    otherClassId = await up('version=9.0.0&hardwareClass=other');
    for (const [i, ep] of ['a-1', 'a-2', 'b-1'].entries()) {
      const { device } = await devices.register(get().db, {
        endpoint: ep, registrationId: `r-${ep}`, lifetime: 600, lwm2mVersion: '1.1', binding: 'U', queueMode: false,
        objectLinks: '</5/0>', address: '127.0.0.1', port: 9 + i, ownerNode: 'another-node',
      });
      await devices.setDeviceInfo(get().db, device.id, { manufacturer: 'm', modelNumber: 'sim-1', hardwareVersion: null, firmwareVersion: ep === 'a-2' ? '2.0.0' : '1.0.0', hardwareClass: 'sim-1' });
    }
  });

  const call = async (method: 'GET' | 'POST' | 'PUT', url: string, payload?: unknown) => {
    const res = await ferry.api.inject({ method, url, ...(payload === undefined ? {} : { payload: payload as object }) });
    assert.ok(res.statusCode < 500, `${method} ${url}: ${res.statusCode} ${res.body}`);
    return { status: res.statusCode, body: res.json() };
  };
  const body = (over: Record<string, unknown> = {}, policy: Record<string, unknown> = {}) =>
    ({ name: 'c', firmwareId, target: { hardwareClass: 'sim-1' }, ...over, policy: { waves: ['50%', '100%'], ...policy } });

  suite('create: a draft with the defaults filled in, or scheduled with startAt; listed, filtered by state', async () => {
    const draft = await call('POST', '/api/v1/campaigns', body());
    assert.is(draft.status, 201);
    const del = await ferry.api.inject({ method: 'DELETE', url: `/api/v1/firmware/${firmwareId}` });
    assert.is(del.statusCode, 409, 'an image a campaign uses cannot be deleted');
    assert.match(del.json().message, /campaign/);
    assert.is(draft.body.state, 'draft');
    assert.equal(draft.body.policy, {
      waves: ['50%', '100%'], soakSeconds: 0, concurrency: 10, failureThreshold: 0.05,
      retries: { max: 2, backoffSeconds: 60, factor: 2 }, delivery: 'device', severity: 'mandatory', autoRevert: false,
    });
    const later = await call('POST', '/api/v1/campaigns', body({ startAt: '2099-01-01T00:00:00Z' }, { waves: [1, '100%'], window: { startHour: 22, endHour: 4 }, delivery: 'push', severity: 'critical' }));
    assert.is(later.status, 201);
    assert.is(later.body.state, 'scheduled');
    assert.is(later.body.startAt, '2099-01-01T00:00:00.000Z');
    const listed = await call('GET', '/api/v1/campaigns');
    assert.is(listed.status, 200, JSON.stringify(listed.body));
    assert.equal(listed.body.items.map((c: { id: number }) => c.id), [draft.body.id, later.body.id]);
    assert.is(listed.body.next, null);
    const first = (await call('GET', '/api/v1/campaigns?limit=1')).body;
    assert.equal([first.items.map((c: { id: number }) => c.id), first.next], [[draft.body.id], draft.body.id]);
    assert.equal((await call('GET', `/api/v1/campaigns?limit=1&after=${first.next}`)).body.items.map((c: { id: number }) => c.id), [later.body.id]);
    assert.equal((await call('GET', '/api/v1/campaigns?state=scheduled')).body.items.map((c: { id: number }) => c.id), [later.body.id]);
    assert.equal((await call('GET', '/api/v1/campaigns?state=draft&state=scheduled')).body.items.length, 2);
    assert.is((await call('GET', '/api/v1/campaigns?state=bogus')).status, 400);
    assert.is((await call('GET', '/api/v1/campaigns?color=red')).status, 400);
  });

  suite('create: bad bodies are 400 with a message; unknown firmware 404; firmware of another class 409', async () => {
    const cases: Array<[string, unknown, number, RegExp?]> = [
      ['unknown field', { ...body(), color: 'red' }, 400, /additional properties/],
      ['unknown policy field', body({}, { speed: 'fast' }), 400, /additional properties/],
      ['unknown target field', body({ target: { region: 'eu' } }), 400, /additional properties/],
      ['unknown retries field', body({}, { retries: { max: 1, jitter: true } }), 400],
      ['no name', { firmwareId, policy: { waves: ['100%'] } }, 400, /name/],
      ['no policy', { name: 'c', firmwareId }, 400, /policy/],
      ['no waves', body({}, { waves: undefined }), 400, /waves/],
      ['empty waves', body({}, { waves: [] }), 400],
      ['0%', body({}, { waves: ['0%'] }), 400, /waves\[0\]/],
      ['150%', body({}, { waves: ['150%'] }), 400, /waves\[0\]/],
      ['not a wave', body({}, { waves: ['half'] }), 400],
      ['a zero count', body({}, { waves: [0] }), 400],
      ['a count past any fleet', body({}, { waves: [1e300] }), 400],
      ['shrinking waves', body({}, { waves: ['50%', '10%'] }), 400, /waves\[1\]: 10% must be above the previous wave's 50%/],
      ['threshold above 1', body({}, { failureThreshold: 1.5 }), 400, /failureThreshold/],
      ['negative threshold', body({}, { failureThreshold: -0.1 }), 400, /failureThreshold/],
      ['no concurrency', body({}, { concurrency: 0 }), 400, /concurrency/],
      ['hour 24', body({}, { window: { startHour: 0, endHour: 24 } }), 400],
      ['an empty window', body({}, { window: { startHour: 3, endHour: 3 } }), 400, /must differ/],
      ['a window with one end', body({}, { window: { startHour: 3 } }), 400],
      ['unknown delivery', body({}, { delivery: 'fax' }), 400],
      ['unknown severity', body({}, { severity: 'urgent' }), 400],
      ['a bad startAt', body({ startAt: 'tomorrow' }), 400],
      ['firmwareId not a number', body({ firmwareId: 'x' }), 400],
      ['not JSON', 'campaign', 415],
      ['unknown firmware', body({ firmwareId: 999 }), 404, /no firmware image 999/],
      ['firmware of another class', body({ firmwareId: otherClassId }), 409, /hardware class other, the target is sim-1/],
    ];
    for (const [what, payload, status, message] of cases) {
      const res = await call('POST', '/api/v1/campaigns', payload);
      assert.is(res.status, status, `${what}: ${JSON.stringify(res.body)}`);
      assert.is(res.body.statusCode, status, what);
      assert.type(res.body.error, 'string', what);
      if (message) assert.match(res.body.message, message, what);
    }
    assert.equal((await call('GET', '/api/v1/campaigns')).body, { items: [], next: null }, 'nothing stored');
  });

  suite('start fixes the waves (skipped devices counted); state changes out of turn are 409; events are the audit log', async () => {
    const id = (await call('POST', '/api/v1/campaigns', body())).body.id;
    assert.match((await call('POST', `/api/v1/campaigns/${id}/pause`)).body.message, /campaign \d+ is draft: pause needs running/);
    assert.is((await call('POST', `/api/v1/campaigns/${id}/resume`)).status, 409);
    const started = await call('POST', `/api/v1/campaigns/${id}/start`);
    assert.is(started.status, 200);
    assert.is(started.body.state, 'running');
    const p = (await call('GET', `/api/v1/campaigns/${id}`)).body;
    assert.equal(p.waves.map((w: { devices: number }) => w.devices), [2, 1], '50% of 3 → 2, then the rest');
    assert.is(p.counts.skipped, 1, 'a-2 is on 2.0.0 already');
    assert.is(p.counts.pending, 2);
    assert.is(p.counts.total, 3);
    assert.is((await call('POST', `/api/v1/campaigns/${id}/start`)).status, 409);
    assert.is((await call('POST', `/api/v1/campaigns/${id}/pause`, { reason: 'night shift' })).body.pauseReason, 'night shift');
    assert.is((await call('POST', `/api/v1/campaigns/${id}/pause`)).status, 409);
    assert.is((await call('POST', `/api/v1/campaigns/${id}/pause`, { color: 'red' })).status, 400);
    assert.is((await call('POST', `/api/v1/campaigns/${id}/resume`, { reason: 'x' })).status, 400, 'resume takes no reason');
    assert.is((await call('POST', `/api/v1/campaigns/${id}/resume`)).body.state, 'running');
    const aborted = await call('POST', `/api/v1/campaigns/${id}/abort`);
    assert.is(aborted.body.state, 'aborted');
    assert.is((await call('GET', `/api/v1/campaigns/${id}`)).body.counts.cancelled, 2, 'devices not started are cancelled');
    for (const action of ['start', 'pause', 'resume', 'abort']) assert.is((await call('POST', `/api/v1/campaigns/${id}/${action}`)).status, 409, action);
    assert.is((await call('POST', '/api/v1/campaigns/999/start')).status, 404);
    assert.is((await call('GET', '/api/v1/campaigns/999')).status, 404);
    assert.is((await call('GET', '/api/v1/campaigns/abc')).status, 400);
    assert.is((await call('POST', '/api/v1/campaigns/1/launch')).status, 404);
    const log = await get().db.query<{ kind: string; actor: string }>(`SELECT kind, actor FROM events WHERE kind LIKE 'campaign.%' ORDER BY id`);
    assert.equal(log.rows.map((r) => `${r.actor} ${r.kind}`), [
      'token:FERRY_ADMIN_TOKEN campaign.created', 'token:FERRY_ADMIN_TOKEN campaign.started', 'token:FERRY_ADMIN_TOKEN campaign.paused',
      'token:FERRY_ADMIN_TOKEN campaign.resumed', 'token:FERRY_ADMIN_TOKEN campaign.aborted',
    ]);
  });

  suite('a device cannot be in two running campaigns: 409 at create (explicit endpoints) and at start', async () => {
    const first = (await call('POST', '/api/v1/campaigns', body({ target: { endpoints: ['a-1'] } }))).body.id;
    assert.is((await call('POST', `/api/v1/campaigns/${first}/start`)).status, 200);
    const named = await call('POST', '/api/v1/campaigns', body({ target: { endpoints: ['a-1', 'b-1'] } }));
    assert.is(named.status, 409);
    assert.match(named.body.message, /1 device\(s\) already in a running campaign: a-1 \(campaign \d+\)/);
    const wide = (await call('POST', '/api/v1/campaigns', body({ target: {} }))).body.id;
    const refused = await call('POST', `/api/v1/campaigns/${wide}/start`);
    assert.is(refused.status, 409);
    assert.match(refused.body.message, /a-1/);
    assert.is((await call('GET', `/api/v1/campaigns/${wide}`)).body.state, 'draft', 'nothing changed');
    // And in SQL: a second active row for the device is refused by the partial unique index.
    const sql = await get().db.query(`INSERT INTO campaign_devices (campaign_id, device_id, wave) SELECT $1, id, 1 FROM devices WHERE endpoint = 'a-1'`, [wide]).then(() => 'inserted', (e: { code?: string }) => e.code);
    assert.is(sql, '23505');
    await call('POST', `/api/v1/campaigns/${first}/abort`);
    assert.is((await call('POST', `/api/v1/campaigns/${wide}/start`)).status, 200, 'free once the first is aborted');
  });

  suite('PUT /api/v1/devices/:endpoint/tags; targets select by every tag given', async () => {
    const put = (ep: string, payload: unknown) => call('PUT', `/api/v1/devices/${ep}/tags`, payload);
    assert.equal((await put('a-1', { tags: ['eu', 'pilot', 'eu'] })).body, { endpoint: 'a-1', tags: ['eu', 'pilot'] });
    assert.is((await put('b-1', { tags: ['eu'] })).status, 200);
    assert.is((await put('nobody', { tags: [] })).status, 404);
    const tagged = await get().db.query<{ actor: string }>("SELECT actor FROM events WHERE kind = 'device.tags' ORDER BY id");
    assert.equal(tagged.rows.map((r) => r.actor), ['token:FERRY_ADMIN_TOKEN', 'token:FERRY_ADMIN_TOKEN'], 'who tagged, in the audit log');
    for (const bad of [{}, { tags: [{}] }, { tags: null }, { tags: [''] }, { tags: ['with space'] }, { tags: [], more: 1 }]) assert.is((await put('a-1', bad)).status, 400, JSON.stringify(bad));
    const id = (await call('POST', '/api/v1/campaigns', body({ target: { tags: ['eu', 'pilot'] } }))).body.id;
    await call('POST', `/api/v1/campaigns/${id}/start`);
    assert.is((await call('GET', `/api/v1/campaigns/${id}`)).body.counts.total, 1, 'only a-1 has both tags');
  });

  suite('a target that matches no registered device: start is a 409 saying so and what the target was, unless {"allowEmpty": true}; its progress warns', async () => {
    const id = (await call('POST', '/api/v1/campaigns', body({ target: { hardwareClass: 'sim-1', tags: ['nowhere'] } }))).body.id;
    const refused = await call('POST', `/api/v1/campaigns/${id}/start`);
    assert.equal([refused.status, refused.body.code], [409, 'FERRY_CAMPAIGN_EMPTY']);
    assert.match(refused.body.message, /target \(hardwareClass sim-1; tags nowhere\) matched no registered device; start it with \{"allowEmpty": true\}/);
    assert.is((await call('GET', `/api/v1/campaigns/${id}`)).body.state, 'draft', 'nothing changed');
    assert.is((await call('POST', `/api/v1/campaigns/${id}/start`, { allowEmpty: 'yes' })).status, 400);
    const started = await call('POST', `/api/v1/campaigns/${id}/start`, { allowEmpty: true });
    assert.is(started.body.state, 'running');
    const progress = (await call('GET', `/api/v1/campaigns/${id}`)).body;
    assert.is(progress.counts.total, 0);
    assert.equal(progress.warnings.length, 1);
    assert.match(progress.warnings[0], /no device in this campaign: its target \(hardwareClass sim-1; tags nowhere\) matched no registered device/);
    const [event] = (await get().db.query<{ data: { empty?: boolean } }>("SELECT data FROM events WHERE kind = 'campaign.started'")).rows;
    assert.is(event?.data.empty, true);
    const full = (await call('POST', '/api/v1/campaigns', body())).body.id;
    assert.is((await call('POST', `/api/v1/campaigns/${full}/start`)).status, 200, 'a matching one starts with no body');
    assert.equal((await call('GET', `/api/v1/campaigns/${full}`)).body.warnings, []);
  });
});
