// Push: DmClient.writeBlockwise sends Write /5/0/0 with Block1 (RFC 7959 §2.3) from the LwM2M
// socket, one block in flight, and negotiates the block size down on 4.13 (§2.9.3) or on a smaller
// SZX in a 2.31. The "device" is a small CoAP server written here on coap-packet, answering as each
// test tells it.
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { generate, parse, type ParsedPacket } from 'coap-packet';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeBlock, encodeBlock, type BlockOption } from '../../../protocols/block.ts';
import { szxAfter413 } from '../../../server/coap/block1.ts';
import { DmClient, DmError } from '../../../server/coap/dm-client.ts';
import { CoapEndpoint } from '../../../server/coap/endpoint.ts';
import { replyError } from '../../../server/coap/message.ts';
import { coapRefusal } from '../../../server/coap/refusal.ts';
import { silentLogger } from '../../../server/log.ts';

interface Answer { code: string; block1?: BlockOption; size1?: number }
type Policy = (b: BlockOption, req: ParsedPacket) => Answer;

/** A device that records each Block1 request, keeps accepted bytes by offset, and answers by `policy`. */
class Device {
  readonly requests: Array<{ block: BlockOption; length: number; from: number; contentFormat?: number; size1?: number; at: number }> = [];
  readonly body = new Map<number, Buffer>();
  /** Requests that arrived while an answer was still pending (NSTART = 1 says never). */
  overlapping = 0;
  private pending = false;
  readonly socket: Socket;
  private readonly policy: Policy;
  private readonly delayMs: number;
  private constructor(socket: Socket, policy: Policy, delayMs: number) {
    this.socket = socket;
    this.policy = policy;
    this.delayMs = delayMs;
  }

  static async start(policy: Policy, delayMs = 5): Promise<Device> {
    const socket = createSocket('udp4');
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
    const d = new Device(socket, policy, delayMs);
    socket.on('message', (msg, rinfo) => d.receive(parse(msg), rinfo.port));
    return d;
  }

  get port(): number { return this.socket.address().port; }

  bytes(): Buffer {
    return Buffer.concat([...this.body.entries()].sort((a, b) => a[0] - b[0]).map(([, b]) => b));
  }

  private receive(req: ParsedPacket, port: number): void {
    if (req.code === '0.00') return;
    if (this.pending) this.overlapping++;
    this.pending = true;
    const raw = req.options.find((o) => o.name === 'Block1')?.value;
    const block = raw ? decodeBlock(raw) : { num: 0, more: false, szx: 6 };
    const cf = req.options.find((o) => o.name === 'Content-Format')?.value;
    const s1 = req.options.find((o) => o.name === 'Size1')?.value;
    this.requests.push({
      block, length: req.payload.length, from: port, at: Date.now(),
      ...(cf ? { contentFormat: cf.length ? cf.readUIntBE(0, cf.length) : 0 } : {}),
      ...(s1 ? { size1: s1.readUIntBE(0, s1.length) } : {}),
    });
    const a = this.policy(block, req);
    if (a.code === '2.31' || a.code === '2.04') this.body.set(block.num * (16 << block.szx), req.payload);
    const options: Array<{ name: 'Block1' | 'Size1'; value: Buffer }> = [];
    if (a.block1) options.push({ name: 'Block1' as const, value: encodeBlock(a.block1) });
    if (a.size1 !== undefined) options.push({ name: 'Size1' as const, value: Buffer.from([a.size1 >> 8, a.size1 & 0xff]) });
    setTimeout(() => {
      this.pending = false;
      this.socket.send(generate({ ack: true, code: a.code, messageId: req.messageId, token: req.token, options }), port, '127.0.0.1');
    }, this.delayMs);
  }

  close(): Promise<void> { return new Promise((r) => this.socket.close(() => r())); }
}

/** Accepts blocks up to `maxSzx`: 2.31 for M=1, 2.04 for the last; echoes Block1 (control usage). */
const accepting = (maxSzx: number, refuse: (b: BlockOption) => Answer): Policy => (b) => {
  if (b.szx > maxSzx) return refuse(b);
  return { code: b.more ? '2.31' : '2.04', block1: b };
};

let coap: CoapEndpoint;
let dm: DmClient;
const target = (d: Device) => ({ endpoint: 'dev-1', address: '127.0.0.1', port: d.port });

test.before(async () => {
  coap = await CoapEndpoint.listen({ host: '127.0.0.1', port: 0, log: silentLogger(), handler: (_req, res) => replyError(res, coapRefusal('FERRY_COAP_NOT_FOUND', 'none')) });
  dm = new DmClient({ agent: coap.agent, timeoutMs: 3000, log: silentLogger() });
});
test.after(async () => {
  dm.close();
  await coap.close();
});

async function withDevice(policy: Policy, body: (d: Device) => Promise<void>, delayMs?: number): Promise<void> {
  const d = await Device.start(policy, delayMs);
  try { await body(d); } finally { await d.close(); }
}

