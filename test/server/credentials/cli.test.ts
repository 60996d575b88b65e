// The commands as a user runs them: ferry secrets-keygen; ferry serve refusing to start with device
// keys stored and no master key, or another one (one line, exit 1); ferry credentials against a
// running server's API.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CredentialService } from '../../../server/credentials/service.ts';
import { loadSecretsKey } from '../../../server/credentials/secrets-key.ts';
import type { Ferry } from '../../../server/main.ts';
import { openDb } from '../../../server/store/open.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { offlineDevice } from '../../helpers/devices.ts';
import { oneLine, runFerry } from '../../helpers/ferry-cli.ts';
import { startTestFerry, TEST_ADMIN_TOKEN } from '../../helpers/ferry.ts';

const dir = mkdtempSync(join(tmpdir(), 'ferry-credentials-cli-'));
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
const at = (name: string) => join(dir, name);
const ferry = (args: string[], env: Record<string, string> = {}) => runFerry(args, { cwd: dir, env });

test('secrets-keygen: 64 hex digits, mode 0600, never overwritten', async () => {
  const made = await ferry(['secrets-keygen', 'a.key']);
  assert.is(made.code, 0, made.stderr);
  assert.match(readFileSync(at('a.key'), 'utf8'), /^[0-9a-f]{64}\n$/);
  assert.is(statSync(at('a.key')).mode & 0o777, 0o600);
  const before = readFileSync(at('a.key'), 'utf8');
  oneLine(await ferry(['secrets-keygen', 'a.key']), 1, /the file exists/);
  assert.is(readFileSync(at('a.key'), 'utf8'), before);
  assert.is((await ferry(['secrets-keygen'])).code, 2);
  assert.is((await ferry(['secrets-keygen', 'b.key'])).code, 0);
});

test('serve: keys stored and no master key, another master key, a bad key file: one line, exit 1', async () => {
  const dbDir = at('db');
  const db = await openDb({ dataDir: dbDir });
  try {
    await offlineDevice(db, 'dev-1');
    await new CredentialService({ db, secretsKey: await loadSecretsKey(at('a.key')) }).put('dev-1', 'id-1', { generate: true }, 'test');
  } finally {
    await db.close();
  }
  writeFileSync(at('bad.key'), 'not a key\n');
  const serve = (extra: string[]) => ferry(['serve', '--coap-port', '0', '--api-port', '0', '--db-dir', dbDir, '--log-level', 'silent', ...extra]);
  oneLine(await serve([]), 1, /^ferry: 1 device key is stored and no master key is given: set --secrets-key-file \/ FERRY_SECRETS_KEY_FILE$/);
  oneLine(await serve(['--secrets-key-file', at('b.key')]), 1, /^ferry: the master key \(--secrets-key-file \/ FERRY_SECRETS_KEY_FILE\) is not the one the stored device keys were encrypted with$/);
  oneLine(await serve(['--secrets-key-file', at('bad.key')]), 1, /must hold 32 bytes as 64 hex digits/);
  oneLine(await serve(['--secrets-key-file', at('missing.key')]), 1, /cannot read the secrets key file .*missing\.key: ENOENT/);
});

test.run();

forEachDatabase('ferry credentials', ({ suite, get }) => {
  let server: Ferry;
  suite.before(async () => { server = await startTestFerry(get().db, { secretsKeyFile: at('a.key') }); });
  suite.after(async () => { await server.close(); });
  const cli = (args: string[], token = TEST_ADMIN_TOKEN) => ferry(['credentials', ...args], { FERRY_URL: server.apiUrl, FERRY_TOKEN: token });

  suite('set, rotate, ls, rm, import; refusals exit 1 with the code', async () => {
    for (const ep of ['dev-1', 'dev-2', 'dev-3']) await offlineDevice(get().db, ep);
    const set = await cli(['set', 'dev-1', 'id-1', '--generate']);
    assert.is(set.code, 0, set.stderr);
    const key = JSON.parse(set.stdout).key as string;
    assert.match(key, /^[0-9a-f]{64}$/);
    writeFileSync(at('k.hex'), `${'ab'.repeat(16)}\n`);
    assert.is((await cli(['rotate', 'dev-1', 'id-1', '--key-file', at('k.hex')])).code, 0);
    const ls = await cli(['ls', 'dev-1']);
    assert.is(ls.code, 0, ls.stderr);
    assert.is(JSON.parse(ls.stdout).previousIdentity, 'id-1');
    assert.not.ok(ls.stdout.includes(key) || ls.stdout.includes('ab'.repeat(16)));
    writeFileSync(at('batch.csv'), `endpoint,identity,key_hex\ndev-2,id-2,${'cd'.repeat(16)}\ndev-3,id-3,${'ef'.repeat(16)}\n`);
    const imported = await cli(['import', at('batch.csv')]);
    assert.is(imported.code, 0, imported.stderr);
    assert.equal(JSON.parse(imported.stdout), { imported: 2 });
    writeFileSync(at('bad.json'), JSON.stringify([{ endpoint: 'no\u0007body', identity: 'id-9', key: 'cd'.repeat(16) }]));
    oneLine(await cli(['import', at('bad.json')]), 1, /^ferry: nothing imported: line 1: the endpoint name contains a control character.* \(FERRY_CREDENTIALS_IMPORT, HTTP 422\)$/);
    oneLine(await cli(['set', 'dev-2', 'id-1', '--key-file', at('k.hex')]), 1, /\(FERRY_PSK_IDENTITY_TAKEN, HTTP 409\)$/);
    assert.is((await cli(['rm', 'dev-1'])).code, 0);
    oneLine(await cli(['ls', 'dev-1']), 1, /\(FERRY_CREDENTIALS_NOT_FOUND, HTTP 404\)$/);
    assert.is((await cli(['set', 'dev-1', 'id-1'])).code, 2);
    assert.is((await cli(['frobnicate'])).code, 2);
    oneLine(await cli(['ls', 'dev-2'], 'fry_not-a-real-token-at-all-0123456789'), 1, /\(FERRY_UNAUTHORIZED, HTTP 401\)$/);
  });

  suite('set and import for endpoints that have never registered: their devices are made, provisioned', async () => {
    const set = await cli(['set', 'factory-0001', 'f-0001', '--generate']);
    assert.is(set.code, 0, set.stderr);
    const key = JSON.parse(set.stdout).key as string;
    assert.equal((await server.credentials.pskFor('f-0001'))!.current, Buffer.from(key, 'hex'));
    writeFileSync(at('factory.json'), JSON.stringify([
      { endpoint: 'factory-0002', identity: 'f-0002', key: '12'.repeat(16) }, { endpoint: 'factory-0003', identity: 'f-0003', key: '34'.repeat(16) }]));
    const imported = await cli(['import', at('factory.json')]);
    assert.is(imported.code, 0, imported.stderr);
    assert.equal(JSON.parse(imported.stdout), { imported: 2 });
    const ls = await cli(['ls', 'factory-0001', 'factory-0003']);
    assert.is(ls.code, 0, ls.stderr);
    assert.equal(ls.stdout.trim().split('\n').map((l) => JSON.parse(l).identity), ['f-0001', 'f-0003']);
    const rows = await get().db.query<{ endpoint: string; status: string }>('SELECT endpoint, status FROM devices ORDER BY endpoint');
    assert.equal(rows.rows.map((r) => [r.endpoint, r.status]), [['factory-0001', 'provisioned'], ['factory-0002', 'provisioned'], ['factory-0003', 'provisioned']]);
  });
}, { only: 'pglite' });
