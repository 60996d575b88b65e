// The admin API through fastify.inject: every route, its bad inputs, and its JSON errors.
import * as assert from 'uvu/assert';
import type { Ferry } from '../../../server/main.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { offlineDevice as offline } from '../../helpers/devices.ts';
import { startTestFerry } from '../../helpers/ferry.ts';

forEachDatabase('api', ({ suite, get }) => {
  let ferry: Ferry;
  suite.before(async () => { ferry = await startTestFerry(get().db, { maxUploadMb: 1 }); });
  suite.after(async () => { await ferry.close(); });

  const upload = (query: string, body: Buffer | string, type = 'application/octet-stream') =>
    ferry.api.inject({ method: 'POST', url: `/api/v1/firmware${query}`, headers: { 'content-type': type }, payload: body });

  const offlineDevice = (endpoint: string, hardwareClass?: string | null) => offline(get().db, endpoint, hardwareClass);

  suite('GET /healthz', async () => {
    const res = await ferry.api.inject({ method: 'GET', url: '/healthz' });
    assert.is(res.statusCode, 200);
    assert.equal(res.json(), { status: 'ok' });
  });

  suite('POST /api/v1/firmware stores the image with its sha256 and size', async () => {
    // ?delivery=payload: the stored bytes are the raw image (by default, the package signed around it).
    const res = await upload('?version=2.0.0&hardwareClass=sim-1&delivery=payload', Buffer.from('abc'));
    assert.is(res.statusCode, 201);
    const body = res.json();
    assert.is(body.version, '2.0.0');
    assert.is(body.hardwareClass, 'sim-1');
    assert.is(body.size, 3);
    assert.is(body.sha256, 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'); // FIPS 180-2 "abc"
    const list = await ferry.api.inject({ method: 'GET', url: '/api/v1/firmware' });
    assert.equal(list.json().items.map((f: { id: number }) => f.id), [body.id]);
    const stored = await get().db.query<{ payload: Buffer }>('SELECT payload FROM firmware_images WHERE id = $1', [body.id]);
    assert.ok(stored.rows[0]?.payload.equals(Buffer.from('abc')));
  });

  suite('bad uploads: 4xx with a JSON message, nothing stored', async () => {
    const cases: Array<[string, Promise<{ statusCode: number; json(): { message?: string } }>, number]> = [
      ['no version', upload('?hardwareClass=x', Buffer.from('a')), 400],
      ['unknown field', upload('?version=1&hardwareClass=x&color=red', Buffer.from('a')), 400],
      ['blank version', upload('?version=&hardwareClass=x', Buffer.from('a')), 400],
      ['version with spaces', upload('?version=1%200&hardwareClass=x', Buffer.from('a')), 400],
      ['empty image', upload('?version=1&hardwareClass=x', Buffer.alloc(0)), 400],
      ['JSON body', upload('?version=1&hardwareClass=x', '{"a":1}', 'application/json'), 415],
      ['too large', upload('?version=1&hardwareClass=x', Buffer.alloc(1024 * 1024 + 1)), 413],
    ];
    for (const [what, pending, status] of cases) {
      const res = await pending;
      assert.is(res.statusCode, status, what);
      assert.type(res.json().message, 'string', what);
    }
    await upload('?version=1&hardwareClass=x', Buffer.from('a'));
    const dup = await upload('?version=1&hardwareClass=x', Buffer.from('b'));
    assert.is(dup.statusCode, 409);
    const count = await get().db.query<{ n: number }>('SELECT count(*)::int AS n FROM firmware_images');
    assert.is(count.rows[0]?.n, 1);
  });

  suite('devices: list, detail with history, 404', async () => {
    await offlineDevice('dev-a');
    const list = await ferry.api.inject({ method: 'GET', url: '/api/v1/devices' });
    assert.is(list.statusCode, 200);
    assert.equal(list.json().items.map((d: { endpoint: string }) => d.endpoint), ['dev-a']);
    assert.is(list.json().next, null);
    const one = await ferry.api.inject({ method: 'GET', url: '/api/v1/devices/dev-a' });
    assert.is(one.statusCode, 200);
    assert.is(one.json().firmwareVersion, '1.0.0');
    assert.is(one.json().hardwareClass, 'sim-1');
    assert.is(one.json().status, 'deregistered');
    assert.ok(one.json().events.some((e: { kind: string }) => e.kind === 'registration.created'));
    assert.is((await ferry.api.inject({ method: 'GET', url: '/api/v1/devices/nobody' })).statusCode, 404);
    await offlineDevice('dev-a2');
    const page1 = (await ferry.api.inject({ method: 'GET', url: '/api/v1/devices?limit=1' })).json();
    assert.equal(page1.items.map((d: { endpoint: string }) => d.endpoint), ['dev-a']);
    const page2 = (await ferry.api.inject({ method: 'GET', url: `/api/v1/devices?limit=1&after=${page1.next}` })).json();
    assert.equal(page2.items.map((d: { endpoint: string }) => d.endpoint), ['dev-a2']);
    assert.is((await ferry.api.inject({ method: 'GET', url: '/api/v1/devices?limit=0' })).statusCode, 400);
    assert.is((await ferry.api.inject({ method: 'GET', url: '/api/v1/devices?limit=abc' })).statusCode, 400);
  });

  suite('POST /api/v1/devices/:endpoint/update: 202 queued, then 409 while one is in progress', async () => {
    await offlineDevice('dev-b');
    const fw = (await upload('?version=2.0.0&hardwareClass=sim-1', Buffer.from('image'))).json();
    const res = await ferry.api.inject({ method: 'POST', url: '/api/v1/devices/dev-b/update', payload: { firmwareId: fw.id } });
    assert.is(res.statusCode, 202);
    assert.is(res.json().state, 'queued');
    const got = await ferry.api.inject({ method: 'GET', url: `/api/v1/updates/${res.json().id}` });
    assert.is(got.statusCode, 200);
    assert.is(got.json().state, 'queued');
    assert.is(got.json().endpoint, 'dev-b');
    assert.equal(got.json().events.map((e: { kind: string }) => e.kind), ['update.created']);
    const again = await ferry.api.inject({ method: 'POST', url: '/api/v1/devices/dev-b/update', payload: { firmwareId: fw.id } });
    assert.is(again.statusCode, 409);
  });

  suite('update refusals: unknown device or image 404, wrong hardware class 409, bad bodies 400', async () => {
    await offlineDevice('dev-c', 'other-board');
    const fw = (await upload('?version=3.0.0&hardwareClass=sim-1', Buffer.from('image'))).json();
    const post = (url: string, payload: unknown) => ferry.api.inject({ method: 'POST', url, payload: payload as object });
    assert.is((await post('/api/v1/devices/nobody/update', { firmwareId: fw.id })).statusCode, 404);
    assert.is((await post('/api/v1/devices/dev-c/update', { firmwareId: 424242 })).statusCode, 404);
    assert.is((await post('/api/v1/devices/dev-c/update', { firmwareId: fw.id })).statusCode, 409);
    assert.is((await post('/api/v1/devices/dev-c/update', {})).statusCode, 400);
    assert.is((await post('/api/v1/devices/dev-c/update', { firmwareId: fw.id, extra: 1 })).statusCode, 400);
    assert.is((await post('/api/v1/devices/dev-c/update', { firmwareId: 'one' })).statusCode, 400);
    const broken = await ferry.api.inject({ method: 'POST', url: '/api/v1/devices/dev-c/update', headers: { 'content-type': 'application/json' }, payload: '{"firmwareId":' });
    assert.is(broken.statusCode, 400);
    assert.is((await ferry.api.inject({ method: 'GET', url: '/api/v1/updates/abc' })).statusCode, 400);
    assert.is((await ferry.api.inject({ method: 'GET', url: '/api/v1/updates/99999' })).statusCode, 404);
    const none = await ferry.api.inject({ method: 'GET', url: '/api/v1/nothing' });
    assert.is(none.statusCode, 404);
    assert.type(none.json().message, 'string');
  });
});
