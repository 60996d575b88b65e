// LwM2M over DTLS on a running Ferry, spoken by libcoap's OpenSSL and GnuTLS clients (outside
// peers): Register over coaps with a provisioned PSK, a Block2 download of an image by its name
// over the DTLS download socket, bit-exact; a wrong key registers nothing; the right key with
// another device's endpoint is 4.03; an endpoint with credentials cannot register over plain CoAP,
// and each refusal is an audit event and a device.impersonation alert, one per endpoint per interval.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { newSecretsKeyText } from '../../../server/credentials/secrets-key.ts';
import type { Ferry } from '../../../server/main.ts';
import * as devices from '../../../server/store/devices.ts';
import { insertFirmware } from '../../../server/store/firmware.ts';
import { createUpdate } from '../../../server/store/updates.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { eventually, exchange, startTestFerry, uriOptions } from '../../helpers/ferry.ts';
import { coapClient } from '../dtls/helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'ferry-coaps-'));
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
const keyFile = join(dir, 'secrets.key');
writeFileSync(keyFile, newSecretsKeyText(), { mode: 0o600 });

const CLIENTS = ['coap-client-openssl', 'coap-client-gnutls'] as const;
/** libcoap's -k takes the key as text: these are the bytes provisioned (as hex). */
const keyOf = (endpoint: string): string => `key-of-${endpoint}-0123456789`;
const IMAGE = randomBytes(12 * 1024 + 77);

