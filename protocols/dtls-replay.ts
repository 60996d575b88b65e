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

export class ReplayWindow {
  /** The highest sequence number accepted; -1 before the first. */
  private right = -1;
  /**
   * Bit i set: right - i was accepted; bits 0–31 in `low`, 32–63 in `high`. Two uint32s rather
   * than one 64-bit BigInt, whose every shift and mask allocates: this runs on every record.
   */
  private low = 0;
  private high = 0;

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
    return !this.seen(back);
  }

  /** Marks seq as received, after its record authenticated; a jump ahead slides the window. */
  accept(seq: number): void {
    checkSeq(seq);
    if (seq > this.right) {
      this.slide(this.right < 0 ? REPLAY_WINDOW_SIZE : seq - this.right);
      this.mark(0);
      this.right = seq;
      return;
    }
    const back = this.right - seq;
    if (back < REPLAY_WINDOW_SIZE) this.mark(back);
  }

  private seen(back: number): boolean {
    return back < 32 ? ((this.low >>> back) & 1) === 1 : ((this.high >>> (back - 32)) & 1) === 1;
  }

  private mark(back: number): void {
    if (back < 32) this.low = (this.low | (1 << back)) >>> 0;
    else this.high = (this.high | (1 << (back - 32))) >>> 0;
  }

  /** Moves the right edge `by` (≥ 1) numbers on: every bit goes `by` places further back, those past 63 fall out. */
  private slide(by: number): void {
    if (by >= REPLAY_WINDOW_SIZE) {
      this.low = 0;
      this.high = 0;
    } else if (by >= 32) {
      this.high = (this.low << (by - 32)) >>> 0;
      this.low = 0;
    } else {
      this.high = ((this.high << by) | (this.low >>> (32 - by))) >>> 0;
      this.low = (this.low << by) >>> 0;
    }
  }
}

function checkSeq(seq: number): void {
  if (!Number.isInteger(seq) || seq < 0 || seq > MAX_SEQUENCE_NUMBER) throw new RangeError(`a sequence number is a uint48, got ${seq}`);
}
