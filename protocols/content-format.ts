/**
 * CoAP Content-Format numbers used by LwM2M (IANA "CoAP Content-Formats" registry;
 * LwM2M 1.1 Core, data formats), and the numbers of the media types a CoAP stack may hand over
 * in their place.
 */
export const ContentFormat = {
  TEXT: 0,
  LINK_FORMAT: 40,
  OPAQUE: 42,
  CBOR: 60,
  SENML_JSON: 110,
  SENML_CBOR: 112,
  TLV: 11542,
  LWM2M_JSON: 11543,
  LWM2M_CBOR: 11544,
} as const;

export type ContentFormatValue = (typeof ContentFormat)[keyof typeof ContentFormat];

/** Content-Format numbers by media type (RFC 7252 §12.3, RFC 8428 §12, LwM2M 1.1 Core). */
const BY_MEDIA_TYPE: ReadonlyMap<string, number> = new Map([
  ['text/plain', 0], ['application/link-format', 40], ['application/xml', 41], ['application/octet-stream', 42],
  ['application/exi', 47], ['application/json', 50], ['application/cbor', 60],
  ['application/senml+json', 110], ['application/senml+cbor', 112],
  ['application/vnd.oma.lwm2m+tlv', 11542], ['application/vnd.oma.lwm2m+json', 11543], ['application/vnd.oma.lwm2m+cbor', 11544],
]);

/**
 * The Content-Format number of a media type ('application/link-format' → 40; parameters after ';'
 * are not read) or of a number in decimal ('11542'); undefined for a media type not listed here.
 */
export function contentFormatOfMediaType(mediaType: string): number | undefined {
  if (/^\d+$/.test(mediaType)) return Number(mediaType);
  return BY_MEDIA_TYPE.get(mediaType.split(';')[0]!.trim());
}
