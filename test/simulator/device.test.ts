import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Encoder, decode as cborDecode } from 'cbor-x';
import { parseLinkFormat } from '../../protocols/link-format.ts';
import { decodeTlvInteger, decodeTlvString, tlvResources } from '../../protocols/tlv.ts';
import { SimDevice } from '../../simulator/device.ts';
import type { SimDeviceConfig, SimDeviceEvent } from '../../simulator/device.ts';
import { makeSimImage } from '../../simulator/image.ts';
import { RawPeer, until, within } from './helpers.ts';
import { TestLwm2mServer } from './lwm2m-server.ts';

async function setup(config: Partial<SimDeviceConfig> = {}): Promise<{ server: TestLwm2mServer; device: SimDevice; events: SimDeviceEvent[]; done: () => Promise<void> }> {
  const server = await TestLwm2mServer.start();
  const events: SimDeviceEvent[] = [];
  const device = new SimDevice({ endpoint: 'sim-test', server: { host: '127.0.0.1', port: server.port }, rebootDelayMs: 50, log: (e) => events.push(e), ...config });
  assert.ok(await within(device.start(), 3000, 'device start'), 'registered at the first try');
  return {
    server,
    device,
    events,
    done: async () => {
      await within(device.stop(), 3000, 'device stop');
      await within(server.close(), 3000, 'server close');
    },
  };
}

function addressOf(server: TestLwm2mServer, endpoint = 'sim-test'): { address: string; port: number } {
  const reg = server.last(endpoint);
  if (reg === undefined) throw new Error(`${endpoint} is not registered`);
  return reg;
}

test('Register: POST /rd with the LwM2M 1.1 query and a link-format payload, 2.01 + Location-Path', async () => {
  const { server, device, done } = await setup();
  const reg = server.last('sim-test');
  assert.ok(reg);
  assert.equal(reg?.query, ['ep=sim-test', 'lt=300', 'lwm2m=1.1', 'b=U']);
  assert.is(reg?.contentFormat, 40);
  const links = parseLinkFormat(reg?.payload ?? '');
  assert.equal(links[0], { uri: '/', params: { rt: 'oma.lwm2m', ct: '11542' } });
  const uris = links.map((l) => l.uri);
  for (const uri of ['/1', '/1/0', '/3', '/3/0', '/5', '/5/0']) assert.ok(uris.includes(uri), uri);
  assert.is(links.find((l) => l.uri === '/5')?.params['ver'], '1.1');
  assert.is(device.registrationId, reg?.id);
  await done();
  assert.equal(server.deregistrations, [reg?.id], 'stop() de-registers');
});

test('Update before the lifetime ends; a 4.04 answer makes the device register again', async () => {
  const { server, device, done } = await setup({ lifetime: 1 });
  await until(() => server.updates.length >= 1, 1500, 'registration update');
  assert.is(server.updates[0]?.id, device.registrationId);
  assert.equal(server.updates[0]?.query, []);
  server.forgetAll = true;
  await until(() => server.registrations.length >= 2, 2000, 're-registration after 4.04');
  await until(() => device.registrationId === server.registrations[1]?.id, 1000, 'new registration id');
  await done();
});

test('Register answered by a separate response (empty ACK first)', async () => {
  const server = await TestLwm2mServer.start();
  server.registerDelayMs = 150;
  const device = new SimDevice({ endpoint: 'sim-slow', server: { host: '127.0.0.1', port: server.port } });
  assert.ok(await within(device.start(), 3000));
  assert.is(device.registrationId, server.last('sim-slow')?.id);
  await device.stop();
  await server.close();
});

