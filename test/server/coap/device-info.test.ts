// The follow-up Read of /3/0 after a registration (the inventory): asked in the device's preferred
// format (Core §7.4: the registration's ct, else SenML-CBOR for 1.1, TLV for 1.0) and decoded in
// whatever format the device answers.
import * as assert from 'uvu/assert';
import { ContentFormat } from '../../../protocols/content-format.ts';
import { encodeSenmlJson } from '../../../protocols/senml-json.ts';
import type { Ferry } from '../../../server/main.ts';
import * as devices from '../../../server/store/devices.ts';
import { CoapEndpoint } from '../../../simulator/coap/endpoint.ts';
import { SimDevice } from '../../../simulator/device.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { eventually, startTestFerry } from '../../helpers/ferry.ts';

forEachDatabase('coap/device info', ({ suite, get }) => {
  let ferry: Ferry;
  suite.before.each(async () => { ferry = await startTestFerry(get().db, { requestTimeout: 2 }); });
  suite.after.each(async () => { await ferry.close(); });

  const inventory = (endpoint: string) => eventually(async () => {
    const d = await devices.findByEndpoint(get().db, endpoint);
    return d?.firmwareVersion ? d : undefined;
  }, 5000, `${endpoint} inventory`);

  suite('a SenML-CBOR-only LwM2M 1.1 device (4.06 to Accept TLV) gets its inventory read', async () => {
    const sim = new SimDevice({
      endpoint: 'senml-only', server: { host: '127.0.0.1', port: ferry.coapAddress!.port }, lifetime: 60,
      contentFormat: ContentFormat.SENML_CBOR, refuseTlv: true, coap: { ackTimeoutMs: 300 },
    });
    try {
      await sim.start();
      const d = await inventory('senml-only');
      assert.is(d.manufacturer, 'Ferry Simulator');
      assert.is(d.modelNumber, 'sim-1');
      assert.is(d.hardwareClass, 'sim-1');
      assert.is(d.firmwareVersion, '1.0.0');
      const tlv = await ferry.api.inject({ method: 'GET', url: '/api/v1/devices/senml-only/lwm2m/3/0?format=tlv' });
      assert.is(tlv.statusCode, 406, 'the device does refuse TLV');
    } finally {
      await sim.stop();
    }
  });

  suite('a device that answers in another format than asked (SenML-JSON for SenML-CBOR) is decoded', async () => {
    const raw = await CoapEndpoint.bind({ bindAddress: '127.0.0.1', ackTimeoutMs: 300 });
    const accepts: Array<number | undefined> = [];
    raw.onRequest((req, reply) => {
      accepts.push(req.options.accept);
      const payload = encodeSenmlJson([
        { path: { objectId: 3, instanceId: 0, resourceId: 0 }, value: 'Acme' },
        { path: { objectId: 3, instanceId: 0, resourceId: 1 }, value: 'widget-9' },
        { path: { objectId: 3, instanceId: 0, resourceId: 3 }, value: '4.2.0' },
      ], { objectId: 3, instanceId: 0 });
      reply({ code: '2.05', contentFormat: ContentFormat.SENML_JSON, payload });
    });
    try {
      const reg = await raw.request({
        host: '127.0.0.1', port: ferry.coapAddress!.port, method: 'POST', pathSegments: ['rd'],
        query: ['ep=json-answer', 'lt=60', 'lwm2m=1.1'], contentFormat: 40, payload: '</3/0>',
      });
      assert.is(reg.code, '2.01');
      const d = await inventory('json-answer');
      assert.equal([d.manufacturer, d.modelNumber, d.firmwareVersion, d.hardwareClass], ['Acme', 'widget-9', '4.2.0', 'widget-9']);
      assert.equal(accepts, [ContentFormat.SENML_CBOR], 'asked in SenML-CBOR, LwM2M 1.1 without ct');
    } finally {
      await raw.close();
    }
  });
});
