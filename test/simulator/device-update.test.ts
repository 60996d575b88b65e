// The device side of an update on real CoAP over loopback, against the test LwM2M server
// (node-coap): signed packages, resume after a reset, each device fault with its Update Result and
// the state it leaves the device in.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseLinkFormat } from '../../protocols/link-format.ts';
import { decodeTlvInteger, tlvResources } from '../../protocols/tlv.ts';
import { SimDevice } from '../../simulator/device.ts';
import type { SimDeviceConfig, SimDeviceEvent } from '../../simulator/device.ts';
import type { DeviceFault } from '../../simulator/faults.ts';
import { anchors, pkg } from './bootloader/kit.ts';
import { until, within } from './helpers.ts';
import { TestLwm2mServer } from './lwm2m-server.ts';

const FACTORY = pkg('1.0.0', { seed: 1, size: 3000, sequence: 1 });
const NEW = pkg('2.0.0', { seed: 2, size: 20_000, sequence: 2 });

interface Ctx { server: TestLwm2mServer; device: SimDevice; events: SimDeviceEvent[]; done: () => Promise<void> }

async function setup(config: Partial<SimDeviceConfig> = {}): Promise<Ctx> {
  const server = await TestLwm2mServer.start();
  const events: SimDeviceEvent[] = [];
  const device = new SimDevice({
    endpoint: 'dev', server: { host: '127.0.0.1', port: server.port }, rebootDelayMs: 30, trustedKeys: anchors,
    factoryImage: FACTORY, blockSzx: 5, flash: { sectorSize: 1024, slotSize: 32 * 1024 }, log: (e) => events.push(e), ...config,
  });
  assert.ok(await within(device.start(), 3000, 'start'));
  return { server, device, events, done: async () => { await device.stop(); await server.close(); } };
}

const to = (c: Ctx) => {
  const r = c.server.last('dev');
  if (r === undefined) throw new Error('not registered');
  return r;
};

/** Plays the server's update engine: write the URI, wait for Downloaded, Update, wait for the outcome. */
async function update(c: Ctx, path = 'fw-manual/new'): Promise<{ result: number; version: string }> {
  c.server.images.set('new', NEW);
  const registrations = c.server.registrations.length;
  assert.is((await c.server.dm(to(c), 'PUT', '/5/0/1', { format: 0, payload: `coap://127.0.0.1:${c.server.port}/${path}` })).code, '2.04');
  await until(() => c.device.state === 2 || (c.device.state === 0 && c.device.updateResult >= 2), 10_000, 'download outcome');
  if (c.device.state !== 2) return { result: c.device.updateResult, version: c.device.firmwareVersion };
  assert.is((await c.server.dm(to(c), 'POST', '/5/0/2')).code, '2.04');
  await until(() => c.device.off || c.device.state !== 3 && (c.device.updateResult !== 0 || c.server.registrations.length > registrations), 10_000, 'update outcome');
  if (c.device.updateResult === 1) await until(() => !c.device.bootloader.isTrial(), 5000, 'confirmed');
  return { result: c.device.updateResult, version: c.device.firmwareVersion };
}

test('a signed package: download, Update, trial boot, register, confirm; the security counter follows', async () => {
  const c = await setup();
  assert.is(c.device.securityCounter, 1);
  const r = await update(c);
  assert.equal(r, { result: 1, version: '2.0.0' });
  assert.not.ok(c.device.bootloader.isTrial());
  assert.is(c.device.securityCounter, 2);
  assert.ok(c.events.some((e) => e.type === 'booted' && e.swap === 'test' && e.trial));
  assert.ok(c.events.some((e) => e.type === 'confirmed'));
  assert.ok(c.events.some((e) => e.type === 'update-succeeded'));
  const ver = await c.server.dm(to(c), 'GET', '/3/0/3');
  assert.is(ver.payload.toString(), '2.0.0');
  await c.done();
});

test('resume: a reset halfway continues from the next block, not from the start', async () => {
  const c = await setup({ blockSzx: 4, fault: { kind: 'reboot-during-download', at: 0.5 }, keepImage: true });
  const r = await update(c);
  assert.equal(r, { result: 1, version: '2.0.0' });
  const nums = c.server.blockRequests.filter((b) => b.path === '/fw-manual/new').map((b) => b.num);
  assert.ok(c.events.some((e) => e.type === 'rebooted'), 'the device reset during the download');
  assert.is(nums.filter((n) => n === 0).length, 1, 'block 0 only once');
  const blocks = Math.ceil(NEW.length / 256);
  assert.ok(nums.length <= blocks + 2, `${nums.length} requests for ${blocks} blocks`);
  assert.ok(c.events.some((e) => e.type === 'download-started' && e.resumedAt !== undefined));
  assert.equal(c.device.lastImage, NEW);
  await c.done();
});

test('resume: an ETag that changed across the reset starts the transfer again', async () => {
  const c = await setup({ blockSzx: 4, fault: { kind: 'reboot-during-download', at: 0.5 } });
  c.server.images.set('new', NEW);
  // The server changes its ETag when the block the device resumes at is asked for.
  const half = Math.ceil((NEW.length * 0.5) / 256);
  c.server.etagChangeAtBlock = half;
  const r = await update(c);
  assert.equal(r, { result: 1, version: '2.0.0' });
  const nums = c.server.blockRequests.map((b) => b.num);
  assert.ok(nums.filter((n) => n === 0).length >= 2, 'block 0 asked again');
  await c.done();
});

