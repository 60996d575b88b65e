// The endpoint takeover, tried as an attacker would: while the real sim-1 (DTLS-PSK) is being
// updated, another host (127.0.0.2) sends a Register with ep=sim-1 over plain CoAP, an Update and a
// De-register of sim-1's registration, and asks the plain download socket for images by counting
// ids. Each is refused (4.03, or 4.04 for the ids), one device.impersonation alert is raised, and
// the real device's update goes on to success.
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate, parse, type ParsedPacket, type Packet } from 'coap-packet';
import * as assert from 'uvu/assert';
import { newSecretsKeyText } from '../../server/credentials/secrets-key.ts';
import type { Ferry } from '../../server/main.ts';
import * as devices from '../../server/store/devices.ts';
import { SimDevice } from '../../simulator/device.ts';
import { fleetPsks } from '../../simulator/fleet.ts';
import { forEachDatabase } from '../helpers/db.ts';
import { eventually, startTestFerry } from '../helpers/ferry.ts';
import { requestUpdate, signedPackage, trustedAnchor, updateOutcome, uploadPackage } from './kit.ts';

const dir = mkdtempSync(join(tmpdir(), 'ferry-takeover-'));
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
const keyFile = join(dir, 'secrets.key');
writeFileSync(keyFile, newSecretsKeyText(), { mode: 0o600 });

/** A plain CoAP client on another loopback address: the attacker. */
class Attacker {
  private mid = 1;
  private readonly socket: Socket;
  private constructor(socket: Socket) {
    this.socket = socket;
  }
  static async open(): Promise<Attacker> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.2', () => resolve()));
    return new Attacker(socket);
  }
  request(port: number, p: Omit<Packet, 'messageId'>): Promise<ParsedPacket> {
    const messageId = (this.mid = (this.mid + 1) & 0xffff);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.socket.off('message', on); reject(new Error(`no answer from port ${port}`)); }, 3000);
      const on = (buf: Buffer): void => {
        const res = parse(buf);
        if (res.messageId !== messageId) return;
        clearTimeout(timer);
        this.socket.off('message', on);
        resolve(res);
      };
      this.socket.on('message', on);
      this.socket.send(generate({ confirmable: true, token: Buffer.from([messageId & 0xff]), ...p, messageId }), port, '127.0.0.1');
    });
  }
  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

const path = (p: string) => p.split('/').filter(Boolean).map((s) => ({ name: 'Uri-Path' as const, value: Buffer.from(s) }));
const diagnostic = (r: ParsedPacket): string => r.payload.toString('utf8');

forEachDatabase('the endpoint takeover of a device with credentials', ({ suite, get }) => {
  let ferry: Ferry;
  suite.before(async () => { ferry = await startTestFerry(get().db, { secretsKeyFile: keyFile, downloadRate: 0 }); });
  suite.after(async () => { await ferry.close(); });

  suite('a spoofed Register, Update and De-register of sim-1 over plain CoAP are refused; the real sim-1 updates', async () => {
    const [psk] = fleetPsks('sim', 1, 7);
    const endpoint = psk!.endpoint;
    const put = await ferry.api.inject({ method: 'PUT', url: `/api/v1/devices/${endpoint}/credentials`, payload: { identity: psk!.identity, key: psk!.key.toString('hex') } });
    assert.is(put.statusCode, 200, put.body);
    const device = new SimDevice({
      endpoint, server: { host: '127.0.0.1', port: ferry.coapsAddress!.port }, psk: { identity: psk!.identity, key: psk!.key },
      trustedKeys: [trustedAnchor()], factoryImage: signedPackage('1.0.0', 4096, 0, 3), blockSzx: 4, lifetime: 60, rebootDelayMs: 100,
      dtls: { initialTimeoutMs: 500 }, coap: { ackTimeoutMs: 1000, maxRetransmit: 4 },
    });
    const attacker = await Attacker.open();
    try {
      assert.ok(await device.start());
      const registered = await eventually(async () => {
        const d = await devices.findByEndpoint(get().db, endpoint);
        return d?.status === 'registered' && d.firmwareVersion ? d : undefined;
      }, 10_000, 'sim-1 in the inventory');
      assert.is(registered.securityMode, 'psk');
      const firmwareId = await uploadPackage(ferry, signedPackage('2.0.0', 24 * 1024, 1, 4));
      const updateId = await requestUpdate(ferry, endpoint, firmwareId);

      const register = await attacker.request(ferry.coapAddress!.port, {
        code: 'POST', options: [...path('/rd'), { name: 'Uri-Query', value: Buffer.from(`ep=${endpoint}`) }, { name: 'Content-Format', value: Buffer.from([40]) }],
        payload: Buffer.from('</3/0>,</5/0>'),
      });
      assert.is(register.code, '4.03', diagnostic(register));
      assert.match(diagnostic(register), /^FERRY_RD_CREDENTIALS_REQUIRED: /);
      for (const code of ['POST', 'DELETE'] as const) {
        const r = await attacker.request(ferry.coapAddress!.port, { code, options: path(`/rd/${registered.registrationId}`) });
        assert.is(r.code, '4.03', `${code}: ${diagnostic(r)}`);
      }
      // Counting ids on the plain download socket: after the Echo round trip, nothing by id.
      const first = await attacker.request(ferry.downloadAddress!.port, { code: 'GET', options: path(`/fw/${firmwareId}`) });
      assert.is(first.code, '4.01');
      const echo = first.options.find((o) => String(o.name) === '252')?.value;
      assert.ok(echo, 'an Echo to prove the address');
      for (const id of [firmwareId, 1, 2, 3]) {
        const r = await attacker.request(ferry.downloadAddress!.port, { code: 'GET', options: [...path(`/fw/${id}`), { name: '252' as never, value: echo! }] });
        assert.is(r.code, '4.04', `/fw/${id}`);
      }

      const outcome = await updateOutcome(ferry, updateId, 60_000);
      assert.is(outcome.state, 'succeeded', outcome.reason ?? '');
      assert.is(device.firmwareVersion, '2.0.0');
      const after = await devices.findByEndpoint(get().db, endpoint);
      assert.is(after?.registrationId !== null && after?.securityMode, 'psk', 'the registration is still the DTLS one');
      await ferry.impersonations.idle();
      const alerts = await get().db.query<{ severity: string; data: { reason: string; from: string } }>("SELECT severity, data FROM alerts WHERE kind = 'device.impersonation'");
      assert.is(alerts.rows.length, 1, 'one alert for the three attempts');
      assert.is(alerts.rows[0]!.severity, 'critical');
      assert.is(alerts.rows[0]!.data.reason, 'credentials-required');
      assert.match(alerts.rows[0]!.data.from, /^127\.0\.0\.2:/);
    } finally {
      await attacker.close();
      await device.stop();
    }
  });
});
