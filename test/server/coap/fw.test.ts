// GET /fw/<id>: the Block2 download answer (RFC 7959), on both sockets that give it — the download
// socket (the Package URI's port) and the LwM2M socket (Package URIs that name the CoAP port) —
// spoken by raw coap-packet datagrams, and by libcoap's coap-client-notls.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as assert from 'uvu/assert';
import { decodeBlock, encodeBlock } from '../../../protocols/block.ts';
import type { Ferry } from '../../../server/main.ts';
import { insertFirmware } from '../../../server/store/firmware.ts';
import { forEachDatabase } from '../../helpers/db.ts';
import { exchange, optionValues, proveLoopback, startTestFerry, uriOptions } from '../../helpers/ferry.ts';

const run = promisify(execFile);
const IMAGE = randomBytes(5000); // 4 full 1024-byte blocks and a short fifth
const DIGEST = createHash('sha256').update(IMAGE).digest();

forEachDatabase('coap/fw', ({ suite, get }) => {
  let ferry: Ferry;
  let socket: 'download' | 'coap' = 'download';
  const port = () => (socket === 'download' ? ferry.downloadAddress!.port : ferry.coapAddress!.port);
  /** Each test twice: on the download socket, then on the LwM2M socket. */
  const both = (name: string, body: () => Promise<void>) => {
    for (const s of ['download', 'coap'] as const) suite(`${name} [${s} socket]`, async () => { socket = s; await body(); });
  };
  let id = '';
  suite.before(async () => {
    ferry = await startTestFerry(get().db, { downloadRate: 0 });
    await proveLoopback(ferry.downloadAddress!.port);
  });
  suite.before.each(async () => {
    id = (await insertFirmware(get().db, { version: '2.0.0', hardwareClass: 'sim-1', payload: IMAGE })).downloadName;
  });
  suite.after(async () => { await ferry.close(); });

  const getBlock = (num: number, szx: number, path = `/fw/${id}`) => exchange(port(), {
    code: 'GET', options: [...uriOptions(path), { name: 'Block2', value: encodeBlock({ num, more: false, szx }) }],
  });

  both('every SZX 0…6: the blocks put together are the image (RFC 7959 §2.2, §2.4)', async () => {
    for (let szx = 0; szx <= 6; szx++) {
      const size = 16 << szx;
      const parts: Buffer[] = [];
      for (let num = 0; ; num++) {
        const res = await getBlock(num, szx);
        assert.is(res.code, '2.05');
        const block = decodeBlock(optionValues(res, 'Block2')[0]!);
        assert.is(block.num, num);
        assert.is(block.szx, szx);
        parts.push(res.payload);
        if (!block.more) break;
        assert.is(res.payload.length, size, 'a block with M=1 is full');
        if (num > 400) assert.unreachable('too many blocks');
      }
      assert.ok(Buffer.concat(parts).equals(IMAGE), `szx ${szx}`);
    }
  });

  both('block 0 carries Size2 and the ETag is the digest\'s first 8 bytes (RFC 7959 §4, RFC 7252 §5.10.6)', async () => {
    const first = await getBlock(0, 4);
    assert.is(optionValues(first, 'Size2')[0]!.readUIntBE(0, optionValues(first, 'Size2')[0]!.length), IMAGE.length);
    assert.ok(optionValues(first, 'ETag')[0]!.equals(DIGEST.subarray(0, 8)));
    const later = await getBlock(3, 4);
    assert.is(optionValues(later, 'Size2').length, 0);
    assert.ok(optionValues(later, 'ETag')[0]!.equals(DIGEST.subarray(0, 8)));
  });

  both('a GET without Block2 gets block 0 at 1024 bytes with M=1', async () => {
    const res = await exchange(port(), { code: 'GET', options: uriOptions(`/fw/${id}`) });
    assert.is(res.code, '2.05');
    assert.equal(decodeBlock(optionValues(res, 'Block2')[0]!), { num: 0, more: true, szx: 6 });
    assert.ok(res.payload.equals(IMAGE.subarray(0, 1024)));
  });

  both('a client that changes to a smaller size mid-transfer is served at that size (RFC 7959 §2.4)', async () => {
    const a = await getBlock(1, 6); // bytes 1024…2047
    const b = await getBlock(8, 3); // 128-byte block 8 = bytes 1024…1151
    assert.ok(b.payload.equals(a.payload.subarray(0, 128)));
  });

  both('errors: past the end 4.02, SZX 7 4.00, too-long Block2 4.02, unknown image 4.04, POST 4.05 — each with a diagnostic', async () => {
    const cases: Array<[string, ReturnType<typeof getBlock>, string]> = [
      ['past the end', getBlock(5, 6), '4.02'],
      ['BERT szx 7', exchange(port(), { code: 'GET', options: [...uriOptions(`/fw/${id}`), { name: 'Block2', value: Buffer.from([0x07]) }] }), '4.00'],
      ['four-byte Block2', exchange(port(), { code: 'GET', options: [...uriOptions(`/fw/${id}`), { name: 'Block2', value: Buffer.from([1, 2, 3, 4]) }] }), '4.02'],
      ['unknown image', getBlock(0, 6, '/fw/999999'), '4.04'],
      ['not a number', getBlock(0, 6, '/fw/abc'), '4.04'],
      ['extra segment', getBlock(0, 6, `/fw/${id}/x`), '4.04'],
      ['POST', exchange(port(), { code: 'POST', options: uriOptions(`/fw/${id}`) }), '4.05'],
    ];
    for (const [what, pending, code] of cases) {
      const res = await pending;
      assert.is(res.code, code, what);
      assert.ok(res.payload.length > 0, `${what}: diagnostic payload`);
    }
  });

  both('interop: libcoap coap-client-notls -b 64 downloads the image byte for byte', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-libcoap-'));
    try {
      const out = join(dir, 'image.bin');
      await run('coap-client-notls', ['-m', 'get', '-b', '64', '-B', '20', '-o', out,
        `coap://127.0.0.1:${port()}/fw/${id}`], { timeout: 30_000 });
      assert.ok((await readFile(out)).equals(IMAGE));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        assert.unreachable('coap-client-notls is not installed: apt-get install libcoap3-bin');
      }
      throw err;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
