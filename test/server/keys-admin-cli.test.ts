// ferry keys, as a user runs it, against a running server's API: ls (--json and the table), add,
// validity, revoke; every refusal one line on stderr and exit 1; usage errors exit 2.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { encodePublicKeyPem, generateSigningKey } from '../../protocols/package-keys.ts';
import { keysCommand } from '../../server/keys-admin-cli.ts';
import type { Ferry } from '../../server/main.ts';
import { forEachDatabase } from '../helpers/db.ts';
import { oneLine, runFerry } from '../helpers/ferry-cli.ts';
import { startTestFerry, TEST_ADMIN_TOKEN } from '../helpers/ferry.ts';

const dir = mkdtempSync(join(tmpdir(), 'ferry-keys-cli-'));
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
const RELEASE = generateSigningKey('ed25519');
writeFileSync(join(dir, 'release.pub'), encodePublicKeyPem(RELEASE));

forEachDatabase('ferry keys', ({ suite, get }) => {
  let server: Ferry;
  suite.before(async () => { server = await startTestFerry(get().db, { campaignTick: 60_000 }); });
  suite.after(async () => { await server.close(); });
  const ferry = (args: string[], env: Record<string, string> = { FERRY_URL: server.apiUrl, FERRY_TOKEN: TEST_ADMIN_TOKEN }) =>
    runFerry(['keys', ...args], { cwd: dir, env });

  suite('ls --json, add, the table, validity, revoke', async () => {
    const listed = await ferry(['ls', '--json']);
    assert.is(listed.code, 0, listed.stderr);
    const keys = JSON.parse(listed.stdout) as Array<{ name: string; source: string; status: string }>;
    assert.equal(keys.map((k) => [k.name, k.source, k.status]), [['server-signing', 'file', 'live']]);

    const added = await ferry(['add', 'release-1', 'release.pub', '--not-after', '2099-01-01T00:00:00Z']);
    assert.is(added.code, 0, added.stderr);
    assert.match(added.stdout, new RegExp(`^release-1 \\(ed25519 ${Buffer.from(RELEASE.kid).toString('hex')}, api\\): live, valid .* to 2099-01-01T00:00:00Z\\n$`));
    const table = await ferry(['ls']);
    assert.is(table.code, 0, table.stderr);
    const lines = table.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^NAME\s+SOURCE\s+ALG\s+KID\s+STATUS\s+NOT BEFORE\s+NOT AFTER\s+IMAGES$/);
    assert.match(lines[1]!, /^release-1\s+api\s+ed25519\s+[0-9a-f]{16}\s+live\s+\S+\s+2099-01-01T00:00:00Z\s+0$/);
    assert.match(lines[2]!, /^server-signing\s+file\s+/);

    const [extended, revoked] = [await ferry(['validity', 'release-1', '--not-after', 'none']), await ferry(['revoke', 'release-1', '--reason', 'rotated'])];
    assert.is(extended.code, 0, extended.stderr);
    assert.match(extended.stdout, /live, valid .* to -/);
    assert.is(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, /release-1 .*: revoked.*\nrevoked 0 image\(s\) it signed\n$/);
    assert.is((await server.api.inject({ method: 'GET', url: '/api/v1/keys' })).json().items[0].status, 'revoked');
  });

  suite('refusals: the API\'s code and message on one line, exit 1; usage errors exit 2', async () => {
    oneLine(await ferry(['revoke', 'server-signing', '--reason', 'x']), 1, /^ferry: server-signing is read from a key file.* \(FERRY_KEY_FROM_FILE, HTTP 409\)$/);
    // The rest in this process: the same command, its output captured.
    const run = async (args: string[], env: Record<string, string> = { FERRY_URL: server.apiUrl, FERRY_TOKEN: TEST_ADMIN_TOKEN }) => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await keysCommand(args, { out: (t) => out.push(t), err: (t) => err.push(t), env });
      return { code, signal: null, stdout: out.join(''), stderr: err.join('') };
    };
    assert.is((await run(['add', 'release-2', join(dir, 'release.pub')])).code, 0);
    oneLine(await run(['add', 'release-3', join(dir, 'release.pub')]), 1, /^ferry: this public key .* is trusted already, as release-2 \(FERRY_KEY_EXISTS, HTTP 409\)$/);
    oneLine(await run(['revoke', 'nobody', '--reason', 'x']), 1, /^ferry: no trusted key named nobody \(FERRY_KEY_NOT_FOUND, HTTP 404\)$/);
    oneLine(await run(['validity', 'release-2', '--not-after', 'soon']), 1, /^ferry: .* \(FERRY_VALIDATION, HTTP 400\)$/);
    oneLine(await run(['ls'], { FERRY_URL: server.apiUrl }), 1, /set FERRY_TOKEN/);
    oneLine(await run(['ls'], { FERRY_URL: 'http://127.0.0.1:1', FERRY_TOKEN: TEST_ADMIN_TOKEN }), 1, /^ferry: cannot reach http:\/\/127\.0\.0\.1:1/);
    const usage = await Promise.all([run(['revoke', 'release-2']), run(['rotate']), run(['add', 'x', join(dir, 'nothing.pub')]), run(['ls', '--reason', 'x'])]);
    assert.equal(usage.map((u) => u.code), [2, 2, 2, 2]);
    assert.match(usage[0]!.stderr, /revoke needs --reason/);
    assert.match(usage[1]!.stderr, /^ferry: unknown command "keys rotate"; see ferry keys --help\n$/);
    assert.match(usage[2]!.stderr, /cannot read .*nothing\.pub: ENOENT/);
    assert.match(usage[3]!.stderr, /^ferry: unknown flag --reason; see ferry keys --help\n$/);
  });
});
