/**
 * The DTLS 1.2 record layer's framing (RFC 6347 §4.1), with the Connection ID record of RFC 9146
 * §4. One UDP datagram carries one or more records back to back (§4.1.1); each is
 *
 *   DTLSPlaintext:  type(1) version(2) epoch(2) sequence_number(6) length(2) fragment[length]
 *   DTLSCiphertext with a CID (type tls12_cid, 25):
 *                   type(1) version(2) epoch(2) sequence_number(6) cid[cid_length] length(2) enc_content[length]
 *
 * The CID length is not on the wire: it is the length of the CID this side asked its peer to put
 * in the records it sends here (RFC 9146 §3), so it is a parameter of the parse. With a
 * zero-length CID, or none, records keep the RFC 6347 format (RFC 9146 §3): tls12_cid is refused.
 *
 * Sequence numbers are JavaScript numbers: 48 bits fit in a double exactly (below 2^53).
 * Fragments and CIDs are views of the datagram, not copies. Only framing is checked here: the
 * epoch's keys, the record's MAC and the replay window (dtls-replay.ts) are the caller's.
 */
import { Reader } from './dtls-bytes.ts';
import { DecodeError } from './errors.ts';

/** ContentType (RFC 5246 §6.2.1; tls12_cid from RFC 9146 §4). */
export const ContentType = {
  change_cipher_spec: 20,
  alert: 21,
  handshake: 22,
  application_data: 23,
  tls12_cid: 25,
} as const;
export type ContentType = (typeof ContentType)[keyof typeof ContentType];

const CONTENT_TYPES: ReadonlySet<number> = new Set(Object.values(ContentType));

/** ProtocolVersion (RFC 5246 §6.2.1): DTLS counts down from {254,255}. */
export interface ProtocolVersion { major: number; minor: number }

/** DTLS 1.2 (RFC 6347 §4.1). */
export const DTLS_1_2: ProtocolVersion = Object.freeze({ major: 254, minor: 253 });
/** DTLS 1.0 (RFC 4347): the record version of many a first ClientHello, and of HelloVerifyRequest (RFC 6347 §4.2.1). */
export const DTLS_1_0: ProtocolVersion = Object.freeze({ major: 254, minor: 255 });

/** Record header bytes: type, version, epoch, sequence_number, length (RFC 6347 §4.1). */
export const RECORD_HEADER_LENGTH = 13;
/** A TLSPlaintext fragment is at most 2^14 bytes (RFC 5246 §6.2.1); epoch 0 carries nothing else. */
export const MAX_PLAINTEXT_LENGTH = 2 ** 14;
/** A TLSCiphertext fragment is at most 2^14 + 2048 bytes (RFC 5246 §6.2.3). */
export const MAX_CIPHERTEXT_LENGTH = 2 ** 14 + 2048;
/** The largest sequence_number, a uint48; a sender must not wrap it (RFC 6347 §4.1). */
export const MAX_SEQUENCE_NUMBER = 2 ** 48 - 1;

export interface DtlsRecord {
  type: ContentType;
  version: ProtocolVersion;
  epoch: number;
  /** uint48, as a number. */
  sequenceNumber: number;
  /** The CID of a tls12_cid record (RFC 9146 §4); absent for every other type. */
  cid?: Buffer;
  /** DTLSPlaintext.fragment, or a protected record's content (enc_content of a tls12_cid record). */
  fragment: Buffer;
}

/**
 * Reads the record at `offset` of a datagram. Returns it and the offset just past it.
 * @param cidLength the length of the CIDs this side receives, 1..255; undefined or 0 when none was negotiated
 */
export function decodeRecord(datagram: Buffer, offset: number, cidLength?: number): { record: DtlsRecord; next: number } {
  checkCidLength(cidLength);
  if (!Number.isInteger(offset) || offset < 0 || offset > datagram.length) throw new RangeError(`offset ${offset} is outside the ${datagram.length}-byte datagram`);
  const r = new Reader(datagram.subarray(offset), 'dtls.record', 'DTLS record');
  const type = r.uint8('type');
  if (!CONTENT_TYPES.has(type)) throw new DecodeError('dtls.record.content-type', `content type ${type} is not one DTLS 1.2 defines`);
  const version = { major: r.uint8('version'), minor: r.uint8('version') };
  // Only {254,253} and, on a first ClientHello or a HelloVerifyRequest, {254,255} are DTLS 1.x records.
  if (version.major !== 254 || (version.minor !== 253 && version.minor !== 255)) {
    throw new DecodeError('dtls.record.version', `record version {${version.major},${version.minor}} is neither DTLS 1.2 nor 1.0`);
  }
  const epoch = r.uint16('epoch');
  const sequenceNumber = r.uint48('sequence_number');
  let cid: Buffer | undefined;
  if (type === ContentType.tls12_cid) {
    if (!cidLength) throw new DecodeError('dtls.record.cid-unexpected', 'a tls12_cid record where no connection ID was negotiated');
    // RFC 9146 §3: a plaintext record never takes the tls12_cid type, and epoch 0 is never protected.
    if (epoch === 0) throw new DecodeError('dtls.record.cid-epoch', 'a tls12_cid record in epoch 0, which is never protected');
    cid = r.bytes(cidLength, 'cid');
  }
  const length = r.uint16('length');
  const max = epoch === 0 ? MAX_PLAINTEXT_LENGTH : MAX_CIPHERTEXT_LENGTH;
  if (length > max) throw new DecodeError('dtls.record.oversize', `record length ${length} is over ${max} (${epoch === 0 ? 'plaintext, epoch 0' : 'protected'})`);
  const fragment = r.bytes(length, 'fragment');
  const record: DtlsRecord = { type: type as ContentType, version, epoch, sequenceNumber, ...(cid ? { cid } : {}), fragment };
  return { record, next: offset + r.offset };
}