test('Read /3/0 as TLV, single resources as text, /1/0 and /5/0', async () => {
  const { server, done } = await setup({ firmwareVersion: '1.4.2' });
  const to = addressOf(server);
  const dev = await server.dm(to, 'GET', '/3/0', { accept: 11542 });
  assert.is(dev.code, '2.05');
  assert.is(dev.contentFormat, 11542);
  const r = tlvResources(dev.payload);
  const s = (id: number): string => decodeTlvString(r.get(id)?.value ?? Buffer.alloc(0));
  assert.is(s(0), 'Ferry Simulator');
  assert.is(s(1), 'sim-1');
  assert.match(s(2), /^[0-9A-F]{12}$/);
  assert.is(s(3), '1.4.2');
  assert.is(s(18), 'rev-a');
  assert.is(s(19), '1.4.2');
  const battery = decodeTlvInteger(r.get(9)?.value ?? Buffer.alloc(0));
  assert.ok(typeof battery === 'number' && battery >= 0 && battery <= 100);
  assert.is(typeof decodeTlvInteger(r.get(10)?.value ?? Buffer.alloc(0)), 'number');
  const fw = await server.dm(to, 'GET', '/3/0/3');
  assert.equal([fw.code, fw.contentFormat, fw.payload.toString()], ['2.05', 0, '1.4.2']);
  const fwTlv = await server.dm(to, 'GET', '/3/0/9', { accept: 11542 });
  assert.is(fwTlv.contentFormat, 11542);
  const srv = tlvResources((await server.dm(to, 'GET', '/1/0')).payload);
  assert.is(decodeTlvInteger(srv.get(0)?.value ?? Buffer.alloc(0)), 1);
  assert.is(decodeTlvInteger(srv.get(1)?.value ?? Buffer.alloc(0)), 300);
  assert.is(decodeTlvString(srv.get(7)?.value ?? Buffer.alloc(0)), 'U');
  const five = tlvResources((await server.dm(to, 'GET', '/5/0', { accept: 11542 })).payload);
  assert.is(decodeTlvInteger(five.get(3)?.value ?? Buffer.alloc(0)), 0);
  assert.is(decodeTlvInteger(five.get(5)?.value ?? Buffer.alloc(0)), 0);
  const disc = await server.dm(to, 'GET', '/5/0', { accept: 40 });
  assert.ok(parseLinkFormat(disc.payload.toString()).some((l) => l.uri === '/5/0/3'), 'Discover lists resources');
  await done();
});

test('SenML-CBOR mode: ct=112 at registration; reads in SenML-CBOR (RFC 8428 §6 labels), SenML-JSON on Accept; SenML writes', async () => {
  const { server, done } = await setup({ contentFormat: 112, firmwareVersion: '2.1.0' });
  assert.equal(parseLinkFormat(server.last('sim-test')?.payload ?? '')[0], { uri: '/', params: { rt: 'oma.lwm2m', ct: '112' } });
  const to = addressOf(server);
  const dev = await server.dm(to, 'GET', '/3/0');
  assert.is(dev.contentFormat, 112, 'no Accept: the announced format');
  // Decoded by cbor-x alone, not by our SenML codec: -2 bn, 0 n, 2 v, 3 vs (RFC 8428 Table 6).
  const records = cborDecode(dev.payload) as Array<Map<number, unknown> | Record<number, unknown>>;
  const get = (r: Map<number, unknown> | Record<number, unknown>, k: number): unknown => (r instanceof Map ? r.get(k) : r[k]);
  let base = '';
  const values = new Map<string, unknown>();
  for (const r of records) {
    base = (get(r, -2) as string | undefined) ?? base;
    values.set(base + ((get(r, 0) as string | undefined) ?? ''), get(r, 2) ?? get(r, 3) ?? get(r, 4));
  }
  assert.is(values.get('/3/0/0'), 'Ferry Simulator');
  assert.is(values.get('/3/0/3'), '2.1.0');
  assert.is(typeof values.get('/3/0/9'), 'number');
  assert.ok(values.has('/3/0/11/0'), 'a multiple resource as one record per instance');
  const json = await server.dm(to, 'GET', '/1/0', { accept: 110 });
  assert.is(json.contentFormat, 110);
  const srv = JSON.parse(json.payload.toString()) as Array<{ bn?: string; n?: string; v?: number; vs?: string }>;
  assert.ok(srv.some((r) => (r.bn ?? '') + (r.n ?? '') === '/1/0/1' || r.n === '1' || r.n === '/1/0/1'), json.payload.toString());
  // Write the lifetime as SenML-CBOR (made by cbor-x: integer labels need a Map), on the resource
  // and on the instance; read it back as text.
  const cbor = new Encoder({ useRecords: false, mapsAsObjects: false }); // plain maps, no tag 259
  const senmlRecord = (label: number, value: unknown): Buffer => cbor.encode([new Map<number, unknown>([[-2, '/1/0/'], [0, '1'], [label, value]])]);
  const one = await server.dm(to, 'PUT', '/1/0/1', { format: 112, payload: senmlRecord(2, 77) });
  assert.is(one.code, '2.04', one.payload.toString());
  assert.is((await server.dm(to, 'GET', '/1/0/1')).payload.toString(), '77');
  const inst = await server.dm(to, 'POST', '/1/0', { format: 112, payload: senmlRecord(2, 88) });
  assert.is(inst.code, '2.04', inst.payload.toString());
  assert.is((await server.dm(to, 'GET', '/1/0/1')).payload.toString(), '88');
  const wrong = await server.dm(to, 'PUT', '/1/0/1', { format: 112, payload: senmlRecord(3, 'soon') });
  assert.is(wrong.code, '4.00');
  const broken = await server.dm(to, 'PUT', '/1/0/1', { format: 112, payload: Buffer.from([0x81, 0xa2]) });
  assert.is(broken.code, '4.00');
  assert.ok(broken.payload.length > 0);
  await done();
});

