import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ContentFormat } from '../../protocols/content-format.ts';

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

test.run();
