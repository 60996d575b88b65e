/**
 * Stateless cookies for the DTLS cookie exchange (RFC 6347 §4.2.1): the cookie is an HMAC over the
 * client's address and port and the ClientHello's parameters (everything but the cookie itself),
 * under a secret that rotates; a cookie made under the current or the previous secret is valid, so
 * one made just before a rotation still opens the handshake. Nothing is stored per client.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ClientHello } from '../../protocols/dtls-hello.ts';

export const COOKIE_LENGTH = 16;

export class CookieJar {
  private current = randomBytes(32);
  private previous = randomBytes(32);
  private rotatedAt: number;
  private readonly rotateMs: number;

  constructor(rotateMs = 60_000, now = Date.now()) {
    this.rotateMs = rotateMs;
    this.rotatedAt = now;
  }

  /** The cookie for this client and hello, under the current secret. */
  make(address: string, port: number, hello: ClientHello, now = Date.now()): Buffer {
    this.rotate(now);
    return mac(this.current, address, port, hello);
  }

  /** True if the hello carries a cookie made for this client and these parameters, under either secret. */
  check(address: string, port: number, hello: ClientHello, now = Date.now()): boolean {
    this.rotate(now);
    if (hello.cookie.length !== COOKIE_LENGTH) return false;
    return timingSafeEqual(mac(this.current, address, port, hello), hello.cookie)
      || timingSafeEqual(mac(this.previous, address, port, hello), hello.cookie);
  }

  private rotate(now: number): void {
    if (now - this.rotatedAt < this.rotateMs) return;
    this.previous = now - this.rotatedAt < 2 * this.rotateMs ? this.current : randomBytes(32);
    this.current = randomBytes(32);
    this.rotatedAt = now;
  }
}

/** HMAC-SHA256 over the peer and the hello's fields that the client repeats with the cookie (§4.2.1). */
function mac(secret: Buffer, address: string, port: number, h: ClientHello): Buffer {
  const m = createHmac('sha256', secret);
  m.update(`${address}|${port}|`);
  m.update(Buffer.from([h.clientVersion.major, h.clientVersion.minor]));
  m.update(h.random);
  m.update(Buffer.from([h.sessionId.length])).update(h.sessionId);
  for (const s of h.cipherSuites) m.update(Buffer.from([s >> 8, s & 0xff]));
  m.update(Buffer.from(h.compressionMethods));
  for (const e of h.extensions) m.update(Buffer.from([e.type >> 8, e.type & 0xff, e.data.length >> 8, e.data.length & 0xff])).update(e.data);
  return m.digest().subarray(0, COOKIE_LENGTH);
}
