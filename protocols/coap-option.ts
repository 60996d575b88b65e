/**
 * CoAP options (RFC 7252 §3.1, §5.4, §5.10): the option numbers and names of the registered
 * options Ferry meets, what an option's number says of it (§5.4.6: Critical, UnSafe,
 * NoCacheKey), which options may be repeated (§5.4.5), and the uint option value format (§3.2).
 */

/**
 * Option numbers: RFC 7252 §5.10 Table 4 (§12.2), Observe (RFC 7641 §2), Block2, Block1 and Size2
 * (RFC 7959 §2.1, §4), Echo and Request-Tag (RFC 9175 §2.2.1, §3.2.1), No-Response (RFC 7967 §2).
 * Each key is the option's name in capitals, '-' as '_'.
 */
export const CoapOption = {
  IF_MATCH: 1, URI_HOST: 3, ETAG: 4, IF_NONE_MATCH: 5, OBSERVE: 6, URI_PORT: 7, LOCATION_PATH: 8,
  URI_PATH: 11, CONTENT_FORMAT: 12, MAX_AGE: 14, URI_QUERY: 15, ACCEPT: 17, LOCATION_QUERY: 20,
  BLOCK2: 23, BLOCK1: 27, SIZE2: 28, PROXY_URI: 35, PROXY_SCHEME: 39, SIZE1: 60,
  ECHO: 252, NO_RESPONSE: 258, REQUEST_TAG: 292,
} as const;

export type CoapOptionNumber = (typeof CoapOption)[keyof typeof CoapOption];

/** The options of CoapOption by number: the name the RFCs give each, and its "R" (repeatable) column. */
const DEFINED: ReadonlyArray<readonly [number, string, 'repeatable' | 'once']> = [
  [1, 'If-Match', 'repeatable'], [3, 'Uri-Host', 'once'], [4, 'ETag', 'repeatable'], [5, 'If-None-Match', 'once'],
  [6, 'Observe', 'once'], [7, 'Uri-Port', 'once'], [8, 'Location-Path', 'repeatable'], [11, 'Uri-Path', 'repeatable'],
  [12, 'Content-Format', 'once'], [14, 'Max-Age', 'once'], [15, 'Uri-Query', 'repeatable'], [17, 'Accept', 'once'],
  [20, 'Location-Query', 'repeatable'], [23, 'Block2', 'once'], [27, 'Block1', 'once'], [28, 'Size2', 'once'],
  [35, 'Proxy-Uri', 'once'], [39, 'Proxy-Scheme', 'once'], [60, 'Size1', 'once'],
  [252, 'Echo', 'once'], [258, 'No-Response', 'once'], [292, 'Request-Tag', 'repeatable'],
];

/**
 * Other registered options, by name only, so that a stack that names them (rather than numbering
 * them) is read back to the number: OSCORE (RFC 8613), Hop-Limit (RFC 8768), Q-Block1 and
 * Q-Block2 (RFC 9177), and the two OCF content-format versions. Ferry understands none of them.
 */
const NAMED_ONLY: ReadonlyArray<readonly [number, string]> = [
  [9, 'OSCORE'], [16, 'Hop-Limit'], [19, 'Q-Block1'], [31, 'Q-Block2'],
  [2049, 'OCF-Accept-Content-Format-Version'], [2053, 'OCF-Content-Format-Version'],
];

const NAME_BY_NUMBER: ReadonlyMap<number, string> = new Map([...DEFINED, ...NAMED_ONLY].map(([n, name]) => [n, name]));
const NUMBER_BY_NAME: ReadonlyMap<string, number> = new Map([...DEFINED, ...NAMED_ONLY].map(([n, name]) => [name, n]));
const REPEATABLE: ReadonlyMap<number, boolean> = new Map(DEFINED.map(([n, , r]) => [n, r === 'repeatable']));

/** The registered name of an option number, e.g. 11 → 'Uri-Path'; undefined for one not listed here. */
export function optionName(number: number): string | undefined {
  return NAME_BY_NUMBER.get(number);
}

/** The number of an option by its registered name ('Uri-Path' → 11) or in decimal ('2050' → 2050); undefined otherwise. */
export function optionNumber(name: string): number | undefined {
  const n = NUMBER_BY_NAME.get(name);
  if (n !== undefined) return n;
  return /^\d+$/.test(name) ? Number(name) : undefined;
}

/** §5.4.6: an odd number is a critical option (§5.4.1: one not understood fails the request). */
export function isCritical(number: number): boolean {
  return (number & 1) === 1;
}

/** §5.4.6: bit 1 set is an unsafe option (§5.4.2: a proxy that does not understand it may not forward it). */
export function isUnsafe(number: number): boolean {
  return (number & 2) === 2;
}

/** §5.4.6: bits 1–4 = 1110 is a NoCacheKey option (meaningful for safe-to-forward options only). */
export function isNoCacheKey(number: number): boolean {
  return (number & 0x1e) === 0x1c;
}

/** §5.4.5: whether the option may occur more than once; undefined for an option not in CoapOption. */
export function isRepeatable(number: number): boolean | undefined {
  return REPEATABLE.get(number);
}

/**
 * A uint option value (§3.2): the number big-endian in the fewest bytes, 0 as the empty value.
 * `value` is a whole number from 0 to 2^53 - 1 (RangeError otherwise: Infinity would loop forever).
 */
export function encodeUint(value: number): Buffer {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`a uint option value is a whole number from 0 to 2^53 - 1, not ${value}`);
  let length = 0;
  for (let v = value; v > 0; v = Math.floor(v / 256)) length++;
  const b = Buffer.allocUnsafe(length);
  for (let i = length - 1, v = value; i >= 0; i--, v = Math.floor(v / 256)) b[i] = v % 256;
  return b;
}

/**
 * A uint option value read (§3.2): big-endian, the empty value 0, leading zero bytes accepted ("a
 * recipient MUST be prepared to process values with leading zero bytes"). A value longer than
 * `maxBytes` (4, the longest uint of Table 4, unless told; at most 6 keeps every value exact) is
 * outside the option's range: undefined, for the caller to treat as unrecognised (§5.4.3).
 */
export function decodeUint(value: Uint8Array, maxBytes = 4): number | undefined {
  if (value.length > maxBytes) return undefined;
  let n = 0;
  for (let i = 0; i < value.length; i++) n = n * 256 + value[i]!;
  return n;
}
