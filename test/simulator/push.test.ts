// Push delivery, device side: Write /5/0/0 with Block1, content-format 42, sent here by
// our own CoAP endpoint playing the server.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { blockSize } from '../../protocols/block.ts';
import { CoapEndpoint } from '../../simulator/coap/endpoint.ts';
import type { CoapResponse } from '../../simulator/coap/messages.ts';
import { SimDevice } from '../../simulator/device.ts';
import type { SimDeviceConfig } from '../../simulator/device.ts';
import { anchors, pkg } from './bootloader/kit.ts';
import { until, within } from './helpers.ts';
import { TestLwm2mServer } from './lwm2m-server.ts';

const NEW = pkg('2.0.0', { seed: 8, size: 3000, sequence: 2 });

async function setup(config: Partial<SimDeviceConfig> = {}) {
  const server = await TestLwm2mServer.start();
  const device = new SimDevice({
    endpoint: 'p', server: { host: '127.0.0.1', port: server.port }, rebootDelayMs: 30, trustedKeys: anchors,
    factoryImage: pkg('1.0.0', { sequence: 1 }), deliveryMethod: 'both', blockSzx: 4, flash: { sectorSize: 1024, slotSize: 16 * 1024 }, ...config,
  });
  await within(device.start(), 3000);
  const client = await CoapEndpoint.bind({ ackTimeoutMs: 200, maxRetransmit: 2 });
  const addr = device.address()!;
  const put = (num: number, szx: number, payload: Buffer, more: boolean, extra: { size1?: number; contentFormat?: number } = {}): Promise<CoapResponse> =>
    client.request({ host: addr.address, port: addr.port, method: 'PUT', pathSegments: ['5', '0', '0'], contentFormat: extra.contentFormat ?? 42, block1: { num, more, szx }, payload, ...(extra.size1 === undefined ? {} : { size1: extra.size1 }) });
  return { server, device, put, done: async () => { await client.close(); await device.stop(); await server.close(); } };
}

/** Sends the image block by block at `szx`; returns each response code. */
async function pushAll(put: ReturnType<typeof setup> extends Promise<infer C> ? C extends { put: infer P } ? P : never : never, image: Buffer, szx: number): Promise<string[]> {
  const size = blockSize(szx);
  const codes: string[] = [];
  for (let num = 0; num * size < image.length; num++) {
    const chunk = image.subarray(num * size, (num + 1) * size);
    const res = await put(num, szx, chunk, (num + 1) * size < image.length, num === 0 ? { size1: image.length } : {});
    codes.push(res.code);
    if (!res.code.startsWith('2.')) break;
    assert.equal(res.options.block1, { num, more: (num + 1) * size < image.length, szx }, `Block1 echoed for block ${num}`);
  }
  return codes;
}

test('RFC 7959 §2.3: each block is answered 2.31 Continue, the last 2.04; then Update works', async () => {
  const c = await setup();
  const codes = await pushAll(c.put, NEW, 4);
  assert.equal(codes.slice(0, -1), Array(codes.length - 1).fill('2.31'));
  assert.is(codes.at(-1), '2.04');
  assert.is(c.device.state, 2);
  const to = c.server.last('p')!;
  assert.is((await c.server.dm(to, 'GET', '/5/0/7')).payload.toString(), '2.0.0', 'PkgVersion from the manifest');
  assert.is((await c.server.dm(to, 'POST', '/5/0/2')).code, '2.04');
  await until(() => c.device.firmwareVersion === '2.0.0' && c.device.updateResult === 1, 5000, 'updated');
  await c.done();
});

test('RFC 7959 §2.9.3: a block larger than the device takes gets 4.13 with the size it takes', async () => {
  const c = await setup({ blockSzx: 3 });
  const res = await c.put(0, 6, NEW.subarray(0, 1024), true);
  assert.is(res.code, '4.13');
  assert.equal(res.options.block1, { num: 0, more: false, szx: 3 });
  assert.is(c.device.state, 0, 'nothing started');
  const codes = await pushAll(c.put, NEW, 3);
  assert.is(codes.at(-1), '2.04');
  await c.done();
});

test('RFC 7959 §2.9.2: a gap gets 4.08; a repeated block is answered again', async () => {
  const c = await setup();
  assert.is((await c.put(0, 4, NEW.subarray(0, 256), true)).code, '2.31');
  assert.is((await c.put(0, 4, NEW.subarray(0, 256), true)).code, '2.31', 'a repeat restarts nothing and writes nothing twice');
  assert.is((await c.put(1, 4, NEW.subarray(256, 512), true)).code, '2.31');
  assert.is((await c.put(1, 4, NEW.subarray(256, 512), true)).code, '2.31');
  assert.is((await c.put(3, 4, NEW.subarray(768, 1024), true)).code, '4.08');
  assert.is((await c.put(2, 4, NEW.subarray(512, 768), true)).code, '2.31', 'the transfer goes on from where it was');
  await c.done();
});

test('a tampered push is refused (4.00) and Update Result 5 is set; other content-formats get 4.15', async () => {
  const c = await setup();
  const bad = Buffer.from(NEW);
  bad[bad.length - 5]! ^= 0xff;
  const codes = await pushAll(c.put, bad, 4);
  assert.is(codes.at(-1), '4.00');
  assert.is(c.device.updateResult, 5);
  assert.is(c.device.state, 0);
  assert.is((await c.put(0, 4, NEW.subarray(0, 256), true, { contentFormat: 0 })).code, '4.15');
  await c.done();
});

test('a package that cannot fit: 4.13 with Size1, Update Result 2', async () => {
  const c = await setup({ maxImageBytes: 1000 });
  const res = await c.put(0, 4, NEW.subarray(0, 256), true, { size1: NEW.length });
  assert.is(res.code, '4.13');
  assert.is(res.options.size1, 1000);
  assert.is(c.device.updateResult, 2);
  await c.done();
});

test.run();
