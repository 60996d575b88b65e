/**
 * CoAP options on top of coap-packet (node-coap's own codec): option numbers (RFC 7252 §5.10,
 * RFC 7641 §2, RFC 7959 §2.1), uint option values, a read view over a parsed message's options,
 * and the list of options to hand to `generate`.
 */
import type { Option, ParsedPacket } from 'coap-packet';
import { decodeBlock, encodeBlock } from '../../protocols/block.ts';
import type { BlockOption } from '../../protocols/block.ts';

export const OptionNumber = {
  IF_MATCH: 1,
  URI_HOST: 3,
  ETAG: 4,
  IF_NONE_MATCH: 5,
  OBSERVE: 6,
  URI_PORT: 7,
  LOCATION_PATH: 8,
  URI_PATH: 11,
  CONTENT_FORMAT: 12,
  MAX_AGE: 14,
  URI_QUERY: 15,
  ACCEPT: 17,
  LOCATION_QUERY: 20,
  BLOCK2: 23,
  BLOCK1: 27,
  SIZE2: 28,
  PROXY_URI: 35,
  PROXY_SCHEME: 39,
  SIZE1: 60,
  ECHO: 252,
  NO_RESPONSE: 258,
} as const;

const KNOWN = new Set<number>(Object.values(OptionNumber));

/** coap-packet names the options it knows; map those names back to numbers. */
const NUMBER_BY_NAME: Record<string, number> = {
  'If-Match': 1,
  'Uri-Host': 3,
  ETag: 4,
  'If-None-Match': 5,
  Observe: 6,
  'Uri-Port': 7,
  'Location-Path': 8,
  OSCORE: 9,
  'Uri-Path': 11,
  'Content-Format': 12,
  'Max-Age': 14,
  'Uri-Query': 15,
  'Hop-Limit': 16,
  Accept: 17,
  'Q-Block1': 19,
  'Location-Query': 20,
  Block2: 23,
  Block1: 27,
  Size2: 28,
  'Q-Block2': 31,
  'Proxy-Uri': 35,
  'Proxy-Scheme': 39,
  Size1: 60,
  Echo: 252,
  'No-Response': 258,
  'OCF-Accept-Content-Format-Version': 2049,
  'OCF-Content-Format-Version': 2053,
};

/** RFC 7252 §3.2 uint: big-endian, leading zero bytes removed (0 is the empty string). */
export function encodeUint(value: number): Buffer {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new RangeError(`uint option out of range: ${value}`);
  }
  const bytes: number[] = [];
  for (let v = value; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  return Buffer.from(bytes);
}

export function decodeUint(buf: Buffer): number {
  let value = 0;
  for (const byte of buf) value = value * 256 + byte;
  return value;
}

/** A read view over one message's options, in wire order. */
export class CoapOptions {
  readonly #entries: ReadonlyArray<{ number: number; value: Buffer }>;

  constructor(parsed: ParsedPacket['options']) {
    this.#entries = parsed.map((o) => ({
      number: typeof o.name === 'number' ? o.name : (NUMBER_BY_NAME[o.name] ?? Number.parseInt(o.name, 10)),
      value: o.value,
    }));
  }

  get(number: number): Buffer | undefined {
    return this.#entries.find((e) => e.number === number)?.value;
  }

  all(number: number): Buffer[] {
    return this.#entries.filter((e) => e.number === number).map((e) => e.value);
  }

  #uint(number: number): number | undefined {
    const v = this.get(number);
    return v === undefined ? undefined : decodeUint(v);
  }

  #strings(number: number): string[] {
    return this.all(number).map((v) => v.toString('utf8'));
  }

  get contentFormat(): number | undefined {
    return this.#uint(OptionNumber.CONTENT_FORMAT);
  }
  get accept(): number | undefined {
    return this.#uint(OptionNumber.ACCEPT);
  }
  get observe(): number | undefined {
    return this.#uint(OptionNumber.OBSERVE);
  }
  get size1(): number | undefined {
    return this.#uint(OptionNumber.SIZE1);
  }
  get size2(): number | undefined {
    return this.#uint(OptionNumber.SIZE2);
  }
  get maxAge(): number | undefined {
    return this.#uint(OptionNumber.MAX_AGE);
  }
  get etag(): Buffer | undefined {
    return this.get(OptionNumber.ETAG);
  }
  /** RFC 9175 §2.2: a server's freshness or reachability check, to be sent back in the next request. */
  get echo(): Buffer | undefined {
    return this.get(OptionNumber.ECHO);
  }
  /** Decoded Block2 (RFC 7959 §2.2); throws the codec's DecodeError on a bad value. */
  get block2(): BlockOption | undefined {
    const v = this.get(OptionNumber.BLOCK2);
    return v === undefined ? undefined : decodeBlock(v);
  }
  get block1(): BlockOption | undefined {
    const v = this.get(OptionNumber.BLOCK1);
    return v === undefined ? undefined : decodeBlock(v);
  }
  get uriPath(): string[] {
    return this.#strings(OptionNumber.URI_PATH);
  }
  get uriQuery(): string[] {
    return this.#strings(OptionNumber.URI_QUERY);
  }
  get locationPath(): string[] {
    return this.#strings(OptionNumber.LOCATION_PATH);
  }

  /** RFC 7252 §5.4.1: odd option numbers are critical; these are the ones we don't know. */
  unknownCritical(): number[] {
    return this.#entries.filter((e) => e.number % 2 === 1 && !KNOWN.has(e.number)).map((e) => e.number);
  }
}

/** The options a message we send may carry. */
export interface OutgoingOptions {
  uriPath?: readonly string[];
  uriQuery?: readonly string[];
  locationPath?: readonly string[];
  contentFormat?: number;
  accept?: number;
  observe?: number;
  etag?: Buffer;
  maxAge?: number;
  block1?: BlockOption;
  block2?: BlockOption;
  size1?: number;
  size2?: number;
  echo?: Buffer;
}

/** The option list for coap-packet's `generate` (it sorts them and computes the deltas). */
export function encodeOptions(o: OutgoingOptions): Option[] {
  const out: Option[] = [];
  const uint = (name: number, v: number | undefined): void => {
    if (v !== undefined) out.push({ name, value: encodeUint(v) });
  };
  const strings = (name: number, list: readonly string[] | undefined): void => {
    for (const s of list ?? []) out.push({ name, value: Buffer.from(s, 'utf8') });
  };
  if (o.etag !== undefined) out.push({ name: OptionNumber.ETAG, value: o.etag });
  uint(OptionNumber.OBSERVE, o.observe);
  strings(OptionNumber.LOCATION_PATH, o.locationPath);
  strings(OptionNumber.URI_PATH, o.uriPath);
  uint(OptionNumber.CONTENT_FORMAT, o.contentFormat);
  uint(OptionNumber.MAX_AGE, o.maxAge);
  strings(OptionNumber.URI_QUERY, o.uriQuery);
  uint(OptionNumber.ACCEPT, o.accept);
  if (o.block2 !== undefined) out.push({ name: OptionNumber.BLOCK2, value: encodeBlock(o.block2) });
  if (o.block1 !== undefined) out.push({ name: OptionNumber.BLOCK1, value: encodeBlock(o.block1) });
  uint(OptionNumber.SIZE2, o.size2);
  uint(OptionNumber.SIZE1, o.size1);
  if (o.echo !== undefined) out.push({ name: OptionNumber.ECHO, value: o.echo });
  return out;
}
