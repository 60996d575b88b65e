// The registration interface's limits over real UDP, on every test database: Registers of unknown
// endpoints are rate limited (4.29 Too Many Requests with Max-Age, RFC 8516) per address, per
// address and port and for the whole server, known endpoints never; the link-format payload is
// capped (4.13 with Size1, RFC 7252 §5.9.2.9); a lifetime above the maximum is refused (4.00),
// never shortened; devices that left and hold nothing are purged by the sweep, their events kept.
import { createSocket, type Socket } from 'node:dgram';
import { generate, parse, type Packet, type ParsedPacket } from 'coap-packet';
import * as assert from 'uvu/assert';
import type { Config } from '../../../server/config.ts';
import type { Ferry } from '../../../server/main.ts';
import { SimDevice, type SimDeviceEvent } from '../../../simulator/device.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { eventually, exchange, optionValues, startTestFerry, uriOptions } from '../../helpers/ferry.ts';

const LINK_FORMAT = { name: 'Content-Format' as const, value: Buffer.from([40]) };
const PER_HOUR = (burst: number) => ({ rate: 1 / 3600, burst });
const NO_LIMITS: Partial<Config> = { registerLimitIp: undefined, registerLimitIpPort: undefined, registerLimitGlobal: undefined };

/** A device's UDP socket on a loopback address: every request from the same address and port. */
class Client {
  private readonly socket: Socket;
  private readonly serverPort: number;

  private constructor(socket: Socket, serverPort: number) {
    this.socket = socket;
    this.serverPort = serverPort;
  }

  static async open(serverPort: number, address = '127.0.0.1'): Promise<Client> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => { socket.once('error', reject); socket.bind(0, address, () => resolve()); });
    return new Client(socket, serverPort);
  }

  /** One confirmable request, one try; the response (piggybacked or separate). */
  request(packet: Packet, token = Buffer.from([Math.floor(Math.random() * 256), 7, 7, 7])): Promise<ParsedPacket> {
    return new Promise<ParsedPacket>((resolve, reject) => {
      const timer = setTimeout(() => { this.socket.off('message', onMessage); reject(new Error('no response in 3000 ms')); }, 3000);
      const onMessage = (msg: Buffer) => {
        const p = parse(msg);
        if (!p.token.equals(token)) return;
        if (p.confirmable) this.socket.send(generate({ code: '0.00', ack: true, messageId: p.messageId }), this.serverPort, '127.0.0.1');
        clearTimeout(timer);
        this.socket.off('message', onMessage);
        resolve(p);
      };
      this.socket.on('message', onMessage);
      // Up to what one UDP datagram holds: a larger body than a path MTU allows is possible (loopback, jumbo frames).
      this.socket.send(generate({ confirmable: true, messageId: Math.floor(Math.random() * 65536), ...packet, token }, 65_000), this.serverPort, '127.0.0.1');
    });
  }

  /**
   * A body larger than one datagram, as a device sends it: Block1 (RFC 7959 §2.3), 1024 bytes a
   * block, one token; each block but the last answered 2.31 Continue; the last block's answer.
   */
  async requestBlock1(packet: Packet & { payload: Buffer }): Promise<ParsedPacket> {
    if (packet.payload.length <= 1024) return this.request(packet);
    const token = Buffer.from([Math.floor(Math.random() * 256), 8, 8, 8]);
    for (let num = 0; ; num++) {
      const more = (num + 1) * 1024 < packet.payload.length;
      const block1 = { name: 'Block1' as const, value: Buffer.from(num < 16 ? [(num << 4) | (more ? 8 : 0) | 6] : [num >> 4, ((num & 15) << 4) | (more ? 8 : 0) | 6]) };
      const res = await this.request({ ...packet, options: [...(packet.options ?? []), block1], payload: packet.payload.subarray(num * 1024, (num + 1) * 1024) }, token);
      if (!more) return res;
      if (res.code !== '2.31') return res;
    }
  }

  register(endpoint: string, query: string[] = [], payload = Buffer.from('</1/0>,</3/0>')): Promise<ParsedPacket> {
    return this.requestBlock1({ code: 'POST', options: [...uriOptions('/rd', [`ep=${endpoint}`, ...query]), LINK_FORMAT], payload });
  }

  close(): void {
    this.socket.close();
  }
}

const uint = (b: Buffer | undefined): number | undefined => (b === undefined ? undefined : b.length === 0 ? 0 : b.readUIntBE(0, b.length));

