/**
 * DTLS 1.2 record protection for TLS_PSK_WITH_AES_128_CCM_8 (8-byte tag) and
 * TLS_PSK_WITH_AES_128_CCM (16-byte tag): what goes between a record's header and the wire.
 *
 *   fragment       = nonce_explicit (8) || AES-CCM ciphertext || tag   (RFC 5246 §6.2.3.3, GenericAEADCipher)
 *   nonce          = salt (the 4-byte client_ or server_write_IV) || nonce_explicit   (RFC 6655 §3)
 *   nonce_explicit = epoch (2) || sequence_number (6) when sealing: DTLS's 64-bit seq_num
 *                    (RFC 6347 §4.1.2.1), which RFC 6655 §3 allows as the explicit nonce
 *   additional_data, ordinary records (RFC 5246 §6.2.3.3, seq_num as RFC 6347 §4.1.2.1 defines it):
 *                    seq_num (8) || type (1) || version (2) || plaintext length (2)
 *   additional_data, records with a Connection ID (RFC 9146 §5.3):
 *                    8 × 0xff || tls12_cid || cid_length || tls12_cid || version || epoch || sequence_number
 *                    || cid || length_of_DTLSInnerPlaintext
 *
 * A record with a Connection ID carries a DTLSInnerPlaintext (RFC 9146 §4): the content, its real
 * type, then zero padding. `seal` and `open` protect bytes; for such a record those bytes are the
 * DTLSInnerPlaintext, built and read with `encodeInnerPlaintext` / `decodeInnerPlaintext`.
 *
 * `open` returns undefined when authentication fails, and the record is dropped without an alert
 * (RFC 6347 §4.1.2.7); a fragment too short to hold a nonce and a tag, or that would decrypt to
 * more than 2^14 bytes, is malformed (DecodeError). Wrong-sized keys and out-of-range header fields
 * are the caller's bug (RangeError).
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { DecodeError } from './errors.ts';

/** The tag length of each suite's AEAD: AEAD_AES_128_CCM_8 (RFC 6655) and AEAD_AES_128_CCM (RFC 5116 §5.3). */
export const TAG_LENGTH = { TLS_PSK_WITH_AES_128_CCM_8: 8, TLS_PSK_WITH_AES_128_CCM: 16 } as const;
export type CcmTagLength = (typeof TAG_LENGTH)[keyof typeof TAG_LENGTH];

/** ContentType tls12_cid (RFC 9146 §4): the outer type of every record that carries a CID. */
export const TLS12_CID = 25;
/** SecurityParameters.record_iv_length: the nonce_explicit sent in each record (RFC 6655 §3). */
export const NONCE_EXPLICIT_LENGTH = 8;
/** SecurityParameters.fixed_iv_length: the salt (RFC 6655 §3). */
export const SALT_LENGTH = 4;
/** AES-128. */
export const KEY_LENGTH = 16;
/** A record's plaintext, or a DTLSInnerPlaintext, is at most 2^14 bytes (RFC 5246 §6.2.1, RFC 9146 §5). */
export const MAX_PLAINTEXT_LENGTH = 1 << 14;
const MAX_EPOCH = 0xffff;
const MAX_SEQUENCE_NUMBER = 2 ** 48 - 1;
const MAX_CID_LENGTH = 0xff;

/** One direction's keys: the sender's write key and write IV, and the suite's tag length. */
export interface CcmKeys {
  /** client_write_key or server_write_key (16 bytes). */
  writeKey: Buffer;
  /** client_write_IV or server_write_IV (4 bytes): the salt of every nonce. */
  writeIV: Buffer;
  tagLength: CcmTagLength;
}

/**
 * The header fields of a DTLSCiphertext that the protection covers. With `cid`, the record is a
 * tls12_cid record (RFC 9146 §4: `type` must be tls12_cid) and the RFC 9146 additional data is used.
 */
export interface RecordHeader {
  type: number;
  /** ProtocolVersion as a uint16, 0xfefd for DTLS 1.2. */
  version: number;
  epoch: number;
  /** The 48-bit sequence_number. */
  sequenceNumber: number;
  /** The sender's Connection ID, 1..255 bytes; absent for an ordinary record. */
  cid?: Buffer;
}

