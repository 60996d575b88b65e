// The console's files as the server sends them (no browser): an allow-list only, the right
// content types, a CSP whose hash is the import map's, caching by ETag or by versioned URL, gzip.
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import * as assert from 'uvu/assert';
import type { Ferry } from '../../../server/main.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { injectRaw, startTestFerry } from '../../helpers/ferry.ts';

forEachDatabase('the console\'s files', ({ suite, get }) => {
  let ferry: Ferry;
  suite.before.each(async () => { ferry = await startTestFerry(get().db); });
  suite.after.each(async () => { await ferry.close(); });

  suite('/ is the console\'s page, without a token, under a CSP that allows its import map by hash and nothing inline else', async () => {
    const res = await injectRaw(ferry, { url: '/' });
    assert.is(res.statusCode, 200);
    assert.is(res.headers['content-type'], 'text/html; charset=utf-8');
    const csp = String(res.headers['content-security-policy']);
    const map = /<script type="importmap">([^<]*)<\/script>/.exec(res.body)![1]!;
    const hash = createHash('sha256').update(map).digest('base64');
    assert.ok(csp.includes(`script-src 'self' 'sha256-${hash}'`), csp);
    for (const d of ["default-src 'none'", "style-src 'self'", "connect-src 'self'", "img-src 'self' data:", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"]) assert.ok(csp.includes(d), d);
    assert.not.ok(csp.includes('unsafe'), csp);
    assert.is(res.headers['x-content-type-options'], 'nosniff');
    assert.is(res.headers['referrer-policy'], 'no-referrer');
    assert.is(res.headers['cache-control'], 'no-cache');
    // Every module the import map names is served, as JavaScript, cached for good under its versioned URL.
    for (const url of Object.values((JSON.parse(map) as { imports: Record<string, string> }).imports)) {
      const lib = await injectRaw(ferry, { url });
      assert.is(lib.statusCode, 200, url);
      assert.is(lib.headers['content-type'], 'text/javascript; charset=utf-8', url);
      assert.is(lib.headers['cache-control'], 'public, max-age=31536000, immutable', url);
      assert.match(url, /^\/console\/vendor\/[a-z]+@\d+\.\d+\.\d+\//);
    }
    assert.match(res.body, /<script type="module" src="\/console\/app.js"><\/script>/);
  });

  suite('the console\'s own files revalidate by ETag; gzip when asked', async () => {
    const plain = await injectRaw(ferry, { url: '/console/app.js' });
    assert.is(plain.statusCode, 200);
    assert.is(plain.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.is(plain.headers['cache-control'], 'no-cache');
    const again = await injectRaw(ferry, { url: '/console/app.js', headers: { 'if-none-match': String(plain.headers['etag']) } });
    assert.is(again.statusCode, 304);
    assert.is(again.body, '');
    const gz = await injectRaw(ferry, { url: '/console/app.js', headers: { 'accept-encoding': 'gzip, br' } });
    assert.is(gz.headers['content-encoding'], 'gzip');
    assert.is(gunzipSync(gz.rawPayload).toString('utf8'), plain.body);
    const css = await injectRaw(ferry, { url: '/console/app.css' });
    assert.is(css.headers['content-type'], 'text/css; charset=utf-8');
  });

  suite('nothing outside the allow-list: not the server\'s sources, not node_modules, not a path that climbs', async () => {
    for (const url of ['/console/serve.ts', '/console/public/app.js', '/console/vendor/preact@11.2.0/package.json', '/console/vendor/../../package.json',
      '/console/%2e%2e/%2e%2e/package.json', '/console/', '/console/index.html', '/console/vendor/uplot@1.6.32/dist/uPlot.cjs.js', '/index.html']) {
      const res = await injectRaw(ferry, { url });
      assert.is(res.statusCode, 404, url);
      assert.is(res.json().code, 'FERRY_NOT_FOUND', url);
    }
  });

  suite('GET /api/v1/whoami: the token\'s name, role and user; 401 without one', async () => {
    const created = await ferry.api.inject({ method: 'POST', url: '/api/v1/tokens', payload: { name: 'watcher', role: 'viewer' } });
    const me = await injectRaw(ferry, { url: '/api/v1/whoami', headers: { authorization: `Bearer ${created.json().token}` } });
    assert.is(me.statusCode, 200);
    assert.equal(me.json(), { name: 'watcher', role: 'viewer', user: 'watcher' });
    assert.is((await injectRaw(ferry, { url: '/api/v1/whoami' })).statusCode, 401);
  });
});
