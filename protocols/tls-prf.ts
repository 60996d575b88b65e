/**
 * The TLS 1.2 key schedule for the DTLS 1.2 PSK cipher suites with AES-128-CCM (RFC 6655), which
 * both use the SHA-256 PRF: from the pre-shared key to the master secret, from the master secret to
 * the record keys, and the Finished message's verify_data.
 *
 *   PSK --(RFC 4279 §2)--> premaster secret
 *       --(RFC 5246 §8.1, or RFC 7627 §4 with a session hash)--> master_secret (48 bytes)
 *       --(RFC 5246 §6.3)--> key_block: client/server_write_key (16), client/server_write_IV (4)
 *   master_secret + Hash(handshake_messages) --(RFC 5246 §7.4.9)--> verify_data (12 bytes)
 *
 * Pure: bytes in, bytes out. Hashing the handshake messages (as RFC 6347 §4.2.6 lays them out)
 * is the handshake layer's job; here the hash is a parameter. Wrong-sized keys, randoms or hashes
 * are a caller's bug (RangeError); a received Finished of the wrong length is malformed input
 * (DecodeError), and a wrong verify_data is a plain `false`, found in constant time.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { DecodeError } from './errors.ts';

/** SHA-256's output: the size of every hash this key schedule takes (RFC 5246 §5, §7.4.9). */
export const HASH_LENGTH = 32;
/** master_secret is always 48 bytes (RFC 5246 §8.1). */
export const MASTER_SECRET_LENGTH = 48;
/** ClientHello.random and ServerHello.random are 32 bytes each (RFC 5246 §7.4.1.2). */
export const RANDOM_LENGTH = 32;
/** verify_data_length for every cipher suite that does not say otherwise (RFC 5246 §7.4.9). */
export const VERIFY_DATA_LENGTH = 12;
/** AES-128-CCM's SecurityParameters (RFC 6655 §3): mac_key_length 0, enc_key_length 16, fixed_iv_length 4. */
export const ENC_KEY_LENGTH = 16;
export const FIXED_IV_LENGTH = 4;
/** A PSK's length goes in a uint16 (RFC 4279 §2, §5.3). */
const MAX_PSK_LENGTH = 0xffff;

/**
 * P_SHA256(secret, seed) of RFC 5246 §5, cut to `length` bytes:
 * HMAC(secret, A(1) + seed) + HMAC(secret, A(2) + seed) + ..., with A(0) = seed, A(i) = HMAC(secret, A(i-1)).
 */
function pSha256(secret: Buffer, seed: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  let a = seed;
  for (let written = 0; written < length; ) {
    a = createHmac('sha256', secret).update(a).digest();
    const block = createHmac('sha256', secret).update(a).update(seed).digest();
    written += block.copy(out, written);
  }
  return out;
}

/** PRF(secret, label, seed) = P_SHA256(secret, label + seed) (RFC 5246 §5); the label is ASCII, without a length or a NUL. */
export function prf(secret: Buffer, label: string, seed: Buffer, length: number): Buffer {
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new RangeError(`PRF output length must be a non-negative integer, got ${length}`);
  }
  return pSha256(secret, Buffer.concat([Buffer.from(label, 'ascii'), seed]), length);
}

/**
 * The premaster secret of a plain PSK key exchange (RFC 4279 §2): for an N-byte PSK,
 * uint16 N, N zero bytes, uint16 N, the PSK.
 */
export function pskPremasterSecret(psk: Buffer): Buffer {
  if (psk.length === 0 || psk.length > MAX_PSK_LENGTH) {
    throw new RangeError(`a PSK must be 1..${MAX_PSK_LENGTH} bytes long, got ${psk.length}`);
  }
  const n = psk.length;
  const out = Buffer.alloc(2 + n + 2 + n); // the zero "other_secret" is already there
  out.writeUInt16BE(n, 0);
  out.writeUInt16BE(n, 2 + n);
  psk.copy(out, 4 + n);
  return out;
}

/** ClientHello.random and ServerHello.random of one handshake. */
export interface HelloRandoms {
  clientRandom: Buffer;
  serverRandom: Buffer;
}

/**
 * master_secret = PRF(pre_master_secret, "master secret", ClientHello.random + ServerHello.random)[0..47]
 * (RFC 5246 §8.1). Only for sessions that did not negotiate the extended_master_secret extension (RFC 7627 §5).
 */