/**
 * Splits a datagram into its records (RFC 6347 §4.1.1). A record that does not parse ends the
 * split, since where the next one would start is then unknown: the records before it stand and
 * are returned with the error (RFC 6347 §4.1.2.7: an invalid record is discarded, not the datagram).
 */
export function splitRecords(datagram: Buffer, cidLength?: number): { records: DtlsRecord[]; error?: DecodeError } {
  checkCidLength(cidLength);
  const records: DtlsRecord[] = [];
  let offset = 0;
  while (offset < datagram.length) {
    try {
      const { record, next } = decodeRecord(datagram, offset, cidLength);
      records.push(record);
      offset = next;
    } catch (e) {
      if (e instanceof DecodeError) return { records, error: e };
      throw e;
    }
  }
  if (records.length === 0) return { records, error: new DecodeError('dtls.record.empty', 'an empty datagram holds no DTLS record') };
  return { records };
}

/** The fields of a record header: a record without its fragment (the length is written from the fragment's). */
export type RecordHeaderFields = Omit<DtlsRecord, 'fragment'>;

/** The bytes of a record's header: 13, and the CID's length for a tls12_cid record (RFC 9146 §4). */
export function recordHeaderLength(cid?: Buffer): number {
  return RECORD_HEADER_LENGTH + (cid?.length ?? 0);
}

/**
 * Writes one record: DTLSPlaintext, or the tls12_cid form when `cid` is given. The caller passes
 * the fragment as it goes on the wire (protected already from epoch 1 on).
 */
export function encodeRecord(record: DtlsRecord): Buffer {
  const { fragment } = record;
  const headerLength = recordHeaderLength(record.cid);
  const out = Buffer.allocUnsafe(headerLength + fragment.length);
  writeRecordHeader(out, record, fragment.length);
  fragment.copy(out, headerLength);
  return out;
}

/**
 * Writes a record's header at the start of `out`, for a fragment of `fragmentLength` bytes that
 * the caller puts right after it (recordHeaderLength bytes in): a protected record is sealed
 * straight into the buffer that carries it, not copied after its header. Returns the header's length.
 */
export function writeRecordHeader(out: Buffer, record: RecordHeaderFields, fragmentLength: number): number {
  const { type, version, epoch, sequenceNumber, cid } = record;
  if (!CONTENT_TYPES.has(type)) throw new RangeError(`content type ${type} is not one DTLS 1.2 defines`);
  if ((type === ContentType.tls12_cid) !== (cid !== undefined)) throw new RangeError('a CID goes with the tls12_cid content type, and only with it');
  if (cid !== undefined && (cid.length < 1 || cid.length > 255)) throw new RangeError(`a record's CID is 1..255 bytes, got ${cid.length}`);
  if (cid !== undefined && epoch === 0) throw new RangeError('a tls12_cid record is protected, never in epoch 0');
  const max = epoch === 0 ? MAX_PLAINTEXT_LENGTH : MAX_CIPHERTEXT_LENGTH;
  if (fragmentLength > max) throw new RangeError(`record fragment of ${fragmentLength} bytes is over ${max}`);
  let p = out.writeUInt8(type, 0);
  p = out.writeUInt8(checkedUint(version.major, 1, 'version.major'), p);
  p = out.writeUInt8(checkedUint(version.minor, 1, 'version.minor'), p);
  p = out.writeUInt16BE(checkedUint(epoch, 2, 'epoch'), p);
  p = out.writeUIntBE(checkedUint(sequenceNumber, 6, 'sequence_number'), p, 6);
  if (cid !== undefined) p += cid.copy(out, p);
  return out.writeUInt16BE(fragmentLength, p);
}

/** `value` if it fits in `bytes` bytes unsigned, else RangeError (as dtls-bytes.ts's uint8…uint48 say it). */
function checkedUint(value: number, bytes: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0 || value >= 2 ** (8 * bytes)) {
    throw new RangeError(`${name} must be an integer in 0..2^${8 * bytes}-1, got ${value}`);
  }
  return value;
}

function checkCidLength(cidLength: number | undefined): void {
  if (cidLength !== undefined && (!Number.isInteger(cidLength) || cidLength < 0 || cidLength > 255)) {
    throw new RangeError(`a CID length is 0..255, got ${cidLength}`);
  }
}
