/**
 * Registration: N devices register at once, each from its own UDP socket, spoken by a light
 * generator of raw coap-packet datagrams (so the load generator is not what is measured). Each
 * answers the server's follow-up Read of /3/0 with a fixed TLV. Measured until every device has
 * its 2.01 and the server has stored what /3/0 said.
 */
import { createSocket, type Socket } from 'node:dgram';
import { generate, parse } from 'coap-packet';
import { encodeTlv, encodeTlvString, TlvType } from '../protocols/tlv.ts';
import type { Db } from '../server/store/db.ts';

export interface RegistrationResult {
  devices: number;
  seconds: number;
  perSecond: number;
  p95Ms: number;
}

const DEVICE_TLV = encodeTlv([0, 1, 3].map((id) => ({
  type: TlvType.RESOURCE, id, value: encodeTlvString(['Bench', 'bench-1', '1.0.0'][id === 3 ? 2 : id]!),
})));

function device(port: number, endpoint: string, onRegistered: (ms: number) => void): Promise<Socket> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.bind(0, '127.0.0.1', () => {
      const started = performance.now();
      const token = Buffer.from(endpoint.slice(-8).padStart(8, '0'));
      const register = generate({
        confirmable: true, code: 'POST', messageId: Math.floor(Math.random() * 65535), token, payload: Buffer.from('</1/0>,</3/0>,</5/0>'),
        options: [{ name: 'Uri-Path', value: Buffer.from('rd') }, { name: 'Content-Format', value: Buffer.from([40]) },
          ...[`ep=${endpoint}`, 'lt=300', 'lwm2m=1.0', 'b=U'].map((q) => ({ name: 'Uri-Query' as const, value: Buffer.from(q) }))],
      });
      let done = false;
      const retry = setInterval(() => { if (!done) s.send(register, port, '127.0.0.1'); }, 2000);
      s.on('message', (msg) => {
        let p;
        try { p = parse(msg); } catch { return; }
        if (p.code === '2.01' && !done) { done = true; clearInterval(retry); onRegistered(performance.now() - started); }
        if (p.code === '2.01' && p.confirmable) s.send(generate({ code: '0.00', ack: true, messageId: p.messageId }), port, '127.0.0.1');
        if (p.code === '0.01') { // the server's Read of /3/0
          s.send(generate({ code: '2.05', ack: true, messageId: p.messageId, token: p.token, payload: DEVICE_TLV,
            options: [{ name: 'Content-Format', value: Buffer.from([0x2d, 0x16]) }] }), port, '127.0.0.1');
        }
      });
      s.send(register, port, '127.0.0.1');
      resolve(s);
    });
  });
}

export async function benchRegistration(o: { port: number; devices: number; db: Db; limitMs: number }): Promise<RegistrationResult> {
  const times: number[] = [];
  const started = performance.now();
  const sockets = await Promise.all(Array.from({ length: o.devices }, (_, i) => device(o.port, `bench-${i}`, (ms) => times.push(ms))));
  try {
    for (const deadline = Date.now() + o.limitMs; ;) {
      const { rows } = await o.db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM devices WHERE endpoint LIKE 'bench-%' AND firmware_version IS NOT NULL");
      if ((rows[0]?.n ?? 0) >= o.devices && times.length >= o.devices) break;
      if (Date.now() > deadline) throw new Error('registration benchmark ran past its time limit');
      await new Promise((r) => setTimeout(r, 20));
    }
    const seconds = (performance.now() - started) / 1000;
    times.sort((a, b) => a - b);
    return {
      devices: o.devices, seconds: Math.round(seconds * 100) / 100, perSecond: Math.round(o.devices / seconds),
      p95Ms: Math.round(times[Math.floor(times.length * 0.95)] ?? 0),
    };
  } finally {
    for (const s of sockets) s.close();
  }
}
