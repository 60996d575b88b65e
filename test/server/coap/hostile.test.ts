// A device that answers with garbage: every malformed payload becomes a clear API error (502 with
// the decoder's reason), the server keeps running, and another device's state is untouched.
import * as assert from 'uvu/assert';
import type { Ferry } from '../../../server/main.ts';
import * as devices from '../../../server/store/devices.ts';
import { CoapEndpoint } from '../../../simulator/coap/endpoint.ts';
import { SimDevice } from '../../../simulator/device.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { eventually, startTestFerry } from '../../helpers/ferry.ts';

const GARBAGE: Array<[string, number, Buffer]> = [
  ['TLV length past the end', 11542, Buffer.from([0xc8, 0x00, 0x14, 0x41])],
  ['TLV truncated header', 11542, Buffer.from([0xe8])],
  ['TLV string not UTF-8', 11542, Buffer.from([0xc3, 0x00, 0xff, 0xfe, 0x41])],
  ['SenML-JSON not JSON', 110, Buffer.from('[{"n":"0","v":')],
  ['SenML-JSON wrong shape', 110, Buffer.from('{"bn":"/3/0/"}')],
  ['SenML-CBOR truncated', 112, Buffer.from([0x81, 0xa2, 0x21])],
  ['SenML-CBOR deep nesting', 112, Buffer.alloc(600, 0x81)],
  ['text not UTF-8', 0, Buffer.from([0xff, 0xfe, 0x41])],
  ['LwM2M-CBOR garbage', 11544, Buffer.from([0xbf, 0xff, 0x00])],
  ['unknown content format', 65000, Buffer.from('x')],
  ['a large TLV full of zero-length resources', 11542, Buffer.alloc(16_000, 0)],
];

forEachDatabase('coap/hostile device', ({ suite, get }) => {
  let ferry: Ferry;
  let evil: CoapEndpoint;
  let good: SimDevice;
  // before.each: the database is emptied before each test, after plain before hooks.
  suite.before.each(async () => {
    ferry = await startTestFerry(get().db, { requestTimeout: 2 });
    good = new SimDevice({ endpoint: 'good-0', server: { host: '127.0.0.1', port: ferry.coapAddress!.port }, lifetime: 60 });
    await good.start();
    evil = await CoapEndpoint.bind({ bindAddress: '127.0.0.1' });
  });
  suite.after.each(async () => { await good.stop(); await evil.close(); await ferry.close(); });

  suite('every malformed answer is a 502 with a reason; nothing else changes', async () => {
    let current = GARBAGE[0]!;
    evil.onRequest((_req, reply) => reply({ code: '2.05', contentFormat: current[1], payload: current[2] }));
    const reg = await evil.request({
      host: '127.0.0.1', port: ferry.coapAddress!.port, method: 'POST', pathSegments: ['rd'],
      query: ['ep=evil-0', 'lt=60', 'lwm2m=1.1'], contentFormat: 40, payload: '</>;rt="oma.lwm2m";ct=11542,</3/0>',
    });
    assert.is(reg.code, '2.01');
    const goodBefore = await eventually(async () => {
      const d = await devices.findByEndpoint(get().db, 'good-0');
      return d?.firmwareVersion ? d : undefined;
    }, 5000, 'good device inventory');
    for (const g of GARBAGE) {
      current = g;
      const res = await ferry.api.inject({ method: 'GET', url: '/api/v1/devices/evil-0/lwm2m/3/0' });
      assert.ok(res.statusCode >= 400 && res.statusCode < 600 && res.statusCode !== 500, `${g[0]}: ${res.statusCode}`);
      assert.type(res.json().message, 'string', g[0]);
    }
    const ok = await ferry.api.inject({ method: 'GET', url: '/api/v1/devices/good-0/lwm2m/3/0/3' });
    assert.is(ok.statusCode, 200);
    assert.is(ok.json().values[0].value, '1.0.0');
    const goodAfter = await devices.findByEndpoint(get().db, 'good-0');
    assert.equal({ ...goodAfter, lastSeen: 0, expiresAt: 0 }, { ...goodBefore, lastSeen: 0, expiresAt: 0 });
    const evilRow = await devices.findByEndpoint(get().db, 'evil-0');
    assert.is(evilRow?.firmwareVersion, null, 'a garbage /3/0 stored nothing');
  });
});