/** additional_data of an ordinary record (RFC 5246 §6.2.3.3; seq_num = epoch || sequence_number, RFC 6347 §4.1.2.1). */
export function additionalData(header: RecordHeader, plaintextLength: number): Buffer {
  checkHeader(header);
  checkLength(plaintextLength);
  const out = Buffer.alloc(13);
  writeAdditionalData(out, header, plaintextLength);
  return out;
}

/**
 * additional_data of a record with a Connection ID (RFC 9146 §5.3):
 * seq_num_placeholder (8 × 0xff) || tls12_cid || cid_length || tls12_cid || DTLSCiphertext.version
 * || epoch || sequence_number || cid || length_of_DTLSInnerPlaintext.
 */
export function cidAdditionalData(header: RecordHeader & { cid: Buffer }, innerPlaintextLength: number): Buffer {
  checkHeader(header);
  checkLength(innerPlaintextLength);
  const { cid } = header;
  const out = Buffer.alloc(8 + 1 + 1 + 1 + 2 + 8 + cid.length + 2);
  out.fill(0xff, 0, 8);
  out.writeUInt8(TLS12_CID, 8);
  out.writeUInt8(cid.length, 9);
  out.writeUInt8(TLS12_CID, 10);
  out.writeUInt16BE(header.version, 11);
  writeSeqNum(out, 13, header);
  cid.copy(out, 21);
  out.writeUInt16BE(innerPlaintextLength, 21 + cid.length);
  return out;
}

/**
 * The additional data for this record: RFC 9146's layout when it has a CID, RFC 5246's otherwise.
 * An ordinary record's is written into one buffer shared by every record: setAAD copies it at
 * once, so it is free again before the next record (this runs once per record each way).
 */
function additionalDataFor(header: RecordHeader, length: number): Buffer {
  const { cid } = header;
  if (cid !== undefined) return cidAdditionalData({ ...header, cid }, length);
  checkHeader(header);
  checkLength(length);
  writeAdditionalData(AAD, header, length);
  return AAD;
}

const AAD = Buffer.alloc(13);

function writeAdditionalData(out: Buffer, header: RecordHeader, plaintextLength: number): void {
  writeSeqNum(out, 0, header);
  out.writeUInt8(header.type, 8);
  out.writeUInt16BE(header.version, 9);
  out.writeUInt16BE(plaintextLength, 11);
}

/** A DTLSInnerPlaintext's parts (RFC 9146 §4). */
export interface InnerPlaintext {
  content: Buffer;
  /** The record's real ContentType, never 0. */
  realType: number;
}

/** DTLSInnerPlaintext = content || real_type || zeros[paddingLength] (RFC 9146 §4). */
export function encodeInnerPlaintext(content: Buffer, realType: number, paddingLength = 0): Buffer {
  if (!Number.isInteger(realType) || realType < 1 || realType > 0xff) {
    throw new RangeError(`real_type must be a non-zero ContentType (1..255), got ${realType}`);
  }
  if (!Number.isInteger(paddingLength) || paddingLength < 0) {
    throw new RangeError(`padding length must be a non-negative integer, got ${paddingLength}`);
  }
  const length = content.length + 1 + paddingLength;
  if (length > MAX_PLAINTEXT_LENGTH) {
    throw new RangeError(`DTLSInnerPlaintext would be ${length} bytes, at most ${MAX_PLAINTEXT_LENGTH} are allowed`);
  }
  const out = Buffer.alloc(length); // the padding is already zeros
  content.copy(out, 0);
  out[content.length] = realType;
  return out;
}

/**
 * Reads a DTLSInnerPlaintext (RFC 9146 §4): the last non-zero byte is real_type, the zeros after it
 * are padding, everything before it is content. Without a non-zero byte there is no type: DecodeError.
 */
