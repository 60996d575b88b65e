// Push or pull, against a real Ferry server and simulated devices over loopback
// UDP: the engine reads Object 5 resource 9 (Delivery Method) and 8 (Protocol Support) when an
// update starts; a push-only device gets the package by Write /5/0/0 with Block1 (content-format
// 42), a pull-only or "both" device pulls the Package URI; the bytes pushed are what GET /fw serves.
import * as assert from 'uvu/assert';
import { signPackage } from '../../protocols/package.ts';
import * as devices from '../../server/store/devices.ts';
import { getFirmware } from '../../server/store/firmware.ts';
import { CoapEndpoint } from '../../simulator/coap/endpoint.ts';
import { SimDevice, type SimDeviceConfig } from '../../simulator/device.ts';
import { makeSimImage } from '../../simulator/image.ts';
import { forEachDatabase } from '../helpers/db.ts';
import { eventually, testSigningKey } from '../helpers/ferry.ts';
import { requestUpdate, signedPackage, simRun, trustedAnchor, updateOutcome, uploadPackage } from './kit.ts';

const FACTORY = signedPackage('1.0.0', 2048, 0, 1);
const NEW = signedPackage('2.0.0', 20_000, 1, 2);

interface UpdateBody {
  state: string; reason: string | null; resultCode: number | null; delivery: string | null;
  events: Array<{ kind: string; data: Record<string, unknown> }>;
}

