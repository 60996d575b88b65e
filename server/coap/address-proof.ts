/**
 * Which source addresses have proven that they receive what we send them, and the byte budget of
 * those that have not (RFC 9175 §2.4, after QUIC's anti-amplification rule): an unproven address
 * gets at most `factor` (3) times the bytes it sent us. A UDP source address can be spoofed, so a
 * request alone — a Register included — proves nothing. Proof is a round trip:
 * - an Echo option we made for that address, echoed back (echo.ts);
 * - a response carrying the token of a request we sent to that address (node-coap's Agent puts 32
 *   random bits in each token, so a spoofer cannot answer for the real owner).
 * Addresses are IPs, not IP:port: a device may fetch its firmware from a new source port, and a
 * carrier NAT puts many devices behind one address. Every table is bounded (LRU); an evicted
 * budget is lost, which errs towards sending less.
 */
import { isIPv4 } from 'node:net';
import { LRUCache } from 'lru-cache';

export interface AddressProofOptions {
  /** Bytes an unproven address may receive per byte it sent (RFC 9175 §2.4 suggests 3). */
  factor?: number;
  /** How long a proof lasts (ms). */
  provenMs?: number;
  /** How many addresses each table holds. */
  maxAddresses?: number;
}

/** RFC 7252 §4.8.2 EXCHANGE_LIFETIME: how long an answer to a request of ours may still arrive. */
const EXCHANGE_LIFETIME_MS = 247_000;

export class AddressProof {
  readonly factor: number;
  private readonly proven: LRUCache<string, number>;
  private readonly budgets: LRUCache<string, { received: number; sent: number }>;
  private readonly tokens: LRUCache<string, true>;
  /** Counters since start (metrics, tests). */
  readonly stats = { proven: 0, withheld: 0, withheldBytes: 0 };

  constructor(o: AddressProofOptions = {}) {
    this.factor = o.factor ?? 3;
    const max = o.maxAddresses ?? 100_000;
    this.proven = new LRUCache({ max, ttl: o.provenMs ?? 24 * 3600_000 });
    this.budgets = new LRUCache({ max, ttl: 600_000, updateAgeOnGet: true });
    this.tokens = new LRUCache({ max, ttl: EXCHANGE_LIFETIME_MS });
  }

  isProven(address: string): boolean {
    return this.proven.has(plainAddress(address));
  }

  /** `address` showed it receives: no byte budget from now on. */
  prove(address: string): void {
    const a = plainAddress(address);
    if (!this.proven.has(a)) this.stats.proven++;
    this.proven.set(a, Date.now());
    this.budgets.delete(a);
  }

  /** A datagram of `bytes` arrived from `address`: an unproven one may be sent `factor` times that. */
  received(address: string, bytes: number): void {
    const a = plainAddress(address);
    if (this.proven.has(a)) return;
    const b = this.budgets.get(a);
    if (b) b.received += bytes;
    else this.budgets.set(a, { received: bytes, sent: 0 });
  }

  /** How many more bytes may go to `address` now (Infinity once proven). */
  allowance(address: string): number {
    const a = plainAddress(address);
    if (this.proven.has(a)) return Infinity;
    const b = this.budgets.get(a);
    return b ? Math.max(0, this.factor * b.received - b.sent) : 0;
  }

  /** Takes `bytes` from the address's allowance; false (and nothing taken) when they do not fit. */
  spend(address: string, bytes: number): boolean {
    const a = plainAddress(address);
    if (this.proven.has(a)) return true;
    const b = this.budgets.get(a);
    if (!b || b.sent + bytes > this.factor * b.received) {
      this.stats.withheld++;
      this.stats.withheldBytes += bytes;
      return false;
    }
    b.sent += bytes;
    return true;
  }

  /** We sent a request with `token` to `address`: a response carrying it proves the address. */
  requestSent(address: string, token: Buffer): void {
    if (token.length === 0) return;
    this.tokens.set(`${plainAddress(address)}|${token.toString('hex')}`, true);
  }

  /** A response with `token` came from `address`; true when it answers a request of ours (and so proves it). */
  responseReceived(address: string, token: Buffer): boolean {
    if (token.length === 0) return false;
    const key = `${plainAddress(address)}|${token.toString('hex')}`;
    if (!this.tokens.has(key)) return false;
    this.prove(address);
    return true;
  }
}

/** An IPv4-mapped IPv6 address (::ffff:192.0.2.1) is the IPv4 address; any other is as given. */
export function plainAddress(address: string): string {
  if (address.startsWith('::ffff:')) {
    const v4 = address.slice(7);
    if (isIPv4(v4)) return v4;
  }
  return address;
}
