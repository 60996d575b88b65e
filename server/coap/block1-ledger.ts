/**
 * The account of request bodies being received block by block (RFC 7959 §2.3, Block1), kept in
 * front of node-coap, whose own reassembly keeps whatever it is sent, at any block number, with no
 * size limit. A block is let through only when it continues its body without a gap, keeps the body
 * within `maxBody`, and fits the bytes left for its peer and for the server as a whole; otherwise
 * the answer is the one RFC 7959 §2.9 gives: 4.13 Request Entity Too Large (with Size1) or 4.08
 * Request Entity Incomplete. A body not continued within `idleMs` is dropped, and `forget` tells the
 * reassembler to drop its copy.
 */
import { blockSize, decodeBlock } from '../../protocols/block.ts';
import { DecodeError } from '../../protocols/errors.ts';
import { coapRefusal, type CoapRefusal } from './refusal.ts';

export interface Block1Limits {
  /** Largest request body, in bytes. */
  maxBody: number;
  /** Bytes of unfinished bodies one source address (IP) may have in reassembly. */
  perAddress: number;
  /** Bytes of unfinished bodies in all. */
  total: number;
  /** A body with no new block for this long is dropped (ms). */
  idleMs: number;
}

export const DEFAULT_BLOCK1_LIMITS: Block1Limits = { maxBody: 64 * 1024, perAddress: 256 * 1024, total: 16 * 1024 * 1024, idleMs: 60_000 };

/** What to do with one Block1 request. */
export type Block1Verdict =
  /** again: the last block of a body already finished, again; the reassembler holds none of that body. */
  | { ok: true; again?: true }
  | CoapRefusal<'4.00' | '4.02' | '4.08' | '4.13'> & { ok: false; size1?: number };

interface Body { address: string; next: number; lastOffset: number; lastLength: number; bytes: number; at: number; done: boolean }

export class Block1Ledger {
  readonly limits: Block1Limits;
  private readonly bodies = new Map<string, Body>();
  private readonly byAddress = new Map<string, number>();
  private held = 0;
  private readonly forget: (key: string) => void;
  private readonly now: () => number;

  constructor(o: { limits?: Partial<Block1Limits>; forget: (key: string) => void; now?: () => number }) {
    this.limits = { ...DEFAULT_BLOCK1_LIMITS, ...o.limits };
    this.forget = o.forget;
    this.now = o.now ?? Date.now;
  }

  /** Bytes of unfinished bodies held now. */
  get heldBytes(): number { return this.held; }
  get bodiesInProgress(): number {
    let n = 0;
    for (const b of this.bodies.values()) if (!b.done) n++;
    return n;
  }

  /**
   * One block of a body: `key` names the exchange as the reassembler does (token and peer),
   * `address` is the peer's IP, `block1` the raw option value, `length` the payload's size.
   */
  check(key: string, address: string, block1: Buffer, length: number): Block1Verdict {
    let num: number; let more: boolean; let size: number;
    try {
      const b = decodeBlock(block1);
      ({ num, more } = b);
      size = blockSize(b.szx);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      // RFC 7959 §2.2: SZX 7 is 4.00; RFC 7252 §5.4.3: an over-long value is a bad (critical) option.
      return { ok: false, ...coapRefusal(err.code === 'block.szx' ? 'FERRY_BLOCK_INVALID' : 'FERRY_COAP_BAD_OPTION', err.reason) };
    }
    // RFC 7959 §2.3: every block but the last carries exactly the block size.
    if (more && length !== size) return { ok: false, ...coapRefusal('FERRY_BLOCK_INVALID', `block ${num} has M=1 but carries ${length} bytes, not ${size}`) };
    if (length > size) return { ok: false, ...coapRefusal('FERRY_BLOCK_INVALID', `block ${num} carries ${length} bytes, more than its size ${size}`) };
    const offset = num * size;
    if (offset + length > this.limits.maxBody) {
      this.drop(key);
      return { ok: false, ...coapRefusal('FERRY_BLOCK1_TOO_LARGE', `request body over ${this.limits.maxBody} bytes`), size1: this.limits.maxBody };
    }
    let body = this.bodies.get(key);
    if (body && offset === body.lastOffset && length === body.lastLength) { // the same block again
      body.at = this.now();
      // Past block 0 of a finished body, only the reassembler's cache of answers can serve it (a
      // retransmission, RFC 7252 §4.5): it would fail on a block that ends a body it no longer holds.
      if (body.done && offset > 0) return { ok: true, again: true };
      return this.finish(body, more);
    }
    if (offset === 0) {
      if (body) this.drop(key); // a body started over
      body = undefined;
    } else if (!body || body.done || offset !== body.next) {
      if (body) this.drop(key);
      return { ok: false, ...coapRefusal('FERRY_BLOCK1_INCOMPLETE', `block ${num} does not continue a body this server holds; start again at block 0`) };
    }
    const mine = this.byAddress.get(address) ?? 0;
    const room = Math.min(this.limits.perAddress - mine, this.limits.total - this.held);
    if (more && length > room) {
      this.drop(key);
      return { ok: false, ...coapRefusal('FERRY_BLOCK1_TOO_MANY_BODIES', 'too many unfinished request bodies from this address; try again later'), size1: Math.max(0, room) };
    }
    if (!body) {
      body = { address, next: 0, lastOffset: -1, lastLength: 0, bytes: 0, at: this.now(), done: false };
      this.bodies.set(key, body);
    }
    body.next = offset + length;
    body.lastOffset = offset;
    body.lastLength = length;
    body.at = this.now();
    if (more) {
      body.bytes += length;
      this.held += length;
      this.byAddress.set(address, mine + length);
    }
    return this.finish(body, more);
  }

  /** Drops bodies idle for longer than `idleMs`; returns how many. */
  sweep(): number {
    const cutoff = this.now() - this.limits.idleMs;
    let n = 0;
    for (const [key, body] of this.bodies) {
      if (body.at < cutoff) { this.drop(key); n++; }
    }
    return n;
  }

  /** Forgets every body (shutdown). */
  clear(): void {
    for (const key of [...this.bodies.keys()]) this.drop(key);
  }

  private finish(body: Body, more: boolean): Block1Verdict {
    // The last block: the reassembler hands the whole body on and forgets it itself. The entry
    // stays (holding no bytes) until it is idle, so a retransmission of that block is let through
    // to the reassembler's duplicate detection rather than refused.
    if (!more && !body.done) {
      body.done = true;
      this.held -= body.bytes;
      this.unhold(body.address, body.bytes);
      body.bytes = 0;
    }
    return { ok: true };
  }

  private drop(key: string): void {
    const body = this.bodies.get(key);
    if (!body) return;
    this.release(key, body);
    this.forget(key);
  }

  private release(key: string, body: Body): void {
    this.bodies.delete(key);
    this.held -= body.bytes;
    this.unhold(body.address, body.bytes);
  }

  private unhold(address: string, bytes: number): void {
    const left = (this.byAddress.get(address) ?? 0) - bytes;
    if (left > 0) this.byAddress.set(address, left);
    else this.byAddress.delete(address);
  }
}