forEachDatabase('coap over DTLS (coaps) with libcoap clients', ({ suite, get }) => {
  let ferry: Ferry;
  suite.before(async () => {
    ferry = await startTestFerry(get().db, { secretsKeyFile: keyFile, downloadRate: 0 });
  });
  // The tables are emptied before each test: each provisions its devices' keys through the API.
  suite.before.each(async () => {
    for (const ep of CLIENTS.flatMap((c) => [`${c}-a`, `${c}-b`])) {
      const put = await ferry.api.inject({ method: 'PUT', url: `/api/v1/devices/${ep}/credentials`, payload: { identity: `id-${ep}`, key: Buffer.from(keyOf(ep)).toString('hex') } });
      assert.is(put.statusCode, 200, put.body);
    }
  });
  suite.after(async () => { await ferry.close(); });
  const registered = async (endpoint: string) => eventually(async () => {
    const d = await devices.findByEndpoint(get().db, endpoint);
    return d?.status === 'registered' ? d : undefined;
  }, 5000, 'the registration');

  const coaps = (path: string): string => `coaps://127.0.0.1:${ferry.coapsAddress!.port}${path}`;
  const register = (client: (typeof CLIENTS)[number], identity: string, key: string, endpoint: string) => coapClient(client, [
    '-B', '10', '-m', 'post', '-t', '40', '-u', identity, '-k', key, '-e', '</1/0>,</3/0>,</5/0>', coaps(`/rd?ep=${endpoint}&lt=300&lwm2m=1.1&b=U`),
  ]);

  for (const client of CLIENTS) {
    const a = `${client}-a`;
    const b = `${client}-b`;

    suite(`${client}: registers over coaps with its PSK; the registration is Security Mode psk`, async () => {
      const run = await register(client, `id-${a}`, keyOf(a), a);
      assert.ok(run.ok, run.stderr);
      assert.is((await registered(a)).securityMode, 'psk');
    });

    suite(`${client}: a wrong key fails the handshake and registers nothing`, async () => {
      const failed = ferry.coaps!.dtls!.stats.failedAtFinished;
      const run = await register(client, `id-${b}`, 'not-the-key-of-b-000', b);
      // libcoap logs to stdout and exits 0 either way: the alert it read is the failure.
      assert.match(run.stdout.toString('utf8'), /bad record mac/i);
      assert.ok(ferry.coaps!.dtls!.stats.failedAtFinished > failed, 'the handshake failed at Finished');
      assert.not.equal((await devices.findByEndpoint(get().db, b))?.status, 'registered');
    });

    suite(`${client}: the right key with another device's endpoint is 4.03, an audit event and an alert`, async () => {
      const run = await register(client, `id-${a}`, keyOf(a), b);
      assert.match(run.stdout.toString('utf8') + run.stderr, /4\.03|FERRY_RD_IDENTITY_MISMATCH/);
      assert.not.equal((await devices.findByEndpoint(get().db, b))?.status, 'registered');
      const events = await eventually(async () => {
        const r = await get().db.query<{ data: { identity?: string; reason: string } }>("SELECT data FROM events WHERE kind = 'device.impersonation' AND endpoint = $1", [b]);
        return r.rows.length > 0 ? r.rows : undefined;
      }, 5000, 'the impersonation event');
      assert.is(events[0]!.data.reason, 'identity-mismatch');
      assert.is(events[0]!.data.identity, `id-${a}`);
      await ferry.impersonations.idle();
      const alerts = await get().db.query("SELECT 1 FROM alerts WHERE kind = 'device.impersonation' AND data->>'endpoint' = $1", [b]);
      assert.is(alerts.rows.length, 1);
    });

    suite(`${client}: downloads the image its update names over the DTLS download socket, bit-exact; others are refused`, async () => {
      const image = await insertFirmware(get().db, { version: `dl-${client}`, hardwareClass: 'sim-1', payload: IMAGE });
      const device = (await devices.findByEndpoint(get().db, a))!;
      await createUpdate(get().db, { deviceId: device.id, firmwareId: image.id, deadlineSeconds: 600 });
      const url = `coaps://127.0.0.1:${ferry.secureDownloadAddress!.port}/fw/${image.downloadName}`;
      const run = await coapClient(client, ['-B', '30', '-b', '1024', '-u', `id-${a}`, '-k', keyOf(a), url]);
      assert.ok(run.ok, run.stderr);
      const got = run.stdout.subarray(0, IMAGE.length);
      assert.is(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(IMAGE).digest('hex'));
      // Device b has a session of its own but no update of the image: 4.03.
      const other = await coapClient(client, ['-B', '10', '-u', `id-${b}`, '-k', keyOf(b), url]);
      assert.match(other.stdout.toString('utf8') + other.stderr, /4\.03|FERRY_FW_NOT_YOURS/);
      // The counting id names nothing over DTLS.
      const byId = await coapClient(client, ['-B', '10', '-u', `id-${a}`, '-k', keyOf(a), `coaps://127.0.0.1:${ferry.secureDownloadAddress!.port}/fw/${image.id}`]);
      assert.match(byId.stdout.toString('utf8') + byId.stderr, /4\.04|FERRY_FW_NOT_FOUND/);
    });
  }

  suite('an endpoint with credentials cannot register, update or de-register over plain CoAP: 4.03, one event and one alert for a flood', async () => {
    const endpoint = `${CLIENTS[0]}-a`;
    assert.ok((await register(CLIENTS[0], `id-${endpoint}`, keyOf(endpoint), endpoint)).ok);
    await registered(endpoint);
    const registerPlain = () => exchange(ferry.coapAddress!.port, {
      code: 'POST', options: [...uriOptions('/rd'), { name: 'Uri-Query', value: Buffer.from(`ep=${endpoint}`) }, { name: 'Content-Format', value: Buffer.from([40]) }],
      payload: Buffer.from('</3/0>,</5/0>'),
    });
    const before = await get().db.query<{ n: number }>("SELECT count(*)::int AS n FROM events WHERE kind = 'device.impersonation' AND endpoint = $1", [endpoint]);
    for (let i = 0; i < 5; i++) {
      const res = await registerPlain();
      assert.is(res.code, '4.03');
      assert.match(res.payload.toString('utf8'), /^FERRY_RD_CREDENTIALS_REQUIRED: /);
    }
    await ferry.impersonations.idle();
    const after = await get().db.query<{ n: number }>("SELECT count(*)::int AS n FROM events WHERE kind = 'device.impersonation' AND endpoint = $1", [endpoint]);
    assert.is(after.rows[0]!.n - before.rows[0]!.n, 1, 'one event for five attempts');
    const alerts = await get().db.query("SELECT 1 FROM alerts WHERE kind = 'device.impersonation' AND data->>'endpoint' = $1", [endpoint]);
    assert.is(alerts.rows.length, 1);
    // Nor update or end its registration, whose id an attacker on the path saw go by.
    const registrationId = (await devices.findByEndpoint(get().db, endpoint))!.registrationId!;
    for (const code of ['POST', 'DELETE'] as const) {
      const res = await exchange(ferry.coapAddress!.port, { code, options: uriOptions(`/rd/${registrationId}`) });
      assert.is(res.code, '4.03', code);
      assert.match(res.payload.toString('utf8'), /^FERRY_RD_CREDENTIALS_REQUIRED: /);
    }
    // The real registration is untouched.
    const device = await devices.findByEndpoint(get().db, endpoint);
    assert.is(device?.securityMode, 'psk');
    assert.is(device?.status, 'registered');
    assert.is(device?.registrationId, registrationId);
  });
});
