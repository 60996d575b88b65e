/**
 * The CoAP message format (RFC 7252 §3), both ways. Read byte by byte for the guard in front of
 * the server's sockets: header, token, options by number (deltas summed, extended forms read),
 * payload. Written by the server's own answers (encodeMessage).
 * Every format error RFC 7252 names is a DecodeError, so the caller can answer a confirmable
 * message with a Reset (§4.2) and drop a non-confirmable one (§4.3). `readHeader` reads just
 * the first four bytes, enough to reject a message whose rest cannot be read.
 */
import { isCritical, isRepeatable } from './coap-option.ts';
import { DecodeError } from './errors.ts';

export type CoapType = 'CON' | 'NON' | 'ACK' | 'RST';
const TYPES: readonly CoapType[] = ['CON', 'NON', 'ACK', 'RST'];

export interface CoapHeader {
  type: CoapType;
  /** Token Length, 0–15 as sent (9–15 are a format error, §3). */
  tokenLength: number;
  /** The code byte: class in the top 3 bits, detail in the low 5. */
  code: number;
  messageId: number;
}

export interface CoapMessage extends CoapHeader {
  token: Buffer;
  /** [number, value] in the order sent, which is ascending number (the deltas are never negative). */
  options: Array<[number, Buffer]>;
  payload: Buffer;
}

/** "c.dd" of a code byte, e.g. 0x45 → "2.05". */
export function codeText(code: number): string {
  return `${code >>> 5}.${String(code & 0x1f).padStart(2, '0')}`;
}

/** The fixed four-byte header (§3). Throws DecodeError for a short datagram or another version. */
export function readHeader(b: Buffer): CoapHeader {
  if (b.length < 4) throw new DecodeError('coap.short', `a CoAP message has a 4-byte header, got ${b.length} bytes`);
  const version = b[0]! >>> 6;
  // §3: "Messages with unknown version numbers MUST be silently ignored."
  if (version !== 1) throw new DecodeError('coap.version', `CoAP version ${version} is not 1`);
  return { type: TYPES[(b[0]! >>> 4) & 3]!, tokenLength: b[0]! & 0x0f, code: b[1]!, messageId: b.readUInt16BE(2) };
}

/** The whole message (§3, §3.1); every format error is a DecodeError. */
export function decodeCoapMessage(b: Buffer): CoapMessage {
  const h = readHeader(b);
  // §3: "Lengths 9-15 are reserved, MUST NOT be sent, and MUST be processed as a message format error."
  if (h.tokenLength > 8) throw new DecodeError('coap.token-length', `token length ${h.tokenLength} is reserved (at most 8)`);
  // §4.1: an Empty message (0.00) has no token and no bytes after the Message ID.
  if (h.code === 0 && (h.tokenLength !== 0 || b.length !== 4)) {
    throw new DecodeError('coap.empty', 'an Empty message (code 0.00) has no token, options or payload');
  }
  let p = 4 + h.tokenLength;
  if (p > b.length) throw new DecodeError('coap.token', `the token runs past the end (${h.tokenLength} bytes announced)`);
  const token = b.subarray(4, p);
  const options: Array<[number, Buffer]> = [];
  let number = 0;
  while (p < b.length) {
    const first = b[p]!;
    if (first === 0xff) {
      // §3: a payload marker followed by a zero-length payload is a format error.
      if (p + 1 === b.length) throw new DecodeError('coap.payload-marker', 'a payload marker with no payload after it');
      return message(h, token, options, b.subarray(p + 1));
    }
    p += 1;
    const delta = extended(b, first >>> 4, p, 'delta');
    p = delta.next;
    const length = extended(b, first & 0x0f, p, 'length');
    p = length.next;
    if (p + length.value > b.length) throw new DecodeError('coap.option', `option ${number + delta.value} runs past the end of the message`);
    number += delta.value;
    options.push([number, b.subarray(p, p + length.value)]);
    p += length.value;
  }
  return message(h, token, options, b.subarray(b.length));
}

/** The message as one object literal of fixed shape (a spread of the header would build it key by key). */
function message(h: CoapHeader, token: Buffer, options: Array<[number, Buffer]>, payload: Buffer): CoapMessage {
  return { type: h.type, tokenLength: h.tokenLength, code: h.code, messageId: h.messageId, token, options, payload };
}

