// The webhook settings: flag over FERRY_ALERT_WEBHOOK, http(s) only, listed by --help, and a bad
// URL stops `ferry serve` before anything starts, with one line naming the flag.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { helpText, parseConfig, type Config } from '../../../server/config.ts';
import { ConfigError } from '../../../server/errors.ts';

const FERRY = resolve(fileURLToPath(import.meta.url), '../../../../server/bin/ferry.js');
const parse = (argv: string[], env: NodeJS.ProcessEnv = {}): Config => parseConfig(argv, env) as Config;

test('--alert-webhook over FERRY_ALERT_WEBHOOK; none by default; attempts default 6', () => {
  assert.is(parse([]).alertWebhook, undefined);
  assert.is(parse([]).alertWebhookAttempts, 6);
  assert.is(parse([], { FERRY_ALERT_WEBHOOK: 'https://hooks.example/a' }).alertWebhook, 'https://hooks.example/a');
  assert.is(parse(['--alert-webhook', 'http://127.0.0.1:9/x'], { FERRY_ALERT_WEBHOOK: 'https://hooks.example/a' }).alertWebhook, 'http://127.0.0.1:9/x');
  assert.is(parse([], { FERRY_ALERT_WEBHOOK_SECRET: 's', FERRY_ALERT_WEBHOOK_ATTEMPTS: '3' }).alertWebhookSecret, 's');
  assert.is(parse(['--alert-webhook-attempts', '3']).alertWebhookAttempts, 3);
});

test('only http and https URLs; attempts 1 to 20', () => {
  for (const bad of ['ftp://hooks.example/a', 'hooks.example/a', 'file:///etc/passwd', 'http://', 'coap://127.0.0.1/x', 'javascript:alert(1)']) {
    assert.throws(() => parse(['--alert-webhook', bad]), (e: unknown) => e instanceof ConfigError && /--alert-webhook must be an http:\/\/ or https:\/\/ URL/.test(e.message), bad);
  }
  for (const bad of ['0', '21', 'x']) assert.throws(() => parse(['--alert-webhook-attempts', bad]), /--alert-webhook-attempts must be an integer from 1 to 20/);
});

test('--help lists the three settings and their variables', () => {
  const help = helpText();
  for (const s of ['--alert-webhook ', 'env FERRY_ALERT_WEBHOOK\n', '--alert-webhook-secret', 'FERRY_ALERT_WEBHOOK_SECRET', '--alert-webhook-attempts', 'FERRY_ALERT_WEBHOOK_ATTEMPTS']) {
    assert.ok(help.includes(s), s);
  }
});

test('ferry serve --alert-webhook ftp://… exits 2 with the reason on one line', () => {
  const run = spawnSync(process.execPath, [FERRY, 'serve', '--alert-webhook', 'ftp://hooks.example/a'], { encoding: 'utf8', timeout: 30_000 });
  assert.is(run.status, 2, run.stderr);
  assert.is(run.stderr, 'ferry: --alert-webhook must be an http:// or https:// URL, got "ftp://hooks.example/a"; see ferry serve --help\n');
});

test.run();
