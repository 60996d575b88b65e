/**
 * What the DTLS socket fuzzer (sockets-dtls.ts) aims at, in this process so the layer's counts and
 * 'error' events can be watched:
 *
 * - ferry: a whole Ferry (startFerry) with its coaps sockets, as `ferry serve` runs it, the devices'
 *   keys provisioned through the API; the fuzz hits both DTLS sockets, the LwM2M one (its check: a
 *   clean Register of a provisioned device over a new DTLS session, 2.01) and the firmware download
 *   one (its check: a GET of a firmware name that does not exist over a new session, 4.04 from the
 *   download handler: nothing is being updated, so no name is this device's to fetch); with
 *   --security both, as on a loopback host, so CoAP in the clear on the coaps port reaches the
 *   download responder kept there for Package URIs written before the DTLS ports;
 * - layer: a DtlsSocket alone with the real PSK look-up (CredentialService) and a node-coap Server
 *   answering GET /ping, with small caps and a short handshake timeout, so a run can also show every
 *   half-open handshake expiring; the check is GET /ping (2.05).
 *
 * Both on PGlite, or on PostgreSQL when DATABASE_URL is set.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Server, type IncomingMessage, type OutgoingMessage } from 'coap';
import { generate, parse, type Packet } from 'coap-packet';
import { pino } from 'pino';
import { CredentialService } from '../../server/credentials/service.ts';
import { SecretsKey, newSecretsKeyText } from '../../server/credentials/secrets-key.ts';
import { DtlsSocket } from '../../server/dtls/socket.ts';
import { startFerry } from '../../server/main.ts';
import { insertFirmware } from '../../server/store/firmware.ts';
import { openTestDatabase, type TestDb } from '../helpers/db.ts';
import { offlineDevice } from '../helpers/devices.ts';
import { injectAsAdmin, testConfig } from '../helpers/ferry.ts';
import { FuzzPeer } from './sockets-dtls-peer.ts';

export type TargetKind = 'ferry' | 'layer';

/** The devices with keys: the fuzz sources and the checks shake hands as them. */
export const DEVICES = [
  { endpoint: 'fuzz-dtls-1', identity: 'fuzz-id-1', key: randomBytes(16) },
  { endpoint: 'fuzz-dtls-2', identity: 'fuzz-id-2', key: randomBytes(32) },
] as const;

/** One DTLS socket of the target. */
export interface Surface {
  name: string;
  dtls: DtlsSocket;
  port: number;
  caps: { sessions: number; halfOpen: number };
  /** Whether LwM2M Registers belong here (the fuzz sources register their device after each handshake). */
  registers: boolean;
  /** The check's request and what a clean answer is. */
  checkRequest(): { packet: Packet; ok: (code: string) => boolean; what: string };
}

