// `ferry serve` settings that depend on one another: --poke-after defaults from --update-timeout
// and must be shorter than it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { coapsPortOf, downloadCoapsPortOf, downloadPortOf, helpText, parseConfig, securityPolicyOf, type Config } from '../../server/config.ts';
import { ConfigError } from '../../server/errors.ts';

const parse = (argv: string[], env: NodeJS.ProcessEnv = {}): Config => parseConfig(argv, env) as Config;

test('--poke-after: unset by default (the engine takes a quarter of the timeout), a duration otherwise, flag over FERRY_POKE_AFTER', () => {
  assert.is(parse([]).pokeAfter, undefined);
  assert.is(parse(['--poke-after', '15s']).pokeAfter, 15);
  assert.is(parse(['--poke-after', '2m']).pokeAfter, 120);
  assert.is(parse([], { FERRY_POKE_AFTER: '30' }).pokeAfter, 30);
  assert.is(parse(['--poke-after', '5'], { FERRY_POKE_AFTER: '30' }).pokeAfter, 5);
});

test('--poke-after must be a positive duration shorter than --update-timeout', () => {
  for (const bad of ['0', '-1', 'soon', '5d', '1.5s']) {
    assert.throws(() => parse([`--poke-after=${bad}`]), (e: unknown) => e instanceof ConfigError && /--poke-after must be a positive duration/.test(e.message), bad);
  }
  assert.throws(() => parse(['--poke-after', '10m']), /--poke-after \(600 s\) must be shorter than --update-timeout \(600 s\)/);
  assert.throws(() => parse(['--poke-after', '90', '--update-timeout', '60']), /must be shorter than --update-timeout \(60 s\)/);
  assert.is(parse(['--poke-after', '59', '--update-timeout', '60']).pokeAfter, 59);
});

test('--help lists --poke-after and its variable', () => {
  const help = helpText();
  assert.ok(help.includes('--poke-after <v>'));
  assert.ok(help.includes('env FERRY_POKE_AFTER\n'));
});

test('registration limits: defaults, RATE/UNIT:BURST or off, flag over the variable', () => {
  const d = parse([]);
  assert.equal(d.registerLimitIp, { rate: 20, burst: 200 });
  assert.equal(d.registerLimitIpPort, { rate: 1, burst: 10 });
  assert.equal(d.registerLimitGlobal, { rate: 50, burst: 500 });
  assert.equal(parse(['--register-limit-ip', '5/s:50']).registerLimitIp, { rate: 5, burst: 50 });
  assert.equal(parse(['--register-limit-ip-port', '6/m:3']).registerLimitIpPort, { rate: 0.1, burst: 3 });
  assert.equal(parse(['--register-limit-global', '3600/h:1']).registerLimitGlobal, { rate: 1, burst: 1 });
  assert.is(parse(['--register-limit-ip', 'off']).registerLimitIp, undefined);
  assert.is(parse([], { FERRY_REGISTER_LIMIT_GLOBAL: 'off' }).registerLimitGlobal, undefined);
  assert.equal(parse(['--register-limit-ip-port', '2/s:4'], { FERRY_REGISTER_LIMIT_IP_PORT: 'off' }).registerLimitIpPort, { rate: 2, burst: 4 });
  for (const bad of ['20', '20/s', '0/s:10', '20/s:0', '20/d:10', '-1/s:5', '1.5/s:5', 'on', '20/s:200:1']) {
    assert.throws(() => parse([`--register-limit-ip=${bad}`]), (e: unknown) => e instanceof ConfigError && /--register-limit-ip must be RATE\/UNIT:BURST/.test(e.message), bad);
  }
});

test('--max-registration-payload: 8k by default, bytes or k (KiB), 64 B to 1 MiB', () => {
  assert.is(parse([]).maxRegistrationPayload, 8192);
  assert.is(parse(['--max-registration-payload', '2048']).maxRegistrationPayload, 2048);
  assert.is(parse([], { FERRY_MAX_REGISTRATION_PAYLOAD: '16k' }).maxRegistrationPayload, 16384);
  for (const bad of ['0', '63', '2048k', 'big', '8 k', '-1']) {
    assert.throws(() => parse([`--max-registration-payload=${bad}`]), /--max-registration-payload must be a size in bytes from 64 to 1048576/, bad);
  }
});

test('--max-lifetime: 30 days by default; s, m, h, d; 1 s to 2^31-1 s', () => {
  assert.is(parse([]).maxLifetime, 30 * 86400);
  assert.is(parse(['--max-lifetime', '12h']).maxLifetime, 43200);
  assert.is(parse(['--max-lifetime', '900']).maxLifetime, 900);
  assert.is(parse([], { FERRY_MAX_LIFETIME: '2d' }).maxLifetime, 172800);
  assert.is(parse(['--max-lifetime', '2147483647s']).maxLifetime, 2 ** 31 - 1);
  for (const bad of ['0', 'off', '2147483648', '30y', '1.5d']) {
    assert.throws(() => parse([`--max-lifetime=${bad}`]), /--max-lifetime must be a duration like 3600s, 12h or 30d, at most 2147483647 s; got/, bad);
  }
});

