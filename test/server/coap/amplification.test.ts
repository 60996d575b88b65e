// No amplification to an address that has not proven it receives (RFC 9175 §2.4): the download
// socket answers a stranger's GET /fw with 4.01 and an Echo, at most three times the bytes it
// was sent; the Echo sent back opens the download (libcoap's coap-client-notls does so by
// itself); a spoofed Register buys one small unretransmitted read; a proven address without an
// update under way is held to a block rate (4.29 with Max-Age, RFC 8516).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { generate, parse, type ParsedPacket } from 'coap-packet';
import * as assert from 'uvu/assert';
import { encodeBlock } from '../../../protocols/block.ts';
import type { Ferry } from '../../../server/main.ts';
import { insertFirmware } from '../../../server/store/firmware.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { optionValues, startTestFerry, uriOptions } from '../../helpers/ferry.ts';

const run = promisify(execFile);

/** A socket on its own loopback address that counts the bytes it sends and receives. */
class Source {
  sent = 0;
  received = 0;
  readonly got: ParsedPacket[] = [];
  readonly socket: Socket;
  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('message', (m) => { this.received += m.length; this.got.push(parse(m)); });
  }

  static async open(address: string): Promise<Source> {
    const socket = createSocket('udp4');
    await new Promise<void>((r) => socket.bind(0, address, () => r()));
    return new Source(socket);
  }

  send(port: number, datagram: Buffer): void {
    this.sent += datagram.length;
    this.socket.send(datagram, port, '127.0.0.1');
  }

  async exchange(port: number, datagram: Buffer, ms = 300): Promise<ParsedPacket | undefined> {
    const from = this.got.length;
    this.send(port, datagram);
    for (let t = 0; t < ms && this.got.length === from; t += 10) await new Promise((r) => setTimeout(r, 10));
    return this.got[from];
  }

  close(): Promise<void> {
    return new Promise((r) => this.socket.close(() => r()));
  }
}

let mid = 1;
/** GET /fw/<name> with an empty token and no Block2: the smallest request that names an image. */
const tinyGet = (id: string, o: { confirmable?: boolean; echo?: Buffer; num?: number } = {}): Buffer => generate({
  confirmable: o.confirmable ?? false, code: 'GET', messageId: (mid = (mid + 1) & 0xffff), token: Buffer.alloc(0),
  options: [...uriOptions(`/fw/${id}`),
    ...(o.num === undefined ? [] : [{ name: 'Block2' as const, value: encodeBlock({ num: o.num, more: false, szx: 6 }) }]),
    ...(o.echo ? [{ name: '252' as never, value: o.echo }] : [])],
});