test('2.31 Continue: every block at the chosen size, in order, Content-Format 42, Size1 first, one in flight, from the LwM2M socket', async () => {
  const image = randomBytes(2500);
  await withDevice(accepting(6, () => ({ code: '4.13' })), async (d) => {
    const r = await dm.writeBlockwise(target(d), '/5/0/0', image, 42, { szx: 4 });
    assert.is(r.code, '2.04');
    assert.is(r.blocks, 10);
    assert.is(r.szx, 4);
    assert.ok(d.bytes().equals(image));
    assert.equal(d.requests.map((q) => q.block.num), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(d.requests.map((q) => q.block.more), [true, true, true, true, true, true, true, true, true, false]);
    assert.ok(d.requests.every((q) => q.contentFormat === 42 && q.from === coap.address().port));
    assert.is(d.requests[0]!.size1, 2500, 'RFC 7959 §4: Size1 announces the total');
    assert.is(d.overlapping, 0, 'NSTART = 1');
  }, 15);
});

test('4.13 with a Block1 SZX: the same bytes again at that size (RFC 7959 §2.9.3)', async () => {
  const image = randomBytes(1000);
  await withDevice(accepting(3, () => ({ code: '4.13', block1: { num: 0, more: false, szx: 3 } })), async (d) => {
    const r = await dm.writeBlockwise(target(d), '/5/0/0', image, 42);
    assert.is(r.szx, 3);
    assert.ok(d.bytes().equals(image));
    assert.equal(d.requests.slice(0, 2).map((q) => [q.block.num, q.block.szx, q.length]), [[0, 6, 1000], [0, 3, 128]]);
    assert.is(d.requests.length, 1 + 8);
  });
});

test('4.13 with Size1: the largest block within it (RFC 7252 §5.9.2.9)', async () => {
  const image = randomBytes(700);
  await withDevice(accepting(3, () => ({ code: '4.13', size1: 200 })), async (d) => {
    const r = await dm.writeBlockwise(target(d), '/5/0/0', image, 42);
    assert.is(r.szx, 3, '128 ≤ 200 < 256');
    assert.ok(d.bytes().equals(image));
    assert.is(d.requests.filter((q) => q.block.szx === 6).length, 1);
  });
});

test('4.13 with a Size1 below the body but not below the block: the whole body does not fit (RFC 7959 §4), no retries', async () => {
  await withDevice(() => ({ code: '4.13', size1: 2000 }), async (d) => {
    const err = await dm.writeBlockwise(target(d), '/5/0/0', randomBytes(5000), 42).then(() => undefined, (e: unknown) => e);
    assert.instance(err, DmError);
    assert.is((err as DmError).coapCode, '4.13');
    assert.match(String((err as Error).message), /at most 2000 bytes/);
    assert.is(d.requests.length, 1, 'one try');
  });
});

test('4.13 without a hint: one size smaller each time until the device takes it', async () => {
  const image = randomBytes(300);
  await withDevice(accepting(2, () => ({ code: '4.13' })), async (d) => {
    const r = await dm.writeBlockwise(target(d), '/5/0/0', image, 42);
    assert.is(r.szx, 2);
    assert.equal(d.requests.slice(0, 5).map((q) => q.block.szx), [6, 5, 4, 3, 2]);
    assert.ok(d.bytes().equals(image));
  });
});

test('4.13 mid-transfer: blocks already taken stay, the rest goes at the smaller size from the same offset', async () => {
  const image = randomBytes(3000);
  let refusedOnce = false;
  await withDevice((b) => {
    if (b.num === 2 && b.szx === 6 && !refusedOnce) { refusedOnce = true; return { code: '4.13', block1: { num: 2, more: false, szx: 4 } }; }
    return { code: b.more ? '2.31' : '2.04', block1: b };
  }, async (d) => {
    const r = await dm.writeBlockwise(target(d), '/5/0/0', image, 42);
    assert.is(r.szx, 4);
    assert.equal(d.requests.slice(0, 4).map((q) => [q.block.num, q.block.szx]), [[0, 6], [1, 6], [2, 6], [8, 4]], 'byte 2048 = block 8 of 256');
    assert.ok(d.bytes().equals(image));
  });
});

test('a smaller SZX in a 2.31 applies from the next block on (RFC 7959 §2.3)', async () => {
  const image = randomBytes(2048);
  await withDevice((b) => ({ code: b.more ? '2.31' : '2.04', block1: { ...b, szx: Math.min(b.szx, 5) } }), async (d) => {
    const r = await dm.writeBlockwise(target(d), '/5/0/0', image, 42);
    assert.is(r.szx, 5);
    assert.equal(d.requests.map((q) => [q.block.num, q.block.szx]), [[0, 6], [2, 5], [3, 5]]);
    assert.ok(d.bytes().equals(image));
  });
});

test('refusals end the push with a DmError: 4.13 at 16 bytes, 4.04, 4.08 (RFC 7959 §2.9.2)', async () => {
  for (const code of ['4.13', '4.04', '4.08']) {
    await withDevice(() => ({ code }), async (d) => {
      const err = await dm.writeBlockwise(target(d), '/5/0/0', randomBytes(100), 42).then(() => undefined, (e: unknown) => e);
      assert.instance(err, DmError, code);
      assert.is((err as DmError).coapCode, code);
      if (code === '4.13') assert.equal(d.requests.map((q) => q.block.szx), [6, 5, 4, 3, 2, 1, 0]);
    });
  }
});

test('a non-atomic device may answer 2.04 to every block (RFC 7959 §2.3)', async () => {
  const image = randomBytes(100);
  await withDevice(() => ({ code: '2.04' }), async (d) => {
    const r = await dm.writeBlockwise(target(d), '/5/0/0', image, 42, { szx: 0 });
    assert.is(r.blocks, 7);
    assert.ok(d.bytes().equals(image));
  });
});

test('szxAfter413: Block1 hint, Size1 hint, no hint, nothing left', () => {
  assert.is(szxAfter413({ block1: { num: 0, more: false, szx: 2 } }, 6), 2);
  assert.is(szxAfter413({ size1: 1000 }, 6), 5);
  assert.is(szxAfter413({ size1: 15 }, 6), undefined);
  assert.is(szxAfter413({}, 6), 5);
  assert.is(szxAfter413({}, 0), undefined);
  assert.is(szxAfter413({ block1: { num: 0, more: false, szx: 6 } }, 4), 3, 'a larger hint is no hint');
});

test.run();
