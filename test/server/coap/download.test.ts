// The download socket (server/coap/download-server.ts): Block2 edge cases, CON/NON, duplicates,
// malformed datagrams, resume after a reboot, one-port mode, and libcoap's coap-client-notls
// fetching with its smallest and largest block sizes. Raw coap-packet on the client side.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { generate, parse, type Packet, type ParsedPacket } from 'coap-packet';
import * as assert from 'uvu/assert';
import { decodeBlock, encodeBlock } from '../../../protocols/block.ts';
import type { Ferry } from '../../../server/main.ts';
import { insertFirmware } from '../../../server/store/firmware.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { optionValues, proveLoopback, startTestFerry, uriOptions } from '../../helpers/ferry.ts';

const run = promisify(execFile);

/** One client socket that counts every byte it sends and receives (bytes on air). */
class RawClient {
  sent = 0;
  received = 0;
  readonly socket: Socket;
  readonly port: number;
  private constructor(socket: Socket, port: number) {
    this.socket = socket;
    this.port = port;
  }

  static async open(port: number): Promise<RawClient> {
    const socket = createSocket('udp4');
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
    return new RawClient(socket, port);
  }

  /** Sends a datagram and waits for the next one back (or undefined after `ms`). */
  async roundTrip(datagram: Buffer, ms = 2000): Promise<ParsedPacket | undefined> {
    const answer = this.next(ms);
    this.sent += datagram.length;
    this.socket.send(datagram, this.port, '127.0.0.1');
    return answer;
  }

  next(ms = 2000): Promise<ParsedPacket | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.socket.off('message', on); resolve(undefined); }, ms);
      const on = (msg: Buffer): void => {
        clearTimeout(timer);
        this.socket.off('message', on);
        this.received += msg.length;
        resolve(parse(msg));
      };
      this.socket.on('message', on);
    });
  }

  close(): Promise<void> {
    return new Promise((r) => this.socket.close(() => r()));
  }
}

let messageId = 1;
const get = (path: string, extra: Packet['options'] = [], o: Partial<Packet> = {}): Buffer => generate({
  confirmable: true, code: 'GET', messageId: (messageId = (messageId + 1) & 0xffff), token: randomBytes(4),
  options: [...uriOptions(path), ...(extra ?? [])], ...o,
});
const block2 = (num: number, szx: number) => ({ name: 'Block2' as const, value: encodeBlock({ num, more: false, szx }) });
const uint = (p: ParsedPacket, name: string): number | undefined => {
  const v = optionValues(p, name)[0];
  return v === undefined ? undefined : v.length === 0 ? 0 : v.readUIntBE(0, v.length);
};

/** Fetches a whole image block by block at `szx`, from block `from` on; returns the bytes and the ETags seen. */
async function fetchAll(client: RawClient, path: string, szx: number, from = 0, until = Infinity) {
  const parts: Buffer[] = [];
  const etags = new Set<string>();
  for (let num = from; num < until; num++) {
    const res = await client.roundTrip(get(path, [block2(num, szx)]));
    assert.ok(res, `block ${num} answered`);
    assert.is(res.code, '2.05');
    etags.add(optionValues(res, 'ETag')[0]!.toString('hex'));
    parts.push(res.payload);
    if (!decodeBlock(optionValues(res, 'Block2')[0]!).more) break;
  }
  return { bytes: Buffer.concat(parts), etags };
}

