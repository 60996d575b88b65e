/**
 * DTLS 1.2 records (RFC 6347 §4.1): type, version, epoch, 48-bit sequence number, length,
 * fragment; several may share one datagram. With a Connection ID (RFC 9146 §4) the record type
 * is tls12_cid (25), the CID follows the sequence number, and the real type travels inside the
 * encrypted DTLSInnerPlaintext (content ‖ real type ‖ zero padding).
 */

export const ContentType = {
  changeCipherSpec: 20,
  alert: 21,
  handshake: 22,
  applicationData: 23,
  tls12Cid: 25,
} as const;

export const DTLS12 = 0xfefd;

export interface DtlsRecord {
  type: number;
  version: number;
  epoch: number;
  seq: number;
  /** Present only on tls12_cid records. */
  cid?: Buffer;
  fragment: Buffer;
}

export function encodeRecord(r: DtlsRecord): Buffer {
  const cid = r.cid ?? Buffer.alloc(0);
  const head = Buffer.alloc(13 + cid.length);
  head.writeUInt8(r.type, 0);
  head.writeUInt16BE(r.version, 1);
  head.writeUInt16BE(r.epoch, 3);
  head.writeUIntBE(r.seq, 5, 6);
  cid.copy(head, 11);
  head.writeUInt16BE(r.fragment.length, 11 + cid.length);
  return Buffer.concat([head, r.fragment]);
}

/**
 * Splits a datagram into records. `cidLength` is the length of the CID this side receives
 * (0 when it receives none); a tls12_cid record is only readable when it is known. A truncated
 * tail is dropped (RFC 6347 §4.1.2.7: invalid records are discarded silently).
 */
export function decodeRecords(datagram: Buffer, cidLength: number): DtlsRecord[] {
  const out: DtlsRecord[] = [];
  let off = 0;
  while (off + 13 <= datagram.length) {
    const type = datagram.readUInt8(off);
    const cidLen = type === ContentType.tls12Cid ? cidLength : 0;
    if (off + 13 + cidLen > datagram.length) break;
    const length = datagram.readUInt16BE(off + 11 + cidLen);
    const start = off + 13 + cidLen;
    if (start + length > datagram.length) break;
    const rec: DtlsRecord = {
      type,
      version: datagram.readUInt16BE(off + 1),
      epoch: datagram.readUInt16BE(off + 3),
      seq: datagram.readUIntBE(off + 5, 6),
      fragment: datagram.subarray(start, start + length),
    };
    if (cidLen > 0) rec.cid = datagram.subarray(off + 11, off + 11 + cidLen);
    out.push(rec);
    off = start + length;
  }
  return out;
}

/** RFC 5246 §6.2.3.3: seq_num (epoch ‖ sequence) ‖ type ‖ version ‖ length (of the plaintext). */
export function aeadAdditionalData(epoch: number, seq: number, type: number, version: number, length: number): Buffer {
  const b = Buffer.alloc(13);
  b.writeUInt16BE(epoch, 0);
  b.writeUIntBE(seq, 2, 6);
  b.writeUInt8(type, 8);
  b.writeUInt16BE(version, 9);
  b.writeUInt16BE(length, 11);
  return b;
}

/**
 * RFC 9146 §5 for AEAD ciphers: seq_num_placeholder (8 × 0xff) ‖ tls12_cid ‖ cid_length ‖
 * tls12_cid ‖ version ‖ epoch ‖ sequence_number ‖ cid ‖ length of the DTLSInnerPlaintext.
 */
export function cidAdditionalData(epoch: number, seq: number, version: number, cid: Buffer, innerLength: number): Buffer {
  const b = Buffer.alloc(23 + cid.length);
  b.fill(0xff, 0, 8);
  b.writeUInt8(ContentType.tls12Cid, 8);
  b.writeUInt8(cid.length, 9);
  b.writeUInt8(ContentType.tls12Cid, 10);
  b.writeUInt16BE(version, 11);
  b.writeUInt16BE(epoch, 13);
  b.writeUIntBE(seq, 15, 6);
  cid.copy(b, 21);
  b.writeUInt16BE(innerLength, 21 + cid.length);
  return b;
}

/** RFC 9146 §4: DTLSInnerPlaintext = content ‖ real type ‖ zeros (none added here). */
export function innerPlaintext(content: Buffer, realType: number): Buffer {
  return Buffer.concat([content, Buffer.from([realType])]);
}

/** Reads DTLSInnerPlaintext: the last non-zero byte is the real type. */
export function readInnerPlaintext(inner: Buffer): { type: number; content: Buffer } | undefined {
  let i = inner.length - 1;
  while (i >= 0 && inner[i] === 0) i -= 1;
  if (i < 0) return undefined;
  return { type: inner[i] as number, content: inner.subarray(0, i) };
}