test('--device-retention: 7 days by default; a duration, or 0 / off for never', () => {
  assert.is(parse([]).deviceRetention, 7 * 86400);
  assert.is(parse(['--device-retention', '90d']).deviceRetention, 90 * 86400);
  assert.is(parse(['--device-retention', '36h']).deviceRetention, 36 * 3600);
  assert.is(parse(['--device-retention', 'off']).deviceRetention, 0);
  assert.is(parse([], { FERRY_DEVICE_RETENTION: '0' }).deviceRetention, 0);
  for (const bad of ['-1d', 'never', '7 d', '4000d']) {
    assert.throws(() => parse([`--device-retention=${bad}`]), /--device-retention must be a duration like 3600s, 12h or 30d, at most \d+ s, or off/, bad);
  }
});

test('the download port: the CoAP port + 2 by default, any free one beside a free CoAP port, none when it is the CoAP port', () => {
  assert.is(downloadPortOf({ coapPort: 5683, downloadPort: undefined }, 5683), 5685);
  assert.is(downloadPortOf({ coapPort: 0, downloadPort: undefined }, 40000), 0);
  assert.is(downloadPortOf({ coapPort: 5683, downloadPort: 6000 }, 5683), 6000);
  assert.is(downloadPortOf({ coapPort: 5683, downloadPort: 5683 }, 5683), undefined);
  assert.throws(() => downloadPortOf({ coapPort: 65535, downloadPort: undefined }, 65535), (e: unknown) => e instanceof ConfigError && /set --download-port/.test(e.message));
});

test('the port plan: 5683 coap, 5684 coaps (IANA), 5685 download, 5686 download over DTLS; P..P+3 from --coap-port P; 0: free ports', () => {
  const c = parse([]);
  assert.is(c.coapPort, 5683);
  assert.is(coapsPortOf(c), 5684);
  assert.is(downloadPortOf(c, 5683), 5685);
  assert.is(downloadCoapsPortOf(c, 5684), 5686);
  const moved = parse(['--coap-port', '6000']);
  assert.equal([coapsPortOf(moved), downloadPortOf(moved, 6000), downloadCoapsPortOf(moved, 6001)], [6001, 6002, 6003]);
  const free = parse(['--coap-port', '0']);
  assert.equal([coapsPortOf(free), downloadPortOf(free, 40000), downloadCoapsPortOf(free, 40001)], [0, 0, 0]);
  // The DTLS download port set to the coaps port: firmware is served on the coaps socket.
  assert.is(downloadCoapsPortOf(parse(['--download-coaps-port', '5684']), 5684), undefined);
  assert.is(coapsPortOf(parse(['--coaps-port', '7000'])), 7000);
  assert.throws(() => coapsPortOf(parse(['--coap-port', '65535'])), (e: unknown) => e instanceof ConfigError && /set --coaps-port/.test(e.message));
  const help = helpText();
  for (const line of ['5683  LwM2M over plain CoAP', '5684  LwM2M over DTLS', '5685  firmware downloads over plain CoAP', '5686  firmware downloads over DTLS']) assert.ok(help.includes(line), line);
});

test('--security: both on a loopback host, psk (DTLS only) otherwise; nosec a lab mode; anything else refused', () => {
  assert.equal(securityPolicyOf(parse([])), { psk: true, nosec: true });
  assert.equal(securityPolicyOf(parse(['--coap-host', '::1'])), { psk: true, nosec: true });
  assert.equal(securityPolicyOf(parse(['--coap-host', '0.0.0.0'])), { psk: true, nosec: false });
  assert.equal(securityPolicyOf(parse(['--coap-host', '192.0.2.1'])), { psk: true, nosec: false });
  assert.equal(securityPolicyOf(parse(['--coap-host', '0.0.0.0', '--security', 'both'])), { psk: true, nosec: true });
  assert.equal(securityPolicyOf(parse([], { FERRY_SECURITY: 'nosec' })), { psk: false, nosec: true });
  assert.throws(() => parse(['--security', 'tls']), (e: unknown) => e instanceof ConfigError && /--security must be one of psk, nosec, both/.test(e.message));
  assert.ok(helpText().includes('default both when --coap-host is a loopback address, psk otherwise'));
});

test('--help lists the registration limits and their variables', () => {
  const help = helpText();
  for (const [flag, env] of [['register-limit-ip', 'FERRY_REGISTER_LIMIT_IP'], ['register-limit-ip-port', 'FERRY_REGISTER_LIMIT_IP_PORT'],
    ['register-limit-global', 'FERRY_REGISTER_LIMIT_GLOBAL'], ['max-registration-payload', 'FERRY_MAX_REGISTRATION_PAYLOAD'],
    ['max-lifetime', 'FERRY_MAX_LIFETIME'], ['device-retention', 'FERRY_DEVICE_RETENTION']]) {
    assert.ok(help.includes(`--${flag} <v>`), flag);
    assert.ok(help.includes(`env ${env}, default`), env);
  }
});

test.run();