export interface Target {
  kind: TargetKind;
  surfaces: Surface[];
  /** When the layer forgets an unfinished handshake (ms): the run waits this long to see none left; undefined: too long to wait. */
  handshakeMs: number | undefined;
  /** Requests that reached CoAP without a DTLS session's identity (the layer target sees each request). */
  withoutIdentity: string[];
  /** 'error' events, uncaught errors of the stack, error lines in the server's log: each with the datagram being read. */
  errors: string[];
  /** CoAP requests seen (layer), or DTLS application records delivered (ferry). */
  requests(): number;
  /** Download names of firmware images the server has (for GET /fw in the fuzz). */
  imageNames: string[];
  close(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Watches the layer: 'error' events, blamed on the datagram being read (a listener ahead of the layer's own notes it). */
function watch(dtls: DtlsSocket, errors: string[]): { blame: (what: string, e: unknown) => void } {
  let current: string | undefined;
  dtls.socket.prependListener('message', (msg: Buffer, rinfo: RemoteInfo) => { current = `${rinfo.port} ${msg.toString('hex')}`; });
  const blame = (what: string, e: unknown): void => {
    errors.push(`${what}: ${e instanceof Error ? (e.stack ?? e.message).split('\n').slice(0, 6).join(' | ') : String(e)}; reading ${current ?? '(nothing)'}`);
  };
  dtls.on('error', (e: unknown) => blame('DtlsSocket error event', e));
  return { blame };
}

export async function startTarget(kind: TargetKind): Promise<Target> {
  const database: TestDb = await openTestDatabase(process.env['DATABASE_URL'] ? 'pg' : 'pglite');
  try {
    return kind === 'ferry' ? await ferryTarget(database) : await layerTarget(database);
  } catch (err) {
    await database.close();
    throw err;
  }
}

async function ferryTarget(database: TestDb): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-fuzz-dtls-'));
  const keyFile = join(dir, 'secrets.key');
  writeFileSync(keyFile, newSecretsKeyText(), { mode: 0o600 });
  const errors: string[] = [];
  // The server's log: a line at level error (50) or above is a finding.
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.length === 0) continue;
        try { if ((JSON.parse(line) as { level?: number }).level! >= 50) errors.push(`server log: ${line.slice(0, 1500)}`); } catch { errors.push(`server log (not JSON): ${line.slice(0, 300)}`); }
      }
      done();
    },
  });
  const ferry = await startFerry(testConfig({ secretsKeyFile: keyFile, security: 'both', downloadRate: 0 }), { log: pino({ level: 'warn' }, sink), db: database.db, sweepMs: 200 });
  injectAsAdmin(ferry.api);
  const close = async (): Promise<void> => {
    await ferry.close();
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const d of DEVICES) {
      const put = await ferry.api.inject({ method: 'PUT', url: `/api/v1/devices/${d.endpoint}/credentials`, payload: { identity: d.identity, key: d.key.toString('hex') } });
      if (put.statusCode !== 200) throw new Error(`provisioning ${d.endpoint}: ${put.statusCode} ${put.body}`);
    }
    const lwm2m = ferry.coaps?.dtls;
    const download = ferry.secureDownload?.dtls;
    if (!lwm2m || !ferry.coapsAddress || !download || !ferry.secureDownloadAddress) throw new Error('the server has not both coaps sockets');
    let delivered = 0;
    for (const dtls of [lwm2m, download]) {
      watch(dtls, errors);
      dtls.on('message', () => { delivered++; });
    }
    const d = DEVICES[0];
    const caps = { sessions: 100_000, halfOpen: 1000 };
    // An image to ask for by name: no device is being updated with it, so the gate refuses it to all.
    const image = await insertFirmware(database.db, { version: 'fuzz-1.0.0', hardwareClass: 'sim-1', payload: randomBytes(4096) });
    return {
      kind: 'ferry', handshakeMs: undefined, withoutIdentity: [], errors, requests: () => delivered, imageNames: [image.downloadName], close,
      surfaces: [{
        name: 'coaps', dtls: lwm2m, port: ferry.coapsAddress.port, caps, registers: true,
        checkRequest: () => ({
          what: `Register of ${d.endpoint}`, ok: (code) => code === '2.01',
          packet: {
            code: 'POST', payload: Buffer.from('</>;rt="oma.lwm2m";ct=11542,</1/0>,</3/0>,</5/0>'),
            options: [{ name: 'Uri-Path', value: Buffer.from('rd') }, { name: 'Content-Format', value: Buffer.from([40]) },
              ...[`ep=${d.endpoint}`, 'lt=300', 'lwm2m=1.1', 'b=U'].map((q) => ({ name: 'Uri-Query' as const, value: Buffer.from(q) }))],
          },
        }),
      }, {
        name: 'download-coaps', dtls: download, port: ferry.secureDownloadAddress.port, caps, registers: false,
        checkRequest: () => ({
          what: 'GET of a firmware name that does not exist', ok: (code) => code === '4.04',
          packet: { code: 'GET', options: [{ name: 'Uri-Path', value: Buffer.from('fw') }, { name: 'Uri-Path', value: Buffer.from(randomBytes(16).toString('hex')) }] },
        }),
      }],
    };
  } catch (err) {
    await close();
    throw err;
  }
}

