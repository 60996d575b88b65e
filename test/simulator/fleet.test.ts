import { EventEmitter } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseDuration, simCommand, simImageCommand } from '../../simulator/cli.ts';
import type { CliIo } from '../../simulator/cli.ts';
import { fleetOptions, readSimArgs } from '../../simulator/sim-args.ts';
import { DEVICES_PER_ADDRESS, endpointName, runFleet, spreadAddresses } from '../../simulator/fleet.ts';
import type { FleetStatus } from '../../simulator/fleet.ts';
import { makeSimImage, readSimImage } from '../../simulator/image.ts';
import { within } from './helpers.ts';
import { TestLwm2mServer } from './lwm2m-server.ts';

function capture(extra: Partial<CliIo> = {}): CliIo & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, out: (l) => lines.push(l), err: (l) => errors.push(l), statusIntervalMs: 100, ...extra };
}

test('endpoint names are zero-padded', () => {
  assert.is(endpointName('sim', 0, 1000), 'sim-0001');
  assert.is(endpointName('sim', 999, 1000), 'sim-1000');
  assert.is(endpointName('x', 4, 5), 'x-5');
});

test('past 20,000 devices the sockets spread over more loopback addresses, unless told where to bind', () => {
  assert.is(spreadAddresses(DEVICES_PER_ADDRESS, undefined), undefined);
  assert.equal(spreadAddresses(DEVICES_PER_ADDRESS + 1, undefined), ['127.0.0.1', '127.0.0.2']);
  assert.equal(spreadAddresses(50_000, '127.0.0.1'), ['127.0.0.1', '127.0.0.2', '127.0.0.3']);
  assert.is(spreadAddresses(50_000, '::1'), undefined);
});

test('runFleet: devices register, take an update, de-register; the report adds up', async () => {
  const server = await TestLwm2mServer.start();
  server.images.set('v2', makeSimImage({ version: '2.0.0', size: 1200 }));
  const progress: FleetStatus[] = [];
  const pushed = new Set<string>();
  const report = await within(
    runFleet({
      server: `coap://127.0.0.1:${server.port}`,
      devices: 4,
      prefix: 'fleet',
      ramp: 200,
      durationMs: 1500,
      blockSzx: 6,
      rebootDelayMs: 20,
      seed: 1,
      progressIntervalMs: 200,
      onProgress: (s) => progress.push(s),
      log: (e) => {
        const reg = server.last(e.endpoint);
        if (reg === undefined) return;
        // The test plays the update engine: push to the first three, execute when downloaded.
        if (e.type === 'registered' && !pushed.has(e.endpoint) && e.endpoint !== 'fleet-4') {
          pushed.add(e.endpoint);
          setTimeout(() => void server.dm(reg, 'PUT', '/5/0/1', { format: 0, payload: `coap://127.0.0.1:${server.port}/fw/v2` }), 10);
        }
        if (e.type === 'download-done') setTimeout(() => void server.dm(reg, 'POST', '/5/0/2'), 10);
      },
    }),
    8000,
    'fleet run',
  );
  assert.is(report.devices, 4);
  assert.is(report.started, 4);
  assert.is(report.registered, 4);
  assert.is(report.updated, 3);
  assert.equal(report.failed, {});
  assert.is(report.registrations, 4 + 3, 'one more registration after each update');
  assert.is(report.downloads, 3);
  assert.is(report.bytesDownloaded, 3 * 1200);
  assert.ok(report.coap.packetsSent > 0 && report.coap.bytesReceived > 0);
  assert.is(server.deregistrations.length, 4);
  assert.ok(progress.length >= 2);
  assert.is(progress.at(-1)?.updated, 3);
  await server.close();
});

test('ferry sim-image writes a readable image', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-sim-'));
  const out = join(dir, 'fw.bin');
  const io = capture();
  assert.is(await simImageCommand(['--version', '2.1.0', '--size', '4k', '--out', out], io), 0);
  const buf = await readFile(out);
  assert.is(buf.length, 4096);
  assert.equal(readSimImage(buf), { ok: true, version: '2.1.0' });
  assert.match(io.lines[0] ?? '', /wrote .*4096 bytes, version 2.1.0/);
  assert.is(await simImageCommand(['--version', '2.1.0'], io), 2);
  assert.is(await simImageCommand(['--help'], io), 0);
  await rm(dir, { recursive: true });
});

test('ferry sim: usage errors give 2, --help gives 0', async () => {
  const io = capture();
  assert.is(await simCommand(['--help'], io), 0);
  assert.match(io.lines[0] ?? '', /Usage: ferry sim/);
  assert.is(await simCommand(['--nope'], io), 2);
  assert.is(await simCommand(['--block-size', '100'], io), 2);
  assert.is(await simCommand(['--server', 'http://x'], io), 2);
  assert.is(await simCommand(['--duration', 'soon'], io), 2);
  assert.is(await simCommand(['--content-format', 'json'], io), 2);
  assert.is(await simCommand(['--max-defer-period', '-1'], io), 2);
  assert.match(io.errors.join('\n'), /--content-format is tlv or senml-cbor/);
  assert.is(parseDuration('10m'), 600_000);
  assert.is(parseDuration('90'), 90_000);
  assert.is(parseDuration('250ms'), 250);
});

test('ferry sim flags become fleet options', async () => {
  const o = await fleetOptions(readSimArgs(['--devices', '3', '--content-format', 'senml-cbor', '--max-defer-period', '600', '--block-size', '64',
    '--loss', '0.05', '--fault', 'bit-flip=2', '--bind-addresses', '2', '--flash', 'digest', '--seed', '9', '--duration', '2m']));
  assert.is(o.devices, 3);
  assert.is(o.contentFormat, 112);
  assert.is(o.maxDeferPeriod, 600);
  assert.is(o.blockSzx, 2);
  assert.equal(o.faults?.link, { loss: 0.05 });
  assert.equal(o.faults?.device['bit-flip'], { amount: 2 });
  assert.equal(o.bindAddresses, ['127.0.0.1', '127.0.0.2']);
  assert.is(o.flash?.mode, 'digest');
  assert.is(o.seed, 9);
  assert.is(o.durationMs, 120_000);
  assert.is((await fleetOptions(readSimArgs([]))).contentFormat, 11542, 'TLV by default');
});

test('ferry sim: runs until SIGINT, prints status lines and the report', async () => {
  const server = await TestLwm2mServer.start();
  const signals = new EventEmitter();
  const io = capture({ signals: signals as unknown as CliIo['signals'] });
  const run = simCommand(['--server', `coap://127.0.0.1:${server.port}`, '--devices', '3', '--ramp', '100', '--duration', '0'], io);
  setTimeout(() => signals.emit('SIGINT'), 500);
  assert.is(await within(run, 5000, 'sim command'), 0);
  assert.ok(io.lines.some((l) => /registered 3/.test(l)), io.lines.join('\n'));
  assert.ok(io.lines.some((l) => /^registered\s+3$/m.test(l)), 'report');
  assert.is(server.deregistrations.length, 3);
  assert.is(signals.listenerCount('SIGINT'), 0, 'signal handlers removed');
  await server.close();
});

test.run();
