// Which image a GET /fw/<segment> may fetch: by name on plain CoAP (the name is the capability),
// by name over DTLS only for the session's device with an update of that image, a counting id only
// on plain CoAP and only to an address updating with it; answers cached so a download asks once.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FirmwareGate, type FirmwareGateOptions } from '../../../server/coap/firmware-gate.ts';
import { silentLogger } from '../../../server/log.ts';

const NAME = 'a'.repeat(32);
const OTHER = 'b'.repeat(32);

function gate(securityMode: 'psk' | 'nosec', updating: Array<[string, number]>) {
  const asked: string[] = [];
  const o: FirmwareGateOptions = {
    securityMode, log: silentLogger(),
    idOfName: async (name) => { asked.push(`name ${name.slice(0, 1)}`); return name === NAME ? 7 : name === OTHER ? 8 : undefined; },
    updatingWith: async (who, id) => {
      const key = 'endpoint' in who ? who.endpoint : who.address;
      asked.push(`updating ${key} ${id}`);
      return updating.some(([k, i]) => k === key && i === id);
    },
    endpointOfIdentity: async (identity) => { asked.push(`identity ${identity}`); return identity === 'id-dev' ? 'dev' : undefined; },
  };
  return { g: new FirmwareGate(o), asked };
}

const code = (a: unknown): string | number => (typeof a === 'number' ? a : (a as { code: string }).code);

test('plain CoAP: a name is enough; a counting id only for an address updating with that image; anything else 4.04', async () => {
  const { g, asked } = gate('nosec', [['192.0.2.1', 7]]);
  assert.is(code(await g.resolve(NAME, { address: '198.51.100.9' })), 7);
  assert.is(code(await g.resolve('c'.repeat(32), { address: '198.51.100.9' })), '4.04');
  assert.is(code(await g.resolve('7', { address: '192.0.2.1' })), 7);
  assert.is(code(await g.resolve('8', { address: '192.0.2.1' })), '4.04');
  assert.is(code(await g.resolve('7', { address: '198.51.100.9' })), '4.04');
  for (const bad of ['', '0', '07', 'A'.repeat(32), 'a'.repeat(31), '../1', '1e3']) assert.is(code(await g.resolve(bad, { address: '192.0.2.1' })), '4.04', bad);
  // Known answers are synchronous: no promise, no question to the store.
  const before = asked.length;
  assert.is(g.resolve(NAME, { address: '198.51.100.9' }), 7);
  assert.is(g.resolve('7', { address: '192.0.2.1' }), 7);
  assert.is(asked.length, before);
  assert.is(g.stats.unknown, 10);
});

test('DTLS: by name only for the session whose device updates with that image (4.03 otherwise); counting ids never', async () => {
  const { g, asked } = gate('psk', [['dev', 7]]);
  assert.is(code(await g.resolve(NAME, { address: '192.0.2.1', identity: 'id-dev' })), 7);
  assert.is(code(await g.resolve(OTHER, { address: '192.0.2.1', identity: 'id-dev' })), '4.03');
  assert.is(code(await g.resolve(NAME, { address: '192.0.2.1', identity: 'id-nobody' })), '4.03');
  assert.is(code(await g.resolve(NAME, { address: '192.0.2.1' })), '4.03', 'no session identity');
  assert.is(code(await g.resolve('7', { address: '192.0.2.1', identity: 'id-dev' })), '4.04');
  assert.is(g.stats.notYours, 3);
  const before = asked.length;
  assert.is(g.resolve(NAME, { address: '203.0.113.5', identity: 'id-dev' }), 7, 'the next block: from the caches, synchronously');
  assert.is(asked.length, before);
  g.forget(7);
  assert.ok(g.resolve(NAME, { address: '192.0.2.1', identity: 'id-dev' }) instanceof Promise, 'a forgotten image is looked up again');
});

test.run();
