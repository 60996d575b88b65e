/** A Ferry server for tests: loopback, free ports, silent logs, on a test database. */
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePrivateKeyPem, encodePublicKeyPem, generateSigningKey } from '../../protocols/package-keys.ts';
import type { SigningKey } from '../../protocols/package.ts';
import { generate, parse, type ParsedPacket, type Packet } from 'coap-packet';
import * as assert from 'uvu/assert';
import { configWith, type Config } from '../../server/config.ts';
import { createLogger, silentLogger } from '../../server/log.ts';
import { startFerry, type Ferry } from '../../server/main.ts';
import type { Db } from '../../server/store/db.ts';
import type { FastifyInstance, InjectOptions } from 'fastify';

let testKeys: { key: SigningKey; keyFile: string; pubFile: string } | undefined;

/**
 * The package signing key test servers use, made once per process in a temp dir (removed at
 * exit): raw image uploads (?version=&hardwareClass=) are signed with it, and it is trusted.
 */
export function testSigningKey(): { key: SigningKey; keyFile: string; pubFile: string } {
  if (testKeys === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-test-keys-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    const key = generateSigningKey('ed25519');
    const keyFile = join(dir, 'signing.key');
    writeFileSync(keyFile, encodePrivateKeyPem(key), { mode: 0o600 });
    writeFileSync(`${keyFile}.pub`, encodePublicKeyPem(key));
    testKeys = { key, keyFile, pubFile: `${keyFile}.pub` };
  }
  return testKeys;
}

/** The admin token every test server starts with (FERRY_ADMIN_TOKEN); its inject adds it. */
export const TEST_ADMIN_TOKEN = `fry_${Buffer.alloc(32, 7).toString('base64url')}`;
export const bearer = (token: string = TEST_ADMIN_TOKEN): { authorization: string } => ({ authorization: `Bearer ${token}` });

type Inject = FastifyInstance['inject'];
const rawInjects = new WeakMap<FastifyInstance, Inject>();

/** `ferry.api.inject` as it was, without the admin token (401 tests, other tokens). */
export function injectRaw(ferry: Ferry, opts: InjectOptions): ReturnType<Inject> {
  return (rawInjects.get(ferry.api) ?? ferry.api.inject.bind(ferry.api))(opts) as ReturnType<Inject>;
}

/** Makes `api.inject` send the test admin token unless the request names its own Authorization. */
export function injectAsAdmin(api: FastifyInstance): void {
  const raw = api.inject.bind(api) as Inject;
  rawInjects.set(api, raw);
  api.inject = ((opts?: InjectOptions | string) => {
    if (opts === undefined) return raw();
    const o: InjectOptions = typeof opts === 'string' ? { url: opts } : opts;
    const headers = { ...(o.headers ?? {}) };
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'authorization')) Object.assign(headers, bearer());
    return raw({ ...o, headers });
  }) as Inject;
}

/**
 * A test server's settings: loopback, free ports, silent. Release approval is off (tests upload
 * images and update devices that are not testbeds directly); the governance tests set it required.
 */
export function testConfig(overrides: Partial<Config> = {}): Config {
  const { keyFile, pubFile } = testSigningKey();
  return configWith({
    coapPort: 0, apiPort: 0, updateTimeout: 60, requestTimeout: 5, maxUploadMb: 8, logLevel: 'silent',
    signingKey: keyFile, trustedKeys: [pubFile], adminToken: TEST_ADMIN_TOKEN, releaseApproval: 'off', ...overrides,
  });
}

/** A server on `db` whose `api.inject` sends the test admin token (injectRaw does not). */
export async function startTestFerry(db: Db, overrides: Partial<Config> = {}, sweepMs = 200): Promise<Ferry> {
  const log = process.env['FERRY_TEST_LOG'] ? createLogger({ level: process.env['FERRY_TEST_LOG'], destination: 2 }) : silentLogger();
  const ferry = await startFerry(testConfig(overrides), { log, db, sweepMs });
  injectAsAdmin(ferry.api);
  return ferry;
}

/**
 * One CoAP exchange with raw coap-packet on a fresh socket: no node-coap on the client side, so
 * tests see exactly what the server put on the wire. Confirmable, one try, bounded wait.
 */
export async function exchange(port: number, packet: Packet, timeoutMs = 3000): Promise<ParsedPacket> {
  const socket = createSocket('udp4');
  try {
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
    const messageId = packet.messageId ?? Math.floor(Math.random() * 65536);
    const token = packet.token ?? Buffer.from([1, 2, 3, 4]);
    return await new Promise<ParsedPacket>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no response in ${timeoutMs} ms`)), timeoutMs);
      socket.on('message', (msg) => {
        const p = parse(msg);
        if (p.code === '0.00' && p.ack) return; // empty ACK: the separate response follows
        if (!p.token.equals(token)) return;
        if (p.confirmable) socket.send(generate({ code: '0.00', ack: true, messageId: p.messageId }), port, '127.0.0.1');
        clearTimeout(timer);
        resolve(p);
      });
      socket.send(generate({ confirmable: true, ...packet, messageId, token }), port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}

export function optionValues(p: ParsedPacket, name: string): Buffer[] {
  return p.options.filter((o) => o.name === name).map((o) => o.value);
}

export function uriOptions(path: string, query: string[] = []): NonNullable<Packet['options']> {
  return [
    ...path.split('/').filter(Boolean).map((s) => ({ name: 'Uri-Path' as const, value: Buffer.from(s) })),
    ...query.map((q) => ({ name: 'Uri-Query' as const, value: Buffer.from(q) })),
  ];
}

/** Polls `check` until it returns a value other than undefined, or fails after `ms`. */
export async function eventually<T>(check: () => Promise<T | undefined> | T | undefined, ms = 10_000, what = 'condition'): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Proves 127.0.0.1 to a server the way a CoAP client does (RFC 9175 §2.4): a GET /fw answered
 * 4.01 with an Echo, repeated with that Echo. Tests about Block2 start with it; a server's proof
 * is per IP, so one exchange serves every client socket on the address.
 */
export async function proveLoopback(port: number): Promise<void> {
  // A path that names no image: the answer after the Echo is a 4.04 that leaves nothing cached.
  const first = await exchange(port, { code: 'GET', options: uriOptions('/fw/prove') });
  const echo = optionValues(first, '252')[0];
  if (first.code !== '4.01' || echo === undefined) return; // proven already
  const again = await exchange(port, { code: 'GET', options: [...uriOptions('/fw/prove'), { name: '252' as never, value: echo }] });
  if (again.code === '4.01') throw new Error('the server did not take its own Echo');
}

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';

/**
 * `call` (a request to the test server's API, as its admin unless `headers` say otherwise: the
 * status and the parsed body) and `expect` (that status, and that error code when given; the body).
 */
export function apiCalls(ferry: () => Ferry) {
  const call = async (method: Method, url: string, payload?: unknown, headers: Record<string, string> = {}) => {
    const res = await ferry().api.inject({ method, url, headers, ...(payload === undefined ? {} : { payload: payload as string }) });
    return { status: res.statusCode, body: res.body === '' ? undefined : res.json() };
  };
  const expect = async (p: ReturnType<typeof call>, status: number, code?: string) => {
    const res = await p;
    assert.is(res.status, status, JSON.stringify(res.body));
    if (code !== undefined) assert.is(res.body.code, code, JSON.stringify(res.body));
    return res.body;
  };
  return { call, expect };
}