test('errors: 4.04, 4.05, 4.06, 4.15, 4.00, each with a diagnostic payload', async () => {
  const { server, done } = await setup();
  const to = addressOf(server);
  const cases: [string, Promise<{ code: string; payload: Buffer }>][] = [
    ['4.04', server.dm(to, 'GET', '/9/0')],
    ['4.04', server.dm(to, 'GET', '/3/7')],
    ['4.04', server.dm(to, 'GET', '/3/0/99')],
    ['4.05', server.dm(to, 'PUT', '/3/0/0', { format: 0, payload: 'x' })],
    ['4.05', server.dm(to, 'POST', '/5/0/2')],
    ['4.05', server.dm(to, 'GET', '/5/0/2')],
    ['4.06', server.dm(to, 'GET', '/3/0/0', { accept: 11543 })],
    ['4.06', server.dm(to, 'GET', '/3/0', { accept: 0 })],
    ['4.15', server.dm(to, 'PUT', '/5/0/1', { format: 60, payload: Buffer.from([0x61]) })],
    ['4.00', server.dm(to, 'PUT', '/1/0/1', { format: 0, payload: 'abc' })],
  ];
  for (const [code, p] of cases) {
    const res = await within(p, 3000);
    assert.is(res.code, code);
    assert.ok(res.payload.length > 0, `${code} has a diagnostic payload`);
  }
  await done();
});

test('the whole update: write Package URI, Block2 download, observe State, Update, reboot, re-register', async () => {
  const { server, device, events, done } = await setup({ blockSzx: 4, keepImage: true });
  const image = makeSimImage({ version: '2.0.0', size: 5000, seed: 3 });
  server.images.set('img1', image);
  const to = addressOf(server);
  const state = await server.observe(to, '/5/0/3');
  const result = await server.observe(to, '/5/0/5');
  assert.is(state.code, '2.05');
  assert.is(device.observerCount, 2);
  const w = await server.dm(to, 'PUT', '/5/0/1', { format: 0, payload: `coap://127.0.0.1:${server.port}/fw/img1` });
  assert.is(w.code, '2.04');
  await until(() => state.values.includes('2'), 5000, 'State 2 (Downloaded) notified');
  assert.equal(state.values, ['0', '1', '2']);
  assert.ok(device.lastImage?.equals(image), 'the bytes arrived in order');
  const blocks = server.blockRequests.filter((b) => b.path === '/fw/img1');
  assert.is(blocks.length, Math.ceil(image.length / 256));
  assert.equal(blocks.map((b) => b.num), [...blocks.keys()]);
  assert.ok(blocks.every((b) => b.szx === 4));
  const x = await server.dm(to, 'POST', '/5/0/2');
  assert.is(x.code, '2.04');
  await until(() => state.values.includes('3'), 2000, 'State 3 (Updating) notified');
  await until(() => server.registrations.length === 2, 3000, 'register again after the reboot');
  state.close();
  result.close();
  assert.is(device.firmwareVersion, '2.0.0');
  assert.is(device.observerCount, 0, 'observers are lost in the reboot');
  const to2 = addressOf(server);
  const ur = await server.dm(to2, 'GET', '/5/0/5');
  assert.is(ur.payload.toString(), '1');
  const ver = await server.dm(to2, 'GET', '/3/0/3');
  assert.is(ver.payload.toString(), '2.0.0');
  assert.is((await server.dm(to2, 'GET', '/5/0/3')).payload.toString(), '0');
  assert.ok(events.some((e) => e.type === 'rebooted' && e.updated));
  assert.is(device.counters.updates, 1);
  await done();
});

test('RFC 7641 §3.6: a GET with Observe=1 removes the observer', async () => {
  const { server, device, done } = await setup();
  const to = addressOf(server);
  const state = await server.observe(to, '/5/0/3');
  assert.is(device.observerCount, 1);
  state.close(true);
  await until(() => device.observerCount === 0, 2000, 'observer removed');
  await done();
});

async function downloadResult(uri: (port: number) => string, image?: Buffer, config: Partial<SimDeviceConfig> = {}): Promise<{ result: string[]; device: SimDevice; server: TestLwm2mServer; done: () => Promise<void> }> {
  const ctx = await setup(config);
  if (image !== undefined) ctx.server.images.set('x', image);
  const to = addressOf(ctx.server);
  const result = await ctx.server.observe(to, '/5/0/5');
  const w = await ctx.server.dm(to, 'PUT', '/5/0/1', { format: 0, payload: uri(ctx.server.port) });
  assert.is(w.code, '2.04');
  await until(() => ctx.device.updateResult !== 0 || ctx.device.state === 2, 8000, 'download outcome');
  await until(() => result.values.length >= 2, 2000, 'Update Result notified');
  result.close();
  return { result: result.values, device: ctx.device, server: ctx.server, done: ctx.done };
}

