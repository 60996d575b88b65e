import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { blockCount, blockSize, blockSlice, decodeBlock, encodeBlock, szxForSize } from '../../protocols/block.ts';
import { hex, returnsOrDecodeError, seededBytes, throwsDecodeError } from './_helpers.ts';

// RFC 7959 §3: "a Block option is shown ... as NUM/M/size", e.g. 2:0/1/128.
function b(num: number, more: 0 | 1, size: number) {
  return { num, more: more === 1, szx: szxForSize(size) };
}

test('RFC 7959 §2.2 with RFC 7252 §3.2 uint: NUM, M and SZX all zero is a zero-byte value', () => {
  assert.equal(encodeBlock({ num: 0, more: false, szx: 0 }), Buffer.alloc(0));
  assert.equal(decodeBlock(Buffer.alloc(0)), { num: 0, more: false, szx: 0 });
});

test('RFC 7959 §2.2 Figure 1: one-byte form NUM(4)|M|SZX — §3.1 Figure 2 (simple Block2 GET)', () => {
  // 2:0/1/128, 2:1/0/128, 2:1/1/128, 2:2/0/128
  const vectors: Array<[ReturnType<typeof b>, string]> = [
    [b(0, 1, 128), '0B'],
    [b(1, 0, 128), '13'],
    [b(1, 1, 128), '1B'],
    [b(2, 0, 128), '23'],
  ];
  for (const [option, bytes] of vectors) {
    assert.equal(encodeBlock(option), hex(bytes));
    assert.equal(decodeBlock(hex(bytes)), option);
  }
});

test('RFC 7959 §3.1 Figure 3 (early negotiation, 64-byte blocks)', () => {
  // 2:0/0/64 request, 2:0/1/64, 2:1/0/64, 2:1/1/64, 2:2/0/64
  const vectors: Array<[ReturnType<typeof b>, string]> = [
    [b(0, 0, 64), '02'],
    [b(0, 1, 64), '0A'],
    [b(1, 0, 64), '12'],
    [b(1, 1, 64), '1A'],
    [b(2, 0, 64), '22'],
  ];
  for (const [option, bytes] of vectors) {
    assert.equal(encodeBlock(option), hex(bytes));
    assert.equal(decodeBlock(hex(bytes)), option);
  }
});

test('RFC 7959 §2.2 Figure 1: two-byte form — LwM2M 1.1 Core App. E.6.2 Figures 30/31, 1:639/0/128 and 2:639/0/128', () => {
  // 639 * 16 + 0 * 8 + 3 = 10227 = 0x27F3
  assert.equal(encodeBlock(b(639, 0, 128)), hex('27 F3'));
  assert.equal(decodeBlock(hex('27 F3')), b(639, 0, 128));
  assert.equal(encodeBlock(b(16, 1, 1024)), hex('01 0E'));
});

test('RFC 7959 §2.2 Figure 1: three-byte form, NUM up to 2**20 - 1', () => {
  assert.equal(encodeBlock({ num: 0xfffff, more: true, szx: 6 }), hex('FF FF FE'));
  assert.equal(decodeBlock(hex('FF FF FE')), { num: 0xfffff, more: true, szx: 6 });
  assert.equal(encodeBlock({ num: 4096, more: false, szx: 0 }), hex('01 00 00'));
  assert.equal(decodeBlock(hex('01 00 00')), { num: 4096, more: false, szx: 0 });
});

test('RFC 7959 §2.2: block NUM starts at byte NUM * 2**(SZX + 4), i.e. (val & ~0xF) << (val & 7)', () => {
  for (let num = 0; num < 300; num += 7) {
    for (let szx = 0; szx <= 6; szx++) {
      const val = num * 16 + 8 + szx;
      const slice = blockSlice(num, szx, 1 << 30);
      assert.ok(slice);
      assert.is(slice.start, (val & ~0xf) << (val & 7));
    }
  }
});

test('RFC 7252 §3.2: a uint with leading zero bytes is still accepted', () => {
  assert.equal(decodeBlock(hex('00 0B')), b(0, 1, 128));
  assert.equal(decodeBlock(hex('00 00 23')), b(2, 0, 128));
  assert.equal(decodeBlock(hex('00')), { num: 0, more: false, szx: 0 });
});

test('RFC 7959 §2.2: SZX 7 is reserved → DecodeError block.szx', () => {
  throwsDecodeError(() => decodeBlock(hex('07')), 'block.szx');
  throwsDecodeError(() => decodeBlock(hex('0F')), 'block.szx');
  throwsDecodeError(() => decodeBlock(hex('01 0F')), 'block.szx');
  throwsDecodeError(() => decodeBlock(hex('FF FF FF')), 'block.szx');
});

