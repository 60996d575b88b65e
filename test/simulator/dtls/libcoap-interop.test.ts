/**
 * The simulator's DTLS client against libcoap's example servers, as outside peers written on
 * other DTLS stacks: coap-server-openssl (OpenSSL) and coap-server-gnutls (GnuTLS), each on
 * 127.0.0.1 with a PSK. A CoAP GET goes over the session (coap-packet's generate/parse), then the
 * CoAP endpoint runs over the DTLS layer, with and without a lossy link underneath.
 */
import { generate, parse } from 'coap-packet';
import type { ParsedPacket } from 'coap-packet';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { realClock, seededRandom } from '../../../simulator/clock.ts';
import { CoapEndpoint } from '../../../simulator/coap/endpoint.ts';
import { emptyLinkStats, faultyLink } from '../../../simulator/coap/faulty-link.ts';
import { bindUdp } from '../../../simulator/coap/transport.ts';
import { DtlsError } from '../../../simulator/dtls/errors.ts';
import { Suite } from '../../../simulator/dtls/session.ts';
import { DtlsTransport, dtlsClientLayer } from '../../../simulator/dtls/transport.ts';
import type { DtlsTransportOptions } from '../../../simulator/dtls/transport.ts';
import { until, within } from '../helpers.ts';
import { hasCommand, startLibcoap } from './libcoap.ts';
import type { LibcoapServer } from './libcoap.ts';

const KEY = 'ferry-psk-0123';
const HINT = 'ferry-hint';
const FAST = { initialTimeoutMs: 250, maxRetransmits: 4 };

async function connect(srv: LibcoapServer, extra: Partial<DtlsTransportOptions> = {}): Promise<DtlsTransport> {
  const opts: DtlsTransportOptions = { server: { address: '127.0.0.1', port: srv.dtlsPort }, psk: Buffer.from(KEY), identity: Buffer.from('sim-device-1'), ...FAST, ...extra };
  return new DtlsTransport(await bindUdp('127.0.0.1'), opts);
}

async function get(t: DtlsTransport, srv: LibcoapServer, path: string): Promise<ParsedPacket> {
  const answer = new Promise<ParsedPacket>((resolve) => t.onMessage((buf) => resolve(parse(buf))));
  const token = Buffer.from([0x7e, path.length]);
  const req = generate({ messageId: 0x1234, token, code: 'GET', confirmable: true, options: path === '' ? [] : [{ name: 'Uri-Path', value: Buffer.from(path) }] });
  t.send(req, { address: '127.0.0.1', port: srv.dtlsPort });
  const res = await within(answer, 3000, `answer to GET /${path}`);
  assert.equal(res.token, token);
  return res;
}

