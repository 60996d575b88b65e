/**
 * A request body sent block by block with Block1 (RFC 7959 §2.3), server-paced: one block in
 * flight, the next after the answer. Block-size negotiation: a smaller SZX in an answer's Block1
 * applies from the next block on (§2.3); a 4.13 makes the same bytes go again at a smaller size
 * (§2.9.3): the SZX of its Block1, else the largest size within its Size1 (RFC 7252 §5.9.2.9),
 * else one size smaller. A Size1 that is below the whole body but not below the block just sent
 * can only mean the total (RFC 7959 §4): the body does not fit, and no block size helps.
 * The transport is a parameter (the DM client's queue and socket).
 */
import { blockSize, type BlockOption } from '../../protocols/block.ts';
import { Block1Refused } from '../errors.ts';

export interface BlockAnswer {
  code: string;
  /** Block1 in the answer (control usage). */
  block1?: BlockOption;
  /** Size1 in a 4.13: the largest request body the device takes. */
  size1?: number;
}

export interface BlockToSend {
  block1: BlockOption;
  payload: Buffer;
  /** Size1 on the first block: the total (RFC 7959 §4). */
  size1?: number;
  /** The codes that go on: 2.31 Continue (or another 2.xx, non-atomic devices) and 4.13 for non-final blocks; 2.04 and 4.13 for the last. */
  expect: readonly string[];
}

/** Sends `body` from SZX `szx` down as needed; resolves with the last answer, the block count and the final SZX. */
export async function sendBlock1<A extends BlockAnswer>(
  body: Buffer, szx: number, send: (b: BlockToSend) => Promise<A>,
  hooks: { onBlock?: (b: { offset: number; length: number; szx: number }) => void; onSmaller?: (from: number, to: number) => void } = {},
): Promise<A & { blocks: number; szx: number }> {
  blockSize(szx); // RangeError for an SZX outside 0…6
  let offset = 0;
  for (let blocks = 1; ; blocks++) {
    const size = blockSize(szx);
    const num = offset / size;
    const more = offset + size < body.length;
    const payload = body.subarray(offset, offset + size);
    const a = await send({
      block1: { num, more, szx }, payload, ...(num === 0 ? { size1: body.length } : {}),
      expect: more ? ['2.31', '2.01', '2.04', '4.13'] : ['2.04', '4.13'],
    });
    if (a.code === '4.13') {
      if (a.block1 === undefined && a.size1 !== undefined && a.size1 < body.length && a.size1 >= size) {
        throw new Block1Refused(a.code, `device takes at most ${a.size1} bytes (4.13 with Size1), the body is ${body.length}`);
      }
      const smaller = szxAfter413(a, szx);
      if (smaller === undefined) throw new Block1Refused(a.code, `device refused ${size}-byte blocks with 4.13 and no smaller size is left`);
      hooks.onSmaller?.(size, blockSize(smaller));
      szx = smaller;
      continue;
    }
    hooks.onBlock?.({ offset, length: payload.length, szx });
    if (!more) return { ...a, blocks, szx };
    offset += size;
    // RFC 7959 §2.3: the device's preferred (smaller) size applies from the next block on.
    if (a.block1 && a.block1.szx < szx) szx = a.block1.szx;
  }
}

/**
 * The SZX to retry with after a 4.13 at `szx` (RFC 7959 §2.9.3): the smaller SZX of the answer's
 * Block1; else the largest block within Size1 (RFC 7252 §5.9.2.9); else one size smaller.
 * Undefined when nothing smaller is left.
 */
export function szxAfter413(a: Pick<BlockAnswer, 'block1' | 'size1'>, szx: number): number | undefined {
  if (a.block1 && a.block1.szx < szx) return a.block1.szx;
  if (a.size1 !== undefined && a.size1 < blockSize(szx)) {
    for (let s = szx - 1; s >= 0; s--) if (blockSize(s) <= a.size1) return s;
    return undefined;
  }
  return szx > 0 ? szx - 1 : undefined;
}