const FAULTS: [string, DeviceFault, Partial<SimDeviceConfig>, number, string, (c: Ctx) => void][] = [
  ['power loss at swap step 7 (torn)', { kind: 'power-loss', step: 7, at: 0, torn: true, offMs: 50 }, {}, 1, '2.0.0', (c) => assert.is(c.device.counters.powerLosses, 1)],
  ['power loss at a random step', { kind: 'power-loss', step: undefined, at: 0.6, torn: false, offMs: 50 }, {}, 1, '2.0.0', (c) => assert.is(c.device.counters.powerLosses, 1)],
  ['a flipped bit', { kind: 'bit-flip', at: 0.5, bit: 3 }, {}, 5, '1.0.0', (c) => assert.is(c.device.state, 0)],
  ['flash full', { kind: 'flash-full' }, {}, 2, '1.0.0', (c) => assert.is(c.device.counters.blocks, 1, 'refused at Size2')],
  ['battery low', { kind: 'battery-low' }, {}, 8, '1.0.0', (c) => assert.is(c.device.state, 2, 'still Downloaded')],
  ['battery low, may defer', { kind: 'battery-low' }, { maxDeferPeriod: 3600, severity: 2 }, 11, '1.0.0', (c) => assert.is(c.device.state, 2)],
  ['a crash before confirm', { kind: 'crash-before-confirm', afterMs: 10 }, {}, 8, '1.0.0', (c) => {
    assert.is(c.device.counters.reverts, 1);
    assert.not.ok(c.device.bootloader.isTrial());
    assert.is(c.device.bootloader.pendingSwap(), 'none');
  }],
];

for (const [name, fault, config, result, version, check] of FAULTS) {
  test(`fault: ${name} → Update Result ${result}, running ${version}`, async () => {
    const c = await setup({ fault, ...config });
    const r = await update(c);
    assert.equal(r, { result, version });
    assert.ok(c.events.some((e) => e.type === 'fault' && e.kind === fault.kind), 'the fault fired');
    assert.ok(c.device.bricked === undefined);
    assert.ok(c.device.bootloader.checkPrimary().ok);
    check(c);
    await c.done();
  });
}

test('fault: a device that never comes back goes dark at Update', async () => {
  const c = await setup({ fault: { kind: 'never-returns' } });
  await update(c);
  assert.ok(c.device.off);
  assert.is(c.device.address(), undefined, 'its socket is closed');
  await new Promise((r) => setTimeout(r, 200));
  assert.is(c.server.registrations.length, 1, 'it never registers again');
  await c.done();
});

test('Cancel (/5/0/10) during a download: Idle, Update Result 10', async () => {
  const c = await setup({ blockSzx: 0 });
  c.server.images.set('new', NEW);
  await c.server.dm(to(c), 'PUT', '/5/0/1', { format: 0, payload: `coap://127.0.0.1:${c.server.port}/fw-manual/new` });
  await until(() => c.device.counters.blocks > 0 || c.server.blockRequests.length > 3, 3000);
  assert.is((await c.server.dm(to(c), 'POST', '/5/0/10')).code, '2.04');
  assert.is(c.device.state, 0);
  assert.is(c.device.updateResult, 10);
  assert.is((await c.server.dm(to(c), 'POST', '/5/0/10')).code, '4.05', 'nothing left to cancel');
  await c.done();
});

test('Object 5 1.1 resources 8, 9, 11, 12, 13; Object 0 is not for the server', async () => {
  const c = await setup({ deliveryMethod: 'both', maxDeferPeriod: 60 });
  const five = tlvResources((await c.server.dm(to(c), 'GET', '/5/0', { accept: 11542 })).payload);
  const int = (id: number) => decodeTlvInteger(five.get(id)?.value ?? Buffer.alloc(0));
  assert.is(int(9), 2, 'delivery method: both');
  assert.is(int(11), 1, 'severity: major');
  assert.is(int(13), 60);
  assert.ok(Math.abs(Number(int(12)) - Date.now() / 1000) < 60, 'last state change time');
  assert.ok(five.has(8));
  assert.is((await c.server.dm(to(c), 'PUT', '/5/0/11', { format: 0, payload: '0' })).code, '2.04');
  assert.is((await c.server.dm(to(c), 'GET', '/5/0/11')).payload.toString(), '0');
  assert.is((await c.server.dm(to(c), 'GET', '/0/0')).code, '4.01');
  const links = parseLinkFormat(c.server.last('dev')?.payload ?? '').map((l) => l.uri);
  assert.not.ok(links.some((u) => u.startsWith('/0')), 'no /0 in the registration');
  await c.done();
});

test('a push-only device refuses a Package URI; a pull-only one refuses a pushed Package', async () => {
  const push = await setup({ deliveryMethod: 'push' });
  assert.is((await push.server.dm(to(push), 'PUT', '/5/0/1', { format: 0, payload: 'coap://127.0.0.1/x' })).code, '4.05');
  await push.done();
  const pull = await setup({ deliveryMethod: 'pull' });
  assert.is((await pull.server.dm(to(pull), 'PUT', '/5/0/0', { format: 42, payload: Buffer.alloc(10) })).code, '4.05');
  await pull.done();
});

test('queue mode: registers with Q; asleep after its window, it misses a request', async () => {
  const c = await setup({ queueMode: true, queueAwakeMs: 150, coap: { ackTimeoutMs: 50, maxRetransmit: 1 } });
  assert.ok(c.server.last('dev')?.query.includes('Q'));
  assert.is((await c.server.dm(to(c), 'GET', '/3/0/3')).code, '2.05', 'awake right after registering');
  await new Promise((r) => setTimeout(r, 250));
  const late = await within(Promise.race([
    c.server.dm(to(c), 'GET', '/3/0/3').then(() => 'answered'),
    new Promise<string>((r) => setTimeout(() => r('silent'), 400)),
  ]), 2000);
  assert.is(late, 'silent');
  await c.done();
});

test.run();