export function decodeInnerPlaintext(inner: Buffer): InnerPlaintext {
  let at = inner.length - 1;
  while (at >= 0 && inner[at] === 0) at--;
  if (at < 0) {
    throw new DecodeError('dtls.inner-plaintext', 'DTLSInnerPlaintext has no non-zero byte, so no real_type');
  }
  return { content: inner.subarray(0, at), realType: inner[at]! };
}

/**
 * AEAD-Encrypt with AES-128-CCM (RFC 3610 via node:crypto): returns ciphertext || tag.
 * The nonce is 7..13 bytes (RFC 3610 §2); the DTLS suites always use 12 (RFC 6655 §3).
 */
export function aeadEncrypt(
  key: Buffer,
  nonce: Buffer,
  plaintext: Buffer,
  additional: Buffer,
  tagLength: CcmTagLength,
): Buffer {
  const cipher = createCipheriv('aes-128-ccm', key, nonce, { authTagLength: tagLength });
  cipher.setAAD(additional, { plaintextLength: plaintext.length });
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([ciphertext, cipher.getAuthTag()]);
}

/**
 * AEAD-Decrypt with AES-128-CCM: `sealed` is ciphertext || tag. Returns the plaintext, or undefined
 * when the tag does not authenticate (node:crypto then releases no plaintext).
 */
export function aeadDecrypt(
  key: Buffer,
  nonce: Buffer,
  sealed: Buffer,
  additional: Buffer,
  tagLength: CcmTagLength,
): Buffer | undefined {
  if (sealed.length < tagLength) return undefined;
  const ciphertext = sealed.subarray(0, sealed.length - tagLength);
  const decipher = createDecipheriv('aes-128-ccm', key, nonce, { authTagLength: tagLength });
  decipher.setAuthTag(sealed.subarray(sealed.length - tagLength));
  decipher.setAAD(additional, { plaintextLength: ciphertext.length });
  try {
    const plaintext = decipher.update(ciphertext);
    decipher.final();
    return plaintext;
  } catch {
    return undefined;
  }
}

/** The length of a sealed fragment: nonce_explicit || ciphertext || tag. */
export function sealedLength(plaintextLength: number, tagLength: CcmTagLength): number {
  return NONCE_EXPLICIT_LENGTH + plaintextLength + tagLength;
}

/**
 * Protects one record's plaintext (for a CID record: its DTLSInnerPlaintext) and returns the
 * DTLSCiphertext fragment: nonce_explicit || ciphertext || tag, nonce_explicit = epoch || sequence_number.
 */
export function seal(keys: CcmKeys, header: RecordHeader, plaintext: Buffer): Buffer {
  const out = Buffer.allocUnsafe(sealedLength(plaintext.length, keys.tagLength));
  sealInto(keys, header, plaintext, out, 0);
  return out;
}

/**
 * seal, written into `out` at `offset` (sealedLength bytes): a record's sender puts the fragment
 * right after the header in the buffer that goes to the socket, with no copy of header and
 * fragment into a third. Every byte of the range is written (so `out` may come from allocUnsafe).
 */
export function sealInto(keys: CcmKeys, header: RecordHeader, plaintext: Buffer, out: Buffer, offset: number): void {
  checkKeys(keys);
  const end = offset + sealedLength(plaintext.length, keys.tagLength);
  if (!Number.isInteger(offset) || offset < 0 || end > out.length) throw new RangeError(`no room for a ${end - offset}-byte fragment at ${offset} of ${out.length} bytes`);
  const additional = additionalDataFor(header, plaintext.length);
  writeSeqNum(out, offset, header); // nonce_explicit
  const cipher = createCipheriv('aes-128-ccm', keys.writeKey, nonceOf(keys.writeIV, out, offset), { authTagLength: keys.tagLength });
  cipher.setAAD(additional, { plaintextLength: plaintext.length });
  // CCM takes its whole input in one update (node:crypto), and final() adds nothing after it.
  const ciphertext = cipher.update(plaintext);
  cipher.final();
  ciphertext.copy(out, offset + NONCE_EXPLICIT_LENGTH);
  cipher.getAuthTag().copy(out, offset + NONCE_EXPLICIT_LENGTH + ciphertext.length);
}

