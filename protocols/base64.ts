/**
 * Base64 for the text formats: SenML "vd" is base64url without padding (RFC 8428 §5, RFC 4648
 * §5); plain text Opaque is base64 (LwM2M 1.1 Core §7.4.1). Decoding is strict about characters
 * and length but takes either alphabet, with or without padding, since clients differ.
 */
import { DecodeError } from './errors.ts';

const BASE64 = /^(?:[A-Za-z0-9+/\-_]{4})*(?:[A-Za-z0-9+/\-_]{2}(?:==)?|[A-Za-z0-9+/\-_]{3}=?)?$/;

export function decodeBase64(text: string, code: string): Buffer {
  if (!BASE64.test(text)) throw new DecodeError(code, 'value is not base64');
  const bytes = Buffer.from(text, 'base64url');
  // Leftover bits in the last character must be zero, or two spellings would mean the same bytes.
  if (bytes.toString('base64url') !== text.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')) {
    throw new DecodeError(code, 'value is not canonical base64');
  }
  return bytes;
}

/** RFC 4648 §5, no padding (SenML "vd"). */
export function encodeBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/** RFC 4648 §4, padded (plain text Opaque). */
export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}
