// GET /api/v1/audit/verify (admin), GET /api/v1/events/export (operator) and `ferry audit`, on a
// running server: a log as the server wrote it verifies; one altered, cut or reordered in SQL is
// named; exports stream NDJSON and CSV for a period; bad parameters are 4xx with a catalogue code.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { test } from 'uvu';
import { auditCommand } from '../../../server/audit/cli.ts';
import { parseConfig } from '../../../server/config.ts';
import { ConfigError } from '../../../server/errors.ts';
import { newSecretsKeyText } from '../../../server/credentials/secrets-key.ts';
import type { Ferry } from '../../../server/main.ts';
import { recordEvents, type EventInput } from '../../../server/store/events.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { runFerry } from '../../helpers/ferry-cli.ts';
import { TEST_ADMIN_TOKEN, bearer, eventually, injectRaw, startTestFerry } from '../../helpers/ferry.ts';

const dir = mkdtempSync(join(tmpdir(), 'ferry-audit-api-'));
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
const keyFile = join(dir, 'secrets.key');
writeFileSync(keyFile, newSecretsKeyText(), { mode: 0o600 });

const events = (n: number, tag: string): EventInput[] =>
  Array.from({ length: n }, (_, i) => ({ kind: 'registration.created', actor: 'device', endpoint: `${tag}-${i}`, data: { i } }));

interface Verify { ok: boolean; checked: number; keyed: boolean; firstBad?: { sequence: number; id: number | null; problem: string }; checkpoint?: { sequence: number } }

