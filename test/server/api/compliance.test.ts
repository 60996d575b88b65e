// /api/v1/vulnerabilities, /api/v1/compliance/policies and /api/v1/compliance on a running server,
// over a small fleet (test/server/compliance/kit.ts): every verdict and its precedence, JSON and
// CSV, the filters, the device pages, the audit of each change with its user, bad input (4xx with
// a code), the ferry_devices_noncompliant gauge, and `ferry compliance` against the server.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { complianceCommand } from '../../../server/compliance/cli.ts';
import type { Ferry } from '../../../server/main.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { oneLine, runFerry } from '../../helpers/ferry-cli.ts';
import { TEST_ADMIN_TOKEN, bearer, injectRaw, startTestFerry } from '../../helpers/ferry.ts';
import { standardFleet } from '../compliance/kit.ts';

const dir = mkdtempSync(join(tmpdir(), 'ferry-compliance-'));
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));

interface Group { hardwareClass: string | null; version: string | null; verdict: string; devices: number; oldestLastSeen: string | null }
interface Report { generatedAt: string; totals: Record<string, number>; groups: Group[] }
type Row = [string | null, string | null, string, number];
const rows = (r: Report): Row[] => r.groups.map((g) => [g.hardwareClass, g.version, g.verdict, g.devices]);

