/**
 * One peer's record protection in epoch 1 (RFC 6347 §4.1.2): the server's write state (keys and
 * next sequence number) and the client's read state (keys and anti-replay window, §4.1.2.6).
 * A record that fails authentication is reported as undefined, for the caller to drop silently
 * (§4.1.2.7); only an authenticated record moves the replay window.
 */
import { open, seal, type CcmKeys, type CcmTagLength } from '../../protocols/dtls-ccm.ts';
import { DTLS_1_2, MAX_SEQUENCE_NUMBER, encodeRecord, type ContentType, type DtlsRecord } from '../../protocols/dtls-record.ts';
import { ReplayWindow } from '../../protocols/dtls-replay.ts';
import type { KeyBlock } from '../../protocols/tls-prf.ts';
import { DecodeError } from '../../protocols/errors.ts';

const VERSION = (DTLS_1_2.major << 8) | DTLS_1_2.minor;

export class Protection {
  readonly epoch = 1;
  private readonly read: CcmKeys;
  private readonly write: CcmKeys;
  private readonly replay = new ReplayWindow();
  private nextSeq = 0;

  constructor(keys: KeyBlock, tagLength: CcmTagLength) {
    this.read = { writeKey: keys.clientWriteKey, writeIV: keys.clientWriteIV, tagLength };
    this.write = { writeKey: keys.serverWriteKey, writeIV: keys.serverWriteIV, tagLength };
  }

  /** A protected epoch-1 record of this type and content, with the next sequence number. */
  sealRecord(type: ContentType, content: Buffer): Buffer {
    if (this.nextSeq > MAX_SEQUENCE_NUMBER) throw new RangeError('epoch 1 sequence numbers are used up (RFC 6347 §4.1)');
    const sequenceNumber = this.nextSeq++;
    const fragment = seal(this.write, { type, version: VERSION, epoch: this.epoch, sequenceNumber }, content);
    return encodeRecord({ type, version: DTLS_1_2, epoch: this.epoch, sequenceNumber, fragment });
  }

  /** The content of an epoch-1 record from the client, or undefined: replayed, or not authentic. */
  openRecord(r: DtlsRecord): Buffer | undefined {
    if (r.epoch !== this.epoch || r.cid !== undefined) return undefined;
    if (!this.replay.check(r.sequenceNumber)) return undefined;
    let content: Buffer | undefined;
    try {
      content = open(this.read, { type: r.type, version: (r.version.major << 8) | r.version.minor, epoch: r.epoch, sequenceNumber: r.sequenceNumber }, r.fragment);
    } catch (e) {
      if (e instanceof DecodeError) return undefined;
      throw e;
    }
    if (content !== undefined) this.replay.accept(r.sequenceNumber);
    return content;
  }
}
