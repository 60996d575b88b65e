// The simulated fleet's PSKs: derived from the seed as documented (HMAC-SHA256, first 16 bytes),
// written in the formats the server's credentials import takes, and parsed back by that very parser.
import { createHmac } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseCsvImport, parseJsonImport } from '../../server/credentials/import.ts';
import { simCommand } from '../../simulator/cli.ts';
import { fleetPsks } from '../../simulator/fleet.ts';
import { SIM_PSK_BYTES, credentialsFile, simPsk } from '../../simulator/psk.ts';

test('identity = the endpoint; key = the first 16 bytes of HMAC-SHA256(seed in decimal, endpoint)', () => {
  const p = simPsk(42, 'sim-01');
  assert.is(p.identity, 'sim-01');
  assert.is(p.key.length, SIM_PSK_BYTES);
  // printf %s sim-01 | openssl dgst -sha256 -hmac 42
  assert.is(p.key.toString('hex'), 'bbf288f1d19e9e8917f5c5f617b6cab9');
  assert.equal(p.key, createHmac('sha256', '42').update('sim-01').digest().subarray(0, 16));
});

test('the same seed gives the same keys; another seed or endpoint, another key', () => {
  const a = fleetPsks('sim', 20, 7);
  const b = fleetPsks('sim', 20, 7);
  assert.equal(a.map((p) => p.key.toString('hex')), b.map((p) => p.key.toString('hex')));
  assert.is(new Set(a.map((p) => p.key.toString('hex'))).size, 20, 'each device its own key');
  assert.not.equal(simPsk(8, 'sim-01').key, simPsk(7, 'sim-01').key);
  assert.equal(a.map((p) => p.endpoint), a.map((p) => p.identity));
  assert.is(a[0]?.endpoint, 'sim-01');
});

test('the CSV file round-trips through the server\'s import parser', () => {
  const psks = fleetPsks('sim', 25, 3);
  const text = credentialsFile('fleet.csv', psks);
  assert.ok(text.startsWith('endpoint,identity,key_hex\n'));
  const entries = parseCsvImport(text);
  assert.equal(entries.map((e) => [e.endpoint, e.identity, e.key.toString('hex')]), psks.map((p) => [p.endpoint, p.identity, p.key.toString('hex')]));
});

test('a .json file is the JSON array the import takes, and round-trips too', () => {
  const psks = fleetPsks('dev', 3, 9);
  const text = credentialsFile('fleet.JSON', psks);
  const body = JSON.parse(text) as unknown[];
  assert.equal(body[0], { endpoint: 'dev-1', identity: 'dev-1', key: psks[0]?.key.toString('hex') });
  const entries = parseJsonImport(body);
  assert.equal(entries.map((e) => e.key), psks.map((p) => p.key));
});

test('ferry sim --psk-file F --psk-only writes the file for ferry credentials import and starts no device', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sim-psk-cli-'));
  try {
    const file = join(dir, 'fleet.csv');
    const out: string[] = [];
    const code = await simCommand(['--security', 'psk', '--devices', '3', '--seed', '42', '--prefix', 'sim', '--psk-file', file, '--psk-only'], { out: (l) => out.push(l), err: (l) => out.push(l) });
    assert.is(code, 0, out.join('\n'));
    assert.match(out.join('\n'), /ferry credentials import/);
    const entries = parseCsvImport(await readFile(file, 'utf8'));
    assert.equal(entries.map((e) => e.endpoint), ['sim-1', 'sim-2', 'sim-3']);
    assert.equal(entries[0]?.key, simPsk(42, 'sim-1').key);
    const refused = await simCommand(['--psk-only'], { out: () => undefined, err: (l) => out.push(l) });
    assert.is(refused, 2);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
