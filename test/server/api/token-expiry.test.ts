// Tokens that expire: POST /api/v1/tokens with expiresIn (seconds or "30d") or expiresAt; past it
// the token is refused, 401 with FERRY_TOKEN_EXPIRED and WWW-Authenticate (judged by the server's
// clock, which the test moves instead of sleeping, and once with the real clock and an expiry
// written in the past in the store); bad values are 400 and make no token; listings show
// expiresAt; the configured and the first-start admin tokens never expire.
import * as assert from 'uvu/assert';
import { MAX_TOKEN_LIFETIME_S } from '../../../server/api/tokens.ts';
import { silentLogger } from '../../../server/log.ts';
import { startFerry, type Ferry } from '../../../server/main.ts';
import { CONFIGURED_ADMIN, ensureAdminToken } from '../../../server/store/tokens.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { bearer, injectAsAdmin, injectRaw, testConfig, TEST_ADMIN_TOKEN } from '../../helpers/ferry.ts';

const DAY_MS = 86_400_000;

forEachDatabase('api, token expiry', ({ suite, get }) => {
  let ferry: Ferry;
  /** How far the server's clock is ahead of the real one (ms). */
  let skew = 0;
  const now = () => Date.now() + skew;
  suite.before(async () => {
    ferry = await startFerry(testConfig(), { log: silentLogger(), db: get().db, sweepMs: 200, now });
    injectAsAdmin(ferry.api);
  });
  suite.after(async () => { await ferry.close(); });
  suite.before.each(() => { skew = 0; });

  const create = (payload: object) => ferry.api.inject({ method: 'POST', url: '/api/v1/tokens', payload });
  const devicesAs = (token: string) => injectRaw(ferry, { method: 'GET', url: '/api/v1/devices', headers: bearer(token) });
  const listed = async (name: string) => {
    const list = await ferry.api.inject({ method: 'GET', url: '/api/v1/tokens' });
    assert.is(list.statusCode, 200, list.body);
    return (list.json().items as Array<{ name: string; expiresAt: string | null; revokedAt: string | null }>).find((t) => t.name === name && t.revokedAt === null);
  };

  suite('a token made to last 1 s works, then, once the clock passes its expiry, is refused: 401 FERRY_TOKEN_EXPIRED, JSON, WWW-Authenticate', async () => {
    const before = now();
    const made = await create({ name: 'short', role: 'viewer', expiresIn: 1 });
    const after = now();
    assert.is(made.statusCode, 201, made.body);
    const expiresAt = Date.parse(made.json().expiresAt);
    assert.ok(expiresAt >= before + 1000 && expiresAt <= after + 1000, `expiresAt ${made.json().expiresAt} is 1 s after the creation`);
    assert.is((await listed('short'))?.expiresAt, made.json().expiresAt, 'the listing shows it');
    assert.is((await devicesAs(made.json().token)).statusCode, 200, 'usable before it expires');

    skew = expiresAt - Date.now() + 1; // the server's clock 1 ms past the expiry
    const refused = await devicesAs(made.json().token);
    assert.is(refused.statusCode, 401, refused.body);
    assert.match(String(refused.headers['content-type']), /application\/json/);
    assert.is(refused.json().code, 'FERRY_TOKEN_EXPIRED');
    assert.match(refused.json().message, /token short expired at \d{4}-\d\d-\d\dT/);
    assert.match(String(refused.headers['www-authenticate']), /^Bearer realm="ferry", error="invalid_token"/);
    // On a route it could not call anyway, expiry is still what it is told.
    const admin = await injectRaw(ferry, { method: 'GET', url: '/api/v1/tokens', headers: bearer(made.json().token) });
    assert.is(admin.json().code, 'FERRY_TOKEN_EXPIRED');
    // The admin token made at configuration never expires, however far the clock goes.
    skew = 3650 * DAY_MS;
    assert.is((await devicesAs(TEST_ADMIN_TOKEN)).statusCode, 200);
  });

  suite('expiresIn as a duration ("30d", "12h", "90m", "45s", "3600") and expiresAt as an instant are taken; the audit log records the expiry', async () => {
    const cases: Array<[string | number, number]> = [['30d', 30 * DAY_MS], ['12h', 12 * 3_600_000], ['90m', 90 * 60_000], ['45s', 45_000], ['3600', 3_600_000], [MAX_TOKEN_LIFETIME_S, MAX_TOKEN_LIFETIME_S * 1000]];
    for (const [i, [expiresIn, ms]] of cases.entries()) {
      const before = now();
      const made = await create({ name: `in-${i}`, role: 'operator', expiresIn });
      assert.is(made.statusCode, 201, `${expiresIn}: ${made.body}`);
      const at = Date.parse(made.json().expiresAt);
      assert.ok(at >= before + ms && at <= now() + ms, `${expiresIn}: expires at ${made.json().expiresAt}`);
    }
    const at = new Date(now() + 7 * DAY_MS).toISOString();
    const made = await create({ name: 'at', role: 'viewer', expiresAt: at });
    assert.is(made.statusCode, 201, made.body);
    assert.is(made.json().expiresAt, at);
    assert.is((await listed('at'))?.expiresAt, at);
    const offset = await create({ name: 'at-offset', role: 'viewer', expiresAt: '2027-01-01T12:00:00+02:00' });
    if (Date.parse('2027-01-01T10:00:00Z') > now()) {
      assert.is(offset.statusCode, 201, offset.body);
      assert.is(offset.json().expiresAt, '2027-01-01T10:00:00.000Z', 'an offset is honoured');
    }
    const event = await get().db.query<{ data: { expiresAt?: string } }>("SELECT data FROM events WHERE kind = 'token.created' AND data->>'name' = 'at'");
    assert.is(event.rows[0]?.data.expiresAt, at);
  });

  suite('bad expiresIn and expiresAt: 400 with a code and a message; no token made', async () => {
    const far = new Date(now() + (MAX_TOKEN_LIFETIME_S + 60) * 1000).toISOString();
    const past = new Date(now() - 1000).toISOString();
    const expiryInvalid: object[] = [
      { expiresIn: 0 }, { expiresIn: -1 }, { expiresIn: '0' }, { expiresIn: '0d' }, { expiresIn: MAX_TOKEN_LIFETIME_S + 1 }, { expiresIn: '731d' },
      { expiresIn: 1e300 }, { expiresIn: '30 days' }, { expiresIn: '1y' }, { expiresIn: '' }, { expiresIn: '-5s' }, { expiresIn: '1.5h' }, { expiresIn: 'P30D' },
      { expiresIn: '999999999999d' }, { expiresAt: past }, { expiresAt: far }, { expiresAt: '2999-12-31T23:59:60Z' },
      { expiresIn: 60, expiresAt: new Date(now() + DAY_MS).toISOString() },
    ];
    const validation: object[] = [
      { expiresIn: 1.5 }, { expiresIn: true }, { expiresIn: null }, { expiresIn: [60] }, { expiresIn: { s: 60 } }, { expiresIn: 'x'.repeat(100) },
      { expiresAt: 'tomorrow' }, { expiresAt: 1893456000 }, { expiresAt: '2030-02-30T00:00:00Z' }, { expiresAt: null }, { expiresAt: '0999-01-01T00:00:00Z' },
    ];
    const count = async () => (await get().db.query<{ n: number }>('SELECT count(*)::int AS n FROM api_tokens')).rows[0]!.n;
    const tokens = await count();
    for (const [extra, code] of [...expiryInvalid.map((e) => [e, 'FERRY_TOKEN_EXPIRY_INVALID'] as const), ...validation.map((e) => [e, 'FERRY_VALIDATION'] as const)]) {
      const res = await create({ name: 'bad', role: 'viewer', ...extra });
      const what = JSON.stringify(extra);
      assert.is(res.statusCode, 400, `${what}: ${res.body}`);
      assert.is(res.json().code, code, `${what}: ${res.body}`);
      assert.type(res.json().message, 'string', what);
    }
    assert.is(await count(), tokens, 'no token was made');
  });

  suite('with the real clock: an expiry written in the past in the store is refused at once (401 FERRY_TOKEN_EXPIRED)', async () => {
    const made = await create({ name: 'stored', role: 'admin', expiresIn: '1h' });
    assert.is((await devicesAs(made.json().token)).statusCode, 200);
    await get().db.query("UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = $1", [made.json().id]);
    const refused = await devicesAs(made.json().token);
    assert.is(refused.statusCode, 401);
    assert.is(refused.json().code, 'FERRY_TOKEN_EXPIRED');
    // Revoking it still works, and a revoked token is "unknown or revoked", expired or not.
    assert.is((await ferry.api.inject({ method: 'DELETE', url: `/api/v1/tokens/${made.json().id}` })).statusCode, 200);
    assert.is((await devicesAs(made.json().token)).json().code, 'FERRY_UNAUTHORIZED');
  });

  suite('FERRY_ADMIN_TOKEN and the first-start admin token have no expiry', async () => {
    assert.is((await listed(CONFIGURED_ADMIN))?.expiresAt, null);
    const { db } = get();
    await db.query('DELETE FROM api_tokens');
    const { generated } = await ensureAdminToken(db, undefined);
    assert.ok(generated, 'a first-start token was made');
    const row = await db.query<{ expires_at: Date | null }>("SELECT expires_at FROM api_tokens WHERE created_by = 'first-start'");
    assert.equal(row.rows, [{ expires_at: null }]);
    skew = 3650 * DAY_MS;
    assert.is((await devicesAs(generated!)).statusCode, 200, 'ten years on, still taken');
    // Back to the token the other suites use.
    await db.query('DELETE FROM api_tokens');
    await ensureAdminToken(db, TEST_ADMIN_TOKEN);
  });
});
