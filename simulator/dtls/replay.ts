/**
 * The anti-replay window of RFC 6347 §4.1.2.6: a 64-record sliding bitmap per epoch, with its
 * right edge at the highest sequence number authenticated so far. A record is checked before
 * decryption and marked only after it authenticates.
 */
const WINDOW = 64n;

export class ReplayWindow {
  #top = -1;
  #bits = 0n; // bit i set: sequence number (top - i) was received

  /** False for a record too old for the window or already seen. */
  fresh(seq: number): boolean {
    if (seq > this.#top) return true;
    const back = BigInt(this.#top - seq);
    if (back >= WINDOW) return false;
    return (this.#bits & (1n << back)) === 0n;
  }

  mark(seq: number): void {
    if (seq > this.#top) {
      const shift = this.#top < 0 ? WINDOW : BigInt(seq - this.#top);
      this.#bits = shift >= WINDOW ? 0n : (this.#bits << shift) & ((1n << WINDOW) - 1n);
      this.#bits |= 1n;
      this.#top = seq;
      return;
    }
    const back = BigInt(this.#top - seq);
    if (back < WINDOW) this.#bits |= 1n << back;
  }
}
