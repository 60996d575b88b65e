/**
 * DTLS handshake message framing (RFC 6347 §4.2.2): every handshake message, whole or a piece of
 * one, goes out behind a 12-byte header
 *
 *   msg_type(1) length(3) message_seq(2) fragment_offset(3) fragment_length(3) body[fragment_length]
 *
 * and one record may carry several such fragments back to back (§4.2.3). Here: the header read
 * and written, a message cut into fragments that fit a record (§4.2.3), and the bytes a message
 * puts into the handshake hash, which are those of the message sent as one fragment (§4.2.6).
 * Putting pieces back together is dtls-reassembly.ts; the bodies are dtls-hello.ts and
 * dtls-messages.ts.
 */
import { Reader, uint16, uint24, uint8 } from './dtls-bytes.ts';
import { DecodeError } from './errors.ts';

/** HandshakeType (RFC 5246 §7.4; hello_verify_request from RFC 6347 §4.3.2). */
export const HandshakeType = {
  hello_request: 0,
  client_hello: 1,
  server_hello: 2,
  hello_verify_request: 3,
  certificate: 11,
  server_key_exchange: 12,
  certificate_request: 13,
  server_hello_done: 14,
  certificate_verify: 15,
  client_key_exchange: 16,
  finished: 20,
} as const;
export type HandshakeType = (typeof HandshakeType)[keyof typeof HandshakeType];

export const HANDSHAKE_HEADER_LENGTH = 12;
/** `length` and `fragment_offset` are uint24 (RFC 6347 §4.2.2). */
export const MAX_HANDSHAKE_LENGTH = 2 ** 24 - 1;

/** One handshake fragment as it is on the wire (RFC 6347 §4.2.2). */
export interface HandshakeFragment {
  msgType: number;
  /** The length of the whole message body. */
  length: number;
  messageSeq: number;
  fragmentOffset: number;
  fragmentLength: number;
  /** body[fragment_offset .. fragment_offset + fragment_length), a view of the record. */
  body: Buffer;
}

/** A whole handshake message. */
export interface HandshakeMessage {
  msgType: number;
  messageSeq: number;
  body: Buffer;
}

/**
 * The handshake fragments in one record's (decrypted) fragment, in order. Any fragment that does
 * not parse refuses the record: its bytes were authenticated, or not, as one.
 */
export function decodeHandshakeFragments(recordFragment: Buffer): HandshakeFragment[] {
  // RFC 5246 §6.2.1: zero-length fragments of Handshake are not sent.
  if (recordFragment.length === 0) throw new DecodeError('dtls.handshake.empty', 'a handshake record with no bytes');
  const r = new Reader(recordFragment, 'dtls.handshake', 'handshake fragment');
  const out: HandshakeFragment[] = [];
  while (r.remaining > 0) {
    const msgType = r.uint8('msg_type');
    const length = r.uint24('length');
    const messageSeq = r.uint16('message_seq');
    const fragmentOffset = r.uint24('fragment_offset');
    const fragmentLength = r.uint24('fragment_length');
    if (fragmentOffset + fragmentLength > length) {
      throw new DecodeError('dtls.handshake.fragment-range',
        `fragment ${fragmentOffset}+${fragmentLength} runs past the message length ${length}`);
    }
    const body = r.bytes(fragmentLength, 'body');
    out.push({ msgType, length, messageSeq, fragmentOffset, fragmentLength, body });
  }
  return out;
}

/** The 12-byte header of a fragment (RFC 6347 §4.2.2). */
export function encodeHandshakeHeader(f: Omit<HandshakeFragment, 'body'>): Buffer {
  if (f.fragmentOffset + f.fragmentLength > f.length) throw new RangeError(`fragment ${f.fragmentOffset}+${f.fragmentLength} runs past ${f.length}`);
  return Buffer.concat([
    uint8(f.msgType, 'msg_type'), uint24(f.length, 'length'), uint16(f.messageSeq, 'message_seq'),
    uint24(f.fragmentOffset, 'fragment_offset'), uint24(f.fragmentLength, 'fragment_length'),
  ]);
}

/** A message as one fragment: offset 0, fragment_length = length. */
export function encodeHandshake(m: HandshakeMessage): Buffer {
  const header = encodeHandshakeHeader({ msgType: m.msgType, length: m.body.length, messageSeq: m.messageSeq, fragmentOffset: 0, fragmentLength: m.body.length });
  return Buffer.concat([header, m.body]);
}

/**
 * The bytes of a message for the handshake hash (RFC 6347 §4.2.6): the message with its DTLS
 * header as if it had been sent as one fragment, whatever fragments it travelled in. The first
 * ClientHello and the HelloVerifyRequest are left out of the hash (§4.2.1); that is the caller's.
 */
export function handshakeHashInput(m: HandshakeMessage): Buffer {
  return encodeHandshake(m);
}

/**
 * A message cut into fragments of at most `maxFragmentBytes` bytes each, header included, to fit
 * a record's payload under the path MTU (§4.2.3). Each fragment is header + piece; a message with
 * an empty body is one fragment of 12 bytes.
 */
export function fragmentHandshake(m: HandshakeMessage, maxFragmentBytes: number): Buffer[] {
  if (!Number.isInteger(maxFragmentBytes) || maxFragmentBytes <= HANDSHAKE_HEADER_LENGTH) {
    throw new RangeError(`a fragment needs room for the ${HANDSHAKE_HEADER_LENGTH}-byte header and a byte of body, got ${maxFragmentBytes}`);
  }
  const room = maxFragmentBytes - HANDSHAKE_HEADER_LENGTH;
  const length = m.body.length;
  const out: Buffer[] = [];
  let offset = 0;
  do {
    const piece = m.body.subarray(offset, offset + room);
    out.push(Buffer.concat([
      encodeHandshakeHeader({ msgType: m.msgType, length, messageSeq: m.messageSeq, fragmentOffset: offset, fragmentLength: piece.length }),
      piece,
    ]));
    offset += piece.length;
  } while (offset < length);
  return out;
}
