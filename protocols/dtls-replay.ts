/**
 * The anti-replay window of the DTLS record layer (RFC 6347 §4.1.2.6), 64 records wide, for one
 * epoch (sequence numbers start again at 0 in each epoch, §4.1: a new epoch takes a new window).
 *
 * The right edge is the highest sequence number accepted so far. check(seq) says whether a
 * record is worth authenticating: new, and not left of the window. accept(seq) is called only
 * after the record authenticated: it slides the window forward, or marks the number seen.
 * A record that fails authentication leaves the window as it was (§4.1.2.6). No clock.
 */
import { MAX_SEQUENCE_NUMBER } from './dtls-record.ts';

/** Records a window remembers (§4.1.2.6: "a window size of 64 is preferred"). */
export const REPLAY_WINDOW_SIZE = 64;

const MASK = (1n << BigInt(REPLAY_WINDOW_SIZE)) - 1n;

export class ReplayWindow {
  /** The highest sequence number accepted; -1 before the first. */
  private right = -1;
  /** Bit i set: right - i was accepted. */
  private seen = 0n;

  /** The highest sequence number accepted so far, or -1. */
  get highest(): number {
    return this.right;
  }

  /** True if seq is new: ahead of the window, or inside it and not yet accepted. */
  check(seq: number): boolean {
    checkSeq(seq);
    if (seq > this.right) return true;
    const back = this.right - seq;
    if (back >= REPLAY_WINDOW_SIZE) return false;
    return ((this.seen >> BigInt(back)) & 1n) === 0n;
  }

  /** Marks seq as received, after its record authenticated; a jump ahead slides the window. */
  accept(seq: number): void {
    checkSeq(seq);
    if (seq > this.right) {
      const shift = this.right < 0 ? REPLAY_WINDOW_SIZE : seq - this.right;
      this.seen = shift >= REPLAY_WINDOW_SIZE ? 1n : ((this.seen << BigInt(shift)) | 1n) & MASK;
      this.right = seq;
      return;
    }
    const back = this.right - seq;
    if (back < REPLAY_WINDOW_SIZE) this.seen |= 1n << BigInt(back);
  }
}

function checkSeq(seq: number): void {
  if (!Number.isInteger(seq) || seq < 0 || seq > MAX_SEQUENCE_NUMBER) throw new RangeError(`a sequence number is a uint48, got ${seq}`);
}
