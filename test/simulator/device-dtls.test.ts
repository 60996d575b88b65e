// A device with a PSK against the test LwM2M server over the server's DTLS layer: registration and
// Updates in one session, a coaps:// download in a second, a new session after the server
// restarted, the nat-rebind fault (without a Connection ID from this server: a new session), and a
// wrong key that never gets registered.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimDevice } from '../../simulator/device.ts';
import type { SimDeviceConfig, SimDeviceEvent } from '../../simulator/device.ts';
import { fleetPsks, runFleet } from '../../simulator/fleet.ts';
import { makeSimImage } from '../../simulator/image.ts';
import { simPsk } from '../../simulator/psk.ts';
import { anchors, pkg } from './bootloader/kit.ts';
import { sleep, until, within } from './helpers.ts';
import { TestLwm2mServer } from './lwm2m-server.ts';

const FACTORY = pkg('1.0.0', { seed: 1, size: 3000, sequence: 1 });
const NEW = pkg('2.0.0', { seed: 2, size: 20_000, sequence: 2 });
const PSK = simPsk(7, 'dev');
const KEYS = new Map([[PSK.identity, PSK.key]]);
const FAST = { ackTimeoutMs: 150, ackRandomFactor: 1, maxRetransmit: 2 };

interface Ctx { server: TestLwm2mServer; device: SimDevice; events: SimDeviceEvent[]; done: () => Promise<void> }

async function setup(config: Partial<SimDeviceConfig> = {}, keys: ReadonlyMap<string, Buffer> = KEYS): Promise<Ctx> {
  const server = await TestLwm2mServer.start({ psk: keys });
  const events: SimDeviceEvent[] = [];
  const device = new SimDevice({
    endpoint: 'dev', server: { host: '127.0.0.1', port: server.port }, psk: { identity: PSK.identity, key: PSK.key },
    dtls: { initialTimeoutMs: 200, maxRetransmits: 3 }, coap: FAST,
    rebootDelayMs: 30, trustedKeys: anchors, factoryImage: FACTORY, blockSzx: 5, flash: { sectorSize: 1024, slotSize: 32 * 1024 },
    log: (e) => events.push(e), ...config,
  });
  const ctx: Ctx = { server, device, events, done: async () => { await device.stop(); await ctx.server.close(); } };
  return ctx;
}

const to = (c: Ctx) => {
  const r = c.server.last('dev');
  if (r === undefined) throw new Error('not registered');
  return r;
};

/** Writes a coaps:// Package URI and waits for Downloaded (or a failure). */
async function download(c: Ctx): Promise<void> {
  c.server.images.set('new', NEW);
  assert.is((await c.server.dm(to(c), 'PUT', '/5/0/1', { format: 0, payload: `coaps://127.0.0.1:${c.server.port}/fw-manual/new` })).code, '2.04');
  await until(() => c.device.state === 2 || (c.device.state === 0 && c.device.updateResult >= 2), 15_000, 'download outcome');
}

test('registers over DTLS-PSK as its identity; Updates stay in the same session', async () => {
  const c = await setup({ lifetime: 1 });
  assert.ok(await within(c.device.start(), 5000, 'start'));
  const reg = to(c);
  assert.is(c.server.identityOf(reg.address, reg.port), 'dev', 'the session is the PSK identity\'s');
  await until(() => c.server.updates.length >= 2, 3000, 'two registration updates');
  assert.is(c.device.sessionCounters.handshakes, 1);
  assert.is(c.device.sessionCounters.rehandshakes, 0);
  const sec = await c.server.dm(reg, 'GET', '/3/0/0');
  assert.is(sec.code, '2.05', 'the server reaches the device inside the session');
  await c.done();
});