forEachDatabase('push and pull delivery against Ferry', ({ suite, get }) => {
  const run = simRun(suite, () => get().db, { updateTimeout: 20, requestTimeout: 5 });

  const start = async (endpoint: string, config: Partial<SimDeviceConfig>): Promise<SimDevice> => {
    const sim = new SimDevice({
      endpoint, server: { host: '127.0.0.1', port: run.ferry.coapAddress!.port }, trustedKeys: [trustedAnchor()], factoryImage: FACTORY,
      lifetime: 60, rebootDelayMs: 100, coap: { ackTimeoutMs: 300, maxRetransmit: 3 }, ...config,
    });
    run.sims.push(sim);
    await sim.start();
    await eventually(async () => (await devices.findByEndpoint(get().db, endpoint))?.hardwareClass === 'sim-1' || undefined, 10_000, `${endpoint} inventory`);
    return sim;
  };
  const finished = (id: number): Promise<UpdateBody> => updateOutcome(run.ferry, id);
  const deliveryEvent = (u: UpdateBody) => u.events.find((e) => e.kind === 'update.delivery')?.data;
  const states = (u: UpdateBody) => u.events.filter((e) => e.kind === 'update.state').map((e) => e.data['state']);

  suite('a push-only device is updated by Block1 push: no GET /fw, 4.13 brings the block size down, new version runs', async () => {
    const sim = await start('push-0', { deliveryMethod: 'push', blockSzx: 4 }); // takes 256-byte blocks at most
    const u = await finished(await requestUpdate(run.ferry, 'push-0', await uploadPackage(run.ferry, NEW)));
    assert.is(u.state, 'succeeded', u.reason ?? '');
    assert.is(u.resultCode, 1);
    assert.is(u.delivery, 'push');
    assert.equal(deliveryEvent(u), { delivery: 'push', why: 'Delivery Method 1 (push only)', deliveryMethod: 1, protocolSupport: [0], maxDeferPeriod: 0 });
    assert.equal(states(u).filter((s) => s !== 'downloading'), ['sent', 'downloaded', 'updating', 'succeeded']);
    assert.is(sim.firmwareVersion, '2.0.0');
    assert.is(sim.counters.downloads, 1);
    assert.is(sim.counters.blocks, 0, 'the device fetched no block');
    assert.is(run.ferry.download?.stats.requests, 0, 'no GET /fw reached the download socket');
  });

  suite('a device left in Downloaded by an earlier try is reset (empty Package URI) and updated', async () => {
    const sim = await start('left-0', { deliveryMethod: 'pull', blockSzx: 6 });
    const firmwareId = await uploadPackage(run.ferry, NEW);
    // An operator (or a try that failed before its Execute) had the device download the package.
    const name = (await getFirmware(run.ferry.db, firmwareId))!.downloadName;
    const uri = `coap://127.0.0.1:${run.ferry.downloadAddress!.port}/fw/${name}`;
    const w = await run.ferry.api.inject({ method: 'PUT', url: '/api/v1/devices/left-0/lwm2m/5/0/1', payload: { value: uri } });
    assert.is(w.statusCode, 204, w.body);
    await eventually(async () => (sim.state === 2 ? true : undefined), 10_000, 'Downloaded');
    const u = await finished(await requestUpdate(run.ferry, 'left-0', firmwareId));
    assert.is(u.state, 'succeeded', u.reason ?? '');
    assert.is(sim.firmwareVersion, '2.0.0');
    assert.is(sim.counters.downloads, 2, 'downloaded again after the reset');
  });

  suite('a pull-only and a "both" device pull the Package URI', async () => {
    const pull = await start('pull-0', { deliveryMethod: 'pull', blockSzx: 6 });
    const both = await start('both-0', { deliveryMethod: 'both', blockSzx: 6 });
    const firmwareId = await uploadPackage(run.ferry, NEW);
    const [up, ub] = await Promise.all([requestUpdate(run.ferry, 'pull-0', firmwareId), requestUpdate(run.ferry, 'both-0', firmwareId)].map(async (id) => finished(await id)));
    for (const [u, sim, why] of [[up!, pull, /Delivery Method 0/], [ub!, both, /Delivery Method 2/]] as const) {
      assert.is(u.state, 'succeeded', u.reason ?? '');
      assert.is(u.delivery, 'pull');
      assert.match(String(deliveryEvent(u)?.['why']), why);
      assert.is(sim.firmwareVersion, '2.0.0');
      assert.is(sim.counters.blocks, Math.ceil(NEW.length / 1024), `${sim.endpoint} fetched every block by GET /fw`);
    }
    assert.ok((run.ferry.download?.stats.blocks ?? 0) >= 2 * Math.ceil(NEW.length / 1024));
  });

  suite('a push-only device gets exactly the payload of a delivery=payload image', async () => {
    // No trust anchors: the device boots a bare simulator image, as a device with its own image format would.
    const image = makeSimImage({ version: '3.0.0', size: 9000, seed: 5 });
    const pkg = Buffer.from(signPackage({ payload: image, key: testSigningKey().key, sequence: 1, vendorId: 'run.ferry', classId: 'sim-1', version: '3.0.0' }));
    const sim = await start('payload-0', { deliveryMethod: 'push', trustedKeys: [], factoryImage: makeSimImage({ version: '1.0.0', size: 2048 }), keepImage: true });
    const res = await run.ferry.api.inject({ method: 'POST', url: '/api/v1/firmware?delivery=payload', headers: { 'content-type': 'application/octet-stream' }, payload: pkg });
    assert.is(res.statusCode, 201, res.body);
    const u = await finished(await requestUpdate(run.ferry, 'payload-0', res.json().id));
    assert.is(u.state, 'succeeded', u.reason ?? '');
    assert.is(u.delivery, 'push');
    assert.ok(sim.lastImage?.equals(image), `pushed ${sim.lastImage?.length} bytes, the payload is ${image.length}`);
    assert.is(sim.firmwareVersion, '3.0.0');
  });

  suite('a device without /5/0/8 and /5/0/9 (Object 5 1.0) pulls: its Package URI is written', async () => {
    // A bare LwM2M 1.0 client on the simulator's CoAP endpoint: 4.04 for resources it lacks.
    const device = await CoapEndpoint.bind({ bindAddress: '127.0.0.1', ackTimeoutMs: 300 });
    try {
      const seen: string[] = [];
      let packageUri: string | undefined;
      device.onRequest((req, reply) => {
        const path = `/${req.pathSegments.join('/')}`;
        seen.push(`${req.method} ${path}`);
        if (req.method === 'GET' && (path === '/5/0/3' || path === '/5/0/5')) return reply({ code: '2.05', contentFormat: 0, payload: '0', observe: 1 });
        if (req.method === 'PUT' && path === '/5/0/1') {
          packageUri = req.payload.toString('utf8');
          return reply({ code: '2.04' });
        }
        reply({ code: '4.04', payload: `no ${path}` });
      });
      const reg = await device.request({
        host: '127.0.0.1', port: run.ferry.coapAddress!.port, method: 'POST', pathSegments: ['rd'], query: ['ep=old-0', 'lt=60', 'lwm2m=1.0', 'b=U'],
        contentFormat: 40, payload: '</1/0>,</3/0>,</5/0>',
      });
      assert.is(reg.code, '2.01');
      await eventually(() => (seen.includes('GET /3/0') ? true : undefined), 5000, 'the follow-up read');
      const firmwareId = await uploadPackage(run.ferry, NEW);
      const id = await requestUpdate(run.ferry, 'old-0', firmwareId);
      const uri = await eventually(() => packageUri, 10_000, 'the Package URI write');
      assert.ok(uri.endsWith(`/fw/${(await getFirmware(run.ferry.db, firmwareId))!.downloadName}`), uri);
      assert.ok(seen.includes('GET /5/0/9') && seen.includes('GET /5/0/8'), seen.join(', '));
      const u = await eventually(async () => {
        const r = (await run.ferry.api.inject({ method: 'GET', url: `/api/v1/updates/${id}` })).json() as UpdateBody;
        return r.state === 'sent' ? r : undefined;
      }, 5000, 'state sent');
      assert.is(u.delivery, 'pull');
      assert.equal(deliveryEvent(u), { delivery: 'pull', why: 'no Delivery Method (/5/0/9): pull', deliveryMethod: null, protocolSupport: null });
    } finally {
      await device.close();
    }
  });

  suite('a push too large for the device (4.13 with Size1 below the package) fails at once, with its Update Result', async () => {
    const sim = await start('full-0', { deliveryMethod: 'push', maxImageBytes: 4096 });
    const u = await finished(await requestUpdate(run.ferry, 'full-0', await uploadPackage(run.ferry, NEW)));
    assert.is(u.state, 'failed');
    assert.is(u.delivery, 'push');
    assert.match(u.reason ?? '', /^pushPackage failed: device takes at most 4096 bytes \(4\.13 with Size1\)/);
    assert.is(u.resultCode, 2, 'Update Result 2: not enough flash');
    assert.match(u.reason ?? '', /not enough flash/);
    assert.is(sim.firmwareVersion, '1.0.0');
  });

  suite('a corrupted image, pushed: Update Result 5 (integrity check failure), as in pull', async () => {
    const sim = await start('bad-0', { deliveryMethod: 'push', trustedKeys: [], factoryImage: makeSimImage({ version: '1.0.0', size: 2048 }) });
    const image = makeSimImage({ version: '3.1.0', size: 4000, seed: 3 });
    image[image.length - 10]! ^= 0x01;
    const res = await run.ferry.api.inject({
      method: 'POST', url: '/api/v1/firmware?version=3.1.0&hardwareClass=sim-1', headers: { 'content-type': 'application/octet-stream' }, payload: image,
    });
    assert.is(res.statusCode, 201, res.body);
    const u = await finished(await requestUpdate(run.ferry, 'bad-0', res.json().id));
    assert.is(u.state, 'failed');
    assert.is(u.delivery, 'push');
    assert.is(u.resultCode, 5);
    assert.match(u.reason ?? '', /integrity check failure/);
    assert.is(sim.firmwareVersion, '1.0.0');
  });

  suite('a device that resets halfway through a push fails the update, the device\'s answer as the reason', async () => {
    const sim = await start('reset-0', { deliveryMethod: 'push', fault: { kind: 'reboot-during-download', at: 0.5 } });
    const u = await finished(await requestUpdate(run.ferry, 'reset-0', await uploadPackage(run.ferry, NEW)));
    assert.is(u.state, 'failed');
    // A push does not resume (the device starts over at block 0): the next block is refused with 4.08.
    assert.match(u.reason ?? '', /^pushPackage failed: device answered 4\.08/);
    assert.is(sim.firmwareVersion, '1.0.0');
  });
});