async function layerTarget(database: TestDb): Promise<Target> {
  const svc = new CredentialService({ db: database.db, secretsKey: new SecretsKey(randomBytes(32)) });
  for (const d of DEVICES) {
    await offlineDevice(database.db, d.endpoint);
    await svc.put(d.endpoint, d.identity, { key: d.key.toString('hex') }, 'fuzz');
  }
  const socket: Socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const caps = { sessions: 64, halfOpen: 32 };
  const handshakeMs = 3000;
  const dtls = new DtlsSocket({
    socket, identityHint: Buffer.from('ferry'), maxSessions: caps.sessions, maxHalfOpen: caps.halfOpen, handshakeMs, retransmitMs: 1000, idleMs: 60_000,
    // The look-up as the server makes it (server/main.ts): the identity's current key, else the one a rotation replaced.
    pskFor: async (identity) => {
      const found = await svc.pskFor(identity.toString('utf8'));
      return found?.current ?? found?.previous ?? undefined;
    },
  });
  const errors: string[] = [];
  const withoutIdentity: string[] = [];
  const { blame } = watch(dtls, errors);
  const server = new Server({ piggybackReplyMs: 50 });
  server.on('error', (e: unknown) => blame('CoAP server error event', e));
  server.listen(dtls as unknown as Socket);
  let requests = 0;
  server.on('request', (req: IncomingMessage, res: OutgoingMessage) => {
    requests++;
    if (dtls.identityOf(req.rsinfo.address, req.rsinfo.port) === undefined) withoutIdentity.push(`${req.rsinfo.port} ${req.method} ${req.url}`);
    if (req.method === 'GET' && req.url === '/ping') { res.code = '2.05'; res.end('pong'); return; }
    res.code = '4.04';
    res.end();
  });
  return {
    kind: 'layer', handshakeMs, withoutIdentity, errors, requests: () => requests, imageNames: ['0123456789abcdef0123456789abcdef'],
    surfaces: [{
      name: 'layer', dtls, port: socket.address().port, caps, registers: true,
      checkRequest: () => ({ what: 'GET /ping', ok: (code) => code === '2.05', packet: { code: 'GET', options: [{ name: 'Uri-Path', value: Buffer.from('ping') }] } }),
    }],
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => dtls.close(() => resolve()));
      await database.close();
    },
  };
}

/**
 * The check: a genuine handshake from a new port and the target's check request over it, answered
 * as a clean client expects (the server's own requests to the device are answered 4.04); the session
 * is closed with close_notify. Undefined when it went as it should, else what went wrong.
 */
export async function check(surface: Surface): Promise<string | undefined> {
  const peer = await FuzzPeer.open(surface.port);
  try {
    const d = DEVICES[0];
    let s;
    try { s = await peer.handshake(Buffer.from(d.identity), d.key); } catch (e) { return `handshake from port ${peer.port}: ${(e as Error).message}`; }
    const session = s;
    const token = randomBytes(4);
    const { packet, ok, what } = surface.checkRequest();
    const answer = new Promise<Buffer | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), 5000);
      session.onData = (data) => {
        let p;
        try { p = parse(data); } catch { return; }
        if (p.code.startsWith('0.') && p.code !== '0.00' && p.confirmable) {
          session.sendApplicationData(generate({ ack: true, code: '4.04', messageId: p.messageId, token: p.token }));
          return;
        }
        if (p.token.equals(token)) { clearTimeout(timer); resolve(data); }
      };
    });
    session.sendApplicationData(generate({ ...packet, confirmable: true, messageId: randomBytes(2).readUInt16BE(0), token }));
    const a = await answer;
    session.close();
    await sleep(20); // the close_notify leaves before the socket closes, and the server forgets the session
    if (a === undefined) return `${what} from port ${peer.port}: no answer`;
    const code = parse(a).code;
    if (!ok(code)) return `${what} from port ${peer.port}: ${code} (${a.toString('hex')})`;
    return undefined;
  } finally {
    await peer.close();
  }
}
