// `ferry serve` settings that depend on one another: --poke-after defaults from --update-timeout
// and must be shorter than it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, helpText, parseConfig, type Config } from '../../server/config.ts';

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

test.run();