forEachDatabase('api, compliance', ({ suite, get }) => {
  let ferry: Ferry;
  suite.before(async () => { ferry = await startTestFerry(get().db); });
  suite.after(async () => { await ferry.close(); });

  const tokenOf = async (role: string, name = `${role}-user`): Promise<string> => {
    const res = await ferry.api.inject({ method: 'POST', url: '/api/v1/tokens', payload: { name, role } });
    assert.is(res.statusCode, 201, res.body);
    return res.json<{ token: string }>().token;
  };
  const report = async (query = ''): Promise<Report> => {
    const res = await ferry.api.inject({ method: 'GET', url: `/api/v1/compliance${query}` });
    assert.is(res.statusCode, 200, res.body);
    return res.json<Report>();
  };
  const put = (url: string, payload: object, token = TEST_ADMIN_TOKEN) => injectRaw(ferry, { method: 'PUT', url, payload, headers: bearer(token) });
  const refused = async (res: { statusCode: number; json: <T>() => T }, status: number, code: string, message?: RegExp) => {
    assert.is(res.statusCode, status, JSON.stringify(res.json()));
    const body = res.json<{ code: string; message: string }>();
    assert.is(body.code, code);
    assert.type(body.message, 'string');
    if (message) assert.match(body.message, message);
  };
  /** cam-1's minimum is 1.1, and 1.1 is marked vulnerable. */
  const policyAndVulnerability = async () => {
    assert.is((await put('/api/v1/compliance/policies/cam-1', { minimumVersion: '1.1' })).statusCode, 200);
    assert.is((await put('/api/v1/vulnerabilities/cam-1/1.1', { advisories: ['CVE-2026-1234'], severity: 'high' })).statusCode, 200);
  };

  suite('no policy: the approved releases pass (a deleted one too), the uploaded one is outdated; provisioned devices are left out', async () => {
    await standardFleet(get().db);
    const r = await report();
    assert.equal(rows(r), [
      ['cam-1', '0.9', 'compliant', 1], ['cam-1', '1.0', 'compliant', 1], ['cam-1', '1.1', 'stale', 1], ['cam-1', '1.1', 'compliant', 1],
      ['cam-1', '2.0', 'stale', 1], ['cam-1', '2.0', 'compliant', 1], ['cam-1', '2.1', 'outdated', 1], ['cam-1', '9.9', 'unknown', 1],
      ['cam-1', null, 'unknown', 1], ['cam-2', '3.0', 'compliant', 1], [null, '3.0', 'unknown', 1],
    ]);
    assert.equal(r.totals, { vulnerable: 0, unknown: 3, outdated: 1, stale: 2, compliant: 5, devices: 11 });
  });

  suite('a minimum and a vulnerable version: every verdict, vulnerable before stale, groups merged; the filters', async () => {
    await standardFleet(get().db);
    await policyAndVulnerability();
    const r = await report();
    assert.equal(rows(r), [
      ['cam-1', '0.9', 'outdated', 1], ['cam-1', '1.0', 'outdated', 1], ['cam-1', '1.1', 'vulnerable', 2],
      ['cam-1', '2.0', 'stale', 1], ['cam-1', '2.0', 'compliant', 1], ['cam-1', '2.1', 'outdated', 1], ['cam-1', '9.9', 'unknown', 1],
      ['cam-1', null, 'unknown', 1], ['cam-2', '3.0', 'compliant', 1], [null, '3.0', 'unknown', 1],
    ]);
    assert.equal(r.totals, { vulnerable: 2, unknown: 3, outdated: 3, stale: 1, compliant: 2, devices: 11 });
    // The vulnerable group's oldest contact is its stale device's, 40 days back.
    const oldest = Date.parse(r.groups[2]!.oldestLastSeen!);
    assert.ok(Date.now() - oldest > 39 * 86_400_000, r.groups[2]!.oldestLastSeen!);

    assert.equal(rows(await report('?hardwareClass=cam-2')), [['cam-2', '3.0', 'compliant', 1]]);
    const outdated = await report('?verdict=outdated');
    assert.equal(rows(outdated).map((x) => x[1]), ['0.9', '1.0', '2.1']);
    assert.equal(outdated.totals, { vulnerable: 0, unknown: 0, outdated: 3, stale: 0, compliant: 0, devices: 3 });
    assert.equal(rows(await report('?hardwareClass=cam-1&verdict=unknown')), [['cam-1', '9.9', 'unknown', 1], ['cam-1', null, 'unknown', 1]]);
    assert.equal(rows(await report('?hardwareClass=nope')), []);
  });

  suite('CSV: the same groups, text/csv, a header line', async () => {
    await standardFleet(get().db);
    await policyAndVulnerability();
    const res = await ferry.api.inject({ method: 'GET', url: '/api/v1/compliance?format=csv&hardwareClass=cam-1' });
    assert.is(res.statusCode, 200, res.body);
    assert.match(String(res.headers['content-type']), /^text\/csv/);
    const lines = res.body.split('\r\n');
    assert.is(lines.pop(), '', 'CRLF after the last line');
    assert.is(lines[0], 'hardware_class,version,verdict,devices,oldest_last_seen');
    assert.is(lines.length, 1 + 8);
    assert.match(lines[3]!, /^cam-1,1\.1,vulnerable,2,\d{4}-\d\d-\d\dT/);
    assert.match(lines[8]!, /^cam-1,,unknown,1,/);
  });

  suite('?devices=true: pages of devices with their verdicts; of one verdict; ?format=csv refused with it', async () => {
    await standardFleet(get().db);
    await policyAndVulnerability();
    type Page = { items: Array<{ endpoint: string; verdict: string; version: string | null }>; next: number | null };
    const pageOf = async (q: string): Promise<Page> => {
      const res = await ferry.api.inject({ method: 'GET', url: `/api/v1/compliance?devices=true${q}` });
      assert.is(res.statusCode, 200, res.body);
      return res.json<Page>();
    };
    const seen: Page['items'] = [];
    let after = 0;
    for (let i = 0; i < 10; i++) {
      const p = await pageOf(`&limit=4&after=${after}`);
      seen.push(...p.items);
      if (p.next === null) break;
      after = p.next;
    }
    assert.equal(Object.fromEntries(seen.map((d) => [d.endpoint, d.verdict])), {
      a1: 'compliant', a2: 'stale', a3: 'vulnerable', a4: 'outdated', a5: 'outdated', a6: 'outdated', a7: 'unknown', a8: 'unknown',
      a9: 'vulnerable', b1: 'compliant', c1: 'unknown',
    });
    assert.equal((await pageOf('&verdict=vulnerable')).items.map((d) => d.endpoint), ['a3', 'a9']);
    assert.equal((await pageOf('&verdict=unknown&hardwareClass=cam-1')).items.map((d) => d.endpoint), ['a7', 'a8']);
    assert.equal((await pageOf('&verdict=stale&hardwareClass=cam-2')).items, []);
    await refused(await ferry.api.inject({ method: 'GET', url: '/api/v1/compliance?devices=true&format=csv' }), 400, 'FERRY_VALIDATION', /format/);
  });

  suite('bad report queries: 400 with a message', async () => {
    for (const q of ['verdict=fine', 'format=xml', 'limit=5', 'devices=maybe', 'hardwareClass=', 'color=red', 'devices=true&limit=0']) {
      await refused(await ferry.api.inject({ method: 'GET', url: `/api/v1/compliance?${q}` }), 400, 'FERRY_VALIDATION');
    }
  });

  suite('policies: set (operator), listed, audited with the user; an explicit approved set and staleDays change verdicts', async () => {
    await standardFleet(get().db);
    const operator = await tokenOf('operator', 'olga');
    const res = await put('/api/v1/compliance/policies/cam-1', { minimumVersion: '1.1', approvedVersions: ['2.0', '2.1'], staleDays: 60 }, operator);
    assert.is(res.statusCode, 200, res.body);
    assert.equal({ ...res.json(), updatedAt: undefined, id: undefined },
      { hardwareClass: 'cam-1', minimumVersion: '1.1', approvedVersions: ['2.0', '2.1'], staleDays: 60, updatedBy: 'olga', updatedAt: undefined, id: undefined });
    assert.equal(rows(await report('?hardwareClass=cam-1&verdict=compliant')), [['cam-1', '2.0', 'compliant', 2], ['cam-1', '2.1', 'compliant', 1]]);
    const { rows: events } = await get().db.query<{ actor: string; data: Record<string, unknown> }>("SELECT actor, data FROM events WHERE kind = 'compliance.policy_set'");
    assert.equal(events, [{ actor: 'token:olga', data: { hardwareClass: 'cam-1', minimumVersion: '1.1', approvedVersions: ['2.0', '2.1'], staleDays: 60, user: 'olga' } }]);

    // The whole policy is replaced: what is left out is cleared.
    assert.is((await put('/api/v1/compliance/policies/cam-1', {}, operator)).statusCode, 200);
    const list = await ferry.api.inject({ method: 'GET', url: '/api/v1/compliance/policies', headers: bearer(await tokenOf('viewer')) });
    assert.is(list.statusCode, 200, list.body);
    assert.equal(list.json().items.map((p: { hardwareClass: string; minimumVersion: unknown; approvedVersions: unknown; staleDays: number }) =>
      [p.hardwareClass, p.minimumVersion, p.approvedVersions, p.staleDays]), [['cam-1', null, null, 30]]);
    assert.is(list.json().next, null);
  });

  suite('policies: bad input is a 4xx with a code and a message; a viewer may not set one', async () => {
    await standardFleet(get().db);
    const url = '/api/v1/compliance/policies/cam-1';
    await refused(await put(url, { minimumVersion: '7.7' }), 400, 'FERRY_COMPLIANCE_POLICY_INVALID', /7\.7 is not a release of class cam-1/);
    await refused(await put('/api/v1/compliance/policies/cam-2', { minimumVersion: '2.0' }), 400, 'FERRY_COMPLIANCE_POLICY_INVALID');
    for (const body of [{ staleDays: 0 }, { staleDays: 1.5 }, { staleDays: 9999 }, { approvedVersions: 'all' }, { approvedVersions: ['a b'] },
      { approvedVersions: ['1.0', '1.0'] }, { minimumVersion: '' }, { minimum: '1.0' }]) {
      await refused(await put(url, body), 400, 'FERRY_VALIDATION');
    }
    await refused(await put('/api/v1/compliance/policies/a%20b', {}), 400, 'FERRY_VALIDATION');
    await refused(await put(url, {}, await tokenOf('viewer')), 403, 'FERRY_FORBIDDEN');
    await refused(await ferry.api.inject({ method: 'GET', url: '/api/v1/compliance/policies?after=-1' }), 400, 'FERRY_VALIDATION');
    assert.is((await get().db.query('SELECT 1 FROM compliance_policies')).rows.length, 0, 'nothing stored');
  });

  suite('vulnerabilities: marked (operator), replaced, listed with the devices running them, cleared; audited with the user', async () => {
    await standardFleet(get().db);
    const operator = await tokenOf('operator', 'vera');
    const url = '/api/v1/vulnerabilities/cam-1/1.1';
    const marked = await put(url, { advisories: ['CVE-2026-1234', 'GHSA-abcd-efgh-ijkl'], severity: 'critical', deadline: '2027-01-01T00:00:00Z', note: 'remote code execution' }, operator);
    assert.is(marked.statusCode, 200, marked.body);
    const v = marked.json();
    assert.equal([v.hardwareClass, v.version, v.advisories, v.severity, v.deadline, v.note, v.markedBy, v.devices],
      ['cam-1', '1.1', ['CVE-2026-1234', 'GHSA-abcd-efgh-ijkl'], 'critical', '2027-01-01T00:00:00.000Z', 'remote code execution', 'vera', 2]);
    const again = await put(url, { advisories: ['CVE-2026-1234'], severity: 'medium' }, operator);
    assert.is(again.statusCode, 200);
    assert.equal([again.json().id, again.json().severity, again.json().deadline, again.json().note], [v.id, 'medium', null, null]);
    assert.is((await put('/api/v1/vulnerabilities/cam-1/never-uploaded', { advisories: ['PYSEC-2026-7'], severity: 'low' }, operator)).statusCode, 200);

    const list = await ferry.api.inject({ method: 'GET', url: '/api/v1/vulnerabilities?limit=1', headers: bearer(await tokenOf('viewer')) });
    assert.is(list.statusCode, 200, list.body);
    assert.equal(list.json().items.map((x: { version: string; devices: number }) => [x.version, x.devices]), [['1.1', 2]]);
    const second = await ferry.api.inject({ method: 'GET', url: `/api/v1/vulnerabilities?limit=1&after=${list.json().next}` });
    assert.equal(second.json().items.map((x: { version: string; devices: number }) => [x.version, x.devices]), [['never-uploaded', 0]]);

    const cleared = await injectRaw(ferry, { method: 'DELETE', url, headers: bearer(operator) });
    assert.is(cleared.statusCode, 200, cleared.body);
    await refused(await injectRaw(ferry, { method: 'DELETE', url, headers: bearer(operator) }), 404, 'FERRY_VULNERABILITY_NOT_FOUND', /not marked vulnerable/);
    const { rows: events } = await get().db.query<{ kind: string; actor: string; data: Record<string, unknown> }>(
      "SELECT kind, actor, data FROM events WHERE kind LIKE 'vulnerability.%' ORDER BY id");
    assert.equal(events.map((e) => [e.kind, e.actor, e.data['user'], e.data['version']]), [
      ['vulnerability.marked', 'token:vera', 'vera', '1.1'], ['vulnerability.marked', 'token:vera', 'vera', '1.1'],
      ['vulnerability.marked', 'token:vera', 'vera', 'never-uploaded'], ['vulnerability.cleared', 'token:vera', 'vera', '1.1'],
    ]);
    assert.equal(events[0]!.data['advisories'], ['CVE-2026-1234', 'GHSA-abcd-efgh-ijkl']);
    assert.is(events[0]!.data['deadline'], '2027-01-01T00:00:00.000Z');
  });

  suite('vulnerabilities: bad input is a 4xx with a code and a message; a viewer may not mark one', async () => {
    const url = '/api/v1/vulnerabilities/cam-1/1.1';
    const good = { advisories: ['CVE-2026-1234'], severity: 'high' };
    for (const body of [
      {}, { severity: 'high' }, { advisories: [], severity: 'high' }, { advisories: ['not an advisory'], severity: 'high' },
      { advisories: ['CVE'], severity: 'high' }, { advisories: [`CVE-${'1'.repeat(80)}`], severity: 'high' }, { advisories: ['CVE-2026-1234', 'CVE-2026-1234'], severity: 'high' },
      { advisories: ['CVE-2026-1234\n'], severity: 'high' }, { ...good, severity: 'urgent' }, { ...good, deadline: 'tomorrow' },
      { ...good, deadline: '0001-01-01T00:00:00Z' }, { ...good, note: '' }, { ...good, note: 'x'.repeat(1001) }, { ...good, extra: 1 },
      { advisories: Array.from({ length: 33 }, (_, i) => `CVE-2026-${1000 + i}`), severity: 'high' },
    ]) {
      await refused(await put(url, body), 400, 'FERRY_VALIDATION');
    }
    await refused(await put('/api/v1/vulnerabilities/cam-1/bad%20version', good), 400, 'FERRY_VALIDATION');
    await refused(await put(`/api/v1/vulnerabilities/cam-1/${'v'.repeat(200)}`, good), 414, 'FERRY_URI_TOO_LONG');
    await refused(await put(url, good, await tokenOf('viewer')), 403, 'FERRY_FORBIDDEN');
    await refused(await injectRaw(ferry, { method: 'DELETE', url, headers: bearer(await tokenOf('viewer', 'v2')) }), 403, 'FERRY_FORBIDDEN');
    await refused(await ferry.api.inject({ method: 'GET', url: '/api/v1/vulnerabilities?limit=0' }), 400, 'FERRY_VALIDATION');
    assert.is((await get().db.query('SELECT 1 FROM vulnerable_versions')).rows.length, 0, 'nothing stored');
  });

  suite('ferry_devices_noncompliant: non-compliant devices by class and verdict, at each scrape', async () => {
    await standardFleet(get().db);
    await policyAndVulnerability();
    const res = await injectRaw(ferry, { method: 'GET', url: '/metrics' });
    assert.is(res.statusCode, 200);
    const samples = res.body.split('\n').filter((l) => l.startsWith('ferry_devices_noncompliant{')).sort();
    assert.equal(samples, [
      'ferry_devices_noncompliant{hardware_class="cam-1",verdict="outdated"} 3',
      'ferry_devices_noncompliant{hardware_class="cam-1",verdict="stale"} 1',
      'ferry_devices_noncompliant{hardware_class="cam-1",verdict="unknown"} 2',
      'ferry_devices_noncompliant{hardware_class="cam-1",verdict="vulnerable"} 2',
      'ferry_devices_noncompliant{hardware_class="unknown",verdict="unknown"} 1',
    ]);
    await injectRaw(ferry, { method: 'DELETE', url: '/api/v1/vulnerabilities/cam-1/1.1', headers: bearer() });
    const after = await injectRaw(ferry, { method: 'GET', url: '/metrics' });
    assert.not.match(after.body, /verdict="vulnerable"/);
  });

  suite('ferry compliance: a table, --json, --csv; --fail-on exits 3 when devices have the verdict; errors are one line', async () => {
    await standardFleet(get().db);
    await policyAndVulnerability();
    const viewer = await tokenOf('viewer');
    const run = async (args: string[], env: Record<string, string> = { FERRY_URL: ferry.apiUrl, FERRY_TOKEN: viewer }) => {
      let out = '';
      let err = '';
      const code = await complianceCommand(args, { out: (t) => { out += t; }, err: (t) => { err += t; }, env });
      return { code, out, err };
    };
    const table = await run([]);
    assert.is(table.code, 0, table.err);
    assert.match(table.out, /^CLASS\s+VERSION\s+VERDICT\s+DEVICES\s+OLDEST LAST SEEN$/m);
    assert.match(table.out, /^cam-1\s+1\.1\s+vulnerable\s+2\s+\d{4}-/m);
    assert.match(table.out, /^11 devices: vulnerable 2, unknown 3, outdated 3, stale 1, compliant 2$/m);
    const json = await run(['--json', '--hardware-class', 'cam-2']);
    assert.is(json.code, 0);
    assert.equal(rows(JSON.parse(json.out)), [['cam-2', '3.0', 'compliant', 1]]);
    const csv = await run(['--csv', '--verdict', 'vulnerable']);
    assert.is(csv.out.split('\r\n')[1]!.split(',').slice(0, 4).join(','), 'cam-1,1.1,vulnerable,2');

    assert.is((await run(['--fail-on', 'vulnerable'])).code, 3);
    assert.is((await run(['--fail-on', 'noncompliant', '--hardware-class', 'cam-1'])).code, 3);
    assert.is((await run(['--fail-on', 'vulnerable,stale', '--hardware-class', 'cam-2'])).code, 0);
    assert.is((await run(['--fail-on', 'bad'])).code, 2);
    assert.is((await run(['--json', '--csv'])).code, 2);
    assert.is((await run(['--verdict', 'fine'])).code, 2);
    assert.is((await run(['stray'])).code, 2);
    const denied = await run([], { FERRY_URL: ferry.apiUrl, FERRY_TOKEN: `fry_${'x'.repeat(43)}` });
    assert.is(denied.code, 1);
    assert.match(denied.err, /^ferry: .+ \(FERRY_UNAUTHORIZED, HTTP 401\)\n$/);
    const bad = await run(['--hardware-class', 'a b']);
    assert.is(bad.code, 1);
    assert.match(bad.err, /\(FERRY_VALIDATION, HTTP 400\)/);
    assert.is((await run([], { FERRY_URL: ferry.apiUrl })).code, 1);

    // The command itself, as a user runs it.
    const bin = await runFerry(['compliance', '--csv', '--fail-on', 'outdated'], { cwd: dir, env: { FERRY_URL: ferry.apiUrl, FERRY_TOKEN: viewer } });
    assert.is(bin.code, 3, bin.stderr);
    assert.match(bin.stdout, /^hardware_class,version,verdict,devices,oldest_last_seen\r\n/);
    oneLine(await runFerry(['compliance'], { cwd: dir, env: { FERRY_URL: 'http://127.0.0.1:1', FERRY_TOKEN: viewer } }), 1, /^ferry: cannot reach http:\/\/127\.0\.0\.1:1 /);
  });
});