test('RFC 7959 §2.2: more than 3 bytes → DecodeError block.invalid', () => {
  throwsDecodeError(() => decodeBlock(hex('00 00 00 0B')), 'block.invalid');
  throwsDecodeError(() => decodeBlock(Buffer.alloc(300)), 'block.invalid');
});

test('decodeBlock on hostile input: a value or a DecodeError, never anything else', () => {
  for (let v = 0; v < 256; v++) returnsOrDecodeError(() => decodeBlock(Buffer.from([v])));
  const random = seededBytes(7959);
  for (let i = 0; i < 2000; i++) returnsOrDecodeError(() => decodeBlock(random(i % 6)));
});

test('encodeBlock: NUM past 2**20 - 1, bad SZX or non-integers are RangeErrors', () => {
  assert.throws(() => encodeBlock({ num: 1 << 20, more: false, szx: 0 }), RangeError);
  assert.throws(() => encodeBlock({ num: -1, more: false, szx: 0 }), RangeError);
  assert.throws(() => encodeBlock({ num: 1.5, more: false, szx: 0 }), RangeError);
  assert.throws(() => encodeBlock({ num: 0, more: false, szx: 7 }), RangeError);
  assert.throws(() => encodeBlock({ num: 0, more: false, szx: -1 }), RangeError);
});

test('encode/decode round trip keeps every field', () => {
  for (const num of [0, 1, 15, 16, 4095, 4096, 0xfffff]) {
    for (const more of [false, true]) {
      for (let szx = 0; szx <= 6; szx++) {
        assert.equal(decodeBlock(encodeBlock({ num, more, szx })), { num, more, szx });
      }
    }
  }
});

test('RFC 7959 §2.2: block size is 2**(SZX + 4), 16 … 1024', () => {
  const sizes = [16, 32, 64, 128, 256, 512, 1024];
  sizes.forEach((size, szx) => {
    assert.is(blockSize(szx), size);
    assert.is(szxForSize(size), szx);
  });
  assert.throws(() => blockSize(7), RangeError);
  assert.throws(() => blockSize(-1), RangeError);
  for (const size of [0, 8, 100, 2048, 1023, Number.NaN]) assert.throws(() => szxForSize(size), RangeError);
});

test('RFC 7959 §3.1 Figure 2: a 300-byte body in 128-byte blocks, last block shorter with M=0', () => {
  assert.equal(blockSlice(0, 3, 300), { start: 0, end: 128, more: true });
  assert.equal(blockSlice(1, 3, 300), { start: 128, end: 256, more: true });
  assert.equal(blockSlice(2, 3, 300), { start: 256, end: 300, more: false });
  assert.is(blockSlice(3, 3, 300), null);
  assert.is(blockCount(300, 3), 3);
});

test('RFC 7959 §3.1 Figure 4 (late negotiation): after 2:0/1/128 the client asks 2:2/0/64, same offset', () => {
  const total = 350;
  assert.equal(blockSlice(0, 3, total), { start: 0, end: 128, more: true });
  assert.equal(blockSlice(2, 2, total), { start: 128, end: 192, more: true });
  assert.equal(blockSlice(5, 2, total), { start: 320, end: 350, more: false });
  assert.is(blockSlice(6, 2, total), null);
});

test('LwM2M 1.1 Core App. E.6.2: an 80 KiB image (81920 bytes) is 640 blocks of 128, the last 2:639/0/128', () => {
  assert.is(blockCount(81920, 3), 640);
  assert.equal(blockSlice(639, 3, 81920), { start: 81792, end: 81920, more: false });
  assert.is(blockSlice(640, 3, 81920), null);
});

test('blockSlice/blockCount edges: exact multiple, one byte, empty body', () => {
  assert.equal(blockSlice(1, 3, 256), { start: 128, end: 256, more: false });
  assert.is(blockSlice(2, 3, 256), null);
  assert.is(blockCount(256, 3), 2);
  assert.is(blockCount(257, 3), 3);
  assert.equal(blockSlice(0, 0, 1), { start: 0, end: 1, more: false });
  assert.is(blockCount(1, 6), 1);
  assert.equal(blockSlice(0, 6, 0), { start: 0, end: 0, more: false });
  assert.is(blockSlice(1, 6, 0), null);
  assert.is(blockCount(0, 6), 1);
  assert.throws(() => blockSlice(-1, 3, 10), RangeError);
  assert.throws(() => blockSlice(0, 7, 10), RangeError);
  assert.throws(() => blockSlice(0, 3, -1), RangeError);
  assert.throws(() => blockCount(10, 7), RangeError);
});

test.run();