forEachDatabase('coap/download socket', ({ suite, get: db }) => {
  let ferry: Ferry;
  let client: RawClient;
  const store = async (payload: Buffer, version = `v${randomBytes(3).toString('hex')}`) =>
    (await insertFirmware(db().db, { version, hardwareClass: 'sim-1', payload })).downloadName;
  // A fresh server per test: the database is emptied between tests and ids start again at 1,
  // which a running server's image cache would not expect.
  suite.before.each(async () => {
    // Block2 behaviour, not access control: the address proven, no per-address block rate.
    ferry = await startTestFerry(db().db, { downloadRate: 0 });
    await proveLoopback(ferry.downloadAddress!.port);
    client = await RawClient.open(ferry.downloadAddress!.port);
  });
  suite.after.each(async () => {
    await client.close();
    await ferry.close();
  });

  suite('the download socket is its own port, and the Package URI names it', async () => {
    assert.ok(ferry.download, 'a download socket');
    assert.is.not(ferry.downloadAddress!.port, ferry.coapAddress!.port);
  });

  suite('an image an exact multiple of the block size: the last block is full, M=0, then 4.02 (RFC 7959 §2.2)', async () => {
    const image = randomBytes(4096);
    const id = await store(image);
    const last = await client.roundTrip(get(`/fw/${id}`, [block2(3, 6)]));
    assert.equal(decodeBlock(optionValues(last!, 'Block2')[0]!), { num: 3, more: false, szx: 6 });
    assert.ok(last!.payload.equals(image.subarray(3072)));
    const past = await client.roundTrip(get(`/fw/${id}`, [block2(4, 6)]));
    assert.is(past!.code, '4.02');
    assert.match(past!.payload.toString(), /^FERRY_BLOCK_PAST_END: block 4 is past the end/);
    assert.ok((await fetchAll(client, `/fw/${id}`, 6)).bytes.equals(image));
  });

  suite('a 1-byte image: one block, no Block2 unless asked, Size2 = 1', async () => {
    const id = await store(Buffer.from([0x5a]));
    const plain = await client.roundTrip(get(`/fw/${id}`));
    assert.is(plain!.code, '2.05');
    assert.is(optionValues(plain!, 'Block2').length, 0, 'it fits: no Block2 (RFC 7959 §2.4)');
    assert.is(uint(plain!, 'Size2'), 1);
    assert.ok(plain!.payload.equals(Buffer.from([0x5a])));
    const asked = await client.roundTrip(get(`/fw/${id}`, [block2(0, 0)]));
    assert.equal(decodeBlock(optionValues(asked!, 'Block2')[0]!), { num: 0, more: false, szx: 0 });
    assert.is((await client.roundTrip(get(`/fw/${id}`, [block2(1, 0)])))!.code, '4.02');
  });

  suite('every SZX 0…6 reassembles the image; Content-Format 42, ETag = SHA-256[0..8), Size2 on block 0 and when asked', async () => {
    const image = randomBytes(3000);
    const id = await store(image);
    const etag = createHash('sha256').update(image).digest().subarray(0, 8).toString('hex');
    for (let szx = 0; szx <= 6; szx++) {
      const { bytes, etags } = await fetchAll(client, `/fw/${id}`, szx);
      assert.ok(bytes.equals(image), `szx ${szx}`);
      assert.equal([...etags], [etag]);
    }
    const first = await client.roundTrip(get(`/fw/${id}`, [block2(0, 4)]));
    assert.is(uint(first!, 'Content-Format'), 42);
    assert.is(uint(first!, 'Size2'), 3000);
    const later = await client.roundTrip(get(`/fw/${id}`, [block2(2, 4)]));
    assert.is(uint(later!, 'Size2'), undefined);
    const asked = await client.roundTrip(get(`/fw/${id}`, [block2(2, 4), { name: 'Size2', value: Buffer.alloc(0) }]));
    assert.is(uint(asked!, 'Size2'), 3000, 'Size2 = 0 in the request asks for the size (RFC 7959 §4)');
  });

  suite('no Block2: block 0 at 1024 bytes with M=1; a smaller size mid-transfer is served (RFC 7959 §2.4)', async () => {
    const image = randomBytes(5000);
    const id = await store(image);
    const res = await client.roundTrip(get(`/fw/${id}`));
    assert.equal(decodeBlock(optionValues(res!, 'Block2')[0]!), { num: 0, more: true, szx: 6 });
    assert.ok(res!.payload.equals(image.subarray(0, 1024)));
    const smaller = await client.roundTrip(get(`/fw/${id}`, [block2(8, 3)]));
    assert.ok(smaller!.payload.equals(image.subarray(1024, 1152)));
  });

  suite('refusals carry a 4.xx and a diagnostic; nothing is a 5.00', async () => {
    const id = await store(randomBytes(100));
    const cases: Array<[string, Buffer, string, string]> = [
      ['unknown image', get('/fw/999999'), '4.04', 'FERRY_FW_NOT_FOUND'],
      ['not a number', get('/fw/abc'), '4.04', 'FERRY_FW_NOT_FOUND'],
      ['extra segment', get(`/fw/${id}/x`), '4.04', 'FERRY_FW_NOT_FOUND'],
      ['another resource', get('/rd'), '4.04', 'FERRY_COAP_NOT_FOUND'],
      ['POST', get(`/fw/${id}`, [], { code: 'POST' }), '4.05', 'FERRY_COAP_METHOD_NOT_ALLOWED'],
      ['PUT', get(`/fw/${id}`, [], { code: 'PUT' }), '4.05', 'FERRY_COAP_METHOD_NOT_ALLOWED'],
      ['DELETE', get(`/fw/${id}`, [], { code: 'DELETE' }), '4.05', 'FERRY_COAP_METHOD_NOT_ALLOWED'],
      ['SZX 7 (RFC 7959 §2.2)', get(`/fw/${id}`, [{ name: 'Block2', value: Buffer.from([0x07]) }]), '4.00', 'FERRY_BLOCK_INVALID'],
      ['four-byte Block2 (RFC 7252 §5.4.3)', get(`/fw/${id}`, [{ name: 'Block2', value: Buffer.from([1, 2, 3, 4]) }]), '4.02', 'FERRY_COAP_BAD_OPTION'],
      ['unknown critical option (RFC 7252 §5.4.1)', get(`/fw/${id}`, [{ name: 'If-Match', value: Buffer.from([1]) }]), '4.02', 'FERRY_COAP_BAD_OPTION'],
      ['Accept: application/json (RFC 7252 §5.10.4)', get(`/fw/${id}`, [{ name: 'Accept', value: Buffer.from([50]) }]), '4.06', 'FERRY_FW_NOT_ACCEPTABLE'],
    ];
    for (const [what, datagram, code, error] of cases) {
      const res = await client.roundTrip(datagram);
      assert.is(res?.code, code, what);
      assert.ok(res!.payload.length > 0, `${what}: diagnostic`);
      assert.ok(res!.payload.toString().startsWith(`${error}: `), `${what}: ${res!.payload.toString()}`);
    }
    const ok = await client.roundTrip(get(`/fw/${id}`, [{ name: 'Accept', value: Buffer.from([42]) }, { name: 'Uri-Query', value: Buffer.from('x=1') }]));
    assert.is(ok!.code, '2.05', 'Accept 42 and an elective query are fine');
  });

  suite('CON → piggybacked ACK with its Message ID; NON → NON; a duplicate is answered again, identically', async () => {
    const id = await store(randomBytes(2000));
    const con = get(`/fw/${id}`, [block2(1, 6)]);
    const a = await client.roundTrip(con);
    assert.ok(a!.ack);
    assert.is(a!.messageId, parse(con).messageId);
    assert.ok(a!.token.equals(parse(con).token));
    const again = await client.roundTrip(con);
    assert.ok(again!.payload.equals(a!.payload) && again!.messageId === a!.messageId, 'no exchange state needed');
    const non = get(`/fw/${id}`, [block2(1, 6)], { confirmable: false });
    const n = await client.roundTrip(non);
    assert.ok(!n!.ack && !n!.confirmable && !n!.reset, 'NON');
    assert.ok(n!.token.equals(parse(non).token));
    assert.ok(n!.payload.equals(a!.payload));
  });

  suite('malformed datagrams are dropped and counted; a CON format error and a ping get a Reset; the socket keeps serving', async () => {
    const id = await store(randomBytes(10));
    const stats = ferry.download!.guard.stats;
    const before = { malformed: stats.malformed, formatErrors: stats.formatErrors };
    // RFC 7252 §3: too short for a header, or version 0: silently ignored.
    for (const junk of [Buffer.from([0x00]), Buffer.from([0x00, 0x01, 0x02, 0x03])]) {
      assert.is(await client.roundTrip(junk, 200), undefined, `no answer to ${junk.toString('hex')}`);
    }
    // §3 token length 15, §4.1 an Empty CON with a byte after it: format errors, a CON is rejected with a Reset (§4.2).
    for (const [junk, mid] of [[Buffer.from([0x4f, 1, 0, 1]), 1], [Buffer.from([0x40, 0, 0, 2, 9]), 2]] as const) {
      const rst = await client.roundTrip(junk, 500);
      assert.ok(rst?.reset && rst.messageId === mid, `a Reset for ${junk.toString('hex')}`);
    }
    assert.is(stats.malformed - before.malformed, 2);
    assert.is(stats.formatErrors - before.formatErrors, 2);
    const pong = await client.roundTrip(generate({ confirmable: true, code: '0.00', messageId: 77 }));
    assert.ok(pong!.reset, 'RFC 7252 §4.3: CoAP ping');
    assert.is(pong!.messageId, 77);
    assert.is((await client.roundTrip(get(`/fw/${id}`)))!.code, '2.05');
  });

  suite('resume: half an image, a reboot (new socket, ids, tokens), the rest with the same ETag; < 1.1 × the bytes of a clean download', async () => {
    const image = randomBytes(64 * 1024);
    const id = await store(image);
    const clean = await RawClient.open(ferry.downloadAddress!.port);
    const whole = await fetchAll(clean, `/fw/${id}`, 5);
    await clean.close();
    assert.ok(whole.bytes.equals(image));

    const before = await RawClient.open(ferry.downloadAddress!.port);
    const half = await fetchAll(before, `/fw/${id}`, 5, 0, 64); // 64 blocks of 512 bytes
    await before.close(); // the reboot: nothing of this exchange survives but the bytes and the ETag
    const after = await RawClient.open(ferry.downloadAddress!.port);
    const rest = await fetchAll(after, `/fw/${id}`, 5, 64);
    await after.close();
    assert.equal([...rest.etags], [...half.etags], 'the same ETag: the device may continue');
    assert.ok(Buffer.concat([half.bytes, rest.bytes]).equals(image));
    const onAir = before.sent + before.received + after.sent + after.received;
    const cleanOnAir = clean.sent + clean.received;
    assert.ok(onAir < 1.1 * cleanOnAir, `${onAir} bytes resumed vs ${cleanOnAir} clean`);

    const other = await store(randomBytes(64 * 1024));
    const changed = await client.roundTrip(get(`/fw/${other}`, [block2(64, 5)]));
    assert.is.not(optionValues(changed!, 'ETag')[0]!.toString('hex'), [...half.etags][0], 'other bytes, other ETag: start again');
  });

  suite('interop: libcoap coap-client-notls -b 16 and -b 1024 from the download port, byte for byte', async () => {
    const image = randomBytes(5000);
    const id = await store(image);
    const dir = await mkdtemp(join(tmpdir(), 'ferry-libcoap-'));
    try {
      for (const size of ['16', '1024']) {
        const out = join(dir, `image-${size}.bin`);
        await run('coap-client-notls', ['-m', 'get', '-b', size, '-B', '30', '-o', out,
          `coap://127.0.0.1:${ferry.downloadAddress!.port}/fw/${id}`], { timeout: 40_000 });
        assert.ok((await readFile(out)).equals(image), `-b ${size}`);
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') assert.unreachable('coap-client-notls is not installed: apt-get install libcoap3-bin');
      throw err;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  suite('one-port mode: --download-port = --coap-port serves /fw on the CoAP socket, no second socket', async () => {
    const port = await freePort();
    const single = await startTestFerry(db().db, { coapPort: port, downloadPort: port, downloadRate: 0 });
    await proveLoopback(port);
    try {
      assert.is(single.download, undefined);
      assert.is(single.downloadAddress!.port, port);
      const image = randomBytes(2100);
      const id = await store(image);
      const c = await RawClient.open(port);
      try {
        assert.ok((await fetchAll(c, `/fw/${id}`, 6)).bytes.equals(image));
      } finally {
        await c.close();
      }
    } finally {
      await single.close();
    }
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.bind(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}
