/**
 * CoAP Content-Format numbers used by LwM2M (IANA "CoAP Content-Formats" registry;
 * LwM2M 1.1 Core, data formats).
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