forEachDatabase('api, audit', ({ suite, get, database }) => {
  let ferry: Ferry;
  const checkpointFile = join(dir, `checkpoints-${database}.ndjson`);
  suite.before(async () => { ferry = await startTestFerry(get().db, { secretsKeyFile: keyFile, auditCheckpointFile: checkpointFile }); });
  // The database is emptied before each test: so is the file of its checkpoints (else the last
  // test's would say this one's log was cut).
  suite.before.each(() => { writeFileSync(checkpointFile, ''); });
  suite.after(async () => { await ferry.close(); });

  /** Every event sealed (the server's own ticks may hold the chain when the test asks). */
  const sealedAll = () => eventually(async () => {
    await ferry.auditor.tick();
    const { rows } = await get().db.query('SELECT 1 FROM events WHERE seq IS NULL LIMIT 1');
    return rows.length === 0 ? true : undefined;
  }, 10_000, 'every event sealed');
  const verify = async (): Promise<Verify> => {
    const res = await ferry.api.inject({ method: 'GET', url: '/api/v1/audit/verify' });
    assert.is(res.statusCode, 200, res.body);
    return res.json<Verify>();
  };
  const tokenOf = async (role: string): Promise<string> => {
    const res = await ferry.api.inject({ method: 'POST', url: '/api/v1/tokens', payload: { name: `t-${role}-${Date.now()}`, role } });
    assert.is(res.statusCode, 201, res.body);
    return res.json<{ token: string }>().token;
  };

  suite('a log the server wrote verifies; keyed; the events the API itself recorded included', async () => {
    await tokenOf('viewer'); // token.created: an event of the server's own
    await recordEvents(get().db, events(30, 'dev'));
    const v = await verify();
    assert.is(v.ok, true);
    assert.is(v.keyed, true);
    assert.ok(v.checked >= 31, `checked ${v.checked}`);
    assert.is(v.firstBad, undefined);
  });

  suite('verify is for admins: an operator and a viewer are refused (403)', async () => {
    for (const role of ['operator', 'viewer']) {
      const res = await injectRaw(ferry, { method: 'GET', url: '/api/v1/audit/verify', headers: bearer(await tokenOf(role)) });
      assert.is(res.statusCode, 403);
      assert.is(res.json<{ code: string }>().code, 'FERRY_FORBIDDEN');
    }
  });

  suite('a row altered in SQL is named: changed; one deleted: missing', async () => {
    const { db } = get();
    await recordEvents(db, events(10, 'alt'));
    await sealedAll();
    const { rows } = await db.query<{ id: number; seq: number }>('SELECT id, seq FROM events ORDER BY seq');
    const victim = rows[4]!;
    await db.query(`UPDATE events SET data = '{"i": 1000}' WHERE id = $1`, [victim.id]);
    assert.equal((await verify()).firstBad, { sequence: Number(victim.seq), id: Number(victim.id), problem: 'changed' });
    await db.query('DELETE FROM events WHERE id = $1', [victim.id]);
    assert.equal((await verify()).firstBad, { sequence: Number(victim.seq), id: null, problem: 'missing' });
  });

  suite('two rows swapped: out of order; the tail cut off after a checkpoint: truncated', async () => {
    const { db } = get();
    await recordEvents(db, events(8, 'swap'));
    await sealedAll();
    const cp = await ferry.auditor.checkpoint();
    assert.ok(cp && cp.seq >= 8);
    const last = cp.seq;
    await db.query(`DELETE FROM events WHERE seq > $1`, [last - 2]);
    await db.query(`UPDATE audit_chain SET seq = $1, link = (SELECT link FROM events WHERE seq = $1)`, [last - 2]);
    const cut = await verify();
    assert.equal(cut.firstBad, { sequence: last - 1, id: null, problem: 'truncated' });
    assert.is(cut.checkpoint?.sequence, last);
    // Mend it as far as the test can (forget the checkpoints), then swap two rows.
    await db.query('DELETE FROM audit_checkpoints');
    const { rows: [a] } = await db.query<{ id: number }>('SELECT id FROM events WHERE seq = 3');
    await db.query('UPDATE events SET seq = -1 WHERE seq = 2');
    await db.query('UPDATE events SET seq = 2 WHERE seq = 3');
    await db.query('UPDATE events SET seq = 3 WHERE seq = -1');
    const swapped = await verify();
    // The checkpoint file still holds the cut tail's checkpoint, but the swap comes first.
    assert.equal(swapped.firstBad, { sequence: 2, id: Number(a!.id), problem: 'out-of-order' });
  });

  suite('ferry audit verify: 0 and the JSON when the chain holds, 1 when it does not; usage errors 2', async () => {
    const { db } = get();
    await recordEvents(db, events(5, 'cli'));
    const run = async (args: string[], token = TEST_ADMIN_TOKEN) => {
      let out = '';
      let err = '';
      const code = await auditCommand(args, { out: (t) => { out += t; }, err: (t) => { err += t; }, env: { FERRY_URL: ferry.apiUrl, FERRY_TOKEN: token } });
      return { code, out, err };
    };
    const good = await run(['verify']);
    assert.is(good.code, 0, good.err);
    assert.is(JSON.parse(good.out).ok, true);
    await db.query(`UPDATE events SET actor = 'token:mallory' WHERE seq = 2`);
    const bad = await run(['verify']);
    assert.is(bad.code, 1);
    assert.equal(JSON.parse(bad.out).firstBad.problem, 'changed');
    const refused = await run(['verify'], await tokenOf('viewer'));
    assert.is(refused.code, 1);
    assert.match(refused.err, /^ferry: .* \(FERRY_FORBIDDEN, HTTP 403\)\n$/);
    assert.is((await run(['nope'])).code, 2);
    assert.is((await run(['verify', '--since', 'x'])).code, 2);
    assert.is((await run(['export', '--format', 'xml'])).code, 2);
    // The same through the command a user runs: ferry audit verify, exit 1 and the JSON naming the row.
    const bin = await runFerry(['audit', 'verify'], { cwd: dir, env: { FERRY_URL: ferry.apiUrl, FERRY_TOKEN: TEST_ADMIN_TOKEN } });
    assert.is(bin.code, 1, bin.stderr);
    assert.equal(JSON.parse(bin.stdout).firstBad, { sequence: 2, id: JSON.parse(bad.out).firstBad.id, problem: 'changed' });
    const noToken = await runFerry(['audit', 'verify'], { cwd: dir, env: { FERRY_URL: ferry.apiUrl } });
    assert.is(noToken.code, 1);
    assert.match(noToken.stderr, /FERRY_TOKEN/);
    assert.is((await runFerry(['audit'], { cwd: dir })).code, 2);
    const exported = await run(['export', '--format', 'csv']);
    assert.is(exported.code, 0, exported.err);
    const { rows: [count] } = await db.query<{ n: number }>('SELECT count(*) AS n FROM events');
    assert.is(exported.out.trim().split('\r\n').length, 1 + Number(count!.n));
  });

  suite('export streams the period asked as NDJSON and as CSV, over HTTP, past one page', async () => {
    const { db } = get();
    await recordEvents(db, events(1200, 'old'));
    await db.query(`UPDATE events SET at = '2026-01-01T12:00:00Z' WHERE endpoint LIKE 'old-%'`);
    await recordEvents(db, [...events(3, 'new'), { kind: 'device.note', actor: 'device', endpoint: '=HYPERLINK("x")', data: { note: 'a,"b"\nc' } }]);
    const fetchText = async (query: string, token = TEST_ADMIN_TOKEN) => {
      const res = await fetch(`${ferry.apiUrl}/api/v1/events/export${query}`, { headers: bearer(token) });
      return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
    };
    const old = await fetchText('?since=2026-01-01T00:00:00Z&until=2026-01-02T00:00:00Z');
    assert.is(old.status, 200);
    assert.match(old.type, /application\/x-ndjson/);
    const lines = old.text.trim().split('\n').map((l) => JSON.parse(l) as { id: number; endpoint: string; at: string; seq: number | null; link: string | null });
    assert.is(lines.length, 1200);
    assert.ok(lines.every((l, i) => l.endpoint === `old-${i}` && l.at === '2026-01-01T12:00:00.000Z'));
    assert.ok(lines.every((l, i) => i === 0 || l.id > lines[i - 1]!.id));

    const operator = await tokenOf('operator');
    await sealedAll();
    const recent = await fetchText(`?since=${new Date(Date.now() - 3600_000).toISOString()}&format=csv`, operator);
    assert.is(recent.status, 200);
    assert.match(recent.type, /text\/csv/);
    const rows = recent.text.split('\r\n');
    assert.is(rows[0], 'id,seq,at,actor,kind,endpoint,device_id,update_id,data,link');
    assert.ok(rows.slice(1).some((r) => r.includes(',new-2,')));
    // A cell a spreadsheet would run as a formula is quoted with an apostrophe; quotes and newlines escaped.
    assert.ok(recent.text.includes(`,"'=HYPERLINK(""x"")",`), recent.text);
    assert.ok(recent.text.includes(`"{""note"":""a,\\""b\\""\\nc""}"`), recent.text);
    assert.ok(rows.slice(1, -1).every((r) => /^\d+,\d+,/.test(r)), 'sealed rows carry their sequence number');

    const everything = await fetchText('');
    assert.ok(everything.text.trim().split('\n').length >= 1204);
  });

  suite('export is for operators: a viewer is refused (403)', async () => {
    const res = await injectRaw(ferry, { method: 'GET', url: '/api/v1/events/export', headers: bearer(await tokenOf('viewer')) });
    assert.is(res.statusCode, 403);
  });

  suite('bad parameters: 400 with a JSON message and a catalogue code', async () => {
    const cases: Array<[string, string]> = [
      ['/api/v1/events/export?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z', 'FERRY_EXPORT_PERIOD'],
      ['/api/v1/events/export?since=2026-01-01T00:00:00Z&until=2026-01-01T00:00:00Z', 'FERRY_EXPORT_PERIOD'],
      ['/api/v1/events/export?format=xml', 'FERRY_VALIDATION'],
      ['/api/v1/events/export?since=yesterday', 'FERRY_VALIDATION'],
      ['/api/v1/events/export?since=2026-13-45T99:00:00Z', 'FERRY_VALIDATION'],
      ['/api/v1/events/export?limit=5', 'FERRY_VALIDATION'],
      ['/api/v1/audit/verify?deep=1', 'FERRY_VALIDATION'],
    ];
    for (const [url, code] of cases) {
      const res = await ferry.api.inject({ method: 'GET', url });
      assert.is(res.statusCode, 400, url);
      const body = res.json<{ code: string; message: string }>();
      assert.is(body.code, code, url);
      assert.type(body.message, 'string');
    }
  });

  if (database === 'pg') {
    suite('two servers on one PostgreSQL writing and sealing at once: one valid chain', async () => {
      const other = await startTestFerry(get().db, { secretsKeyFile: keyFile });
      try {
        await Promise.all(Array.from({ length: 10 }, (_, i) => recordEvents(get().db, events(50, `p${i}`))));
        await Promise.all([ferry.auditor.tick(), other.auditor.tick(), ferry.auditor.tick()]);
        const v = await verify();
        assert.is(v.ok, true);
        assert.ok(v.checked >= 500);
      } finally {
        await other.close();
      }
    });
  }
});

test('--audit-retention: off by default, a duration, or a start-up error naming it', () => {
  const cfg = (argv: string[]) => { const c = parseConfig(argv, {}); if (c === 'help') throw new Error('help'); return c; };
  assert.is(cfg([]).auditRetention, 0);
  assert.is(cfg(['--audit-retention', '90d']).auditRetention, 90 * 86400);
  assert.is(cfg(['--audit-retention', 'off']).auditRetention, 0);
  assert.is(cfg(['--audit-checkpoint-file', '/tmp/x']).auditCheckpointFile, '/tmp/x');
  assert.throws(() => cfg(['--audit-retention', 'forever']), (err: unknown) => err instanceof ConfigError && /--audit-retention/.test(err.message));
});
test.run();
