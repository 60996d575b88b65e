// Hostile datagrams on both UDP sockets (server/coap/guard.ts): the one-datagram crash (a GET with
// Observe on a resource that is not observable), RFC 7252 format errors, unknown critical options,
// pings, Block1 bodies past their limits, and nothing a datagram does stops the server answering.
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { generate, parse, type Packet, type ParsedPacket } from 'coap-packet';
import * as assert from 'uvu/assert';
import { encodeBlock } from '../../../protocols/block.ts';
import type { Ferry } from '../../../server/main.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { eventually, startTestFerry, uriOptions } from '../../helpers/ferry.ts';

/** A client socket on one loopback address that collects every datagram it is sent. */
class Peer {
  readonly got: Buffer[] = [];
  readonly socket: Socket;
  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('message', (m) => this.got.push(m));
  }

  static async open(address = '127.0.0.1'): Promise<Peer> {
    const socket = createSocket('udp4');
    await new Promise<void>((r) => socket.bind(0, address, () => r()));
    return new Peer(socket);
  }

  send(port: number, datagram: Buffer): void {
    this.socket.send(datagram, port, '127.0.0.1');
  }

  /** Sends and waits `ms` for the datagrams that come back (or until `enough` of them came); returns those that came. */
  async exchange(port: number, datagram: Buffer, ms = 400, enough?: (answers: ParsedPacket[]) => boolean): Promise<ParsedPacket[]> {
    const from = this.got.length;
    const answers = (): ParsedPacket[] => this.got.slice(from).map((m) => parse(m));
    this.send(port, datagram);
    for (const until = Date.now() + ms; Date.now() < until;) {
      await new Promise((r) => setTimeout(r, 10));
      if (enough?.(answers())) break;
    }
    return answers();
  }

  close(): Promise<void> {
    return new Promise((r) => this.socket.close(() => r()));
  }
}

let mid = 100;
const con = (p: Packet): Buffer => generate({ confirmable: true, messageId: (mid = (mid + 1) & 0xffff), token: randomBytes(4), ...p });
const register = (ep: string): Buffer => con({ code: 'POST', options: uriOptions('/rd', [`ep=${ep}`, 'lt=300', 'lwm2m=1.1']), payload: Buffer.from('</1/0>,</3/0>,</5/0>') });

