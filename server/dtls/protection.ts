/**
 * One peer's record protection in epoch 1 (RFC 6347 §4.1.2): the server's write state (keys and
 * next sequence number) and the client's read state (keys and anti-replay window, §4.1.2.6).
 * A record that fails authentication is reported as undefined, for the caller to drop silently
 * (§4.1.2.7); only an authenticated record moves the replay window.
 *
 * With a Connection ID (RFC 9146) each direction has its own: `receive` is the CID this server
 * asked for, which every protected record from the client then carries in the tls12_cid format
 * (§3, §4), and `send` is the client's, put in the records sent to it; a zero-length or absent CID
 * keeps that direction in the RFC 6347 format. A record in the other format than the one agreed
 * is dropped like one that does not authenticate.
 */
import { decodeInnerPlaintext, encodeInnerPlaintext, open, sealInto, sealedLength, type CcmKeys, type CcmTagLength } from '../../protocols/dtls-ccm.ts';
import { ContentType, DTLS_1_2, MAX_SEQUENCE_NUMBER, recordHeaderLength, writeRecordHeader, type DtlsRecord } from '../../protocols/dtls-record.ts';
import { ReplayWindow } from '../../protocols/dtls-replay.ts';
import type { KeyBlock } from '../../protocols/tls-prf.ts';
import { DecodeError } from '../../protocols/errors.ts';

const VERSION = (DTLS_1_2.major << 8) | DTLS_1_2.minor;

/** The Connection IDs of a session (RFC 9146 §3), each 1..255 bytes or absent. */
export interface ConnectionIds {
  /** The CID the server receives: in every protected record from the client. */
  receive?: Buffer;
  /** The CID the client receives: in every protected record the server sends it. */
  send?: Buffer;
}

/** An opened record: its real content type (a tls12_cid record's is in its DTLSInnerPlaintext) and content. */
export interface Opened {
  type: number;
  content: Buffer;
  /** Its sequence number is above every one authenticated before in the epoch (RFC 9146 §6). */
  newest: boolean;
}

export class Protection {
  readonly epoch = 1;
  readonly cids: Readonly<ConnectionIds>;
  private readonly read: CcmKeys;
  private readonly write: CcmKeys;
  private readonly replay = new ReplayWindow();
  private nextSeq = 0;

  constructor(keys: KeyBlock, tagLength: CcmTagLength, cids: ConnectionIds = {}) {
    this.read = { writeKey: keys.clientWriteKey, writeIV: keys.clientWriteIV, tagLength };
    this.write = { writeKey: keys.serverWriteKey, writeIV: keys.serverWriteIV, tagLength };
    // A zero-length CID is the plain format (RFC 9146 §3): kept as none.
    this.cids = {
      ...(cids.receive !== undefined && cids.receive.length > 0 ? { receive: cids.receive } : {}),
      ...(cids.send !== undefined && cids.send.length > 0 ? { send: cids.send } : {}),
    };
  }

  /**
   * A protected epoch-1 record of this type and content, with the next sequence number; tls12_cid
   * when the client asked for a CID. Sealed straight into the buffer that goes to the socket, after
   * the header: one buffer a record, the ciphertext copied once.
   */
  sealRecord(type: ContentType, content: Buffer): Buffer {
    if (this.nextSeq > MAX_SEQUENCE_NUMBER) throw new RangeError('epoch 1 sequence numbers are used up (RFC 6347 §4.1)');
    const sequenceNumber = this.nextSeq++;
    const cid = this.cids.send;
    const plaintext = cid === undefined ? content : encodeInnerPlaintext(content, type);
    const outerType = cid === undefined ? type : ContentType.tls12_cid;
    const fragmentLength = sealedLength(plaintext.length, this.write.tagLength);
    const out = Buffer.allocUnsafe(recordHeaderLength(cid) + fragmentLength);
    const at = writeRecordHeader(out, { type: outerType, version: DTLS_1_2, epoch: this.epoch, sequenceNumber, cid }, fragmentLength);
    sealInto(this.write, { type: outerType, version: VERSION, epoch: this.epoch, sequenceNumber, cid }, plaintext, out, at);
    return out;
  }

  /** An epoch-1 record from the client, opened; undefined: replayed, not authentic, or not in the agreed format. */
  openRecord(r: DtlsRecord): Opened | undefined {
    if (r.epoch !== this.epoch) return undefined;
    const cid = this.cids.receive;
    if (cid === undefined ? r.cid !== undefined : r.cid === undefined || !r.cid.equals(cid)) return undefined;
    if (!this.replay.check(r.sequenceNumber)) return undefined;
    let plaintext: Buffer | undefined;
    try {
      const version = (r.version.major << 8) | r.version.minor;
      const header = { type: r.type, version, epoch: r.epoch, sequenceNumber: r.sequenceNumber, cid };
      plaintext = open(this.read, header, r.fragment);
    } catch (e) {
      if (e instanceof DecodeError) return undefined;
      throw e;
    }
    if (plaintext === undefined) return undefined;
    const newest = r.sequenceNumber > this.replay.highest;
    this.replay.accept(r.sequenceNumber);
    if (cid === undefined) return { type: r.type, content: plaintext, newest };
    // An authenticated DTLSInnerPlaintext of zeros only has no type: it is dropped, the number spent.
    try {
      const inner = decodeInnerPlaintext(plaintext);
      return { type: inner.realType, content: inner.content, newest };
    } catch (e) {
      if (e instanceof DecodeError) return undefined;
      throw e;
    }
  }
}
