// /healthz and /readyz: 200 while the database answers and the CoAP sockets are bound, 503 with a
// JSON reason when either is not.
import * as assert from 'uvu/assert';
import { buildApi } from '../../../server/api/app.ts';
import { Lwm2mOperations } from '../../../server/coap/lwm2m-operations.ts';
import { DownloadServer } from '../../../server/coap/download-server.ts';
import { ImageCache } from '../../../server/coap/image-cache.ts';
import { loadPackageKeys } from '../../../server/firmware/keys.ts';
import { silentLogger } from '../../../server/log.ts';
import type { Ferry } from '../../../server/main.ts';
import { openPglite } from '../../../server/store/pglite.ts';
import { pgliteTemplate } from '../../helpers/pglite-template.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { startTestFerry, testConfig } from '../../helpers/ferry.ts';

forEachDatabase('health', ({ suite, get }) => {
  let ferry: Ferry;
  suite.before(async () => { ferry = await startTestFerry(get().db); });
  suite.after(async () => { await ferry.close(); });

  suite('a serving Ferry is healthy and ready: database ok, its four UDP sockets (CoAP, coaps, download over each) bound', async () => {
    const health = await ferry.api.inject({ method: 'GET', url: '/healthz' });
    assert.is(health.statusCode, 200);
    assert.equal(health.json(), { status: 'ok' });
    const ready = await ferry.api.inject({ method: 'GET', url: '/readyz' });
    assert.is(ready.statusCode, 200, ready.body);
    assert.equal(ready.json(), {
      status: 'ready',
      checks: {
        database: 'ok', coap: `bound 127.0.0.1:${ferry.coapAddress!.port}`, coaps: `bound 127.0.0.1:${ferry.coapsAddress!.port}`,
        download: `bound 127.0.0.1:${ferry.downloadAddress!.port}`, 'download-coaps': `bound 127.0.0.1:${ferry.secureDownloadAddress!.port}`,
      },
      serverSigning: true, // the test servers sign raw uploads (--signing-key)
      // Test servers run with release approval off (testConfig), and /readyz says so.
      releaseApproval: 'off',
    });
  });

  suite('a closed database or an unbound socket: 503 with the reason', async () => {
    const closedDb = await openPglite({ loadDataDir: await pgliteTemplate() });
    await closedDb.close();
    const download = await DownloadServer.listen({
      host: '127.0.0.1', port: 0, log: silentLogger(), onBlock: () => {},
      images: new ImageCache({ maxBytes: 1024, load: async () => null }),
    });
    await download.close();
    const api = await buildApi({
      db: closedDb, engine: ferry.engine, ops: new Lwm2mOperations(ferry.dm), log: silentLogger(), maxUploadBytes: 1024,
      packageKeys: await loadPackageKeys(testConfig()), sockets: { coap: ferry.coap, download }, metrics: ferry.metrics,
    });
    try {
      const ready = await api.inject({ method: 'GET', url: '/readyz' });
      assert.is(ready.statusCode, 503);
      const body = ready.json();
      assert.is(body.status, 'unavailable');
      assert.match(body.message, /the database did not answer SELECT 1/);
      assert.match(body.message, /the download socket is not bound/);
      assert.is(body.checks.coap, `bound 127.0.0.1:${ferry.coapAddress!.port}`);
      assert.is(body.checks.download, 'not bound');
      const health = await api.inject({ method: 'GET', url: '/healthz' });
      assert.is(health.statusCode, 503);
      assert.equal(health.json(), { status: 'unavailable', message: 'database unreachable' });
    } finally {
      await api.close();
    }
  });
});