/**
 * Removes the protection from one record's fragment. Returns the plaintext (for a CID record: the
 * DTLSInnerPlaintext), or undefined when it does not authenticate: a changed byte anywhere in the
 * fragment or the covered header fields, or the wrong keys. The receiver then drops the record
 * silently (RFC 6347 §4.1.2.7).
 */
export function open(keys: CcmKeys, header: RecordHeader, fragment: Buffer): Buffer | undefined {
  checkKeys(keys);
  const overhead = NONCE_EXPLICIT_LENGTH + keys.tagLength;
  if (fragment.length < overhead) {
    throw new DecodeError(
      'dtls.ccm.short',
      `AES-CCM record fragment is ${fragment.length} bytes, shorter than its ${overhead}-byte nonce and tag`,
    );
  }
  const plaintextLength = fragment.length - overhead;
  if (plaintextLength > MAX_PLAINTEXT_LENGTH) {
    throw new DecodeError(
      'dtls.record-overflow',
      `AES-CCM record would decrypt to ${plaintextLength} bytes, at most ${MAX_PLAINTEXT_LENGTH} are allowed`,
    );
  }
  const additional = additionalDataFor(header, plaintextLength);
  const nonce = nonceOf(keys.writeIV, fragment, 0);
  return aeadDecrypt(keys.writeKey, nonce, fragment.subarray(NONCE_EXPLICIT_LENGTH), additional, keys.tagLength);
}

/**
 * The nonce, salt || nonce_explicit (RFC 6655 §3), from the 8 bytes at `offset` of `from`, in one
 * buffer shared by every record: createCipheriv and createDecipheriv copy their IV at once, so the
 * buffer is free again as soon as the cipher exists, and no record allocates one.
 */
function nonceOf(salt: Buffer, from: Buffer, offset: number): Buffer {
  salt.copy(NONCE, 0);
  from.copy(NONCE, SALT_LENGTH, offset, offset + NONCE_EXPLICIT_LENGTH);
  return NONCE;
}

const NONCE = Buffer.alloc(SALT_LENGTH + NONCE_EXPLICIT_LENGTH);

/** seq_num as DTLS defines it: epoch (2 bytes) || sequence_number (6 bytes) (RFC 6347 §4.1.2.1). */
function writeSeqNum(out: Buffer, offset: number, header: RecordHeader): void {
  out.writeUInt16BE(header.epoch, offset);
  out.writeUIntBE(header.sequenceNumber, offset + 2, 6);
}

function checkHeader(header: RecordHeader): void {
  checkUint('type', header.type, 0xff);
  checkUint('version', header.version, 0xffff);
  checkUint('epoch', header.epoch, MAX_EPOCH);
  checkUint('sequence_number', header.sequenceNumber, MAX_SEQUENCE_NUMBER);
  if (header.cid === undefined) return;
  if (header.cid.length < 1 || header.cid.length > MAX_CID_LENGTH) {
    throw new RangeError(`a record's CID must be 1..${MAX_CID_LENGTH} bytes, got ${header.cid.length}`);
  }
  if (header.type !== TLS12_CID) {
    throw new RangeError(`a record with a CID has type tls12_cid (${TLS12_CID}), got ${header.type}`);
  }
}

function checkLength(length: number): void {
  checkUint('plaintext length', length, MAX_PLAINTEXT_LENGTH);
}

function checkKeys(keys: CcmKeys): void {
  if (keys.writeKey.length !== KEY_LENGTH) {
    throw new RangeError(`write key must be ${KEY_LENGTH} bytes, got ${keys.writeKey.length}`);
  }
  if (keys.writeIV.length !== SALT_LENGTH) {
    throw new RangeError(`write IV must be ${SALT_LENGTH} bytes, got ${keys.writeIV.length}`);
  }
  if (keys.tagLength !== 8 && keys.tagLength !== 16) {
    throw new RangeError(`AES-CCM tag length must be 8 or 16, got ${String(keys.tagLength)}`);
  }
}

function checkUint(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`${name} must be an integer in 0..${max}, got ${value}`);
  }
}
