/**
 * One handshake message put back together from its fragments (RFC 6347 §4.2.3), which may arrive
 * in any order, overlap, or come again (a retransmitted flight, fragmented differently). The
 * message is complete when every byte of its body is covered.
 *
 * Bounded: the first fragment's `length` is checked against a cap before the body's buffer is
 * allocated, so a peer cannot make this side reserve 16 MiB with one 12-byte header. Every later
 * fragment must agree with the first on msg_type, length and message_seq, and a byte received
 * twice must be the same byte both times; a fragment that does not is refused and changes nothing.
 * Which message_seq to reassemble next, and what to do with one refused, is the caller's.
 */
import type { HandshakeFragment, HandshakeMessage } from './dtls-handshake.ts';
import { DecodeError } from './errors.ts';

/** The longest message reassembled unless told otherwise: a PSK handshake's largest is a ClientHello of a few hundred bytes. */
export const MAX_REASSEMBLED_LENGTH = 16 * 1024;

export class HandshakeReassembly {
  readonly msgType: number;
  readonly length: number;
  readonly messageSeq: number;
  private readonly body: Buffer;
  /** 1 where body[i] has arrived. */
  private readonly covered: Uint8Array;
  private missing: number;

  /** Starts from the first fragment to arrive (any one of them) and takes it in. */
  constructor(first: HandshakeFragment, maxLength = MAX_REASSEMBLED_LENGTH) {
    if (first.length > maxLength) {
      throw new DecodeError('dtls.reassembly.too-long', `handshake message of ${first.length} bytes is over the ${maxLength}-byte cap`);
    }
    this.msgType = first.msgType;
    this.length = first.length;
    this.messageSeq = first.messageSeq;
    this.body = Buffer.alloc(first.length);
    this.covered = new Uint8Array(first.length);
    this.missing = first.length;
    this.add(first);
  }

  get complete(): boolean {
    return this.missing === 0;
  }

  /** Takes a fragment in; true once the message is complete. A repeat or an overlap is fine if it agrees. */
  add(f: HandshakeFragment): boolean {
    if (f.msgType !== this.msgType || f.length !== this.length || f.messageSeq !== this.messageSeq) {
      throw new DecodeError('dtls.reassembly.header',
        `fragment (type ${f.msgType}, length ${f.length}, message_seq ${f.messageSeq}) does not match the message (type ${this.msgType}, length ${this.length}, message_seq ${this.messageSeq})`);
    }
    const start = f.fragmentOffset;
    if (f.body.length !== f.fragmentLength || start + f.fragmentLength > this.length) {
      throw new DecodeError('dtls.reassembly.fragment-range', `fragment ${start}+${f.fragmentLength} (${f.body.length} bytes) does not fit the ${this.length}-byte message`);
    }
    for (let i = 0; i < f.fragmentLength; i++) {
      if (this.covered[start + i] === 1 && this.body[start + i] !== f.body[i]) {
        throw new DecodeError('dtls.reassembly.inconsistent', `byte ${start + i} of message ${this.messageSeq} differs from the one received before`);
      }
    }
    for (let i = 0; i < f.fragmentLength; i++) {
      if (this.covered[start + i] === 0) {
        this.covered[start + i] = 1;
        this.body[start + i] = f.body[i]!;
        this.missing--;
      }
    }
    return this.missing === 0;
  }

  /** The whole message; only once complete. */
  message(): HandshakeMessage {
    if (!this.complete) throw new Error(`message ${this.messageSeq} still misses ${this.missing} of ${this.length} bytes`);
    return { msgType: this.msgType, messageSeq: this.messageSeq, body: this.body };
  }
}
