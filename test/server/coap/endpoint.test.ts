// The LwM2M socket before and after it serves: bound first (so the DM client and the engine can be
// built on its agent), it answers 5.03 with Max-Age until its handler is given, then the handler.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CoapEndpoint } from '../../../server/coap/endpoint.ts';
import { silentLogger } from '../../../server/log.ts';
import { exchange, optionValues, uriOptions } from '../../helpers/ferry.ts';

test('5.03 Service Unavailable with Max-Age 1 until serve(), then the handler answers', async () => {
  const coap = await CoapEndpoint.listen({ host: '127.0.0.1', port: 0, log: silentLogger() });
  try {
    const port = coap.address().port;
    // A request the size of a Register: an unproven address gets no answer over 3× its request's size.
    const request = { code: 'POST', confirmable: true, options: uriOptions('/rd', ['ep=endpoint-test-1', 'lt=60']), payload: Buffer.from('</1/0>,</3/0>,</5/0>') } as const;
    const early = await exchange(port, request);
    assert.is(early.code, '5.03');
    assert.equal(optionValues(early, 'Max-Age').map((v) => v.readUIntBE(0, v.length)), [1]);
    assert.match(early.payload.toString(), /starting/);
    coap.serve((_req, res) => { res.code = '2.05'; res.end('here'); });
    const later = await exchange(port, request);
    assert.is(later.code, '2.05');
    assert.is(later.payload.toString(), 'here');
  } finally {
    await coap.close();
  }
});

test.run();
