/**
 * CoAP options on top of coap-packet (node-coap's own codec), which parses and generates the
 * messages: a read view over a parsed message's options, and the list of options to hand to
 * `generate`. The option numbers and the uint option value format come from
 * protocols/coap-option.ts; the framing stays coap-packet's, a parser independent of the server's.
 */
import type { Option, ParsedPacket } from 'coap-packet';
import { decodeBlock, encodeBlock } from '../../protocols/block.ts';
import type { BlockOption } from '../../protocols/block.ts';
import { CoapOption, decodeUint, encodeUint, isCritical, optionNumber } from '../../protocols/coap-option.ts';

/** The options the device understands. */
const KNOWN = new Set<number>(Object.values(CoapOption));

/** A read view over one message's options, in wire order. */
export class CoapOptions {
  readonly #entries: ReadonlyArray<{ number: number; value: Buffer }>;

  constructor(parsed: ParsedPacket['options']) {
    this.#entries = parsed.map((o) => ({
      number: typeof o.name === 'number' ? o.name : (optionNumber(o.name) ?? Number.NaN),
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
    return this.#uint(CoapOption.CONTENT_FORMAT);
  }
  get accept(): number | undefined {
    return this.#uint(CoapOption.ACCEPT);
  }
  get observe(): number | undefined {
    return this.#uint(CoapOption.OBSERVE);
  }
  get size1(): number | undefined {
    return this.#uint(CoapOption.SIZE1);
  }
  get size2(): number | undefined {
    return this.#uint(CoapOption.SIZE2);
  }
  get maxAge(): number | undefined {
    return this.#uint(CoapOption.MAX_AGE);
  }
  get etag(): Buffer | undefined {
    return this.get(CoapOption.ETAG);
  }
  /** RFC 9175 §2.2: a server's freshness or reachability check, to be sent back in the next request. */
  get echo(): Buffer | undefined {
    return this.get(CoapOption.ECHO);
  }
  /** Decoded Block2 (RFC 7959 §2.2); throws the codec's DecodeError on a bad value. */
  get block2(): BlockOption | undefined {
    const v = this.get(CoapOption.BLOCK2);
    return v === undefined ? undefined : decodeBlock(v);
  }
  get block1(): BlockOption | undefined {
    const v = this.get(CoapOption.BLOCK1);
    return v === undefined ? undefined : decodeBlock(v);
  }
  get uriPath(): string[] {
    return this.#strings(CoapOption.URI_PATH);
  }
  get uriQuery(): string[] {
    return this.#strings(CoapOption.URI_QUERY);
  }
  get locationPath(): string[] {
    return this.#strings(CoapOption.LOCATION_PATH);
  }

  /** RFC 7252 §5.4.1: odd option numbers are critical; these are the ones we don't know. */
  unknownCritical(): number[] {
    return this.#entries.filter((e) => isCritical(e.number) && !KNOWN.has(e.number)).map((e) => e.number);
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
  if (o.etag !== undefined) out.push({ name: CoapOption.ETAG, value: o.etag });
  uint(CoapOption.OBSERVE, o.observe);
  strings(CoapOption.LOCATION_PATH, o.locationPath);
  strings(CoapOption.URI_PATH, o.uriPath);
  uint(CoapOption.CONTENT_FORMAT, o.contentFormat);
  uint(CoapOption.MAX_AGE, o.maxAge);
  strings(CoapOption.URI_QUERY, o.uriQuery);
  uint(CoapOption.ACCEPT, o.accept);
  if (o.block2 !== undefined) out.push({ name: CoapOption.BLOCK2, value: encodeBlock(o.block2) });
  if (o.block1 !== undefined) out.push({ name: CoapOption.BLOCK1, value: encodeBlock(o.block1) });
  uint(CoapOption.SIZE2, o.size2);
  uint(CoapOption.SIZE1, o.size1);
  if (o.echo !== undefined) out.push({ name: CoapOption.ECHO, value: o.echo });
  return out;
}