test('a coaps:// package comes in a second DTLS session; Update, trial boot, confirm', async () => {
  const c = await setup();
  assert.ok(await within(c.device.start(), 5000, 'start'));
  await download(c);
  assert.is(c.device.state, 2, `Downloaded (result ${c.device.updateResult})`);
  const blocks = c.server.blockRequests.filter((b) => b.path === '/fw-manual/new');
  assert.ok(blocks.length >= 40);
  assert.is(c.device.sessionCounters.handshakes, 2, 'one session for the server, one for the download');
  assert.ok((c.device.coapStats?.bytesReceived ?? 0) > NEW.length, 'the download\'s own endpoint counts in the device\'s figures');
  assert.ok(c.events.some((e) => e.type === 'dtls-handshake' && e.session === 'download'));
  const registrations = c.server.registrations.length;
  assert.is((await c.server.dm(to(c), 'POST', '/5/0/2')).code, '2.04');
  await until(() => c.server.registrations.length > registrations && !c.device.bootloader.isTrial(), 10_000, 'confirmed after the reboot');
  assert.is(c.device.firmwareVersion, '2.0.0');
  assert.is(c.device.sessionCounters.rehandshakes, 1, 'the reboot lost the session: a new one');
  await c.done();
});

test('a coap:// Package URI is pulled in the clear, on a socket of its own', async () => {
  const c = await setup();
  const plain = await TestLwm2mServer.start();
  try {
    assert.ok(await within(c.device.start(), 5000, 'start'));
    plain.images.set('new', NEW);
    assert.is((await c.server.dm(to(c), 'PUT', '/5/0/1', { format: 0, payload: `coap://127.0.0.1:${plain.port}/fw-manual/new` })).code, '2.04');
    await until(() => c.device.state === 2 || (c.device.state === 0 && c.device.updateResult >= 2), 15_000, 'download outcome');
    assert.is(c.device.state, 2, `Downloaded (result ${c.device.updateResult})`);
    assert.ok(plain.blockRequests.length >= 40);
    assert.is(c.server.blockRequests.length, 0);
    assert.is(c.device.sessionCounters.handshakes, 1, 'no DTLS for it');
  } finally {
    await plain.close();
  }
  await c.done();
});

test('the server restarts: the next Update gets no answer, a new handshake, Register again', async () => {
  const c = await setup({ lifetime: 2 });
  assert.ok(await within(c.device.start(), 5000, 'start'));
  const port = c.server.port;
  await c.server.close();
  c.server = await TestLwm2mServer.start({ psk: KEYS, port });
  await until(() => c.server.registrations.length === 1, 15_000, 'registered with the restarted server');
  assert.ok(c.device.sessionCounters.rehandshakes >= 1, 're-handshake');
  assert.is(c.server.identityOf(to(c).address, to(c).port), 'dev');
  await c.done();
});

test('nat-rebind mid-download: with a Connection ID the sessions carry on; without one, new sessions and an Update; the download completes', async () => {
  const c = await setup({ fault: { kind: 'nat-rebind', at: 0.4 } });
  assert.ok(await within(c.device.start(), 5000, 'start'));
  const before = to(c).port;
  const first = c.events.find((e) => e.type === 'dtls-handshake');
  const cid = first?.type === 'dtls-handshake' && first.cid;
  // As an LwM2M server does: the state's notifications are what the device sends after the rebind.
  const observation = await within(c.server.observe(to(c), '/5/0/3'), 3000, 'observe');
  await download(c);
  assert.is(c.device.state, 2, `Downloaded (result ${c.device.updateResult})`);
  assert.is(c.device.sessionCounters.rebinds, 1);
  assert.ok(c.events.some((e) => e.type === 'fault' && e.kind === 'nat-rebind'));
  const rebound = c.events.find((e) => e.type === 'rebound');
  assert.ok(rebound?.type === 'rebound' && rebound.cid === cid && rebound.port !== before);
  assert.is(c.device.address()?.port, rebound.port);
  if (cid) {
    assert.is(c.device.sessionCounters.rehandshakes, 0, 'no new handshake: the CID carries both sessions');
    assert.is(c.device.sessionCounters.handshakes, 2);
    // The server learns the new port from the records themselves (the Downloaded notification): its DM requests reach the device.
    await until(() => to(c).port === rebound.port, 3000, 'the server follows the CID to the new port');
    assert.is((await within(c.server.dm(to(c), 'GET', '/3/0/0'), 3000, 'read')).code, '2.05');
  } else {
    await until(() => c.server.updates.length >= 1 || c.server.registrations.length >= 2, 5000, 'the server hears the new port');
    assert.ok(c.device.sessionCounters.rehandshakes >= 2, 'both sessions made again');
  }
  observation.close();
  await c.done();
});