forEachDatabase('coap/guard', ({ suite, get }) => {
  let ferry: Ferry;
  let peer: Peer;
  const sockets = (): Array<[string, number]> => [['coap', ferry.coapAddress!.port], ['download', ferry.downloadAddress!.port]];
  suite.before.each(async () => {
    ferry = await startTestFerry(get().db);
    peer = await Peer.open();
  });
  suite.after.each(async () => {
    await peer.close();
    await ferry.close();
  });

  /** A clean Register from another loopback address is answered 2.01: the server is alive. */
  const alive = async (): Promise<void> => {
    const other = await Peer.open('127.0.0.9');
    try {
      const answers = await other.exchange(ferry.coapAddress!.port, register(`alive-${randomBytes(3).toString('hex')}`), 3000, (got) => got.some((a) => a.code === '2.01'));
      assert.ok(answers.some((a) => a.code === '2.01'), `a clean Register answered 2.01, got ${answers.map((a) => a.code).join(', ') || 'nothing'}`);
    } finally {
      await other.close();
    }
  };

  suite('the 8-byte NON GET /rd with Observe, and its CON twin, on every path of both sockets: answered without Observe, the server lives (RFC 7641 §4.1)', async () => {
    const exact = Buffer.from('5001222260527264', 'hex');
    peer.send(ferry.coapAddress!.port, exact);
    peer.send(ferry.downloadAddress!.port, exact);
    // Every variant at once (each with its own Message ID), then one look at what came back.
    const cons = new Map<number, string>();
    for (const [name, port] of sockets()) {
      for (const path of ['/rd', '/zz', '/fw', '/fw/1']) {
        for (const confirmable of [false, true]) {
          const messageId = (mid = (mid + 1) & 0xffff);
          if (confirmable) cons.set(messageId, `${name} ${path}`);
          peer.send(port, generate({ confirmable, code: 'GET', messageId, token: Buffer.alloc(0),
            options: [{ name: 'Observe', value: Buffer.alloc(0) }, ...uriOptions(path)] }));
        }
      }
    }
    await new Promise((r) => setTimeout(r, 800));
    const answers = peer.got.map((m) => parse(m));
    for (const a of answers) {
      assert.not.ok(a.options.some((o) => o.name === 'Observe'), `no Observe in an answer (${a.code})`);
      assert.not.ok(a.code.startsWith('5.'), a.code);
    }
    for (const [messageId, what] of cons) assert.ok(answers.some((a) => a.ack && a.messageId === messageId), `${what}: the CON is answered`);
    await alive();
  });

  suite('token length 9–15 is a format error: a CON gets a Reset, a NON nothing, never 2.05 (RFC 7252 §3, §4.2, §4.3)', async () => {
    for (const [name, port] of sockets()) {
      const from = peer.got.length;
      for (let tkl = 9; tkl <= 15; tkl++) {
        const body = Buffer.concat([randomBytes(tkl), Buffer.from([0xb2, 0x72, 0x64])]);
        peer.send(port, Buffer.concat([Buffer.from([0x40 | tkl, 0x01, 0x12, tkl]), body]));
        peer.send(port, Buffer.concat([Buffer.from([0x50 | tkl, 0x01, 0x13, tkl]), body]));
      }
      await new Promise((r) => setTimeout(r, 400));
      const got = peer.got.slice(from).map((m) => parse(m));
      assert.equal(got.map((a) => [a.reset, a.messageId]).sort(), [9, 10, 11, 12, 13, 14, 15].map((t) => [true, 0x1200 | t]).sort(),
        `${name}: one Reset for each CON, nothing for the NONs`);
    }
    // Counted in the metrics, per socket and outcome.
    const scraped = await ferry.metrics.scrape();
    for (const [name] of sockets()) {
      const m = new RegExp(`^ferry_coap_guard_datagrams\\{socket="${name}",outcome="formatErrors"\\} (\\d+)$`, 'm').exec(scraped);
      assert.ok(Number(m?.[1]) >= 14, `${name}: ${m?.[0]}`);
    }
    await alive();
  });

  suite('an unknown critical option: 4.02 to a CON, a NON dropped (RFC 7252 §5.4.1); a ping on the LwM2M socket gets one Reset only (§4.3)', async () => {
    const critical = { name: '2049' as never, value: Buffer.from([1]) };
    for (const [name, port] of sockets()) {
      const c = await peer.exchange(port, con({ code: 'GET', options: [...uriOptions('/rd'), critical] }));
      assert.equal(c.map((a) => a.code), ['4.02'], name);
      assert.match(c[0]!.payload.toString(), /^FERRY_COAP_BAD_OPTION: option 2049/);
      const n = await peer.exchange(port, generate({ confirmable: false, code: 'GET', messageId: 9, token: Buffer.from([1]), options: [...uriOptions('/rd'), critical] }));
      assert.is(n.length, 0, `${name}: a NON with it is rejected`);
    }
    const ping = await peer.exchange(ferry.coapAddress!.port, Buffer.from([0x40, 0, 0x33, 0x44]), 500);
    assert.equal(ping.map((a) => [a.reset, a.code, a.messageId]), [[true, '0.00', 0x3344]]);
    assert.ok(ferry.coap!.guard.stats.pings >= 1);
  });

  suite('Block1: a body past its limit is 4.13 with Size1, a block without its predecessors 4.08, never 5.00; reassembly memory stays bounded (RFC 7959 §2.9)', async () => {
    const port = ferry.coapAddress!.port;
    const block1 = (num: number, more: boolean, size: number, token: Buffer) => con({
      code: 'POST', token, options: [...uriOptions('/rd', ['ep=b1', 'lwm2m=1.1']), { name: 'Block1', value: encodeBlock({ num, more, szx: Math.log2(size) - 4 }) }],
      payload: randomBytes(size),
    });
    // The last block numbered 2^20 − 1, alone: node-coap would allocate about 1 GiB for it.
    const far = await peer.exchange(port, block1(2 ** 20 - 1, false, 1024, randomBytes(4)));
    assert.is(far.length, 1);
    assert.ok(['4.08', '4.13'].includes(far[0]!.code), far[0]!.code);
    // Block 5 with no blocks before it.
    assert.equal((await peer.exchange(port, block1(5, true, 1024, randomBytes(4)))).map((a) => a.code), ['4.08']);
    // M=1 with a short payload is not a block of its size.
    const short = con({ code: 'POST', options: [...uriOptions('/rd', ['ep=b1']), { name: 'Block1', value: encodeBlock({ num: 0, more: true, szx: 6 }) }], payload: randomBytes(10) });
    assert.equal((await peer.exchange(port, short)).map((a) => a.code), ['4.00']);
    // Many unfinished bodies with distinct tokens: 2.31 while they fit, then 4.13; held bytes stay within the bound.
    const limit = ferry.coap!.guard.block1!.limits;
    const codes = new Map<string, number>();
    for (let i = 0; i < 400; i++) {
      peer.send(port, block1(0, true, 1024, randomBytes(8)));
      if (i % 50 === 49) await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 500));
    for (const m of peer.got.slice(-400)) { const c = parse(m).code; codes.set(c, (codes.get(c) ?? 0) + 1); }
    assert.ok((codes.get('2.31') ?? 0) > 0, 'bodies are taken while they fit');
    assert.ok((codes.get('4.13') ?? 0) > 0, `then refused with 4.13: ${JSON.stringify([...codes])}`);
    assert.not.ok([...codes.keys()].some((c) => c.startsWith('5.')));
    assert.ok(ferry.coap!.guard.block1!.heldBytes <= limit.perAddress, `${ferry.coap!.guard.block1!.heldBytes} held`);
    // A block past the largest request body: 4.13 with Size1 = that size (RFC 7252 §5.9.2.9).
    const past = await peer.exchange(port, block1(limit.maxBody / 1024, true, 1024, randomBytes(4)));
    assert.equal(past.map((a) => a.code), ['4.13']);
    const size1 = past[0]!.options.find((o) => o.name === 'Size1')!.value;
    assert.is(size1.readUIntBE(0, size1.length), limit.maxBody);
    await alive();
  });
  // Found by the socket fuzzer (test/fuzz/sockets.ts): the datagrams below are the ones it sent, or
  // the smallest of their kind.

  suite('a Size2 of 129 bytes on GET /fw (LwM2M socket) is ignored, not read as Infinity: it hung the server in one datagram (RFC 7252 §5.4.3)', async () => {
    // CON GET /fw/1, Size2 (28) = 129 bytes of 0xff: node-coap reads it as Infinity.
    const exact = Buffer.from(`40011234b266770131dd0474${'ff'.repeat(129)}`, 'hex');
    const answers = await peer.exchange(ferry.coapAddress!.port, exact);
    assert.equal(answers.map((a) => a.code), ['4.01'], 'answered as without it: 4.01 with an Echo to an unproven address');
    await alive();
  });

  suite('an empty Block1 is block 0, the last, of 16 bytes (RFC 7252 §3.2, RFC 7959 §2.2): never 5.00', async () => {
    const port = ferry.coapAddress!.port;
    // CON POST /rd/65tfFo0e with an empty Block1; NON GET with elective options 10 and 22 and an empty Block1.
    const update = await peer.exchange(port, Buffer.from('48026d26bdd5b5202a8c05d1b272640836357466466f3065d003', 'hex'));
    assert.equal(update.map((a) => a.code), ['4.04'], 'no such registration');
    const get = await peer.exchange(port, Buffer.from('510171ae3aa266580131c1e450', 'hex'));
    assert.not.ok(get.some((a) => a.code.startsWith('5.')), get.map((a) => a.code).join());
    // A Register of 13 bytes with an empty Block1: a whole body.
    const register = await peer.exchange(port, con({
      code: 'POST', options: [...uriOptions('/rd', ['ep=empty-block1', 'lwm2m=1.1']), { name: 'Block1', value: Buffer.alloc(0) }],
      payload: Buffer.from('</1/0>,</3/0>'),
    }));
    assert.equal(register.filter((a) => !a.code.startsWith('0.')).map((a) => a.code), ['2.01'], 'registered (the Read of /3/0 that follows aside)');
    assert.is(ferry.coap!.guard.stats.handlerErrors, 0);
    await alive();
  });

  suite('the last Block1 block again under a new Message ID is 4.08, not 5.00; under its own it gets the same answer again (RFC 7252 §4.5, RFC 7959 §2.9.2)', async () => {
    const port = ferry.coapAddress!.port;
    // A Register body in three 16-byte blocks (token aabbccdd, Message IDs 0x0100–0x0102), then the last block under 0x0200.
    const [b0, b1, b2, again] = [
      '44020100aabbccddb2726411283865703d626c6b2d31066c743d333030096c776d326d3d312e31c108ff3c2f3e3b72743d226f6d612e6c776d32',
      '44020101aabbccddb2726411283865703d626c6b2d31066c743d333030096c776d326d3d312e31c118ff6d223b63743d31313534322c3c2f312f',
      '44020102aabbccddb2726411283865703d626c6b2d31066c743d333030096c776d326d3d312e31c120ff303e',
      '44020200aabbccddb2726411283865703d626c6b2d31066c743d333030096c776d326d3d312e31c120ff303e',
    ].map((h) => Buffer.from(h, 'hex'));
    const blocks = [b0!, b1!, b2!];
    const answers: ParsedPacket[] = [];
    // Answers only: not the empty ACK of a separate response, nor the server's Read of /3/0 after the Register.
    for (const b of blocks) answers.push(...(await peer.exchange(port, b)).filter((a) => !a.code.startsWith('0.')));
    assert.equal(answers.map((a) => a.code), ['2.31', '2.31', '2.01']);
    // A retransmission: the cached answer when it went piggybacked; a separate one is not cached by its request's Message ID.
    const piggybacked = answers[2]!.ack && answers[2]!.messageId === 0x0102;
    const retransmitted = await peer.exchange(port, blocks[2]!);
    assert.equal(retransmitted.filter((a) => !a.code.startsWith('0.')).map((a) => a.code), [piggybacked ? '2.01' : '4.08'], 'the last block retransmitted');
    assert.equal((await peer.exchange(port, again!)).filter((a) => !a.code.startsWith('0.')).map((a) => a.code), ['4.08'], 'the last block again under a new Message ID');
    assert.is(ferry.coap!.guard.stats.handlerErrors, 0);
    await alive();
  });
  suite('an answer to the server\'s Read with a Block1 of 4 bytes is rejected, an empty one read as 0: nothing throws behind the guard (RFC 7252 §5.4.3, §3.2)', async () => {
    const port = ferry.coapAddress!.port;
    // Block1 (27): delta 13 + 14, 4 zero bytes; then delta 13 + 14, empty.
    for (const [i, block1] of ['d40e00000000', 'd00e'].entries()) {
      const answers = await peer.exchange(port, register(`answer-block1-${i}`), 800);
      const read = answers.find((a) => a.code === '0.01');
      assert.ok(read, `the server reads /3/0 after the Register: ${answers.map((a) => a.code).join(', ')}`);
      // ACK 2.05 with the Read's Message ID and token.
      const head = Buffer.from([0x60 | read.token.length, 0x45, read.messageId >> 8, read.messageId & 0xff]);
      peer.send(port, Buffer.concat([head, read.token, Buffer.from(block1, 'hex')]));
    }
    await new Promise((r) => setTimeout(r, 300));
    assert.is(ferry.coap!.guard.stats.handlerErrors, 0);
    await alive();
  });
  suite('answers kept for duplicates are their bytes alone, at most a bound of them: a flood no longer grows the heap by 5 KB an answer (RFC 7252 §4.5)', async () => {
    const port = ferry.coapAddress!.port;
    // CON GET /zz with token aabbccdd and Message ID n: answered 4.04, piggybacked.
    const get = (n: number): Buffer => Buffer.from(`4401${n.toString(16).padStart(4, '0')}aabbccddb27a7a`, 'hex');
    const first = await peer.exchange(port, get(1));
    for (let n = 2; n <= 600; n++) {
      peer.send(port, get(n));
      if (n % 50 === 0) await new Promise((r) => setTimeout(r, 20));
    }
    const answers = (ferry.coap!.server as unknown as { _lru: { max: number; size: number; values(): Iterable<Buffer & { sender?: unknown }> } })._lru;
    // Every request answered (a loaded machine takes its time): a bound on the wait, not a timing check.
    await eventually(() => (answers.size >= 600 ? true : undefined), 10_000, 'all 600 requests answered').catch(() => undefined);
    assert.ok(answers.size >= 600 && answers.max <= 50_000, `${answers.size} answers kept, at most ${answers.max}`);
    assert.not.ok([...answers.values()].some((a) => a.sender !== undefined), 'an ACK is kept without its sender (and the request it holds)');
    // A duplicate still gets the very same answer.
    // (Late answers to the flood may still be arriving on the peer's socket: only Message ID 1 counts.)
    const again = (await peer.exchange(port, get(1))).filter((a) => a.messageId === 1);
    assert.equal(again.map((a) => [a.code, a.messageId, a.payload.toString()]), first.map((a) => [a.code, a.messageId, a.payload.toString()]));
    assert.equal(first.map((a) => a.code), ['4.04']);
  });
}, { only: 'pglite' }); // datagrams and the guard: the database behind the handlers is not what is tested here

