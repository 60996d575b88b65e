// --security decides which sockets exist: psk binds only the DTLS ones (nothing answers plain
// CoAP), nosec only the plain ones (a lab); /readyz names what is bound.
import * as assert from 'uvu/assert';
import type { Ferry } from '../../../server/main.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { startTestFerry } from '../../helpers/ferry.ts';

forEachDatabase('coap/--security', ({ suite, get }) => {
  let ferry: Ferry | undefined;
  suite.after.each(async () => { await ferry?.close(); ferry = undefined; });
  const ready = async (f: Ferry) => (await f.api.inject({ method: 'GET', url: '/readyz' })).json() as { status: string; checks: Record<string, string> };

  suite('psk: the LwM2M endpoint and the download socket over DTLS only', async () => {
    ferry = await startTestFerry(get().db, { security: 'psk' });
    assert.is(ferry.coap, undefined);
    assert.is(ferry.download, undefined);
    assert.is(ferry.coapAddress, undefined);
    assert.ok(ferry.coapsAddress && ferry.secureDownloadAddress);
    const r = await ready(ferry);
    assert.is(r.status, 'ready');
    assert.equal(Object.keys(r.checks).sort(), ['coaps', 'database', 'download-coaps']);
  });

  suite('nosec: plain CoAP only, no DTLS socket', async () => {
    ferry = await startTestFerry(get().db, { security: 'nosec' });
    assert.is(ferry.coaps, undefined);
    assert.is(ferry.secureDownload, undefined);
    assert.ok(ferry.coapAddress && ferry.downloadAddress);
    assert.equal(Object.keys((await ready(ferry)).checks).sort(), ['coap', 'database', 'download']);
  });
});
