/**
 * A CoAP error answer from a catalogue code (../error-codes.ts): the response code is the code's,
 * and the diagnostic payload (RFC 7252 §5.5.2) starts with the code: `CODE: message`.
 */
import { FERRY_ERRORS, type CoapCodeOf, type CoapRefusalCode } from '../error-codes.ts';

export interface CoapRefusal<Code extends string = string> {
  /** The CoAP response code, e.g. 4.04. */
  code: Code;
  /** The diagnostic payload's text; empty for none. */
  diagnostic: string;
}

export function coapRefusal<C extends CoapRefusalCode>(code: C, message: string): CoapRefusal<CoapCodeOf<C>> {
  return { code: FERRY_ERRORS[code].coap as CoapCodeOf<C>, diagnostic: `${code}: ${message}` };
}

/** A diagnostic cut to at most `room` bytes of UTF-8, or undefined when not even its code fits. */
export function cutDiagnostic(diagnostic: string, room: number): string | undefined {
  const codeEnd = diagnostic.indexOf(':');
  if (room <= 0 || room < (codeEnd < 0 ? diagnostic.length : codeEnd)) return undefined;
  let text = diagnostic.slice(0, room);
  while (Buffer.byteLength(text, 'utf8') > room) text = text.slice(0, -1);
  return text;
}
