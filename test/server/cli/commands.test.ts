// The admin API's commands (ferry devices, fw, update, campaign, alerts, tokens, users) against a
// running server, in this process with their output captured: each noun's happy path, --json
// parseable, an API refusal as one line and exit 1, usage mistakes exit 2; campaign watch until a
// campaign ends, and its exit code; then `ferry` itself, spawned, for --version and a usage mistake.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { ApiClient, itemsOf, type CliIo } from '../../../server/cli/api.ts';
import { alertsCommand } from '../../../server/cli/alerts.ts';
import { campaignCommand } from '../../../server/cli/campaign.ts';
import { devicesCommand, updateCommand } from '../../../server/cli/devices.ts';
import { firmwareCommand } from '../../../server/cli/firmware.ts';
import { tokensCommand } from '../../../server/cli/tokens.ts';
import { usersCommand } from '../../../server/cli/users.ts';
import type { Ferry } from '../../../server/main.ts';
import { insertAlert } from '../../../server/store/alerts.ts';
import type { Db } from '../../../server/store/db.ts';
import * as devices from '../../../server/store/devices.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { offlineDevice } from '../../helpers/devices.ts';
import { oneLine, runFerry, type Run } from '../../helpers/ferry-cli.ts';
import { startTestFerry, TEST_ADMIN_TOKEN } from '../../helpers/ferry.ts';

const dir = mkdtempSync(join(tmpdir(), 'ferry-cli-commands-'));
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'image.bin'), Buffer.alloc(600, 0x5a));

type Command = (argv: string[], io?: CliIo) => Promise<number>;

/** A registered device of class `cls` already running `version` (a campaign to it skips the device). */
async function onVersion(db: Db, endpoint: string, cls: string, version: string): Promise<void> {
  const { device } = await devices.register(db, {
    endpoint, registrationId: `r-${endpoint}`, lifetime: 600, lwm2mVersion: '1.1', binding: 'U', queueMode: false,
    objectLinks: '</5/0>', address: '127.0.0.1', port: 9,
  });
  await devices.setDeviceInfo(db, device.id, { manufacturer: 'm', modelNumber: cls, hardwareVersion: null, firmwareVersion: version, hardwareClass: cls });
}