test('a wrong key: the handshake fails, the device is not registered', async () => {
  const c = await setup({ psk: { identity: 'dev', key: Buffer.alloc(16, 1) } });
  assert.not.ok(await within(c.device.start(), 10_000, 'start'));
  await sleep(300);
  assert.is(c.server.registrations.length, 0);
  assert.ok(c.device.sessionCounters.failures >= 1);
  assert.is(c.device.sessionCounters.handshakes, 0);
  assert.ok(c.events.some((e) => e.type === 'dtls-failed' && e.session === 'server'));
  await c.done();
});

test('nat-rebind over plain CoAP: the download goes on from the new port, an Update tells the server', async () => {
  const server = await TestLwm2mServer.start();
  const events: SimDeviceEvent[] = [];
  const device = new SimDevice({
    endpoint: 'dev', server: { host: '127.0.0.1', port: server.port }, coap: FAST, fault: { kind: 'nat-rebind', at: 0.5 },
    rebootDelayMs: 30, trustedKeys: anchors, factoryImage: FACTORY, blockSzx: 5, flash: { sectorSize: 1024, slotSize: 32 * 1024 }, log: (e) => events.push(e),
  });
  try {
    assert.ok(await within(device.start(), 5000, 'start'));
    const before = server.last('dev')!;
    server.images.set('new', NEW);
    assert.is((await server.dm(before, 'PUT', '/5/0/1', { format: 0, payload: `coap://127.0.0.1:${server.port}/fw-manual/new` })).code, '2.04');
    await until(() => device.state === 2 || (device.state === 0 && device.updateResult >= 2), 15_000, 'download outcome');
    assert.is(device.state, 2, `Downloaded (result ${device.updateResult})`);
    assert.is(device.sessionCounters.rebinds, 1);
    assert.is(device.sessionCounters.handshakes, 0, 'no DTLS here');
    const now = device.address()!;
    assert.is.not(now.port, before.port);
    await until(() => server.updates.length >= 1, 3000, 'an Update from the new port');
    assert.is(server.updates[0]?.id, before.id, 'the same registration');
  } finally {
    await device.stop();
    await server.close();
  }
});

test('runFleet with a coaps:// server: the credentials file holds the keys the devices use; the report counts handshakes', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sim-psk-'));
  const seed = 11;
  const keys = new Map(fleetPsks('psk', 3, seed).map((p) => [p.identity, p.key]));
  const server = await TestLwm2mServer.start({ psk: keys });
  server.images.set('v2', makeSimImage({ version: '2.0.0', size: 1200 }));
  try {
    const file = join(dir, 'fleet.csv');
    const report = await within(runFleet({
      server: `coaps://127.0.0.1:${server.port}`, devices: 3, prefix: 'psk', seed, ramp: 100, rebootDelayMs: 20, credentialsFile: file,
      until: (st) => st.registered === 3, durationMs: 8000, coap: FAST, dtls: { initialTimeoutMs: 200 },
    }), 12_000, 'fleet run');
    assert.is(report.registered, 3);
    assert.is(report.sessions.handshakes, 3);
    assert.is(report.sessions.failures, 0);
    const csv = await readFile(file, 'utf8');
    assert.is(csv.split('\n').filter((l) => l !== '').length, 4, 'a header and three lines');
    assert.ok(csv.includes(`psk-1,psk-1,${keys.get('psk-1')?.toString('hex')}`));
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
