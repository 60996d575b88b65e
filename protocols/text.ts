/**
 * Plain text (content-format 0) values of single resources: the value is a UTF-8 string, an
 * integer is its ASCII decimal form with an optional '-', a boolean is '0' or '1'
 * (LwM2M 1.1 Core, Plain Text data format).
 */
import { DecodeError } from './errors.ts';
import { decodeUtf8, encodeUtf8 } from './utf8.ts';

/** Up to 20 digits after an optional '-': the widest a 64-bit integer needs. */
const INTEGER_PATTERN = /^-?[0-9]{1,20}$/;

/** Decodes a decimal integer; values past Number.MAX_SAFE_INTEGER are refused. */
export function decodeTextInteger(b: Buffer): number {
  if (b.length === 0 || b.length > 21) {
    throw new DecodeError('text.integer', 'integer must be 1 to 20 decimal digits with an optional "-"');
  }
  const text = b.toString('latin1');
  if (!INTEGER_PATTERN.test(text)) {
    throw new DecodeError('text.integer', 'integer must be decimal digits with an optional "-"');
  }
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new DecodeError('text.integer', 'integer is out of the safe range');
  return n === 0 ? 0 : n; // no -0
}

/** Decodes a string; malformed UTF-8 is DecodeError('text.utf8'). */
export function decodeTextString(b: Buffer): string {
  return decodeUtf8(b, 'text.utf8', 'text value');
}

/** Encodes a string, a finite number (decimal) or a boolean ('1' / '0'). */
export function encodeText(v: string | number | boolean): Buffer {
  if (typeof v === 'boolean') return Buffer.from(v ? '1' : '0', 'latin1');
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new RangeError(`cannot encode ${v} as plain text`);
    return Buffer.from(String(v), 'latin1');
  }
  return encodeUtf8(v);
}
