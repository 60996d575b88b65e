/** Strict UTF-8 for the codecs: malformed bytes are an error, never U+FFFD. */
import { DecodeError } from './errors.ts';

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Decodes UTF-8; overlong forms, surrogates, code points past U+10FFFF and truncated sequences throw. */
export function decodeUtf8(bytes: Uint8Array, code: string, what: string): string {
  try {
    return decoder.decode(bytes);
  } catch {
    throw new DecodeError(code, `${what} is not valid UTF-8`);
  }
}

/** Encodes a string as UTF-8; a lone surrogate (not representable in UTF-8) is a RangeError. */
export function encodeUtf8(text: string): Buffer {
  if (LONE_SURROGATE.test(text)) throw new RangeError('string contains a lone surrogate');
  return Buffer.from(text, 'utf8');
}

/** False when a JS string holds a lone surrogate (say from a JSON "\ud800" escape): not UTF-8 text. */
export function isWellFormedText(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
