/**
 * Reading node-coap's messages by option number rather than by its converted header names:
 * Uri-Path and Uri-Query segments stay separate (a '/' or '&' inside one is data), and the
 * numeric options come back as numbers whatever node-coap registered for them.
 */
import { OutgoingMessage, type IncomingMessage } from 'coap';
import { decodeUint, encodeUint } from '../../protocols/coap-option.ts';
import { contentFormatOfMediaType } from '../../protocols/content-format.ts';
import { decodeUtf8 } from '../../protocols/utf8.ts';
import type { CoapRefusal } from './refusal.ts';

type AnyOption = { name: number | string; value: unknown };

function raw(msg: IncomingMessage, name: string): unknown[] {
  const options = (msg as unknown as { options?: AnyOption[] }).options ?? [];
  return options.filter((o) => o.name === name).map((o) => o.value);
}

/** RFC 7252 §5.10.1: Uri-Path and Uri-Query are strings, i.e. UTF-8; anything else is DecodeError → 4.00. */
function toText(v: unknown, code: string, what: string): string {
  if (Buffer.isBuffer(v)) return decodeUtf8(v, code, what);
  return String(v);
}

export function uriPath(msg: IncomingMessage): string[] {
  return raw(msg, 'Uri-Path').map((v) => toText(v, 'coap.uri-path', 'a Uri-Path segment'));
}

export function uriQuery(msg: IncomingMessage): string[] {
  return raw(msg, 'Uri-Query').map((v) => toText(v, 'coap.uri-query', 'a Uri-Query value'));
}

export function optionBuffer(msg: IncomingMessage, name: string): Buffer | undefined {
  const v = raw(msg, name)[0];
  if (v === undefined || v === null) return undefined;
  if (Buffer.isBuffer(v)) return v;
  // node-coap reads Size1, Size2 and Max-Age as numbers: Infinity for a value of 129 bytes or more.
  // Their values are at most 4 bytes (RFC 7252 §5.10, RFC 7959 §4); one of a length outside its
  // range is treated as an unrecognised option (§5.4.3), and these are elective: ignored.
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? encodeUint(v) : undefined;
  return Buffer.from(String(v), 'utf8');
}

/** Content-Format / Accept as a number (node-coap turns known ones into media-type strings). */
export function contentFormatOf(msg: IncomingMessage, name: 'Content-Format' | 'Accept' = 'Content-Format'): number | undefined {
  const b = optionBuffer(msg, name);
  if (b === undefined) return undefined;
  const v = raw(msg, name)[0];
  if (typeof v === 'string' && !Buffer.isBuffer(v)) return contentFormatOfMediaType(v);
  // RFC 7252 §5.10.3, §5.10.4: 0–2 bytes; node-coap hands over a number only for those.
  return decodeUint(b);
}

const endAsIs = OutgoingMessage.prototype.end;

/**
 * Sends a response exactly as given. node-coap's server response re-slices any payload of a
 * request that carried Block2 (and drops it for an error code); our handlers do their own
 * block-wise work, so they send through the plain message.
 */
export function send(res: OutgoingMessage, payload?: Buffer): void {
  endAsIs.call(res, payload);
}

/** Ends a response with a refusal's code and diagnostic payload (RFC 7252 §5.5.2; refusal.ts). */
export function replyError(res: OutgoingMessage, refusal: CoapRefusal): void {
  res.code = refusal.code;
  send(res, Buffer.from(refusal.diagnostic.slice(0, 200), 'utf8'));
}