export function masterSecret(premasterSecret: Buffer, randoms: HelloRandoms): Buffer {
  checkRandoms(randoms);
  const seed = Buffer.concat([randoms.clientRandom, randoms.serverRandom]);
  return prf(premasterSecret, 'master secret', seed, MASTER_SECRET_LENGTH);
}

/**
 * master_secret = PRF(pre_master_secret, "extended master secret", session_hash)[0..47] (RFC 7627 §4),
 * where session_hash is the SHA-256 hash of the handshake messages up to and including the
 * ClientKeyExchange (RFC 7627 §3).
 */
export function extendedMasterSecret(premasterSecret: Buffer, sessionHash: Buffer): Buffer {
  checkLength('session_hash', sessionHash, HASH_LENGTH);
  return prf(premasterSecret, 'extended master secret', sessionHash, MASTER_SECRET_LENGTH);
}

/** The record keys of an AES-128-CCM suite, in key_block order (RFC 5246 §6.3; no MAC keys, RFC 6655 §3). */
export interface KeyBlock {
  clientWriteKey: Buffer;
  serverWriteKey: Buffer;
  /** The client's 4-byte salt, the implicit part of its CCM nonces (RFC 6655 §3). */
  clientWriteIV: Buffer;
  /** The server's 4-byte salt. */
  serverWriteIV: Buffer;
}

/**
 * key_block = PRF(master_secret, "key expansion", server_random + client_random) (RFC 5246 §6.3),
 * partitioned as client_write_MAC_key (0), server_write_MAC_key (0), client_write_key (16),
 * server_write_key (16), client_write_IV (4), server_write_IV (4).
 */
export function keyExpansion(masterSecretValue: Buffer, randoms: HelloRandoms): KeyBlock {
  checkLength('master_secret', masterSecretValue, MASTER_SECRET_LENGTH);
  checkRandoms(randoms);
  const seed = Buffer.concat([randoms.serverRandom, randoms.clientRandom]);
  const block = prf(masterSecretValue, 'key expansion', seed, 2 * ENC_KEY_LENGTH + 2 * FIXED_IV_LENGTH);
  let at = 0;
  const take = (n: number): Buffer => block.subarray(at, (at += n));
  const clientWriteKey = take(ENC_KEY_LENGTH);
  const serverWriteKey = take(ENC_KEY_LENGTH);
  const clientWriteIV = take(FIXED_IV_LENGTH);
  const serverWriteIV = take(FIXED_IV_LENGTH);
  return { clientWriteKey, serverWriteKey, clientWriteIV, serverWriteIV };
}

/** Who sent a Finished message: its label is "client finished" or "server finished" (RFC 5246 §7.4.9). */
export type FinishedSender = 'client' | 'server';

/**
 * verify_data = PRF(master_secret, finished_label, Hash(handshake_messages))[0..11] (RFC 5246 §7.4.9).
 * `handshakeHash` is the SHA-256 hash of every handshake message before this Finished.
 */
export function verifyData(masterSecretValue: Buffer, sender: FinishedSender, handshakeHash: Buffer): Buffer {
  checkLength('master_secret', masterSecretValue, MASTER_SECRET_LENGTH);
  checkLength('handshake hash', handshakeHash, HASH_LENGTH);
  return prf(masterSecretValue, `${sender} finished`, handshakeHash, VERIFY_DATA_LENGTH);
}

/**
 * Checks a received Finished's verify_data (RFC 5246 §7.4.9: "Recipients of Finished messages MUST
 * verify that the contents are correct"), comparing in constant time. A body that is not 12 bytes
 * is malformed (DecodeError, a decode_error alert); a wrong value is `false` (decrypt_error).
 */
export function checkVerifyData(
  masterSecretValue: Buffer,
  sender: FinishedSender,
  handshakeHash: Buffer,
  received: Buffer,
): boolean {
  if (received.length !== VERIFY_DATA_LENGTH) {
    throw new DecodeError(
      'tls.finished.length',
      `Finished verify_data is ${received.length} bytes, expected ${VERIFY_DATA_LENGTH}`,
    );
  }
  return timingSafeEqual(verifyData(masterSecretValue, sender, handshakeHash), received);
}

function checkRandoms(randoms: HelloRandoms): void {
  checkLength('ClientHello.random', randoms.clientRandom, RANDOM_LENGTH);
  checkLength('ServerHello.random', randoms.serverRandom, RANDOM_LENGTH);
}

function checkLength(name: string, value: Buffer, length: number): void {
  if (value.length !== length) throw new RangeError(`${name} must be ${length} bytes, got ${value.length}`);
}
