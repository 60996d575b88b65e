/**
 * The client's outgoing records: epoch 0 in the clear, epoch 1 sealed with AES-128-CCM(_8)
 * (RFC 6655, additional data of RFC 5246 §6.2.3.3), or — once the server has given us a
 * Connection ID — in the tls12_cid format of RFC 9146 §4 with its §5 additional data. Each epoch
 * numbers its records from 0 (RFC 6347 §4.1).
 */
import { sealRecord } from './ccm.ts';
import type { RecordCipher } from './ccm.ts';
import { DtlsError } from './errors.ts';
import { ContentType, DTLS12, aeadAdditionalData, cidAdditionalData, encodeRecord, innerPlaintext } from './record.ts';

export class RecordWriter {
  readonly #seq: [number, number] = [0, 0];
  /** The epoch-1 write key and IV, set once the keys are derived. */
  cipher: RecordCipher | undefined;
  /** The CID the server asked for on our records, if any. */
  cid: Buffer | undefined;

  plain(type: number, content: Buffer): Buffer {
    const seq = this.#seq[0]++;
    return encodeRecord({ type, version: DTLS12, epoch: 0, seq, fragment: content });
  }

  protect(type: number, content: Buffer): Buffer {
    const w = this.cipher;
    if (w === undefined) throw new DtlsError('closed', 'no epoch-1 keys yet');
    const seq = this.#seq[1]++;
    const cid = this.cid;
    if (cid === undefined) {
      const aad = aeadAdditionalData(1, seq, type, DTLS12, content.length);
      return encodeRecord({ type, version: DTLS12, epoch: 1, seq, fragment: sealRecord(w, 1, seq, aad, content) });
    }
    const inner = innerPlaintext(content, type);
    const aad = cidAdditionalData(1, seq, DTLS12, cid, inner.length);
    return encodeRecord({ type: ContentType.tls12Cid, version: DTLS12, epoch: 1, seq, cid, fragment: sealRecord(w, 1, seq, aad, inner) });
  }
}
