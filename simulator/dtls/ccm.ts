/**
 * AES-128-CCM (RFC 3610) on node:crypto, and the DTLS record protection built on it for the
 * PSK suites TLS_PSK_WITH_AES_128_CCM_8 and TLS_PSK_WITH_AES_128_CCM (RFC 6655 §3): the 12-byte
 * nonce is the 4-byte implicit IV followed by the 8-byte explicit nonce, which DTLS fills with
 * epoch and sequence number (RFC 6655 §3, RFC 6347 §4.1.2.1).
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';

/** Encrypts and authenticates; returns ciphertext followed by the tag. */
export function ccmSeal(key: Buffer, nonce: Buffer, aad: Buffer, plaintext: Buffer, tagLength: number): Buffer {
  const c = createCipheriv('aes-128-ccm', key, nonce, { authTagLength: tagLength });
  c.setAAD(aad, { plaintextLength: plaintext.length });
  const body = Buffer.concat([c.update(plaintext), c.final()]);
  return Buffer.concat([body, c.getAuthTag()]);
}

/** Checks and decrypts ciphertext‖tag; undefined when the tag does not match. */
export function ccmOpen(key: Buffer, nonce: Buffer, aad: Buffer, sealed: Buffer, tagLength: number): Buffer | undefined {
  if (sealed.length < tagLength) return undefined;
  const body = sealed.subarray(0, sealed.length - tagLength);
  const tag = sealed.subarray(sealed.length - tagLength);
  try {
    const d = createDecipheriv('aes-128-ccm', key, nonce, { authTagLength: tagLength });
    d.setAuthTag(tag);
    d.setAAD(aad, { plaintextLength: body.length });
    const out = d.update(body);
    d.final();
    return out;
  } catch {
    return undefined;
  }
}

/** The 8-byte explicit nonce: epoch (16 bits) then sequence number (48 bits). */
export function explicitNonce(epoch: number, seq: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt16BE(epoch, 0);
  b.writeUIntBE(seq, 2, 6);
  return b;
}

/** A record's protection in one direction: key, implicit IV and tag length (8 or 16). */
export interface RecordCipher {
  key: Buffer;
  iv: Buffer;
  tagLength: number;
}

/** GenericAEADCipher (RFC 5246 §6.2.3.3): explicit nonce, then ciphertext and tag. */
export function sealRecord(c: RecordCipher, epoch: number, seq: number, aad: Buffer, plaintext: Buffer): Buffer {
  const explicit = explicitNonce(epoch, seq);
  const nonce = Buffer.concat([c.iv, explicit]);
  return Buffer.concat([explicit, ccmSeal(c.key, nonce, aad, plaintext, c.tagLength)]);
}

/**
 * Opens a GenericAEADCipher fragment; `aadFor` builds the additional data once the plaintext
 * length is known (it is part of the additional data).
 */
export function openRecord(c: RecordCipher, fragment: Buffer, aadFor: (plaintextLength: number) => Buffer): Buffer | undefined {
  if (fragment.length < 8 + c.tagLength) return undefined;
  const nonce = Buffer.concat([c.iv, fragment.subarray(0, 8)]);
  const sealed = fragment.subarray(8);
  return ccmOpen(c.key, nonce, aadFor(sealed.length - c.tagLength), sealed, c.tagLength);
}
