// Bearer tokens and roles on every /api/v1 route (RFC 6750): 401 with WWW-Authenticate without a
// token, with a bad or a revoked one; 403 for a role too low; every route has its role in the table;
// tokens are created (shown once), listed (never the secret) and revoked by admins only; the
// configured admin token is stored hashed; operator actions carry the token's name in the audit log.
import { createHash } from 'node:crypto';
import Fastify from 'fastify';
import * as assert from 'uvu/assert';
import { allows, installAuth } from '../../../server/api/auth.ts';
import { installErrorHandling } from '../../../server/api/errors.ts';
import { ROUTE_ROLES } from '../../../server/api/roles.ts';
import type { Ferry } from '../../../server/main.ts';
import { ensureAdminToken, ROLES, type Role } from '../../../server/store/tokens.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { offlineDevice } from '../../helpers/devices.ts';
import { bearer, injectRaw, startTestFerry, TEST_ADMIN_TOKEN } from '../../helpers/ferry.ts';

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';
/** A concrete URL for a route pattern: parameters filled in with values that reach no device. */
const concrete = (url: string): string => url.replace(':endpoint', 'dev-a').replace(':id', '1').replace('*', '3/0/0');

forEachDatabase('api, tokens and roles', ({ suite, get }) => {
  let ferry: Ferry;
  suite.before(async () => { ferry = await startTestFerry(get().db); });
  suite.after(async () => { await ferry.close(); });

  const routes = () => ferry.api.apiRoutes.filter((r) => r.method !== 'HEAD');
  const create = async (name: string, role: Role): Promise<{ id: number; token: string }> => {
    const res = await ferry.api.inject({ method: 'POST', url: '/api/v1/tokens', payload: { name, role } });
    assert.is(res.statusCode, 201, res.body);
    return res.json();
  };
  const as = (token: string | undefined, method: Method, url: string, payload?: unknown) =>
    injectRaw(ferry, { method, url, headers: token === undefined ? {} : bearer(token), ...(payload === undefined ? {} : { payload: payload as object }) });

  suite('every route under /api/v1 has a role in the table, and every row of the table is a route', () => {
    assert.ok(routes().length >= 15, `${routes().length} routes`);
    assert.equal(routes().filter((r) => r.role === undefined).map((r) => `${r.method} ${r.url}`), []);
    const served = new Set(routes().map((r) => `${r.method} ${r.url}`));
    assert.equal(Object.keys(ROUTE_ROLES).filter((k) => !served.has(k)), [], 'no row for a route that does not exist');
  });

  suite('fail closed: a route under /api/v1 missing from the role table is refused, even to an admin', async () => {
    const app = Fastify();
    installErrorHandling(app);
    installAuth(app, { db: get().db });
    app.get('/api/v1/forgotten', async () => ({ secret: true }));
    try {
      const res = await app.inject({ method: 'GET', url: '/api/v1/forgotten', headers: bearer() });
      assert.is(res.statusCode, 403);
      assert.match(res.json().message, /no role in the role table/);
    } finally { await app.close(); }
  });

  suite('no token, a malformed header, an unknown or a revoked token: 401 with WWW-Authenticate: Bearer, on every route', async () => {
    const { id, token: revoked } = await create('soon-gone', 'admin');
    assert.is((await ferry.api.inject({ method: 'DELETE', url: `/api/v1/tokens/${id}` })).statusCode, 200);
    const headers: Array<[string, Record<string, string>]> = [
      ['none', {}], ['empty', { authorization: '' }], ['Basic', { authorization: 'Basic YWRtaW46YWRtaW4=' }],
      ['Bearer alone', { authorization: 'Bearer' }], ['unknown', bearer(`fry_${'x'.repeat(43)}`)], ['revoked', bearer(revoked)],
      ['the admin token with a space', { authorization: `Bearer ${TEST_ADMIN_TOKEN} x` }],
    ];
    const failures: string[] = [];
    for (const r of routes()) {
      for (const [what, h] of headers) {
        const res = await injectRaw(ferry, { method: r.method as Method, url: concrete(r.url), headers: h });
        if (res.statusCode !== 401 || !/^Bearer/.test(String(res.headers['www-authenticate'])) || typeof res.json().message !== 'string') {
          failures.push(`${r.method} ${r.url} (${what}): ${res.statusCode} ${res.body.slice(0, 80)}`);
        }
      }
    }
    assert.equal(failures, [], failures.join('\n'));
  });

  suite('a role too low: 403; the role itself or above: past the check', async () => {
    const tokens = { viewer: (await create('v', 'viewer')).token, operator: (await create('o', 'operator')).token, admin: TEST_ADMIN_TOKEN, approver: (await create('ap', 'approver')).token };
    await offlineDevice(get().db, 'dev-a');
    const failures: string[] = [];
    for (const r of routes()) {
      // Deleting token 1 would revoke the admin token this test uses; firmware 1 does not exist.
      if (r.method === 'DELETE' && r.url === '/api/v1/tokens/:id') continue;
      for (const role of ROLES) {
        const res = await as(tokens[role], r.method as Method, concrete(r.url));
        const allowed = allows(role, r.role!);
        if (allowed ? [401, 403].includes(res.statusCode) && !/device/.test(res.body) : res.statusCode !== 403) {
          failures.push(`${r.method} ${r.url} as ${role}: ${res.statusCode} ${res.body.slice(0, 100)}`);
        }
      }
    }
    assert.equal(failures, [], failures.join('\n'));
    const refused = await as(tokens.viewer, 'POST', '/api/v1/devices/dev-a/update', { firmwareId: 1 });
    assert.match(refused.json().message, /operator role; token v is viewer/);
  });

  suite('an unknown route under /api/v1: 401 without a token, 404 with one; encoded paths are no way round', async () => {
    assert.is((await as(undefined, 'GET', '/api/v1/nothing')).statusCode, 401);
    assert.is((await as(TEST_ADMIN_TOKEN, 'GET', '/api/v1/nothing')).statusCode, 404);
    assert.is((await as(undefined, 'GET', '/healthz')).statusCode, 200, '/healthz stays open');
    // The check goes by the route matched, not the raw URL: percent-encoding does not get past it.
    for (const url of ['/%61pi/v1/devices', '/api%2Fv1/devices', '/%61pi/v1/tokens', '/api/v1/devices/', '/api/v1/%64evices']) {
      const res = await as(undefined, 'GET', url);
      assert.is(res.statusCode, 401, `${url}: ${res.statusCode} ${res.body.slice(0, 80)}`);
    }
  });

  suite('tokens: created with the secret once, listed without it, revoked at once; last use recorded', async () => {
    const made = await ferry.api.inject({ method: 'POST', url: '/api/v1/tokens', payload: { name: 'ci', role: 'operator' } });
    assert.is(made.statusCode, 201);
    const body = made.json();
    assert.match(body.token, /^fry_[A-Za-z0-9_-]{43}$/);
    assert.is(body.prefix, body.token.slice(0, 8));
    assert.is(body.createdBy, 'token:FERRY_ADMIN_TOKEN');
    assert.is((await as(body.token, 'GET', '/api/v1/devices')).statusCode, 200);
    const list = await ferry.api.inject({ method: 'GET', url: '/api/v1/tokens' });
    assert.is(list.statusCode, 200);
    assert.not.ok(list.body.includes(body.token), 'the list holds no secret');
    assert.not.ok(list.body.includes(createHash('sha256').update(body.token).digest('hex')), 'nor its hash');
    const ci = list.json().items.find((t: { name: string }) => t.name === 'ci');
    assert.equal(Object.keys(ci).sort(), ['createdAt', 'createdBy', 'expiresAt', 'id', 'lastUsedAt', 'name', 'prefix', 'revokedAt', 'role', 'user', 'userId']);
    assert.ok(ci.lastUsedAt !== null, 'its use was recorded');
    assert.is(ci.expiresAt, null, 'made without an expiry: it never expires');
    const revoked = await ferry.api.inject({ method: 'DELETE', url: `/api/v1/tokens/${body.id}` });
    assert.is(revoked.statusCode, 200);
    assert.ok(revoked.json().revokedAt);
    assert.is((await as(body.token, 'GET', '/api/v1/devices')).statusCode, 401);
    assert.is((await ferry.api.inject({ method: 'DELETE', url: '/api/v1/tokens/999' })).statusCode, 404);
    const kinds = await get().db.query<{ kind: string; actor: string }>("SELECT kind, actor FROM events WHERE kind LIKE 'token.%' ORDER BY id");
    assert.equal(kinds.rows, [{ kind: 'token.created', actor: 'token:FERRY_ADMIN_TOKEN' }, { kind: 'token.revoked', actor: 'token:FERRY_ADMIN_TOKEN' }]);
  });

  suite('tokens: bad bodies are 400, a live name twice is 409, a revoked name may be reused', async () => {
    const bad: unknown[] = [{}, { name: 'x' }, { role: 'admin' }, { name: 'x', role: 'root' }, { name: '', role: 'viewer' },
      { name: 'a b', role: 'viewer' }, { name: 'x'.repeat(65), role: 'viewer' }, { name: 'x', role: 'viewer', token: 'fry_mine' }, [{ name: 'x', role: 'viewer' }],
      { name: 'FERRY_ADMIN_TOKEN', role: 'viewer' }];
    for (const payload of bad) {
      const res = await ferry.api.inject({ method: 'POST', url: '/api/v1/tokens', payload: payload as object });
      assert.is(res.statusCode, 400, `${JSON.stringify(payload)}: ${res.body}`);
    }
    const first = await create('twice', 'viewer');
    const again = await ferry.api.inject({ method: 'POST', url: '/api/v1/tokens', payload: { name: 'twice', role: 'viewer' } });
    assert.is(again.statusCode, 409);
    await ferry.api.inject({ method: 'DELETE', url: `/api/v1/tokens/${first.id}` });
    await create('twice', 'viewer');
  });

  suite('FERRY_ADMIN_TOKEN is stored hashed, once across restarts; a new value replaces the old; a revoked one stays revoked', async () => {
    const { db } = get();
    const rows = async () => (await db.query<Record<string, unknown>>('SELECT * FROM api_tokens ORDER BY id')).rows;
    const before = await rows();
    assert.is(before.length, 1);
    assert.is(before[0]!['token_hash'], createHash('sha256').update(TEST_ADMIN_TOKEN).digest('hex'));
    assert.not.ok(JSON.stringify(before).includes(TEST_ADMIN_TOKEN), 'no plaintext in the table');
    assert.equal(await ensureAdminToken(db, TEST_ADMIN_TOKEN), {});
    assert.is((await rows()).length, 1, 'a restart stores nothing new');
    const next = `fry_${Buffer.alloc(32, 9).toString('base64url')}`;
    await ensureAdminToken(db, next);
    assert.is((await as(next, 'GET', '/api/v1/tokens')).statusCode, 200);
    assert.is((await as(TEST_ADMIN_TOKEN, 'GET', '/api/v1/tokens')).statusCode, 401, 'the previous configured token is revoked');
    assert.equal(await ensureAdminToken(db, TEST_ADMIN_TOKEN), { revokedConfigured: true });
    assert.is((await as(TEST_ADMIN_TOKEN, 'GET', '/api/v1/tokens')).statusCode, 401);
    // Back to the token the other tests use.
    await db.query('DELETE FROM api_tokens');
    await ensureAdminToken(db, TEST_ADMIN_TOKEN);
    assert.equal(await ensureAdminToken(db, undefined), {}, 'a token exists: none is generated');
  });

  suite('operator actions name the token in the audit log', async () => {
    const { token } = await create('deployer', 'operator');
    await offlineDevice(get().db, 'dev-a');
    const up = await injectRaw(ferry, {
      method: 'POST', url: '/api/v1/firmware?version=2.0.0&hardwareClass=sim-1', headers: { ...bearer(token), 'content-type': 'application/octet-stream' }, payload: Buffer.from('image'),
    });
    assert.is(up.statusCode, 201, up.body);
    assert.is((await as(token, 'POST', '/api/v1/devices/dev-a/update', { firmwareId: up.json().id })).statusCode, 202);
    const events = await get().db.query<{ kind: string; actor: string }>("SELECT kind, actor FROM events WHERE kind IN ('firmware.uploaded', 'update.created') ORDER BY id");
    assert.equal(events.rows, [{ kind: 'firmware.uploaded', actor: 'token:deployer' }, { kind: 'update.created', actor: 'token:deployer' }]);
  });
});
