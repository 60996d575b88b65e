/**
 * The Echo option (RFC 9175 §2) as a stateless proof that a source address receives what we send
 * it: the value is a time and a MAC of the address and that time under a key of this process, so
 * the server keeps nothing per request (§2.4: a server under amplification risk answers 4.01
 * Unauthorized with an Echo; a client that repeats the request with that Echo has shown it can
 * receive at its address). A value is good for `freshSeconds`, from the one address it was made for.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** CoAP option number of Echo (RFC 9175 §2.2.1): elective, safe to forward, not part of the cache key. */
export const ECHO_OPTION = 252;

/** 4 bytes of time (seconds) + 8 bytes of MAC: 12 bytes, within the 40 the option allows (§2.2.1). */
const TIME_BYTES = 4;
const MAC_BYTES = 8;
export const ECHO_LENGTH = TIME_BYTES + MAC_BYTES;

export class EchoMinter {
  private readonly key: Buffer;
  private readonly freshSeconds: number;
  private readonly now: () => number;

  constructor(o: { freshSeconds?: number; now?: () => number; key?: Buffer } = {}) {
    this.key = o.key ?? randomBytes(32);
    this.freshSeconds = o.freshSeconds ?? 300;
    this.now = o.now ?? Date.now;
  }

  /** A fresh Echo value for `address` (an IP literal). */
  mint(address: string): Buffer {
    const value = Buffer.allocUnsafe(ECHO_LENGTH);
    value.writeUInt32BE(Math.floor(this.now() / 1000) >>> 0, 0);
    this.mac(address, value.subarray(0, TIME_BYTES)).copy(value, TIME_BYTES);
    return value;
  }

  /** True when `value` is an Echo this process made for `address` within the last `freshSeconds`. */
  verify(address: string, value: Buffer | undefined): boolean {
    if (value === undefined || value.length !== ECHO_LENGTH) return false;
    const age = Math.floor(this.now() / 1000) - value.readUInt32BE(0);
    if (age < 0 || age > this.freshSeconds) return false;
    return timingSafeEqual(this.mac(address, value.subarray(0, TIME_BYTES)), value.subarray(TIME_BYTES));
  }

  private mac(address: string, time: Buffer): Buffer {
    return createHmac('sha256', this.key).update(time).update(address).digest().subarray(0, MAC_BYTES);
  }
}
