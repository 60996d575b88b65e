/**
 * Encoding of one CoAP message (RFC 7252 §3) as a small head buffer followed by the payload as
 * given: the firmware slice goes to the socket as a second buffer (scatter/gather), never copied.
 */

export type MessageType = 'CON' | 'NON' | 'ACK' | 'RST';

const TYPES: Record<MessageType, number> = { CON: 0, NON: 1, ACK: 2, RST: 3 };

export interface MessageHead {
  type: MessageType;
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
  head[0] = 0x40 | (TYPES[h.type] << 4) | h.token.length; // version 1 (RFC 7252 §3)
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
  const nibble = (n: number): number => (n < 13 ? n : n < 269 ? 13 : 14);
  b[p++] = (nibble(delta) << 4) | nibble(value.length);
  p = writeExtended(b, p, delta);
  p = writeExtended(b, p, value.length);
  return p + value.copy(b, p);
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
