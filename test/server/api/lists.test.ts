// The operator's lists: devices filtered by class, version, status and last contact, cursor-paged;
// a device's detail with its latest history; the audit log filtered by kind, device, actor and
// time, in either order, cursor-paged; firmware get and delete (409 while an update uses it,
// history kept, the version uploadable again, anti-rollback unchanged); every list route of the
// API is `{items, next}`, and the paged ones page firmware and tokens through every item once.
import * as assert from 'uvu/assert';
import type { Ferry } from '../../../server/main.ts';
import { recordEvent } from '../../../server/store/events.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { offlineDevice } from '../../helpers/devices.ts';
import { startTestFerry } from '../../helpers/ferry.ts';

const endpoints = (body: { items: Array<{ endpoint: string }> }) => body.items.map((d) => d.endpoint);

forEachDatabase('api, lists and firmware', ({ suite, get }) => {
  let ferry: Ferry;
  suite.before(async () => { ferry = await startTestFerry(get().db); });
  suite.after(async () => { await ferry.close(); });
  const list = async (url: string) => {
    const res = await ferry.api.inject({ method: 'GET', url });
    assert.is(res.statusCode, 200, `${url}: ${res.body}`);
    return res.json();
  };
  const upload = async (version: string) => {
    const res = await ferry.api.inject({ method: 'POST', url: `/api/v1/firmware?version=${version}&hardwareClass=sim-1`, headers: { 'content-type': 'application/octet-stream' }, payload: Buffer.from(`image ${version}`) });
    assert.is(res.statusCode, 201, res.body);
    return res.json() as { id: number; sequence: number };
  };

  suite('devices: each filter, combined, and the cursor through every page', async () => {
    const { db } = get();
    for (const [ep, cls] of [['a-1', 'sim-1'], ['a-2', 'sim-1'], ['b-1', 'sim-2'], ['c-1', null]] as const) await offlineDevice(db, ep, cls);
    await db.query("UPDATE devices SET firmware_version = '2.0.0' WHERE endpoint = 'a-2'");
    await db.query("UPDATE devices SET status = 'expired' WHERE endpoint = 'b-1'");
    await db.query("UPDATE devices SET last_seen = '2026-01-01T00:00:00Z' WHERE endpoint IN ('a-1', 'c-1')");
    assert.equal(endpoints(await list('/api/v1/devices?hardwareClass=sim-1')), ['a-1', 'a-2']);
    assert.equal(endpoints(await list('/api/v1/devices?firmwareVersion=2.0.0')), ['a-2']);
    assert.equal(endpoints(await list('/api/v1/devices?status=expired')), ['b-1']);
    assert.equal(endpoints(await list('/api/v1/devices?lastSeenBefore=2026-02-01T00:00:00Z')), ['a-1', 'c-1']);
    assert.equal(endpoints(await list('/api/v1/devices?lastSeenAfter=2026-02-01T00:00:00%2B01:00')), ['a-2', 'b-1']);
    assert.equal(endpoints(await list('/api/v1/devices?hardwareClass=sim-1&status=deregistered&lastSeenBefore=2026-02-01T00:00:00Z')), ['a-1']);
    assert.equal(endpoints(await list('/api/v1/devices?hardwareClass=nothing')), []);
    const seen: string[] = [];
    let url = '/api/v1/devices?limit=3';
    for (let pages = 0; pages < 5; pages++) {
      const body = await list(url);
      seen.push(...endpoints(body));
      if (body.next === null) break;
      url = `/api/v1/devices?limit=3&after=${body.next}`;
    }
    assert.equal(seen, ['a-1', 'a-2', 'b-1', 'c-1']);
    for (const bad of ['status=gone', 'lastSeenBefore=yesterday', 'lastSeenBefore=0000-01-01T00:00:00Z', 'lastSeenAfter=2026-01-01', 'hardwareClass=', 'tag=x', 'limit=1001']) {
      const res = await ferry.api.inject({ method: 'GET', url: `/api/v1/devices?${bad}` });
      assert.is(res.statusCode, 400, `${bad}: ${res.body}`);
    }
  });

  suite('device detail: its latest 100 events, oldest first', async () => {
    const d = await offlineDevice(get().db, 'chatty');
    for (let i = 0; i < 120; i++) await recordEvent(get().db, { kind: 'test.tick', deviceId: d.id, data: { i } });
    const body = await list('/api/v1/devices/chatty');
    assert.is(body.events.length, 100);
    assert.equal(body.events.at(-1).data, { i: 119 });
    assert.ok(body.events[0].id < body.events[99].id);
  });

  suite('events: by kind prefix, endpoint, actor, time; asc and desc; every page once', async () => {
    const { db } = get();
    const d = await offlineDevice(db, 'ev-1');
    await offlineDevice(db, 'ev-2');
    const made = await ferry.api.inject({ method: 'POST', url: '/api/v1/tokens', payload: { name: 'auditor', role: 'viewer' } });
    const all = await list('/api/v1/events?limit=1000');
    assert.ok(all.items.length >= 7, `${all.items.length} events`);
    assert.equal([...new Set((await list('/api/v1/events?kind=registration.')).items.map((e: { kind: string }) => e.kind))].sort(), ['registration.created', 'registration.deleted']);
    assert.equal((await list('/api/v1/events?kind=token.created')).items.map((e: { data: { name: string } }) => e.data.name), ['auditor']);
    const mine = await list('/api/v1/events?endpoint=ev-1');
    assert.ok(mine.items.length >= 3 && mine.items.every((e: { endpoint: string; deviceId: number }) => e.endpoint === 'ev-1' && e.deviceId === d.id));
    assert.equal((await list('/api/v1/events?endpoint=nobody')).items, []);
    // The token made its user (named as the token) first.
    assert.equal((await list('/api/v1/events?actor=token:FERRY_ADMIN_TOKEN')).items.map((e: { kind: string }) => e.kind), ['user.created', 'token.created']);
    assert.is(made.statusCode, 201);
    assert.equal((await list('/api/v1/events?kind=reg_stration')).items, [], '_ is not a wildcard');
    assert.equal((await list('/api/v1/events?until=2000-01-01T00:00:00Z')).items, []);
    assert.is((await list('/api/v1/events?since=2000-01-01T00:00:00Z&limit=1000')).items.length, all.items.length);
    const desc = await list('/api/v1/events?order=desc&limit=1000');
    assert.equal(desc.items.map((e: { id: number }) => e.id), all.items.map((e: { id: number }) => e.id).reverse());
    for (const order of ['asc', 'desc']) {
      const ids: number[] = [];
      let after = '';
      for (let pages = 0; pages < 50; pages++) {
        const body = await list(`/api/v1/events?order=${order}&limit=2${after}`);
        ids.push(...body.items.map((e: { id: number }) => e.id));
        if (body.next === null) break;
        after = `&after=${body.next}`;
      }
      assert.equal(ids, (order === 'asc' ? all : desc).items.map((e: { id: number }) => e.id), order);
    }
  });

  suite('firmware: get, delete (409 while an update uses it), history kept, version uploadable again, sequence still counts', async () => {
    await offlineDevice(get().db, 'fw-1');
    const image = await upload('3.0.0');
    const got = await list(`/api/v1/firmware/${image.id}`);
    assert.is(got.version, '3.0.0');
    const update = await ferry.api.inject({ method: 'POST', url: '/api/v1/devices/fw-1/update', payload: { firmwareId: image.id } });
    assert.is(update.statusCode, 202);
    const refused = await ferry.api.inject({ method: 'DELETE', url: `/api/v1/firmware/${image.id}` });
    assert.is(refused.statusCode, 409);
    assert.match(refused.json().message, /1 update in flight/);
    await get().db.query("UPDATE device_updates SET state = 'failed', finished_at = now() WHERE id = $1", [update.json().id]);
    assert.is((await ferry.api.inject({ method: 'DELETE', url: `/api/v1/firmware/${image.id}` })).statusCode, 204);
    assert.is((await ferry.api.inject({ method: 'GET', url: `/api/v1/firmware/${image.id}` })).statusCode, 404);
    assert.is((await ferry.api.inject({ method: 'DELETE', url: `/api/v1/firmware/${image.id}` })).statusCode, 404);
    assert.equal((await list('/api/v1/firmware')).items.map((f: { id: number }) => f.id), []);
    const history = await list(`/api/v1/updates/${update.json().id}`);
    assert.is(history.firmwareId, image.id, 'the update still names its image');
    const row = await get().db.query<{ n: number; deleted: boolean }>('SELECT length(payload) AS n, deleted_at IS NOT NULL AS deleted FROM firmware_images WHERE id = $1', [image.id]);
    assert.equal(row.rows[0], { n: 0, deleted: true }, 'the bytes are gone, the record stays');
    const again = await ferry.api.inject({ method: 'POST', url: '/api/v1/devices/fw-1/update', payload: { firmwareId: image.id } });
    assert.is(again.statusCode, 404, 'no update with a deleted image');
    const reupload = await upload('3.0.0');
    assert.ok(reupload.sequence > image.sequence, 'a sequence number above the deleted one');
    const audit = await list('/api/v1/events?kind=firmware.deleted');
    assert.equal(audit.items.map((e: { actor: string; data: { firmwareId: number } }) => [e.actor, e.data.firmwareId]), [['token:FERRY_ADMIN_TOKEN', image.id]]);
  });

  suite('every list under /api/v1 is {items, next}; firmware and tokens page through every item once', async () => {
    const doc = await list('/docs/json') as { paths: Record<string, Record<string, unknown>> };
    const lists = Object.keys(doc.paths).filter((p) => p.startsWith('/api/v1/') && !p.includes('{') && doc.paths[p]!['get'] !== undefined && p !== '/api/v1/audit/verify' && p !== '/api/v1/events/export' && p !== '/api/v1/compliance' && p !== '/api/v1/whoami');
    assert.ok(lists.length >= 10, lists.join(' '));
    for (const url of lists) {
      const body = await list(url);
      assert.equal(Object.keys(body).sort(), ['items', 'next'], url);
      assert.ok(Array.isArray(body.items), url);
    }
    const made = [await upload('1.0.0'), await upload('1.0.1'), await upload('1.0.2')].map((f) => f.id);
    for (let i = 0; i < 3; i++) {
      const r = await ferry.api.inject({ method: 'POST', url: '/api/v1/tokens', payload: { name: `t-${i}`, role: 'viewer' } });
      assert.is(r.statusCode, 201, r.body);
    }
    const walk = async (url: string): Promise<number[]> => {
      const seen: number[] = [];
      let after = 0;
      for (let n = 0; n < 10; n++) {
        const { items, next } = await list(`${url}?limit=2&after=${after}`);
        seen.push(...items.map((x: { id: number }) => x.id));
        if (next === null) return seen;
        after = next;
      }
      throw new Error(`${url}: no last page`);
    };
    assert.equal(await walk('/api/v1/firmware'), made);
    const tokens = (await list('/api/v1/tokens')).items.map((t: { id: number }) => t.id);
    assert.is(tokens.length, 4, 'the admin token and three');
    assert.equal(await walk('/api/v1/tokens'), tokens);
    const bad = await ferry.api.inject({ method: 'GET', url: '/api/v1/tokens?limit=0' });
    assert.is(bad.statusCode, 400);
  });
});