forEachDatabase('ferry admin API commands', ({ suite, get }) => {
  let server: Ferry;
  suite.before(async () => { server = await startTestFerry(get().db, { campaignTick: 100 }); });
  suite.after(async () => { await server.close(); });

  const env = (): Record<string, string> => ({ FERRY_URL: server.apiUrl, FERRY_TOKEN: TEST_ADMIN_TOKEN });
  /** Runs a command in this process; its exit code, stdout and stderr. */
  const run = async (command: Command, args: string[], e: Record<string, string> = env()): Promise<Run> => {
    let stdout = '';
    let stderr = '';
    const code = await command(args, { out: (t) => { stdout += t; }, err: (t) => { stderr += t; }, env: e });
    return { code, signal: null, stdout, stderr };
  };
  const ok = async (command: Command, args: string[]): Promise<string> => {
    const r = await run(command, args);
    assert.is(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const json = async <T = any>(command: Command, args: string[]): Promise<T> => JSON.parse(await ok(command, [...args, '--json'])) as T;
  const upload = async (version: string, cls = 'sim-1'): Promise<number> =>
    (await json<{ id: number }>(firmwareCommand, ['upload', join(dir, 'image.bin'), '--version', version, '--class', cls])).id;

  suite('devices ls (filters, --limit, pages), show; a refusal is one line', async () => {
    for (const [e, cls] of [['d1', 'sim-1'], ['d2', 'sim-1'], ['d3', 'sim-2']] as const) await offlineDevice(get().db, e, cls);
    assert.equal((await json<Array<{ endpoint: string }>>(devicesCommand, ['ls'])).map((d) => d.endpoint), ['d1', 'd2', 'd3']);
    assert.equal((await json<Array<{ endpoint: string }>>(devicesCommand, ['ls', '--class', 'sim-2'])).map((d) => d.endpoint), ['d3']);
    assert.equal((await json<unknown[]>(devicesCommand, ['ls', '--limit', '2'])).length, 2);
    // Page after page by `next`, one device a page.
    assert.equal((await new ApiClient(env(), 'viewer').list<{ endpoint: string }>('/api/v1/devices', {}, { pageSize: 1 })).map((d) => d.endpoint), ['d1', 'd2', 'd3']);
    const table = (await ok(devicesCommand, ['ls', '--version', '1.0.0'])).trimEnd().split('\n');
    assert.match(table[0]!, /^ENDPOINT\s+STATUS\s+CLASS\s+VERSION\s+LAST SEEN\s+ADDRESS$/);
    assert.match(table[1]!, /^d1\s+deregistered\s+sim-1\s+1\.0\.0\s/);
    assert.match(await ok(devicesCommand, ['show', 'd3']), /^d3 \(id \d+\): deregistered\n {2}class sim-2, firmware 1\.0\.0/);
    oneLine(await run(devicesCommand, ['show', 'nobody']), 1, /^ferry: no device nobody \(FERRY_DEVICE_NOT_FOUND, HTTP 404\)$/);
    oneLine(await run(devicesCommand, ['ls', '--status', 'asleep']), 1, /^ferry: .* \(FERRY_VALIDATION, HTTP 400\)$/);
    oneLine(await run(devicesCommand, ['ls', '--limit', 'many']), 2, /^ferry: --limit is a positive integer, not "many"; see ferry devices --help$/);
    oneLine(await run(devicesCommand, ['show']), 2, /^ferry: devices show needs ENDPOINT; see ferry devices --help$/);
    oneLine(await run(devicesCommand, ['ls'], { FERRY_URL: server.apiUrl }), 1, /^ferry: set FERRY_TOKEN to an API token \(viewer role\)$/);
    oneLine(await run(devicesCommand, ['ls'], { FERRY_URL: 'http://127.0.0.1:1', FERRY_TOKEN: TEST_ADMIN_TOKEN }), 1, /^ferry: cannot reach http:\/\/127\.0\.0\.1:1 /);
  });

  suite('fw upload, ls, rm; update; refusals', async () => {
    const id = await upload('2.0.0');
    const listed = await json<Array<{ id: number; version: string; hardwareClass: string }>>(firmwareCommand, ['ls']);
    assert.equal(listed.map((i) => [i.id, i.version, i.hardwareClass]), [[id, '2.0.0', 'sim-1']]);
    assert.match(await ok(firmwareCommand, ['ls']), new RegExp(`^ID\\s+CLASS\\s+VERSION\\s+STATE\\s+SIZE.*\\n\\s*${id}\\s+sim-1\\s+2\\.0\\.0\\s+\\S+\\s+\\d+`));
    oneLine(await run(firmwareCommand, ['upload', join(dir, 'image.bin')]), 1, /\(FERRY_[A-Z_]+, HTTP 4\d\d\)$/);
    oneLine(await run(firmwareCommand, ['upload', join(dir, 'none.bin')]), 2, /^ferry: cannot read .*none\.bin: ENOENT; see ferry fw --help$/);
    oneLine(await run(firmwareCommand, ['upload', join(dir, 'image.bin'), '--delivery', 'fax']), 2, /--delivery is package or payload/);

    await offlineDevice(get().db, 'u1');
    const update = await json<{ id: number; endpoint: string; firmwareId: number }>(updateCommand, ['u1', String(id)]);
    assert.equal([update.endpoint, update.firmwareId], ['u1', id]);
    oneLine(await run(updateCommand, ['nobody', String(id)]), 1, /\(FERRY_DEVICE_NOT_FOUND, HTTP 404\)$/);
    oneLine(await run(updateCommand, ['u1']), 2, /^ferry: update needs FW_ID; see ferry update --help$/);

    const spare = await upload('2.1.0');
    assert.is(await ok(firmwareCommand, ['rm', String(spare)]), `firmware ${spare} deleted\n`);
    oneLine(await run(firmwareCommand, ['rm', '999999']), 1, /^ferry: no firmware image 999999 \(FERRY_FIRMWARE_NOT_FOUND, HTTP 404\)$/);
  });

  suite('campaign create (flags, --file), show, start, watch until it completes; pause and abort end watch with 3 and 1', async () => {
    const fw = await upload('3.0.0', 'cam-none');
    const created = await json<{ id: number; state: string; target: object; policy: { waves: unknown[]; soakSeconds: number; failureThreshold: number } }>(campaignCommand, [
      'create', '--name', 'flags', '--fw', String(fw), '--class', 'cam-none', '--tag', 'a', '--tag', 'b', '--waves', '10%,50%,100%', '--soak', '2m', '--threshold', '5%',
    ]);
    assert.is(created.state, 'draft');
    assert.equal(created.target, { hardwareClass: 'cam-none', tags: ['a', 'b'] });
    assert.equal([created.policy.waves, created.policy.soakSeconds, created.policy.failureThreshold], [['10%', '50%', '100%'], 120, 0.05]);
    assert.match(await ok(campaignCommand, ['show', String(created.id)]), /^campaign \d+ \(flags\): draft, wave 0\/3, firmware \d+\n {2}wave 1: 0\/0 done/);

    // No device of class cam-none registered: refused, unless allowed to wait for devices.
    const empty = await json<{ id: number }>(campaignCommand, ['create', '--name', 'empty', '--fw', String(fw), '--class', 'cam-none', '--waves', '50%,100%']);
    oneLine(await run(campaignCommand, ['start', String(empty.id)]), 1, /matched no registered device.*\(FERRY_CAMPAIGN_EMPTY, HTTP 409\)$/);
    // Two devices already on 3.0.0: both skipped, the campaign completes at its next ticks.
    for (const e of ['on-1', 'on-2']) await onVersion(get().db, e, 'cam-none', '3.0.0');
    assert.match(await ok(campaignCommand, ['start', String(empty.id)]), /^campaign \d+ \(empty\): running\n$/);
    const watched = await run(campaignCommand, ['watch', String(empty.id)]);
    assert.is(watched.code, 0, watched.stderr);
    const lines = watched.stdout.trimEnd().split('\n');
    assert.match(lines[lines.length - 1]!, /^campaign \d+ \(empty\): completed, wave \d\/2; wave 1 \d\/1, wave 2 \d\/1; succeeded 0, failed 0, skipped 2$/, lines[lines.length - 1]);
    assert.equal(new Set(lines).size, lines.length, 'a line per change, none repeated');

    // Two waves an hour apart: running, until paused.
    const sim = await upload('3.1.0');
    writeFileSync(join(dir, 'campaign.json'), JSON.stringify({ name: 'from-file', firmwareId: sim, target: { hardwareClass: 'sim-1' }, policy: { waves: [1, 2], soakSeconds: 3600 } }));
    const fromFile = await json<{ id: number; name: string }>(campaignCommand, ['create', '--file', join(dir, 'campaign.json')]);
    assert.is(fromFile.name, 'from-file');
    await ok(campaignCommand, ['start', String(fromFile.id), '--allow-empty']);
    await ok(campaignCommand, ['pause', String(fromFile.id), '--reason', 'not yet']);
    const paused = await run(campaignCommand, ['watch', String(fromFile.id), '--json']);
    assert.is(paused.code, 3, paused.stderr);
    const last = JSON.parse(paused.stdout.trimEnd().split('\n').pop()!) as { state: string; pauseReason: string; waves: unknown[] };
    assert.equal([last.state, last.pauseReason, last.waves.length], ['paused', 'not yet', 2]);
    await ok(campaignCommand, ['abort', String(fromFile.id)]);
    assert.is((await run(campaignCommand, ['watch', String(fromFile.id)])).code, 1);

    oneLine(await run(campaignCommand, ['start', String(empty.id)]), 1, /\(FERRY_CAMPAIGN_[A-Z_]+, HTTP 409\)$/);
    oneLine(await run(campaignCommand, ['show', '999999']), 1, /^ferry: no campaign 999999 \(FERRY_CAMPAIGN_NOT_FOUND, HTTP 404\)$/);
    oneLine(await run(campaignCommand, ['create', '--file', join(dir, 'campaign.json'), '--name', 'x']), 2, /^ferry: --file or --name, not both; see ferry campaign --help$/);
    oneLine(await run(campaignCommand, ['create', '--name', 'x', '--fw', String(fw), '--waves', 'half']), 2, /--waves takes shares/);
    oneLine(await run(campaignCommand, ['launch', '1']), 2, /^ferry: unknown command "campaign launch"; see ferry campaign --help$/);
  });

  suite('alerts ls (--unacked), ack', async () => {
    const raise = (message: string) => insertAlert(get().db, { kind: 'campaign.paused', severity: 'critical', campaignId: null, deviceId: null, updateId: null, message, data: {}, webhook: 'none' });
    const [a1, a2] = [await raise('first'), await raise('second')];
    assert.match(await ok(alertsCommand, ['ack', String(a1.id)]), new RegExp(`^alert ${a1.id} \\(campaign\\.paused\\) acknowledged at \\d{4}-`));
    assert.equal((await json<Array<{ id: number }>>(alertsCommand, ['ls'])).map((a) => a.id), [a1.id, a2.id]);
    assert.equal((await json<Array<{ id: number }>>(alertsCommand, ['ls', '--unacked'])).map((a) => a.id), [a2.id]);
    // One alert a page: followed by `next`, or after the last id while the route answers a bare array.
    assert.equal((await new ApiClient(env(), 'viewer').list<{ id: number }>('/api/v1/alerts', {}, { pageSize: 1 })).map((a) => a.id), [a1.id, a2.id]);
    assert.match(await ok(alertsCommand, ['ls', '--unacked']), new RegExp(`^ID\\s+AT\\s+SEVERITY\\s+KIND\\s+ACKED\\s+MESSAGE\\n\\s*${a2.id}\\s+\\S+\\s+critical\\s+campaign\\.paused\\s+-\\s+second\\n$`));
    oneLine(await run(alertsCommand, ['ack', '999999']), 1, /^ferry: no alert 999999 \(FERRY_ALERT_NOT_FOUND, HTTP 404\)$/);
  });

  suite('users create, roles, disable, ls; tokens create, ls, revoke', async () => {
    assert.is(await ok(usersCommand, ['create', 'alice', '--roles', 'viewer,approver']), 'user alice: viewer, approver\n');
    assert.is(await ok(usersCommand, ['roles', 'alice', '--roles', 'operator']), 'user alice: operator\n');
    oneLine(await run(usersCommand, ['create', 'alice', '--roles', 'viewer']), 1, /\(FERRY_[A-Z_]+, HTTP 409\)$/);
    oneLine(await run(usersCommand, ['roles', 'alice', '--roles', 'king']), 1, /\(FERRY_VALIDATION, HTTP 400\)$/);
    oneLine(await run(usersCommand, ['create', 'bob']), 2, /give --roles/);

    const created = await run(tokensCommand, ['create', 'ci', '--role', 'viewer', '--user', 'alice', '--expires-in', '30d']);
    assert.is(created.code, 0, created.stderr);
    assert.match(created.stdout, /^fry_[A-Za-z0-9_-]{43}\n$/);
    assert.match(created.stderr, /^created token \d+ ci \(viewer, user alice\), expires \d{4}-/);
    // The new token works, as its role allows.
    const asCi = { FERRY_URL: server.apiUrl, FERRY_TOKEN: created.stdout.trim() };
    assert.is((await run(devicesCommand, ['ls'], asCi)).code, 0);
    oneLine(await run(tokensCommand, ['ls'], asCi), 1, /\(FERRY_FORBIDDEN, HTTP 403\)$/);
    const tokens = itemsOf<{ id: number; name: string; user: string }>(await new ApiClient(env(), 'admin').get('/api/v1/tokens')).items;
    const ci = tokens.find((t) => t.name === 'ci')!;
    assert.is(ci.user, 'alice');
    assert.equal((await json<Array<{ name: string }>>(tokensCommand, ['ls'])).map((t) => t.name).sort(), tokens.map((t) => t.name).sort());
    assert.match(await ok(tokensCommand, ['revoke', String(ci.id)]), /^revoked token \d+ ci/);
    oneLine(await run(devicesCommand, ['ls'], asCi), 1, /\(FERRY_UNAUTHORIZED, HTTP 401\)$/);
    oneLine(await run(tokensCommand, ['revoke', '999999']), 1, /\(FERRY_TOKEN_NOT_FOUND, HTTP 404\)$/);
    oneLine(await run(tokensCommand, ['create', 'x']), 2, /needs --role R/);

    assert.match(await ok(usersCommand, ['disable', 'alice']), /^user alice: operator, disabled \d{4}-/);
    const users = await json<Array<{ name: string; disabledAt: string | null }>>(usersCommand, ['ls']);
    assert.ok(users.find((u) => u.name === 'alice')?.disabledAt);
  });

  suite('ferry itself: --version, a usage mistake on one line, devices ls over the API', async () => {
    const version = await runFerry(['--version'], { cwd: dir });
    assert.is(version.code, 0, version.stderr);
    assert.match(version.stdout, /^ferry \d+\.\d+\.\d+\n$/);
    oneLine(await runFerry(['devices', 'ls', '--bogus'], { cwd: dir, env: env() }), 2, /^ferry: unknown flag --bogus; see ferry devices --help$/);
  });
});