forEachDatabase('coap/amplification', ({ suite, get }) => {
  let ferry: Ferry;
  let id: string;
  const image = randomBytes(20_000);
  suite.before.each(async () => {
    ferry = await startTestFerry(get().db, { downloadRate: 20 });
    id = (await insertFirmware(get().db, { version: 'amp', hardwareClass: 'sim-1', payload: image })).downloadName;
  });
  suite.after.each(async () => { await ferry.close(); });

  suite('a small NON GET /fw from an unproven address: 4.01 with an Echo, within 3× its bytes; the Echo sent back opens the download', async () => {
    const s = await Source.open('127.0.0.2');
    try {
      const port = ferry.downloadAddress!.port;
      const request = tinyGet(id);
      assert.is(request.length, 41, "4-byte header, Uri-Path fw (3), Uri-Path <name> (2 + 32)");
      const first = await s.exchange(port, request);
      assert.is(first?.code, '4.01');
      const echo = optionValues(first!, '252')[0];
      assert.ok(echo !== undefined && echo.length > 0, 'an Echo option');
      assert.is(first!.payload.length, 0);
      // A stream of them: never more than three times the bytes sent.
      for (let i = 0; i < 200; i++) s.send(port, tinyGet(id));
      await new Promise((r) => setTimeout(r, 500));
      assert.ok(s.received <= 3 * s.sent, `${s.received} bytes received for ${s.sent} sent`);
      assert.not.ok(s.got.some((p) => p.code === '2.05'), 'no firmware to an unproven address');
      const opened = await s.exchange(port, tinyGet(id, { echo, num: 0 }));
      assert.is(opened?.code, '2.05');
      assert.is(opened!.payload.length, 1024);
      const next = await s.exchange(port, tinyGet(id, { num: 1 }));
      assert.is(next?.code, '2.05', 'proven: the next block comes without an Echo');
    } finally {
      await s.close();
    }
  });

  suite('an Echo made for another address, or a forged one, proves nothing', async () => {
    const a = await Source.open('127.0.0.3');
    const b = await Source.open('127.0.0.4');
    try {
      const port = ferry.downloadAddress!.port;
      const echoA = optionValues((await a.exchange(port, tinyGet(id)))!, '252')[0]!;
      assert.is((await b.exchange(port, tinyGet(id, { echo: echoA })))?.code, '4.01');
      const forged = Buffer.from(echoA);
      forged[forged.length - 1]! ^= 1;
      assert.is((await a.exchange(port, tinyGet(id, { echo: forged })))?.code, '4.01');
    } finally {
      await a.close();
      await b.close();
    }
  });

  suite('a spoofed Register (its source never answers): the 2.01 and one read of /3/0, no retransmission', async () => {
    const s = await Source.open('127.0.0.5');
    try {
      s.send(ferry.coapAddress!.port, generate({
        confirmable: true, code: 'POST', messageId: 7, token: Buffer.from([9, 9]),
        options: uriOptions('/rd', ['ep=spoofed-1', 'lt=300', 'lwm2m=1.1']), payload: Buffer.from('</3/0>,</5/0>'),
      }));
      // RFC 7252 §4.8: a retransmission would follow within ACK_TIMEOUT × ACK_RANDOM_FACTOR (3 s).
      await new Promise((r) => setTimeout(r, 4000));
      const requests = s.got.filter((p) => p.code.startsWith('0.'));
      assert.ok(s.got.some((p) => p.code === '2.01'), 'registered');
      assert.is(requests.length, 1, `one request, got ${requests.map((p) => p.code).join(', ')}`);
      assert.ok(s.received <= 3 * s.sent, `${s.received} bytes for ${s.sent}`);
    } finally {
      await s.close();
    }
  });

  suite('a proven address with no update under way is held to its block rate: 4.29 with Max-Age (RFC 8516)', async () => {
    const s = await Source.open('127.0.0.6');
    try {
      const port = ferry.downloadAddress!.port;
      const echo = optionValues((await s.exchange(port, tinyGet(id)))!, '252')[0]!;
      assert.is((await s.exchange(port, tinyGet(id, { echo, num: 0, confirmable: true })))?.code, '2.05');
      // 200 requests at once, well past the bucket (20 a second, bursts of 80) however slow the
      // machine: waiting for each answer in turn would let a slow one refill the bucket as it goes.
      const before = s.got.length;
      for (let i = 0; i < 200; i++) s.send(port, tinyGet(id, { num: 1 + (i % 18), confirmable: true }));
      for (let t = 0; t < 10_000 && !s.got.slice(before).some((p) => p.code === '4.29'); t += 20) await new Promise((r) => setTimeout(r, 20));
      const codes = s.got.slice(before).map((p) => p.code);
      assert.ok(codes.includes('4.29'), codes.join(' '));
      const busy = s.got.find((p) => p.code === '4.29')!;
      assert.ok(optionValues(busy, 'Max-Age').length === 1, 'Max-Age says when to come back');
    } finally {
      await s.close();
    }
  });

  suite('interop: libcoap coap-client-notls answers the 4.01 with its Echo and downloads the image byte for byte', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-echo-'));
    try {
      const out = join(dir, 'image.bin');
      await run('coap-client-notls', ['-m', 'get', '-b', '1024', '-B', '30', '-o', out, `coap://127.0.0.1:${ferry.downloadAddress!.port}/fw/${id}`], { timeout: 40_000 });
      assert.ok((await readFile(out)).equals(image));
      assert.ok(ferry.download!.guard.stats.datagrams > 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') assert.unreachable('coap-client-notls is not installed: apt-get install libcoap3-bin');
      throw err;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