function suite(binary: string): void {
  const name = binary.replace('coap-server-', '');
  if (!hasCommand(binary)) {
    test(`${binary} is not installed: its interop tests are skipped`, () => {
      console.log(`  SKIPPED: ${binary} not found on PATH`);
    });
    return;
  }

  test(`${name}: PSK handshake (CCM_8, extended master secret), GET /time and GET /, close_notify`, async () => {
    const srv = await startLibcoap(binary, KEY, HINT);
    try {
      const t = await connect(srv);
      await within(t.ready, 5000, 'handshake');
      assert.is(t.session.identityHint.toString(), HINT);
      assert.is(t.session.tagLength, 8);
      const time = await get(t, srv, 'time');
      assert.is(time.code, '2.05');
      assert.ok(time.payload.length > 0);
      const root = await get(t, srv, '');
      assert.is(root.code, '2.05');
      assert.match(root.payload.toString(), /libcoap/i);
      const missing = await get(t, srv, 'no-such-resource');
      assert.is(missing.code, '4.04');
      await t.close();
    } finally {
      await srv.stop();
    }
  });

  test(`${name}: close_notify both ways`, async () => {
    const srv = await startLibcoap(binary, KEY, HINT);
    try {
      const ours = await connect(srv);
      await within(ours.ready, 5000, 'handshake');
      await ours.close();
      if (name === 'openssl') await until(() => /alert read:warning:close notify/i.test(srv.log()), 2000, 'the server reading our close_notify');
      let closed = false;
      const theirs = await connect(srv, { onClosed: () => (closed = true) });
      await within(theirs.ready, 5000, 'handshake');
      await srv.stop();
      await until(() => closed, 2000, "the server's close_notify");
      assert.not.ok(theirs.session.established);
      await theirs.close();
    } finally {
      await srv.stop();
    }
  });

  test(`${name}: TLS_PSK_WITH_AES_128_CCM (16-byte tag) when only it is offered`, async () => {
    const srv = await startLibcoap(binary, KEY, HINT);
    try {
      const t = await connect(srv, { suites: [Suite.PSK_AES_128_CCM] });
      await within(t.ready, 5000, 'handshake');
      assert.is(t.session.tagLength, 16);
      assert.is((await get(t, srv, 'time')).code, '2.05');
      await t.close();
    } finally {
      await srv.stop();
    }
  });

  test(`${name}: offering connection_id is harmless; the server issues no CID`, async () => {
    const srv = await startLibcoap(binary, KEY, HINT);
    try {
      const t = await connect(srv, { useCid: true });
      await within(t.ready, 5000, 'handshake');
      assert.is(t.session.peerCid, undefined, 'this libcoap build negotiates no RFC 9146 CID');
      assert.is((await get(t, srv, 'time')).code, '2.05');
      const other = await bindUdp('127.0.0.1');
      try {
        await t.rebind(other);
        assert.unreachable('rebinding without a CID must be refused');
      } catch (err) {
        assert.instance(err, DtlsError);
        assert.match((err as Error).message, /Connection ID/);
      }
      await other.close();
      await t.close();
    } finally {
      await srv.stop();
    }
  });

  test(`${name}: a wrong PSK fails the handshake with an alert or a timeout`, async () => {
    const srv = await startLibcoap(binary, KEY, HINT);
    try {
      const t = await connect(srv, { psk: Buffer.from('not-the-key'), initialTimeoutMs: 200, maxRetransmits: 3 });
      const err = await within(t.ready.then(() => undefined, (e: unknown) => e), 10_000, 'handshake failure');
      assert.instance(err, DtlsError);
      const e = err as DtlsError;
      assert.ok(e.kind === 'alert' || e.kind === 'timeout', e.message);
      console.log(`  ${name}, wrong PSK: ${e.kind}: ${e.message}`);
      // A datagram sent after the failure waits for a new handshake, which fails the same way.
      const sendErr = await within(new Promise<Error | undefined>((resolve) => t.send(Buffer.from([0x40, 1, 0, 1]), { address: '127.0.0.1', port: srv.dtlsPort }, resolve)), 10_000, 'second handshake');
      assert.instance(sendErr, DtlsError, 'the send reports the new handshake\'s failure');
      assert.is(t.counters.failures, 2);
      assert.is(t.counters.handshakes, 0);
      await t.close();
    } finally {
      await srv.stop();
    }
  });

  test(`${name}: the CoAP endpoint over the DTLS layer`, async () => {
    const srv = await startLibcoap(binary, KEY, HINT);
    const dtls = { server: { address: '127.0.0.1', port: srv.dtlsPort }, psk: Buffer.from(KEY), identity: Buffer.from('sim-device-2'), ...FAST };
    const ep = await CoapEndpoint.bind({ ackTimeoutMs: 500, requestTimeoutMs: 8000, layers: [dtlsClientLayer(dtls)] });
    try {
      const res = await ep.request({ host: '127.0.0.1', port: srv.dtlsPort, method: 'GET', pathSegments: ['time'] });
      assert.is(res.code, '2.05');
    } finally {
      await ep.close();
      await srv.stop();
    }
  });

  // Against coap-server-gnutls this also needs the lone epoch-1 Finished of our retransmissions:
  // once finished, GnuTLS discards the epoch-0 records of our repeated flight ("invalid
  // decryption") and resends its own last flight only on reading our Finished.
  test(`${name}: handshake and GET over a lossy link (retransmission on both sides)`, async () => {
    const srv = await startLibcoap(binary, KEY, HINT);
    const stats = emptyLinkStats();
    const dtls = { server: { address: '127.0.0.1', port: srv.dtlsPort }, psk: Buffer.from(KEY), identity: Buffer.from('sim-device-3'), initialTimeoutMs: 200, maxTimeoutMs: 2000, maxRetransmits: 12 };
    const ep = await CoapEndpoint.bind({
      ackTimeoutMs: 400,
      maxRetransmit: 6,
      requestTimeoutMs: 20_000,
      layers: [faultyLink({ loss: 0.3 }, realClock, seededRandom(5), stats), dtlsClientLayer(dtls)],
    });
    try {
      const res = await ep.request({ host: '127.0.0.1', port: srv.dtlsPort, method: 'GET', pathSegments: ['time'] });
      assert.is(res.code, '2.05');
      assert.ok(stats.lost > 0, 'the link lost datagrams');
    } finally {
      await ep.close();
      await srv.stop();
    }
  });
}

suite('coap-server-openssl');
suite('coap-server-gnutls');

test.run();
