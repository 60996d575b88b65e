// `ferry sim --api … --update …` as a user runs it (node server/bin/ferry.js sim) against a real
// server. What no wait mends (no token, a wrong one, an API nothing listens on, an image that does
// not exist, a viewer's token) stops the run at once: one line on stderr, exit 3, the devices shut
// down. The runs that must stop run with --duration 0 (until Ctrl-C): one that retried forever
// would be killed, and fail. The token from FERRY_API_TOKEN drives a run to its goal (exit 0);
// devices left not updated are a failure (exit 4), said so in the table and in --json.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Ferry } from '../../server/main.ts';
import { openTestDatabase } from '../helpers/db.ts';
import type { TestDb } from '../helpers/db.ts';
import { oneLine, runFerry, type Run } from '../helpers/ferry-cli.ts';
import { eventually, startTestFerry, TEST_ADMIN_TOKEN, testSigningKey } from '../helpers/ferry.ts';
import { signedPackage, uploadPackage } from './kit.ts';

const dir = mkdtempSync(join(tmpdir(), 'ferry-sim-api-'));


const sim = (args: string[], env: Record<string, string> = {}, onOutput?: (stdout: string, kill: (s: NodeJS.Signals) => void) => void): Promise<Run> =>
  runFerry(['sim', ...args], { cwd: dir, env, ...(onOutput ? { onOutput } : {}) });

/** Stopped by the API: exit 3 and exactly this one line on stderr, no stack frames. */
const stopped = (run: Run, line: RegExp): void => oneLine(run, 3, line);

/** A loopback port nothing listens on (bound, then closed). */
const closedPort = (): Promise<number> => new Promise((done) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address() as { port: number };
    s.close(() => done(port));
  });
});

let db: TestDb;
let ferry: Ferry;
let firmwareId: number;
let api: string;
/** --server and --api for `prefix`'s devices, until Ctrl-C unless `more` says otherwise. */
const against = (prefix: string, ...more: string[]): string[] =>
  ['--server', `coap://127.0.0.1:${ferry.coapAddress!.port}`, '--api', ferry.apiUrl, '--prefix', prefix, '--devices', '2', '--duration', '0', ...more];
const known = async (endpoint: string): Promise<{ status: string } | undefined> => {
  const res = await ferry.api.inject({ method: 'GET', url: `/api/v1/devices/${endpoint}` });
  return res.statusCode === 200 ? res.json() : undefined;
};

