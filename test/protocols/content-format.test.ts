import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ContentFormat, contentFormatOfMediaType } from '../../protocols/content-format.ts';

// IANA CoAP Content-Formats registry (RFC 7252 §12.3, RFC 8428 §12, OMA LwM2M 1.1/1.2 Core).
test('IANA CoAP Content-Format numbers', () => {
  assert.equal(ContentFormat, {
    TEXT: 0,
    LINK_FORMAT: 40,
    OPAQUE: 42,
    CBOR: 60,
    SENML_JSON: 110,
    SENML_CBOR: 112,
    TLV: 11542,
    LWM2M_JSON: 11543,
    LWM2M_CBOR: 11544,
  });
});

// RFC 7252 §12.3 Table 9, RFC 8428 §12, OMA LwM2M 1.1 Core: the media type of each number.
test('Content-Format of a media type, as a CoAP stack may hand the option over', () => {
  const vectors: Array<[string, number | undefined]> = [
    ['text/plain', ContentFormat.TEXT],
    ['text/plain; charset=utf-8', ContentFormat.TEXT],
    ['application/link-format', ContentFormat.LINK_FORMAT],
    ['application/xml', 41],
    ['application/octet-stream', ContentFormat.OPAQUE],
    ['application/exi', 47],
    ['application/json', 50],
    ['application/cbor', ContentFormat.CBOR],
    ['application/senml+json', ContentFormat.SENML_JSON],
    ['application/senml+cbor', ContentFormat.SENML_CBOR],
    ['application/vnd.oma.lwm2m+tlv', ContentFormat.TLV],
    ['application/vnd.oma.lwm2m+json', ContentFormat.LWM2M_JSON],
    ['application/vnd.oma.lwm2m+cbor', ContentFormat.LWM2M_CBOR],
    ['11542', 11542],
    ['0', 0],
    ['image/svg+xml', undefined],
    ['constructor', undefined],
    ['', undefined],
  ];
  for (const [mediaType, number] of vectors) assert.is(contentFormatOfMediaType(mediaType), number, mediaType);
});

test.run();
