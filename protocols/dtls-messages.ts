/**
 * The handshake bodies of a PSK handshake after the hellos:
 *
 *   ServerKeyExchange for PSK (RFC 4279 §2): psk_identity_hint<0..2^16-1>
 *   ServerHelloDone (RFC 5246 §7.4.5): empty
 *   ClientKeyExchange for PSK (RFC 4279 §2): psk_identity<0..2^16-1>
 *   Finished (RFC 5246 §7.4.9): verify_data[12]
 *
 * Identities and hints are bytes here (RFC 4279 §5.1 makes them UTF-8 text; reading them as text is
 * the caller's). Each is written and read; a body with bytes after its last field is refused.
 */
import { Reader, vector16 } from './dtls-bytes.ts';
import { DecodeError } from './errors.ts';

/** verify_data is 12 bytes for every cipher suite of RFC 5246 and RFC 6655 (RFC 5246 §7.4.9). */
export const VERIFY_DATA_LENGTH = 12;

/** ServerKeyExchange for a PSK suite: the identity hint, possibly empty (RFC 4279 §2). */
export function encodeServerKeyExchangePsk(pskIdentityHint: Buffer): Buffer {
  return vector16(pskIdentityHint, 'psk_identity_hint');
}

export function parseServerKeyExchangePsk(body: Buffer): { pskIdentityHint: Buffer } {
  const r = new Reader(body, 'dtls.server-key-exchange', 'ServerKeyExchange');
  const pskIdentityHint = r.vector16('psk_identity_hint');
  r.end();
  return { pskIdentityHint };
}

/** ServerHelloDone's body is empty (RFC 5246 §7.4.5). */
export function encodeServerHelloDone(): Buffer {
  return Buffer.alloc(0);
}

export function parseServerHelloDone(body: Buffer): void {
  if (body.length !== 0) throw new DecodeError('dtls.server-hello-done.trailing', `ServerHelloDone has a ${body.length}-byte body, must be empty`);
}

/** ClientKeyExchange for a PSK suite: the identity the client's key goes by (RFC 4279 §2). */
export function encodeClientKeyExchangePsk(pskIdentity: Buffer): Buffer {
  return vector16(pskIdentity, 'psk_identity');
}

export function parseClientKeyExchangePsk(body: Buffer): { pskIdentity: Buffer } {
  const r = new Reader(body, 'dtls.client-key-exchange', 'ClientKeyExchange');
  const pskIdentity = r.vector16('psk_identity');
  r.end();
  return { pskIdentity };
}

/** Finished: verify_data, 12 bytes (computed by the PRF; written here). */
export function encodeFinished(verifyData: Buffer): Buffer {
  if (verifyData.length !== VERIFY_DATA_LENGTH) throw new RangeError(`verify_data is ${VERIFY_DATA_LENGTH} bytes, got ${verifyData.length}`);
  return Buffer.from(verifyData);
}

export function parseFinished(body: Buffer): { verifyData: Buffer } {
  if (body.length !== VERIFY_DATA_LENGTH) {
    throw new DecodeError('dtls.finished.length', `Finished is ${body.length} bytes, verify_data is ${VERIFY_DATA_LENGTH}`);
  }
  return { verifyData: body };
}
