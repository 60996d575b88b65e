// The compliance.vulnerable alert: devices still running a version marked vulnerable past its
// deadline raise one (critical, with the device count and the advisories) from the server's own
// periodic check; not before the deadline, not for a version nobody runs, not twice within a day.
import * as assert from 'uvu/assert';
import { alertOverdueVulnerabilities } from '../../../server/compliance/overdue.ts';
import { silentLogger } from '../../../server/log.ts';
import { startFerry, type Ferry } from '../../../server/main.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { eventually, injectAsAdmin, testConfig } from '../../helpers/ferry.ts';
import { devices, images } from './kit.ts';

interface AlertBody { kind: string; severity: string; message: string; data: Record<string, unknown> }

forEachDatabase('compliance, vulnerable past the deadline', ({ suite, get }) => {
  let ferry: Ferry;
  suite.before(async () => {
    ferry = await startFerry(testConfig(), { log: silentLogger(), db: get().db, complianceCheckMs: 100 });
    injectAsAdmin(ferry.api);
  });
  suite.after(async () => { await ferry.close(); });

  const mark = async (version: string, deadline: string | null) => {
    const res = await ferry.api.inject({
      method: 'PUT', url: `/api/v1/vulnerabilities/cam-1/${version}`,
      payload: { advisories: ['CVE-2026-1234', 'GHSA-abcd-efgh-ijkl'], severity: 'high', deadline },
    });
    assert.is(res.statusCode, 200, res.body);
  };
  const alerts = async (): Promise<AlertBody[]> => {
    const res = await ferry.api.inject({ method: 'GET', url: '/api/v1/alerts?kind=compliance.vulnerable' });
    assert.is(res.statusCode, 200, res.body);
    return res.json<{ items: AlertBody[] }>().items;
  };
  const fleet = async () => {
    await images(get().db, 'cam-1', [{ version: '1.1', sequence: 2 }, { version: '2.0', sequence: 3 }]);
    await devices(get().db, [
      { endpoint: 'a1', hardwareClass: 'cam-1', version: '1.1' }, { endpoint: 'a2', hardwareClass: 'cam-1', version: '1.1', daysAgo: 3 },
      { endpoint: 'a3', hardwareClass: 'cam-1', version: '2.0' }, { endpoint: 'b1', hardwareClass: 'cam-2', version: '1.1' },
    ]);
  };

  suite('past the deadline: one critical alert with the count and the advisories, raised by the periodic check; not again within a day', async () => {
    await fleet();
    await mark('1.1', '2026-01-01T00:00:00Z');
    const [alert] = await eventually(async () => ((await alerts()).length > 0 ? alerts() : undefined), 10_000, 'the alert');
    assert.is(alert!.severity, 'critical');
    assert.equal(alert!.data, {
      hardwareClass: 'cam-1', version: '1.1', devices: 2, advisories: ['CVE-2026-1234', 'GHSA-abcd-efgh-ijkl'], advisorySeverity: 'high',
      deadline: '2026-01-01T00:00:00.000Z', vulnerabilityId: alert!.data['vulnerabilityId'],
    });
    assert.match(alert!.message, /2 device\(s\) of class cam-1 still run 1\.1/);
    assert.is(await alertOverdueVulnerabilities(ferry.db, ferry.alerts), 0, 'claimed: not again within a day');
    assert.is((await alerts()).length, 1);

    // A day later, devices still run it: once more.
    await get().db.query("UPDATE vulnerable_versions SET alerted_at = now() - interval '25 hours'");
    await eventually(async () => ((await alerts()).length === 2 ? true : undefined), 10_000, 'the alert a day later');
    // A new marking is a new subject: it alerts at once when its deadline has passed.
    await mark('1.1', '2026-02-01T00:00:00Z');
    await eventually(async () => ((await alerts()).length === 3 ? true : undefined), 10_000, 'the alert of the new marking');
  });

  suite('before the deadline, without one, or for a version nobody runs: no alert; the deadline moved into the past: the alert', async () => {
    await fleet();
    await mark('1.1', '2999-01-01T00:00:00Z');
    await mark('2.0', null);
    await mark('0.1', '2020-01-01T00:00:00Z');
    assert.is(await alertOverdueVulnerabilities(ferry.db, ferry.alerts), 0);
    assert.equal(await alerts(), []);
    const { rows } = await get().db.query('SELECT version FROM vulnerable_versions WHERE alerted_at IS NOT NULL');
    assert.equal(rows, [], 'nothing claimed');

    await mark('1.1', '2020-06-01T00:00:00Z');
    const [alert] = await eventually(async () => ((await alerts()).length > 0 ? alerts() : undefined), 10_000, 'the alert');
    assert.is(alert!.data['version'], '1.1');
    assert.is(alert!.data['devices'], 2);
  });
});
