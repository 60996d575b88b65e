// The LwM2M Registration interface (TS Transport §6.2: Register, Update, De-register) over real
// UDP, spoken by raw coap-packet datagrams, on every test database.
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import * as assert from 'uvu/assert';
import type { Ferry } from '../../../server/main.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { eventually, exchange, optionValues, startTestFerry, uriOptions } from '../../helpers/ferry.ts';

const LINKS = Buffer.from('</>;rt="oma.lwm2m";ct=11542,</1/0>,</3/0>,</5>;ver=1.1,</5/0>');
const LINK_FORMAT = { name: 'Content-Format' as const, value: Buffer.from([40]) };
const rmemMax = (): number => { try { return Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8')); } catch { return 0; } };

forEachDatabase('coap/rd', ({ suite, get }) => {
  let ferry: Ferry;
  suite.before(async () => { ferry = await startTestFerry(get().db, { requestTimeout: 1 }); });
  suite.after(async () => { await ferry.close(); });

  const port = () => ferry.coapAddress!.port;
  const register = (query: string[], payload = LINKS, extra: { name: 'Content-Format'; value: Buffer }[] = [LINK_FORMAT]) =>
    exchange(port(), { code: 'POST', options: [...uriOptions('/rd', query), ...extra], payload });
  const device = async (endpoint: string) =>
    (await get().db.query<Record<string, unknown>>('SELECT * FROM devices WHERE endpoint = $1', [endpoint])).rows[0];

  suite('Register: 2.01 Created with Location-Path rd/<id>, stored with its parameters (§6.2.1)', async () => {
    const res = await register(['ep=dev-1', 'lt=120', 'lwm2m=1.1', 'b=U']);
    assert.is(res.code, '2.01');
    const location = optionValues(res, 'Location-Path').map(String);
    assert.is(location.length, 2);
    assert.is(location[0], 'rd');
    const row = await device('dev-1');
    assert.ok(row);
    assert.is(row['registration_id'], location[1]);
    assert.is(row['status'], 'registered');
    assert.is(row['lifetime'], 120);
    assert.is(row['lwm2m_version'], '1.1');
    assert.is(row['binding'], 'U');
    assert.is(row['object_links'], LINKS.toString());
    assert.is(row['root_path'], '/');
    assert.equal(row['content_formats'], [11542]);
    assert.equal(row['objects'], [
      { objectId: 1, instances: [0] }, { objectId: 3, instances: [0] }, { objectId: 5, version: '1.1', instances: [0] },
    ]);
    assert.is(row['address'], '127.0.0.1');
    const events = await get().db.query<{ kind: string }>('SELECT kind FROM events WHERE device_id = $1', [row['id']]);
    assert.equal(events.rows.map((e) => e.kind), ['registration.created']);
  });

  suite('Update: 2.04 Changed, new lifetime; unknown id → 4.04 with a diagnostic (§6.2.2)', async () => {
    const reg = await register(['ep=dev-2', 'lt=60']);
    const id = String(optionValues(reg, 'Location-Path')[1]);
    const upd = await exchange(port(), { code: 'POST', options: uriOptions(`/rd/${id}`, ['lt=300']) });
    assert.is(upd.code, '2.04');
    assert.is((await device('dev-2'))?.['lifetime'], 300);
    const badLinks = await exchange(port(), { code: 'POST', options: [...uriOptions(`/rd/${id}`), LINK_FORMAT], payload: Buffer.from('</3/0>,</x/y>') });
    assert.is(badLinks.code, '4.00', 'an Update payload is checked as a Register one is');
    const unknown = await exchange(port(), { code: 'POST', options: uriOptions('/rd/nosuchid') });
    assert.is(unknown.code, '4.04');
    assert.is(unknown.payload.toString(), 'FERRY_RD_NOT_FOUND: no registration nosuchid');
  });

  suite('De-register: 2.02 Deleted, then the id is gone (§6.2.3)', async () => {
    const reg = await register(['ep=dev-3']);
    const id = String(optionValues(reg, 'Location-Path')[1]);
    assert.is((await exchange(port(), { code: 'DELETE', options: uriOptions(`/rd/${id}`) })).code, '2.02');
    assert.is((await device('dev-3'))?.['status'], 'deregistered');
    assert.is((await exchange(port(), { code: 'DELETE', options: uriOptions(`/rd/${id}`) })).code, '4.04');
    assert.is((await exchange(port(), { code: 'POST', options: uriOptions(`/rd/${id}`) })).code, '4.04');
  });

  suite('a new registration of a known endpoint replaces the old one', async () => {
    const first = String(optionValues(await register(['ep=dev-4']), 'Location-Path')[1]);
    const second = String(optionValues(await register(['ep=dev-4', 'lt=90']), 'Location-Path')[1]);
    assert.is.not(first, second);
    const rows = await get().db.query('SELECT registration_id FROM devices WHERE endpoint = $1', ['dev-4']);
    assert.equal(rows.rows, [{ registration_id: second }]);
    assert.is((await exchange(port(), { code: 'POST', options: uriOptions(`/rd/${first}`) })).code, '4.04');
  });

  suite('a registration whose lifetime passes is marked expired, and ends as a De-register does (the left hook)', async () => {
    const forgotten: string[] = [];
    ferry.dm.onForget((endpoint) => forgotten.push(endpoint));
    const counted = async (kind: string) => (await ferry.metrics.registry.getSingleMetric('ferry_registrations_total')?.get())
      ?.values.find((v) => v.labels['kind'] === kind)?.value;
    const expiredBefore = await counted('expire');
    const deregisteredBefore = await counted('deregister');
    await register(['ep=dev-5', 'lt=1']);
    await eventually(async () => ((await device('dev-5'))?.['status'] === 'expired' ? true : undefined), 5000, 'expiry');
    const events = await get().db.query<{ kind: string }>(
      "SELECT kind FROM events WHERE kind = 'registration.expired' AND device_id = (SELECT id FROM devices WHERE endpoint = 'dev-5')");
    assert.is(events.rows.length, 1);
    await eventually(async () => (forgotten.includes('dev-5') ? true : undefined), 2000, 'the DM client forgot the device');
    assert.is(await counted('expire'), (expiredBefore ?? 0) + 1, 'counted as an expiry');
    assert.is(await counted('deregister'), deregisteredBefore, 'not as a De-register');
  });

  suite('bad registrations get a 4.xx with a diagnostic and store nothing', async () => {
    const cases: Array<[string, Promise<{ code: string; payload: Buffer }>, string, string]> = [
      ['no ep', register(['lt=60']), '4.00', 'FERRY_DECODE'],
      ['lt not a number', register(['ep=bad-1', 'lt=abc']), '4.00', 'FERRY_DECODE'],
      ['lt zero', register(['ep=bad-2', 'lt=0']), '4.00', 'FERRY_DECODE'],
      ['malformed link-format', register(['ep=bad-3'], Buffer.from('</1/0,<3/0>')), '4.00', 'FERRY_DECODE'],
      ['not UTF-8', register(['ep=bad-4'], Buffer.from([0x3c, 0xff, 0xfe, 0x3e])), '4.00', 'FERRY_DECODE'],
      ['unsupported LwM2M version (Transport §6.2.1: 4.12)', register(['ep=bad-6', 'lwm2m=9.9']), '4.12', 'FERRY_RD_LWM2M_VERSION'],
      ['a link that is not an object or instance', register(['ep=bad-7'], Buffer.from('</1/0>,</x/y>')), '4.00', 'FERRY_DECODE'],
      ['NUL in a quoted title', register(['ep=bad-8'], Buffer.from('</1/0>;title="a\u0000b"')), '4.00', 'FERRY_DECODE'],
      ['NUL in a quoted ver', register(['ep=bad-9'], Buffer.from('</5>;ver="1\u0000",</5/0>')), '4.00', 'FERRY_DECODE'],
      ['Uri-Query not UTF-8', exchange(port(), {
        code: 'POST', payload: LINKS,
        options: [...uriOptions('/rd', ['lt=60']), { name: 'Uri-Query', value: Buffer.from([0x65, 0x70, 0x3d, 0x61, 0xff, 0xfe]) }, LINK_FORMAT],
      }), '4.00', 'FERRY_DECODE'],
      ['JSON content-format', register(['ep=bad-5'], LINKS, [{ name: 'Content-Format', value: Buffer.from([50]) }]), '4.15', 'FERRY_RD_CONTENT_FORMAT'],
      ['GET /rd', exchange(port(), { code: 'GET', options: uriOptions('/rd') }), '4.05', 'FERRY_COAP_METHOD_NOT_ALLOWED'],
      ['PUT /rd/x', exchange(port(), { code: 'PUT', options: uriOptions('/rd/x') }), '4.05', 'FERRY_COAP_METHOD_NOT_ALLOWED'],
      ['unknown resource', exchange(port(), { code: 'GET', options: uriOptions('/nope') }), '4.04', 'FERRY_COAP_NOT_FOUND'],
    ];
    for (const [what, pending, code, error] of cases) {
      const res = await pending;
      assert.is(res.code, code, what);
      assert.ok(res.payload.length > 0, `${what}: diagnostic payload`);
      assert.ok(res.payload.toString().startsWith(`${error}: `), `${what}: ${res.payload.toString()}`);
    }
    const count = await get().db.query<{ n: number }>('SELECT count(*)::int AS n FROM devices');
    assert.is(count.rows[0]?.n, 0);
  });

  suite('the diagnostics name the fault: version, path, control character, UTF-8', async () => {
    assert.match((await register(['ep=d-1', 'lwm2m=9.9'])).payload.toString(), /9\.9 is not supported/);
    assert.match((await register(['ep=d-2'], Buffer.from('</x/y>'))).payload.toString(), /<\/x\/y> is not an LwM2M object/);
    assert.match((await register(['ep=d-3'], Buffer.from('</1/0>;title="\u0000"'))).payload.toString(), /control character U\+0000/);
    const raw = await exchange(port(), { code: 'POST', options: [{ name: 'Uri-Path', value: Buffer.from('rd') }, { name: 'Uri-Query', value: Buffer.from([0x65, 0x70, 0x3d, 0xc0, 0x80]) }] });
    assert.is(raw.code, '4.00');
    assert.match(raw.payload.toString(), /Uri-Query value is not valid UTF-8/);
  });

  suite('the SMS number (sms=, an MSISDN) is stored on Register and changed by an Update', async () => {
    const reg = await register(['ep=sms-1', 'lwm2m=1.1', 'b=US', 'sms=4915112345678']);
    assert.is(reg.code, '2.01');
    assert.is((await device('sms-1'))?.['sms_number'], '4915112345678');
    assert.is((await device('sms-1'))?.['binding'], 'US');
    const id = String(optionValues(reg, 'Location-Path')[1]);
    assert.is((await exchange(port(), { code: 'POST', options: uriOptions(`/rd/${id}`, ['sms=15550100']) })).code, '2.04');
    assert.is((await device('sms-1'))?.['sms_number'], '15550100');
    assert.is((await register(['ep=sms-2', 'sms=+4915'])).code, '4.00', 'a leading + is not an MSISDN');
  });

  suite('LwM2M 1.0, 1.1 and 1.2 are accepted', async () => {
    for (const v of ['1.0', '1.1', '1.2']) assert.is((await register([`ep=v-${v}`, `lwm2m=${v}`])).code, '2.01', v);
  });

  suite('a hostile Register among concurrent good ones: the good ones get 2.01 and are stored', async () => {
    const hostile = [
      register(['ep=evil-1'], Buffer.from('</1/0>;title="a\u0000b",</3/0>')),
      register(['ep=evil-2'], Buffer.from('</5>;ver="1\u0000",</5/0>')),
    ];
    const good = Array.from({ length: 8 }, (_, i) => register([`ep=good-${i}`, 'lt=60']));
    const [bad, ok] = await Promise.all([Promise.all(hostile), Promise.all(good)]);
    assert.equal(bad.map((r) => r.code), ['4.00', '4.00']);
    assert.equal(ok.map((r) => r.code), Array(8).fill('2.01'));
    const rows = await get().db.query<{ endpoint: string }>("SELECT endpoint FROM devices WHERE endpoint LIKE 'good-%' OR endpoint LIKE 'evil-%' ORDER BY endpoint");
    assert.equal(rows.rows.map((r) => r.endpoint), Array.from({ length: 8 }, (_, i) => `good-${i}`));
  });

  suite('a burst of 800 Registers at once (a fleet back after an outage): each answered 2.01, none lost in the socket buffer', async () => {
    // One datagram each, no retransmission: a datagram the socket's receive buffer drops is a timeout here.
    // The kernel caps the buffer at net.core.rmem_max; where that is the small default, a smaller burst.
    const burst = rmemMax() >= 2 * 1024 * 1024 ? 800 : 150;
    // The fleet is known (its registrations expired in the outage): the limits on new endpoints
    // (200 at once from one address, 500 on the server, by default) do not apply to it.
    await get().db.query(
      `INSERT INTO devices (endpoint, status, lifetime, expires_at)
       SELECT 'burst-' || i, 'expired', 60, now() FROM generate_series(0, $1::int - 1) AS i`, [burst]);
    const out = await Promise.all(Array.from({ length: burst }, (_, i) => exchange(port(), {
      code: 'POST', options: [...uriOptions('/rd', [`ep=burst-${i}`, 'lt=60']), LINK_FORMAT], payload: Buffer.from('</3/0>'),
    }, 20_000).then((r) => r.code, (e: Error) => e.message)));
    assert.equal(out.filter((c) => c !== '2.01'), []);
    const n = await get().db.query<{ n: number }>("SELECT count(*)::int AS n FROM devices WHERE endpoint LIKE 'burst-%'");
    assert.is(n.rows[0]?.n, burst);
  });

  suite('garbage datagrams are dropped without a crash or a reply', async () => {
    const socket = createSocket('udp4');
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
    const replies: Buffer[] = [];
    socket.on('message', (m) => replies.push(m));
    for (const junk of [Buffer.alloc(0), Buffer.from([0xff]), Buffer.from('hello world'), Buffer.from([0x40, 0x01, 0x00])]) {
      socket.send(junk, port(), '127.0.0.1');
    }
    await new Promise((r) => setTimeout(r, 300));
    socket.close();
    assert.is(replies.filter((m) => m.length > 0 && (m[1]! >> 5) >= 4).length, 0, 'no error responses to unparseable datagrams');
    assert.is((await register(['ep=after-junk'])).code, '2.01');
  });

  suite('interop: libcoap coap-client-notls registers with a hand-written payload and the API lists it', async () => {
    const url = `coap://127.0.0.1:${port()}/rd?ep=libcoap-1&lt=90&lwm2m=1.1&b=U`;
    let out: { stdout: string; stderr: string };
    try {
      out = await promisify(execFile)('coap-client-notls', ['-m', 'post', '-t', '40', '-v', '6', '-B', '10',
        '-e', '</>;rt="oma.lwm2m";ct="60 110 112 11542",</1/0>,</3/0>,</5>;ver=1.1,</5/0>', url], { timeout: 20_000 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') assert.unreachable('coap-client-notls is not installed: apt-get install libcoap3-bin');
      throw err;
    }
    assert.match(out.stdout + out.stderr, /2\.01/);
    const list = await ferry.api.inject({ method: 'GET', url: '/api/v1/devices' });
    const d = list.json().items.find((x: { endpoint: string }) => x.endpoint === 'libcoap-1');
    assert.ok(d, 'listed');
    assert.is(d.lifetime, 90);
    assert.is(d.lwm2mVersion, '1.1');
    const row = await device('libcoap-1');
    assert.equal(row?.['content_formats'], [60, 110, 112, 11542]);
  });
});
