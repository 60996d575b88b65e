/**
 * The TLS 1.2 pseudo-random function and the secrets derived from it, for the simulator's own
 * DTLS client (written apart from the server's code on purpose, so one bug cannot hide in both).
 * RFC 5246 §5 (PRF with HMAC-SHA256), RFC 7627 §4 (extended master secret), RFC 5246 §6.3 (key
 * block), RFC 5246 §7.4.9 (Finished), RFC 4279 §2 (the PSK premaster secret).
 */
import { createHash, createHmac } from 'node:crypto';

const hmac = (key: Buffer, data: Buffer): Buffer => createHmac('sha256', key).update(data).digest();

/** RFC 5246 §5: P_SHA256(secret, seed), cut to `length` bytes. */
function pSha256(secret: Buffer, seed: Buffer, length: number): Buffer {
  const out: Buffer[] = [];
  let total = 0;
  let a = seed; // A(0)
  while (total < length) {
    a = hmac(secret, a); // A(i) = HMAC(secret, A(i-1))
    const block = hmac(secret, Buffer.concat([a, seed]));
    out.push(block);
    total += block.length;
  }
  return Buffer.concat(out).subarray(0, length);
}

/** RFC 5246 §5: PRF(secret, label, seed) = P_SHA256(secret, label + seed). */
export function prf(secret: Buffer, label: string, seed: Buffer, length: number): Buffer {
  return pSha256(secret, Buffer.concat([Buffer.from(label, 'ascii'), seed]), length);
}

/** RFC 4279 §2: uint16 N, N zero bytes, uint16 N, the PSK (N = its length). */
export function pskPremaster(psk: Buffer): Buffer {
  const n = psk.length;
  const out = Buffer.alloc(4 + 2 * n);
  out.writeUInt16BE(n, 0);
  out.writeUInt16BE(n, 2 + n);
  psk.copy(out, 4 + n);
  return out;
}

export const sha256 = (data: Buffer): Buffer => createHash('sha256').update(data).digest();

/** RFC 7627 §4: master_secret = PRF(pms, "extended master secret", session_hash)[0..47]. */
export function extendedMasterSecret(premaster: Buffer, sessionHash: Buffer): Buffer {
  return prf(premaster, 'extended master secret', sessionHash, 48);
}

/** RFC 5246 §8.1: the classic master secret, over the two randoms. */
export function masterSecret(premaster: Buffer, clientRandom: Buffer, serverRandom: Buffer): Buffer {
  return prf(premaster, 'master secret', Buffer.concat([clientRandom, serverRandom]), 48);
}

export interface TrafficKeys {
  clientKey: Buffer;
  serverKey: Buffer;
  clientIv: Buffer;
  serverIv: Buffer;
}

/**
 * RFC 5246 §6.3 for an AEAD suite with AES-128 (RFC 6655 §3): no MAC keys, two 16-byte keys,
 * two 4-byte implicit IVs, in that order, from PRF(master, "key expansion", server + client random).
 */
export function trafficKeys(master: Buffer, clientRandom: Buffer, serverRandom: Buffer): TrafficKeys {
  const kb = prf(master, 'key expansion', Buffer.concat([serverRandom, clientRandom]), 40);
  return {
    clientKey: kb.subarray(0, 16),
    serverKey: kb.subarray(16, 32),
    clientIv: kb.subarray(32, 36),
    serverIv: kb.subarray(36, 40),
  };
}

/** RFC 5246 §7.4.9: verify_data = PRF(master, label, Hash(handshake_messages))[0..11]. */
export function finishedVerifyData(master: Buffer, who: 'client' | 'server', transcriptHash: Buffer): Buffer {
  return prf(master, `${who} finished`, transcriptHash, 12);
}