test.before(async () => {
  db = await openTestDatabase(process.env['DATABASE_URL'] ? 'pg' : 'pglite');
  ferry = await startTestFerry(db.db);
  firmwareId = await uploadPackage(ferry, signedPackage('2.0.0', 4096, 1));
  api = ferry.apiUrl.replace(/\./g, '\\.');
});
test.after(async () => {
  await ferry.close();
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

test('no token: one line, exit 3, before any device starts', async () => {
  const run = await sim(against('none', '--update', String(firmwareId)));
  stopped(run, new RegExp(`^ferry sim: the API at ${api} wants a token \\(401: send a bearer token: Authorization: Bearer fry_…\\): set --api-token or FERRY_API_TOKEN$`));
  assert.not.match(run.stdout, /^result/m, 'no report: no device started');
  assert.is(await known('none-1'), undefined, 'no device registered');
});

test('a wrong token in --api-token: one line, exit 3', async () => {
  const run = await sim(against('wrong', '--update', String(firmwareId), '--api-token', `fry_${'z'.repeat(43)}`));
  stopped(run, new RegExp(`^ferry sim: the API at ${api} refused the token from --api-token \\(401: the token is unknown or revoked\\): set --api-token or FERRY_API_TOKEN$`));
  assert.is(await known('wrong-1'), undefined);
});

test('an --api nothing listens on: one line naming it, exit 3', async () => {
  const port = await closedPort();
  const run = await sim([...against('gone', '--update', String(firmwareId)), '--api', `http://127.0.0.1:${port}`], { FERRY_API_TOKEN: TEST_ADMIN_TOKEN });
  stopped(run, new RegExp(`^ferry sim: cannot reach the API at http://127\\.0\\.0\\.1:${port} \\(connect ECONNREFUSED 127\\.0\\.0\\.1:${port}\\): check --api$`));
});

test('--update of an image that does not exist: one line, exit 3, not retried', async () => {
  const run = await sim(against('noimg', '--update', '424242'), { FERRY_API_TOKEN: TEST_ADMIN_TOKEN });
  stopped(run, new RegExp(`^ferry sim: the API at ${api} has no firmware image 424242 \\(404: no firmware image 424242\\): check --update$`));
  assert.is(await known('noimg-1'), undefined);
});

test('a viewer token (from FERRY_ADMIN_TOKEN): the first update request stops the run, the devices go away cleanly, exit 3', async () => {
  const res = await ferry.api.inject({ method: 'POST', url: '/api/v1/tokens', payload: { name: 'looker', role: 'viewer' } });
  const json = join(dir, 'viewer.json');
  const run = await sim(against('viewer', '--update', String(firmwareId), '--json', json), { FERRY_ADMIN_TOKEN: res.json().token });
  stopped(run, new RegExp(`^ferry sim: the API at ${api} refused the token from FERRY_ADMIN_TOKEN while asking for an update \\(403: this needs the operator role; token looker is viewer\\): it needs an operator token$`));
  assert.match(run.stdout, /^result\s+STOPPED: the API at .* \(403: /m);
  const report = JSON.parse(readFileSync(json, 'utf8'));
  assert.is(report.outcome.status, 'stopped');
  assert.equal([report.apiFailure.kind, report.apiFailure.status], ['auth', 403]);
  for (const endpoint of ['viewer-1', 'viewer-2']) {
    const device = await known(endpoint);
    if (device !== undefined) assert.is(device.status, 'deregistered', `${endpoint} de-registered as the run stopped`);
  }
});

test('the token from FERRY_API_TOKEN drives the update; every device updated: passed, exit 0', async () => {
  let interrupted = false;
  const run = await sim(against('good', '--update', String(firmwareId), '--trusted-keys', testSigningKey().pubFile), { FERRY_API_TOKEN: TEST_ADMIN_TOKEN }, (out, kill) => {
    // Status lines come every 5 s; Ctrl-C once both devices have updated.
    if (!interrupted && /updated 2 /.test(out)) { interrupted = true; kill('SIGINT'); }
  });
  assert.is(run.code, 0, `stdout: ${run.stdout}\nstderr: ${run.stderr}`);
  assert.is(run.stderr, '');
  assert.match(run.stdout, /^updated\s+2 devices, 2 updates$/m);
  assert.match(run.stdout, /^API requests\s+2 updates asked for/m);
  assert.match(run.stdout, /^result\s+passed: every invariant holds, all 2 devices updated$/m);
  const device = await eventually(async () => { const d = await known('good-1') as { firmwareVersion?: string } | undefined; return d?.firmwareVersion === '2.0.0' ? d : undefined; }, 5000, 'good-1 on 2.0.0');
  assert.ok(device);
});

test('devices left not updated (they trust no key the image is signed with): the table says so, --json too, exit 4', async () => {
  const json = join(dir, 'unmet.json');
  const run = await sim([...against('untrusting', '--update', String(firmwareId), '--json', json), '--duration', '4s'], { FERRY_API_TOKEN: TEST_ADMIN_TOKEN });
  assert.is(run.code, 4, `stdout: ${run.stdout}\nstderr: ${run.stderr}`);
  assert.match(run.stdout, /^invariants\s+all hold$/m, 'the devices are safe');
  assert.match(run.stdout, /^result\s+FAILED: 2 of 2 devices not updated/m);
  assert.match(run.stdout, /^API errors \(retried\)\s+/m);
  const report = JSON.parse(readFileSync(json, 'utf8'));
  assert.is(report.outcome.status, 'unmet');
  assert.is(report.updated, 0);
  assert.ok(report.driver.requested >= 2, 'the updates were asked for');
  assert.type(report.driver.errorsByKind, 'object');
});

test.run();
