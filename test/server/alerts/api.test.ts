// GET /api/v1/alerts and POST /api/v1/alerts/:id/ack through fastify.inject, on every test
// database: filters, cursor pages, acknowledgement, and a 4xx JSON for every bad request.
import * as assert from 'uvu/assert';
import type { Ferry } from '../../../server/main.ts';
import { listEvents } from '../../../server/store/events.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { offlineDevice } from '../../helpers/devices.ts';
import { startTestFerry } from '../../helpers/ferry.ts';

type Listed = { id: number; kind: string; endpoint: string | null; deviceId: number | null; acknowledgedAt: string | null; at: string; webhook: { state: string; attempts: number } };

forEachDatabase('alerts API', ({ suite, get }) => {
  let ferry: Ferry;
  suite.before(async () => { ferry = await startTestFerry(get().db); });
  suite.after(async () => { await ferry.close(); });

  const page = async (query = ''): Promise<{ items: Listed[]; next: number | null }> => {
    const res = await ferry.api.inject({ method: 'GET', url: `/api/v1/alerts${query}` });
    assert.is(res.statusCode, 200, res.body);
    return res.json();
  };
  const list = async (query = ''): Promise<Listed[]> => (await page(query)).items;
  const ack = (id: number | string, payload?: string, type = 'application/json') => ferry.api.inject({
    method: 'POST', url: `/api/v1/alerts/${id}/ack`, ...(payload === undefined ? {} : { payload, headers: { 'content-type': type } }),
  });
  /** Five alerts: stalled ×2 (a device's), integrity, paused ×2. */
  const seed = async () => {
    const d = await offlineDevice(get().db, 'dev-a');
    const raise = ferry.alerts.raise;
    for (const a of [
      { kind: 'update.stalled', deviceId: d.id, message: 's1', data: {} },
      { kind: 'update.integrity', deviceId: d.id, message: 'i1', data: { resultCode: 5 } },
      { kind: 'campaign.paused', campaignId: 1, message: 'p1', data: {} },
      { kind: 'update.stalled', deviceId: d.id, message: 's2', data: {} },
      { kind: 'campaign.paused', campaignId: 2, message: 'p2', data: {} },
    ] as const) await raise(a);
    return d;
  };

  suite('lists every alert oldest first, with the endpoint and the webhook state', async () => {
    const d = await seed();
    const all = await list();
    assert.equal(all.map((a) => a.id), [1, 2, 3, 4, 5]);
    assert.is(all[0]!.endpoint, 'dev-a');
    assert.is(all[0]!.deviceId, d.id);
    assert.is(all[2]!.endpoint, null);
    assert.equal(all[0]!.webhook, { state: 'none', attempts: 0, nextAttemptAt: null, deliveredAt: null, lastError: null });
    assert.is(all[0]!.acknowledgedAt, null);
  });

  suite('filters: kind, since, acknowledged', async () => {
    await seed();
    assert.equal((await list('?kind=update.stalled')).map((a) => a.id), [1, 4]);
    assert.equal((await list('?kind=campaign.paused')).map((a) => a.id), [3, 5]);
    const at = (await list())[0]!.at;
    assert.is((await list(`?since=${encodeURIComponent(at)}`)).length, 5);
    assert.is((await list('?since=2999-01-01T00:00:00Z')).length, 0);
    assert.is((await ack(2)).statusCode, 200);
    assert.equal((await list('?acknowledged=true')).map((a) => a.id), [2]);
    assert.equal((await list('?acknowledged=false')).map((a) => a.id), [1, 3, 4, 5]);
    assert.equal((await list('?acknowledged=false&kind=update.integrity')), []);
  });

  suite('cursor pages: limit and after cover every alert once', async () => {
    await seed();
    const seen: number[] = [];
    let after = 0;
    for (let n = 0; n < 5; n++) {
      const { items, next } = await page(`?limit=2&after=${after}`);
      assert.ok(items.length <= 2);
      seen.push(...items.map((r) => r.id));
      if (next === null) break;
      assert.is(next, items.at(-1)!.id, 'next is the last id of the page');
      after = next;
    }
    assert.equal(seen, [1, 2, 3, 4, 5]);
    assert.equal((await list('?kind=update.stalled&limit=1&after=1')).map((a) => a.id), [4]);
  });

  suite('ack: once, recorded in the audit log; again keeps the first time; unknown is 404', async () => {
    const d = await seed();
    const first = await ack(1);
    assert.is(first.statusCode, 200, first.body);
    const at = first.json().acknowledgedAt;
    assert.ok(!Number.isNaN(Date.parse(at)));
    const again = await ack(1, '{}');
    assert.is(again.statusCode, 200, again.body);
    assert.is(again.json().acknowledgedAt, at);
    const events = (await listEvents(get().db, { deviceId: d.id })).filter((e) => e.kind === 'alert.acknowledged');
    assert.is(events.length, 1);
    assert.equal(events[0]!.data, { alertId: 1 });
    const missing = await ack(99);
    assert.is(missing.statusCode, 404);
    assert.equal(missing.json(), { statusCode: 404, error: 'Not Found', message: 'no alert 99', code: 'FERRY_ALERT_NOT_FOUND' });
  });

  const BAD: Array<[string, () => ReturnType<typeof ack>]> = [
    ...['kind=nope', 'kind=', 'since=yesterday', 'since=2026-13-01T00:00:00Z', 'since=0000-01-01T00:00:00Z', 'since=2026-01-01',
      'acknowledged=maybe', 'limit=0', 'limit=1001', 'limit=1.5', 'limit=abc', 'limit=1&limit=2', 'after=-1', 'after=1e300',
      'after=99999999999999999999', 'after[]=1', 'sort=id', `since=${'9'.repeat(100)}`, 'kind=%00']
      .map((q): [string, () => ReturnType<typeof ack>] => [`GET ?${q}`, () => ferry.api.inject({ method: 'GET', url: `/api/v1/alerts?${q}` })]),
    ...['0', '-1', 'abc', '1.5', '99999999999999999999', '9007199254740992', '%00']
      .map((id): [string, () => ReturnType<typeof ack>] => [`ack ${id}`, () => ack(id)]),
    ['ack: unknown field', () => ack(1, '{"note":"x"}')],
    ['ack: array body', () => ack(1, '[]')],
    ['ack: number body', () => ack(1, '1')],
    ['ack: broken JSON', () => ack(1, '{')],
    ['ack: text/plain', () => ack(1, 'yes', 'text/plain')],
    ['GET on the ack route', () => ferry.api.inject({ method: 'GET', url: '/api/v1/alerts/1/ack' })],
  ];

  suite('bad requests: each a 4xx with a JSON {statusCode, error, message, code}', async () => {
    await seed();
    for (const [what, send] of BAD) {
      const res = await send();
      assert.ok(res.statusCode >= 400 && res.statusCode < 500, `${what}: ${res.statusCode} ${res.body}`);
      const body = res.json();
      assert.is(body.statusCode, res.statusCode, what);
      assert.type(body.error, 'string', what);
      assert.type(body.message, 'string', what);
      assert.match(body.code, /^FERRY_[A-Z0-9_]+$/, what);
    }
    assert.equal((await list('?acknowledged=true')), [], 'no bad request acknowledged anything');
  });
});
