// Package URIs written before the DTLS ports existed named the plain download socket on the CoAP
// port + 1 (coap://host:5684/fw/<id>); that port is coaps now. Plain CoAP datagrams to it (first
// byte 64–127, not a DTLS content type) are still answered for GET /fw/<id>, but only to the
// address of a device with an update of that image under way: counting ids reveals nothing.
import { randomBytes } from 'node:crypto';
import * as assert from 'uvu/assert';
import type { Ferry } from '../../../server/main.ts';
import * as devices from '../../../server/store/devices.ts';
import { insertFirmware } from '../../../server/store/firmware.ts';
import { createUpdate } from '../../../server/store/updates.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { exchange, proveLoopback, startTestFerry, uriOptions } from '../../helpers/ferry.ts';

const IMAGE = randomBytes(3000);

forEachDatabase('coap/legacy Package URIs on the coaps port', ({ suite, get }) => {
  let ferry: Ferry;
  suite.before(async () => { ferry = await startTestFerry(get().db, { downloadRate: 0 }); });
  suite.after(async () => { await ferry.close(); });
  const getFw = (path: string) => exchange(ferry.coapsAddress!.port, { code: 'GET', options: uriOptions(path) });

  suite('GET /fw/<id> in plain CoAP on the coaps port: 2.05 to the device updating with that image, 4.04 otherwise', async () => {
    await proveLoopback(ferry.coapsAddress!.port);
    const image = await insertFirmware(get().db, { version: '2.0.0', hardwareClass: 'sim-1', payload: IMAGE });
    const other = await insertFirmware(get().db, { version: '3.0.0', hardwareClass: 'sim-1', payload: IMAGE });
    const { device } = await devices.register(get().db, {
      endpoint: 'old-uri', registrationId: 'r-old', lifetime: 300, lwm2mVersion: '1.1', binding: 'U', queueMode: false,
      objectLinks: '</5/0>', address: '127.0.0.1', port: 40000,
    });
    await createUpdate(get().db, { deviceId: device.id, firmwareId: image.id, deadlineSeconds: 600 });
    const block = await getFw(`/fw/${image.id}`);
    assert.is(block.code, '2.05');
    assert.ok(block.payload.equals(IMAGE.subarray(0, 1024)));
    const wrong = await getFw(`/fw/${other.id}`);
    assert.is(wrong.code, '4.04', 'an image no device at this address is updating to');
    assert.match(wrong.payload.toString('utf8'), /^FERRY_FW_NOT_FOUND: /);
    assert.is(ferry.coaps!.dtls!.counts.sessions, 0, 'plain CoAP started no DTLS session');
  });
});