forEachDatabase('coap/rd limits', ({ suite, get }) => {
  let ferry: Ferry | undefined;
  const clients: Client[] = [];
  const start = async (overrides: Partial<Config>): Promise<Ferry> => {
    ferry = await startTestFerry(get().db, { requestTimeout: 1, ...overrides });
    return ferry;
  };
  const client = async (address?: string): Promise<Client> => {
    const c = await Client.open(ferry!.coapAddress!.port, address);
    clients.push(c);
    return c;
  };
  suite.after.each(async () => {
    for (const c of clients.splice(0)) c.close();
    await ferry?.close();
    ferry = undefined;
  });
  const stored = async (): Promise<string[]> =>
    (await get().db.query<{ endpoint: string }>('SELECT endpoint FROM devices ORDER BY endpoint')).rows.map((r) => r.endpoint);
  const refusedMetric = async (reason: string): Promise<number> => {
    const m = new RegExp(`^ferry_registrations_refused_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(await ferry!.metrics.scrape());
    return Number(m?.[1]);
  };

  suite('a flood of new endpoints from one address is cut with 4.29 and Max-Age; known endpoints from it still register', async () => {
    await start({ ...NO_LIMITS, registerLimitIp: PER_HOUR(5) });
    await get().db.query("INSERT INTO devices (endpoint, status, lifetime, expires_at) VALUES ('known-before', 'expired', 60, now())");
    const codes: string[] = [];
    let refusal: ParsedPacket | undefined;
    for (let i = 0; i < 8; i++) {
      const res = await (await client()).register(`flood-${i}`); // a fresh port each: only the address counts
      codes.push(res.code);
      if (res.code === '4.29') refusal = res;
    }
    assert.equal(codes, ['2.01', '2.01', '2.01', '2.01', '2.01', '4.29', '4.29', '4.29']);
    const maxAge = uint(optionValues(refusal!, 'Max-Age')[0]);
    assert.ok(maxAge !== undefined && maxAge >= 1, `Max-Age ${maxAge}`);
    assert.match(refusal!.payload.toString(), /^FERRY_RD_RATE_LIMITED: too many registrations of new endpoints from this address; retry in \d+ s/);
    // Known endpoints are not counted: one registered in the flood, one known from before.
    const c = await client();
    assert.is((await c.register('flood-0', ['lt=120'])).code, '2.01');
    assert.is((await c.register('known-before')).code, '2.01');
    assert.is((await (await client('127.0.0.2')).register('other-address')).code, '2.01', 'another address has its own bucket');
    assert.equal(await stored(), ['flood-0', 'flood-1', 'flood-2', 'flood-3', 'flood-4', 'known-before', 'other-address']);
    assert.is(await refusedMetric('rate-ip'), 3);
    assert.is(await refusedMetric('rate-global'), 0);
  });

  suite('per address and port: one socket registering many new endpoints is cut, another socket of the address is not', async () => {
    await start({ ...NO_LIMITS, registerLimitIpPort: PER_HOUR(2) });
    const socket = await client();
    const codes = [];
    for (const ep of ['s-1', 's-2', 's-3']) codes.push((await socket.register(ep)).code);
    assert.equal(codes, ['2.01', '2.01', '4.29']);
    const refused = await socket.register('s-4');
    assert.match(refused.payload.toString(), /from this address and port/);
    assert.is((await socket.register('s-1', ['lt=300'])).code, '2.01', 'known: not limited');
    assert.is((await (await client()).register('s-5')).code, '2.01');
    assert.equal(await stored(), ['s-1', 's-2', 's-5']);
    assert.is(await refusedMetric('rate-ip-port'), 2);
  });

  suite('the global cap on new endpoints holds across addresses; a known endpoint still registers', async () => {
    await start({ ...NO_LIMITS, registerLimitGlobal: PER_HOUR(3) });
    const codes = [];
    for (const [i, address] of ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'].entries()) {
      const res = await (await client(address)).register(`g-${i}`);
      codes.push(res.code);
      if (res.code === '4.29') assert.match(res.payload.toString(), /on this server/);
    }
    assert.equal(codes, ['2.01', '2.01', '2.01', '4.29', '4.29']);
    assert.is((await (await client('127.0.0.9')).register('g-0')).code, '2.01');
    assert.equal(await stored(), ['g-0', 'g-1', 'g-2']);
    assert.is(await refusedMetric('rate-global'), 2);
  });

  suite('a simulated device refused with 4.29 waits out the Max-Age before it registers again (RFC 8516 §4)', async () => {
    await start({ ...NO_LIMITS, registerLimitGlobal: { rate: 1 / 3, burst: 1 } });
    assert.is((await (await client()).register('first')).code, '2.01');
    const events: SimDeviceEvent[] = [];
    const d = new SimDevice({ endpoint: 'later', server: { host: '127.0.0.1', port: ferry!.coapAddress!.port }, lifetime: 60, log: (e) => events.push(e) });
    try {
      await d.start();
      await eventually(() => (d.registered ? true : undefined), 20_000, 'the device registered');
      const failed = events.find((e) => e.type === 'registration-failed');
      assert.ok(failed?.type === 'registration-failed' && /4\.29/.test(failed.reason), 'refused once with 4.29');
      // Max-Age ≥ 3 s here (one new endpoint each 3 s); the device's own first backoff is 1–2 s.
      assert.ok(failed.retryInMs >= 3000, `waited ${failed.retryInMs} ms`);
    } finally {
      await d.stop();
    }
  });

  suite('the default limits let a first fleet of 100 new devices behind one address register at once', async () => {
    await start({});
    const clientsUp = await Promise.all(Array.from({ length: 100 }, () => client()));
    const codes = await Promise.all(clientsUp.map((c, i) => c.register(`fleet-${i}`).then((r) => r.code)));
    assert.equal(codes.filter((c) => c !== '2.01'), []);
  });

  suite('a payload above --max-registration-payload: 4.13 with Size1 = the limit, on Register and Update; at the limit: accepted', async () => {
    await start({});
    const LIMIT = 8192;
    // Valid link-format padded with a title to exactly n bytes.
    const links = (n: number) => {
      const head = '</1/0>,</3/0>;title="';
      return Buffer.from(`${head}${'x'.repeat(n - head.length - 1)}"`);
    };
    assert.is(links(LIMIT).length, LIMIT);
    const c = await client();
    const register = (ep: string, payload: Buffer) => c.request({ code: 'POST', options: [...uriOptions('/rd', [`ep=${ep}`]), LINK_FORMAT], payload });
    // In one datagram.
    const big = await register('big-1', links(LIMIT + 1));
    assert.is(big.code, '4.13');
    assert.is(uint(optionValues(big, 'Size1')[0]), LIMIT);
    assert.match(big.payload.toString(), /^FERRY_RD_PAYLOAD_TOO_LARGE: registration payload of 8193 bytes is above the limit of 8192 bytes/);
    assert.is(await refusedMetric('payload-too-large'), 1);
    const ok = await register('big-1', links(LIMIT));
    assert.is(ok.code, '2.01');
    const id = String(optionValues(ok, 'Location-Path')[1]);
    const update = (payload: Buffer) => c.request({ code: 'POST', options: [...uriOptions(`/rd/${id}`), LINK_FORMAT], payload });
    const upd = await update(links(LIMIT + 100));
    assert.is(upd.code, '4.13');
    assert.is(uint(optionValues(upd, 'Size1')[0]), LIMIT);
    // Block-wise (RFC 7959), as a device sends a body larger than a datagram: refused too, Size1 the limit.
    for (const res of [await c.register('big-2', [], links(LIMIT + 1)), await c.requestBlock1({ code: 'POST', options: [...uriOptions(`/rd/${id}`), LINK_FORMAT], payload: links(3 * LIMIT) })]) {
      assert.is(res.code, '4.13');
      assert.is(uint(optionValues(res, 'Size1')[0]), LIMIT);
      assert.match(res.payload.toString(), /8192 bytes/);
    }
    assert.is((await c.register('big-3', [], links(LIMIT))).code, '2.01', 'block-wise at the limit');
    assert.equal(await stored(), ['big-1', 'big-3']);
    assert.is((await get().db.query<{ n: number }>("SELECT length(object_links) AS n FROM devices WHERE endpoint = 'big-1'")).rows[0]?.n, LIMIT, 'the Updates changed nothing');
  });

  suite('--max-registration-payload sets the cap', async () => {
    await start({ maxRegistrationPayload: 100 });
    const res = await (await client()).register('small-1', [], Buffer.from(`</1/0>,</3/0>;title="${'y'.repeat(100)}"`));
    assert.is(res.code, '4.13');
    assert.is(uint(optionValues(res, 'Size1')[0]), 100);
  });

  suite('lifetime: above --max-lifetime a 4.00 naming the maximum (Register and Update); at it 2.01; the smallest is 1 s', async () => {
    await start({});
    const MAX = 30 * 86400;
    const c = await client();
    const over = await c.register('lt-1', [`lt=${MAX + 1}`]);
    assert.is(over.code, '4.00');
    assert.match(over.payload.toString(), new RegExp(`lt=${MAX + 1} is above this server's maximum lifetime of ${MAX} s`));
    assert.is((await c.register('lt-2', ['lt=2147483647'])).code, '4.00');
    const at = await c.register('lt-1', [`lt=${MAX}`]);
    assert.is(at.code, '2.01');
    assert.is((await get().db.query<{ lifetime: number }>("SELECT lifetime FROM devices WHERE endpoint = 'lt-1'")).rows[0]?.lifetime, MAX);
    const id = String(optionValues(at, 'Location-Path')[1]);
    const upd = await c.request({ code: 'POST', options: uriOptions(`/rd/${id}`, [`lt=${MAX + 1}`]) });
    assert.is(upd.code, '4.00');
    assert.match(upd.payload.toString(), /maximum lifetime/);
    assert.is((await get().db.query<{ lifetime: number }>("SELECT lifetime FROM devices WHERE endpoint = 'lt-1'")).rows[0]?.lifetime, MAX, 'not clamped, not changed');
    assert.is((await c.request({ code: 'POST', options: uriOptions(`/rd/${id}`, [`lt=${MAX}`]) })).code, '2.04');
    assert.is((await c.register('lt-3', ['lt=1'])).code, '2.01');
    assert.is((await c.register('lt-4', ['lt=0'])).code, '4.00');
    assert.equal(await stored(), ['lt-1', 'lt-3']);
    assert.is(await refusedMetric('lifetime-too-long'), 3);
  });

  suite('a maximum below the default lifetime (86400 s): a Register without lt= is refused, saying so', async () => {
    await start({ maxLifetime: 3600 });
    const res = await (await client()).register('no-lt');
    assert.is(res.code, '4.00');
    assert.match(res.payload.toString(), /^FERRY_RD_LIFETIME: lt=86400 \(the default\) is above this server's maximum lifetime of 3600 s/);
    assert.is((await (await client()).register('short-lt', ['lt=3600'])).code, '2.01');
  });

  suite('the sweep purges a device gone past --device-retention holding nothing; a tagged one and one with an update stay; events keep the endpoint', async () => {
    const f = await start({ deviceRetention: 1 });
    const c = await client();
    for (const ep of ['gone-1', 'tagged-1', 'updated-1']) assert.is((await c.register(ep, ['lt=1'])).code, '2.01');
    const bye = await c.register('bye-1', ['lt=600']);
    assert.is((await c.request({ code: 'DELETE', options: uriOptions(`/rd/${String(optionValues(bye, 'Location-Path')[1])}`) })).code, '2.02');
    assert.is((await c.register('alive-1', ['lt=600'])).code, '2.01');
    assert.is((await f.api.inject({ method: 'PUT', url: '/api/v1/devices/tagged-1/tags', payload: { tags: ['pilot'] } })).statusCode, 200);
    const upload = await f.api.inject({ method: 'POST', url: '/api/v1/firmware?version=2.0.0&hardwareClass=sim-1', headers: { 'content-type': 'application/octet-stream' }, payload: Buffer.from('image') });
    assert.is(upload.statusCode, 201, upload.body);
    assert.is((await f.api.inject({ method: 'POST', url: '/api/v1/devices/updated-1/update', payload: { firmwareId: upload.json().id } })).statusCode, 202);
    await eventually(async () => ((await stored()).includes('gone-1') || (await stored()).includes('bye-1') ? undefined : true), 15_000, 'the purge');
    assert.equal(await stored(), ['alive-1', 'tagged-1', 'updated-1']);
    const events = await f.api.inject({ method: 'GET', url: '/api/v1/events?endpoint=gone-1' });
    assert.is(events.statusCode, 200);
    const items = events.json().items as Array<{ kind: string; endpoint: string; deviceId: number | null }>;
    assert.equal(items.map((e) => e.kind), ['registration.created', 'registration.expired']);
    assert.ok(items.every((e) => e.endpoint === 'gone-1' && e.deviceId === null), JSON.stringify(items));
    const purges = (await f.api.inject({ method: 'GET', url: '/api/v1/events?kind=device.purged' })).json().items as Array<{ data: { endpoints: string[] } }>;
    assert.equal(purges.flatMap((p) => p.data.endpoints).sort(), ['bye-1', 'gone-1']);
    // Back again: a new device under the old name, registered though unknown now.
    assert.is((await exchange(f.coapAddress!.port, { code: 'POST', options: [...uriOptions('/rd', ['ep=gone-1']), LINK_FORMAT], payload: Buffer.from('</3/0>') })).code, '2.01');
  });
});