/** §3.1: a nibble of 13 or 14 announces one or two more bytes; 15 is reserved (a format error). */
function extended(b: Buffer, nibble: number, p: number, what: 'delta' | 'length'): { value: number; next: number } {
  if (nibble < 13) return { value: nibble, next: p };
  if (nibble === 15) throw new DecodeError('coap.option', `option ${what} nibble 15 is reserved`);
  const bytes = nibble === 13 ? 1 : 2;
  if (p + bytes > b.length) throw new DecodeError('coap.option', `the extended option ${what} runs past the end`);
  return nibble === 13 ? { value: b[p]! + 13, next: p + 1 } : { value: b.readUInt16BE(p) + 269, next: p + 2 };
}

/**
 * The first option of a request a server must refuse (§5.4.1): a critical one (odd number) it
 * does not understand, or one repeated that may appear once (§5.4.5: treated as unrecognised).
 */
export function firstBadOption(options: ReadonlyArray<readonly [number, Buffer]>, understood: ReadonlySet<number>): number | undefined {
  let previous = -1;
  for (const [number] of options) {
    if (isCritical(number) && !understood.has(number)) return number;
    if (number === previous && isCritical(number) && isRepeatable(number) === false) return number;
    previous = number;
  }
  return undefined;
}

/** The value of the first `number` option, or undefined. */
export function optionValue(options: ReadonlyArray<readonly [number, Buffer]>, number: number): Buffer | undefined {
  for (const [n, v] of options) if (n === number) return v;
  return undefined;
}

// Encoding: one message as a small head buffer followed by the payload as given, so a firmware
// slice goes to the socket as a second buffer (scatter/gather), never copied.

const TYPE_BITS: Record<CoapType, number> = { CON: 0, NON: 1, ACK: 2, RST: 3 };

export interface MessageHead {
  type: CoapType;
  /** "c.dd", e.g. '2.05'. */
  code: string;
  messageId: number;
  token: Buffer;
  /** [option number, value], in ascending option number (RFC 7252 §3.1: deltas are never negative). */
  options: ReadonlyArray<readonly [number, Buffer]>;
}

/** The message as buffers to send together: the head (header, token, options, payload marker), then the payload. */
export function encodeMessage(h: MessageHead, payload?: Buffer): Buffer[] {
  if (h.token.length > 8) throw new RangeError('a token is at most 8 bytes (RFC 7252 §3)');
  let length = 4 + h.token.length;
  let last = 0;
  for (const [number, value] of h.options) {
    if (number < last) throw new RangeError('options must be in ascending order');
    length += 1 + extendedBytes(number - last) + extendedBytes(value.length) + value.length;
    last = number;
  }
  const hasPayload = payload !== undefined && payload.length > 0;
  if (hasPayload) length += 1;
  const head = Buffer.allocUnsafe(length);
  head[0] = 0x40 | (TYPE_BITS[h.type] << 4) | h.token.length; // version 1 (RFC 7252 §3)
  head[1] = codeByte(h.code);
  head[2] = (h.messageId >>> 8) & 0xff;
  head[3] = h.messageId & 0xff;
  let p = 4 + h.token.copy(head, 4);
  last = 0;
  for (const [number, value] of h.options) {
    p = writeOption(head, p, number - last, value);
    last = number;
  }
  if (hasPayload) {
    head[p] = 0xff; // payload marker
    return [head, payload];
  }
  return [head];
}

function extendedBytes(n: number): number {
  return n < 13 ? 0 : n < 269 ? 1 : 2;
}

/** RFC 7252 §3.1: 4-bit delta and length nibbles, extended by one byte (13) or two (14). */
function writeOption(b: Buffer, p: number, delta: number, value: Buffer): number {
  b[p++] = (nibble(delta) << 4) | nibble(value.length);
  p = writeExtended(b, p, delta);
  p = writeExtended(b, p, value.length);
  return p + value.copy(b, p);
}

/** The 4-bit nibble for a delta or length: itself below 13, else 13 or 14 for one or two extended bytes. */
function nibble(n: number): number {
  return n < 13 ? n : n < 269 ? 13 : 14;
}

function writeExtended(b: Buffer, p: number, n: number): number {
  if (n < 13) return p;
  if (n < 269) { b[p] = n - 13; return p + 1; }
  b.writeUInt16BE(n - 269, p);
  return p + 2;
}

/** "c.dd" → the code byte: class in the top 3 bits, detail in the low 5 (RFC 7252 §3). */
function codeByte(code: string): number {
  const dot = code.indexOf('.');
  return (Number(code.slice(0, dot)) << 5) | Number(code.slice(dot + 1));
}
