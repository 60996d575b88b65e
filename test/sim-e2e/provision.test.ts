// The simulator gives a real Ferry its fleet's PSKs through the admin API: POST
// /api/v1/credentials/import in batches, each all or nothing; a refused token or an API that is
// not there is a failure that stops the run before a device starts.
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newSecretsKeyText } from '../../server/credentials/secrets-key.ts';
import type { Ferry } from '../../server/main.ts';
import { fleetPsks, runFleet } from '../../simulator/fleet.ts';
import { provisionCredentials } from '../../simulator/provision.ts';
import { forEachDatabase } from '../helpers/db.ts';
import { offlineDevice } from '../helpers/devices.ts';
import { TEST_ADMIN_TOKEN, startTestFerry } from '../helpers/ferry.ts';

const dir = mkdtempSync(join(tmpdir(), 'ferry-sim-provision-'));
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
const keyFile = join(dir, 'secrets.key');
writeFileSync(keyFile, newSecretsKeyText(), { mode: 0o600 });

forEachDatabase('simulator, provisioning credentials', ({ suite, get }) => {
  let ferry: Ferry;
  suite.before(async () => { ferry = await startTestFerry(get().db, { secretsKeyFile: keyFile }); });
  suite.after(async () => { await ferry.close(); });

  suite('every device\'s identity reaches the server, in batches', async () => {
    const psks = fleetPsks('prov', 5, 99);
    for (const p of psks) await offlineDevice(get().db, p.endpoint);
    const out = await provisionCredentials({ api: ferry.apiUrl, token: TEST_ADMIN_TOKEN }, psks, 2);
    assert.equal(out, { imported: 5 });
    for (const p of psks) {
      const res = await ferry.api.inject({ method: 'GET', url: `/api/v1/devices/${p.endpoint}/credentials` });
      assert.is(res.statusCode, 200, res.body);
      assert.is(res.json().identity, p.endpoint);
    }
    const key = await ferry.credentials.pskFor('prov-3');
    assert.equal(key?.current, psks[2]?.key, 'the key the device derives is the one the server holds');
  });

  suite('a refused token stops it, saying which token', async () => {
    const out = await provisionCredentials({ api: ferry.apiUrl, token: 'fry_nope', tokenSource: '--api-token' }, fleetPsks('prov', 2, 1));
    assert.is(out.imported, 0);
    assert.is(out.failure?.kind, 'auth');
    assert.is(out.failure?.status, 401);
    assert.match(out.failure?.message ?? '', /--api-token/);
  });

  suite('a run whose import is refused starts no device and is stopped', async () => {
    const report = await runFleet({
      server: 'coaps://127.0.0.1:9', devices: 2, prefix: 'prov', seed: 1, durationMs: 1000,
      provision: { api: ferry.apiUrl, token: 'fry_nope', tokenSource: 'FERRY_API_TOKEN' },
    });
    assert.is(report.started, 0);
    assert.is(report.apiFailure?.kind, 'auth');
    assert.is(report.outcome.status, 'stopped');
  });
});
