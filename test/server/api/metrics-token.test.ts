// GET /metrics with --metrics-token: the metrics token or any live, unexpired API token (any role)
// is taken; nothing, a wrong token (of the same length, or one character more or less), a Basic
// header, an unknown, revoked or expired API token are 401 JSON with WWW-Authenticate. Without the
// setting /metrics stays open. The OpenAPI document says which. The setting: flag, variable, bounds.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseConfig, type Config } from '../../../server/config.ts';
import { ConfigError } from '../../../server/errors.ts';
import type { Ferry } from '../../../server/main.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { bearer, injectRaw, startTestFerry, TEST_ADMIN_TOKEN } from '../../helpers/ferry.ts';

const METRICS_TOKEN = `scrape_${'k'.repeat(40)}`;

forEachDatabase('api, /metrics behind a token', ({ suite, get }) => {
  let open: Ferry;
  let guarded: Ferry;
  suite.before(async () => {
    open = await startTestFerry(get().db);
    guarded = await startTestFerry(get().db, { metricsToken: METRICS_TOKEN });
  });
  suite.after(async () => { await guarded.close(); await open.close(); });

  const scrape = (ferry: Ferry, headers: Record<string, string> = {}) => injectRaw(ferry, { method: 'GET', url: '/metrics', headers });

  suite('without --metrics-token: open, as before', async () => {
    const res = await scrape(open);
    assert.is(res.statusCode, 200, res.body);
    assert.match(res.body, /ferry_devices/);
  });

  suite('with it: the metrics token, or any API token of any role, is taken', async () => {
    const ok = await scrape(guarded, bearer(METRICS_TOKEN));
    assert.is(ok.statusCode, 200, ok.body);
    assert.match(String(ok.headers['content-type']), /^text\/plain/);
    assert.match(ok.body, /ferry_devices/);
    assert.is((await scrape(guarded, { authorization: `bearer ${METRICS_TOKEN}` })).statusCode, 200, 'the scheme is case-insensitive (RFC 7235)');
    assert.is((await scrape(guarded, bearer(TEST_ADMIN_TOKEN))).statusCode, 200, 'the admin token');
    for (const role of ['viewer', 'operator'] as const) {
      const made = await guarded.api.inject({ method: 'POST', url: '/api/v1/tokens', payload: { name: `scraper-${role}`, role } });
      assert.is(made.statusCode, 201, made.body);
      assert.is((await scrape(guarded, bearer(made.json().token))).statusCode, 200, role);
    }
  });

  suite('with it: nothing, a wrong token, an unknown, revoked or expired API token: 401 JSON with WWW-Authenticate', async () => {
    const made = await guarded.api.inject({ method: 'POST', url: '/api/v1/tokens', payload: { name: 'gone', role: 'viewer' } });
    await guarded.api.inject({ method: 'DELETE', url: `/api/v1/tokens/${made.json().id}` });
    const expiring = await guarded.api.inject({ method: 'POST', url: '/api/v1/tokens', payload: { name: 'old', role: 'viewer', expiresIn: '1h' } });
    await get().db.query("UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = $1", [expiring.json().id]);
    const cases: Array<[string, Record<string, string>, string]> = [
      ['none', {}, 'FERRY_UNAUTHORIZED'],
      ['empty', { authorization: '' }, 'FERRY_UNAUTHORIZED'],
      ['the same length, one character off', bearer(`${METRICS_TOKEN.slice(0, -1)}x`), 'FERRY_UNAUTHORIZED'],
      ['one character more', bearer(`${METRICS_TOKEN}k`), 'FERRY_UNAUTHORIZED'],
      ['one character less', bearer(METRICS_TOKEN.slice(0, -1)), 'FERRY_UNAUTHORIZED'],
      ['Basic', { authorization: `Basic ${Buffer.from(`x:${METRICS_TOKEN}`).toString('base64')}` }, 'FERRY_UNAUTHORIZED'],
      ['the token and more', { authorization: `Bearer ${METRICS_TOKEN} x` }, 'FERRY_UNAUTHORIZED'],
      ['an unknown API token', bearer(`fry_${'z'.repeat(43)}`), 'FERRY_UNAUTHORIZED'],
      ['a revoked API token', bearer(made.json().token), 'FERRY_UNAUTHORIZED'],
      ['an expired API token', bearer(expiring.json().token), 'FERRY_TOKEN_EXPIRED'],
    ];
    for (const [what, headers, code] of cases) {
      const res = await scrape(guarded, headers);
      assert.is(res.statusCode, 401, `${what}: ${res.statusCode} ${res.body.slice(0, 100)}`);
      assert.match(String(res.headers['content-type']), /application\/json/, what);
      assert.is(res.json().code, code, what);
      assert.type(res.json().message, 'string', what);
      assert.match(String(res.headers['www-authenticate']), /^Bearer realm="ferry"/, what);
      assert.not.match(res.body, /ferry_devices/, `${what}: no metrics in the refusal`);
    }
    // The metrics token is not an API token: it opens /metrics and nothing else.
    assert.is((await injectRaw(guarded, { method: 'GET', url: '/api/v1/devices', headers: bearer(METRICS_TOKEN) })).statusCode, 401);
    assert.is((await scrape(guarded)).statusCode, 401);
    assert.is((await injectRaw(guarded, { method: 'HEAD', url: '/metrics' })).statusCode, 401, 'HEAD too');
    assert.is((await injectRaw(guarded, { method: 'GET', url: '/healthz' })).statusCode, 200, '/healthz stays open');
  });

  suite('the OpenAPI document says /metrics takes a bearer token when it needs one, and not otherwise', async () => {
    const metricsOp = async (ferry: Ferry) => ((await injectRaw(ferry, { method: 'GET', url: '/docs/json' })).json() as { paths: Record<string, Record<string, { security?: unknown; description?: string }>> }).paths['/metrics']?.['get'];
    const guardedOp = await metricsOp(guarded);
    assert.equal(guardedOp?.security, [{ bearer: [] }]);
    assert.match(String(guardedOp?.description), /firmware versions, device statuses/);
    assert.is((await metricsOp(open))?.security, undefined);
  });
});

const parse = (argv: string[], env: NodeJS.ProcessEnv = {}): Config => parseConfig(argv, env) as Config;

test('--metrics-token / FERRY_METRICS_TOKEN: unset by default; flag or variable; 32 to 200 printable characters', () => {
  assert.is(parse([]).metricsToken, undefined);
  assert.is(parse([`--metrics-token=${METRICS_TOKEN}`]).metricsToken, METRICS_TOKEN);
  assert.is(parse([], { FERRY_METRICS_TOKEN: METRICS_TOKEN }).metricsToken, METRICS_TOKEN);
  for (const bad of ['short', 'x'.repeat(31), 'x'.repeat(201), `${'x'.repeat(32)} y`, `${'x'.repeat(32)}\u00e9`]) {
    assert.throws(() => parse([`--metrics-token=${bad}`]), (e: unknown) => e instanceof ConfigError && /--metrics-token/.test(e.message), bad.slice(0, 40));
  }
});
test.run();
