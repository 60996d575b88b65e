import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { CborLimits } from '../../protocols/cbor-guard.ts';
import { decodeCborGuarded, encodeCbor } from '../../protocols/cbor-guard.ts';
import { hex, throwsDecodeError } from './_helpers.ts';

const LIMITS: CborLimits = { maxBytes: 1024, maxDepth: 3, maxItems: 20, tags: [1, 4] };

// RFC 8949 Appendix A examples that the guard lets through, decoded by cbor-x.
test('RFC 8949 Appendix A items within the limits', () => {
  assert.is(decodeCborGuarded(hex('1903e8'), LIMITS), 1000);
  assert.is(decodeCborGuarded(hex('3903e7'), LIMITS), -1000);
  assert.is(decodeCborGuarded(hex('1bffffffffffffffff'), LIMITS), 18446744073709551615n);
  assert.is(decodeCborGuarded(hex('f93e00'), LIMITS), 1.5);
  assert.is(decodeCborGuarded(hex('fb3ff199999999999a'), LIMITS), 1.1);
  assert.is(decodeCborGuarded(hex('6449455446'), LIMITS), 'IETF');
  assert.equal(decodeCborGuarded(hex('4401020304'), LIMITS), Buffer.from([1, 2, 3, 4]));
  assert.equal(decodeCborGuarded(hex('c11a514b67b0'), LIMITS), new Date(1363896240000));
  assert.equal(decodeCborGuarded(hex('83 01 82 02 03 82 04 05'), LIMITS), [1, [2, 3], [4, 5]]);
  assert.equal(decodeCborGuarded(hex('9f 01 82 02 03 9f 04 05 ff ff'), LIMITS), [1, [2, 3], [4, 5]]);
  assert.equal(decodeCborGuarded(hex('a2 01 02 03 04'), LIMITS), new Map([[1, 2], [3, 4]]));
});

test('limits: depth, items, bytes, tags', () => {
  assert.equal(decodeCborGuarded(hex('81 81 81 01'), LIMITS), [[[1]]]);
  throwsDecodeError(() => decodeCborGuarded(hex('81 81 81 81 01'), LIMITS), 'cbor.depth');
  throwsDecodeError(() => decodeCborGuarded(hex('81 81 81 c1 01'), LIMITS), 'cbor.depth');
  throwsDecodeError(() => decodeCborGuarded(Buffer.concat([hex('95'), Buffer.alloc(21)]), LIMITS), 'cbor.oversized');
  throwsDecodeError(() => decodeCborGuarded(Buffer.concat([hex('5a 00000401'), Buffer.alloc(1025)]), LIMITS), 'cbor.oversized');
  throwsDecodeError(() => decodeCborGuarded(hex('d8 20 61 61'), LIMITS), 'cbor.tag'); // tag 32 (URI)
  throwsDecodeError(() => decodeCborGuarded(hex('d9 d9f7 01'), LIMITS), 'cbor.tag'); // self-described CBOR
  throwsDecodeError(() => decodeCborGuarded(hex('c1 63 616263'), LIMITS), 'cbor.tag'); // epoch time of text
  throwsDecodeError(() => decodeCborGuarded(hex('c1 1b 0000000100000000'), LIMITS), 'cbor.tag'); // 64-bit seconds
  throwsDecodeError(() => decodeCborGuarded(hex('a2 61 61 01 61 61 02'), LIMITS), 'cbor.duplicate');
  throwsDecodeError(() => decodeCborGuarded(hex('a2 01 01 18 01 02'), LIMITS), 'cbor.duplicate'); // 1 twice, spelled two ways
  throwsDecodeError(() => decodeCborGuarded(hex('a2 81 01 01 81 01 02'), LIMITS), 'cbor.duplicate'); // [1] twice
});

test('encodeCbor: standard maps, byte strings without tags, results not overwritten by later calls', () => {
  const first = encodeCbor(new Map<number, unknown>([[-2, '/3/0/'], [8, Buffer.from([1, 2])]]));
  assert.equal(first, hex('a2 21 65 2f332f302f 08 42 0102'));
  const copy = Buffer.from(first);
  for (let i = 0; i < 1000; i++) encodeCbor([i, 'x'.repeat(i % 50)]);
  assert.equal(first, copy);
});

test.run();