test('a flipped bit in the image gives Update Result 5 (integrity), State 0', async () => {
  const image = makeSimImage({ version: '2.0.0', size: 3000 });
  image[2000] = (image[2000] ?? 0) ^ 0x10;
  const { result, device, done } = await downloadResult((p) => `coap://127.0.0.1:${p}/fw/x`, image);
  assert.equal(result, ['0', '5']);
  assert.is(device.state, 0);
  await done();
});

test('bytes that are not a simulator image give Update Result 6 (unsupported)', async () => {
  const { result, device, done } = await downloadResult((p) => `coap://127.0.0.1:${p}/fw/x`, Buffer.alloc(4000, 0x42));
  assert.equal(result, ['0', '6']);
  assert.is(device.state, 0);
  assert.is(device.counters.blocks, 1, 'it stops at the first block');
  await done();
});

test('Package URI: other scheme → 9, not a URI → 7, 4.04 → 7', async () => {
  for (const [uri, code] of [
    [() => 'http://127.0.0.1/fw/x', '9'],
    [() => 'not a uri', '7'],
    [(p: number) => `coap://127.0.0.1:${p}/fw/missing`, '7'],
  ] as const) {
    const { result, done } = await downloadResult(uri);
    assert.is(result.at(-1), code, String(uri(0)));
    await done();
  }
});

test('RFC 7959 §2.4: the server answers a smaller SZX and the device follows it', async () => {
  const image = makeSimImage({ version: '3.0.0', size: 2100 });
  const ctx = await setup({ blockSzx: 6 });
  ctx.server.manualMaxSzx = 3; // 128 bytes
  ctx.server.images.set('x', image);
  const to = addressOf(ctx.server);
  await ctx.server.dm(to, 'PUT', '/5/0/1', { format: 0, payload: `coap://127.0.0.1:${ctx.server.port}/fw-manual/x` });
  await until(() => ctx.device.state === 2, 5000, 'Downloaded');
  const reqs = ctx.server.blockRequests;
  assert.equal(reqs[0], { path: '/fw-manual/x', num: 0, szx: 6 });
  assert.equal(reqs[1], { path: '/fw-manual/x', num: 1, szx: 3 });
  assert.is(reqs.length, Math.ceil(2100 / 128));
  await ctx.done();
});

test('a changed ETag makes the device start over', async () => {
  const image = makeSimImage({ version: '3.0.0', size: 1500 });
  const ctx = await setup({ blockSzx: 4 });
  ctx.server.manualMaxSzx = 4;
  ctx.server.etagChangeAtBlock = 2;
  ctx.server.images.set('x', image);
  const to = addressOf(ctx.server);
  await ctx.server.dm(to, 'PUT', '/5/0/1', { format: 0, payload: `coap://127.0.0.1:${ctx.server.port}/fw-manual/x` });
  await until(() => ctx.device.state === 2, 5000, 'Downloaded');
  const nums = ctx.server.blockRequests.map((b) => b.num);
  assert.equal(nums.slice(0, 4), [0, 1, 2, 0]);
  assert.is(nums.length, 3 + Math.ceil(1500 / 256));
  await ctx.done();
});

test('a package server that never answers gives Update Result 4 (connection lost)', async () => {
  const silent = await RawPeer.open();
  const { result, device, done } = await downloadResult(() => `coap://127.0.0.1:${silent.port}/fw/x`, undefined, {
    coap: { ackTimeoutMs: 20, maxRetransmit: 1, requestTimeoutMs: 500 },
  });
  assert.equal(result, ['0', '4']);
  assert.is(device.state, 0);
  assert.is(silent.received.length, 6, '3 tries of one block, each sent twice');
  await done();
  await silent.close();
});

test('writing an empty Package URI resets State and Update Result', async () => {
  const { result, device, server, done } = await downloadResult(() => 'ftp://x/y');
  assert.equal(result, ['0', '9']);
  const to = addressOf(server);
  assert.is((await server.dm(to, 'PUT', '/5/0/1', { format: 0, payload: '' })).code, '2.04');
  assert.is(device.updateResult, 0);
  assert.is((await server.dm(to, 'GET', '/5/0/5')).payload.toString(), '0');
  assert.is((await server.dm(to, 'GET', '/5/0/1')).payload.toString(), '');
  await done();
});

test.run();
