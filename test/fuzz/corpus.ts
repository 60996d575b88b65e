/**
 * Seed corpus of the decoder fuzzers: valid messages from the specifications (the same vectors the
 * tests in test/protocols use), and inputs shaped after published crashers of other CoAP/LwM2M
 * stacks, each turned into bytes for the Ferry decoder that reads the same kind of field. Every
 * seed runs on each fuzz run (CI included), and the fuzzers mutate from them.
 *
 * The crasher seeds name their source (CVE, or repository and issue/PR number); none of them is
 * code from those projects, only the shape of the input that broke them.
 */
import * as tlvVectors from '../protocols/tlv-vectors.ts';

/** Bytes from a hex string, spaces and newlines allowed. */
export function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

// ---- OMA-TLV (content-format 11542)

export const TLV: Buffer[] = [
  // LwM2M 1.0 TS §6.4.3.1–§6.4.3.3 / 1.1 Core §7.4.3 examples.
  tlvVectors.DEVICE, tlvVectors.DEVICE_WRAPPED, tlvVectors.ACL, tlvVectors.SERVER, tlvVectors.OBJ65, tlvVectors.OBJ66,
  hex('C8 00 14 4F 70 65 6E 20 4D 6F 62 69 6C 65 20 41 6C 6C 69 61 6E 63 65'), // Read /3/0/0
  hex('41 00 01'), // Read /3/0/6/0: a bare resource instance
  hex('08 00 00 80 01'), // an empty object instance, an empty multiple resource
  hex('CF 00 01 41'), hex('D7 00 00 01 41'), hex('D8 00 00 00 02 41 42'), // longer length forms than needed
  hex('F0 FF FE 01 2C') , // 16-bit identifier 65534, 16-bit length (truncated value)
  // contiki-ng/contiki-ng PR #3165: lwm2m_tlv_read() ignored the buffer length; a last TLV whose header or value runs past the end.
  hex('C8 00 14 4F 70'), hex('C8'), hex('E8 00'), hex('C1 09 64 C8 00'),
  // contiki-ng/contiki-ng PR #3166: a zero-length TLV integer read value[0]; a float shorter than 4 bytes was read as 4.
  hex('C0 09'), hex('C2 03 3F 80'), hex('08 00 02 C0 09'),
  // ConnectivityFoundry/AwaLWM2M PR #43: a 16-bit identifier with a 24-bit length makes a 6-byte header (a 5-byte buffer overflowed).
  hex('F8 01 00 00 00 01 41'), hex('F8 FF FE FF FF FF 41'),
  // eclipse-leshan/leshan #846: "Invalid 'identifier' length", a 16-bit identifier announced with one byte left.
  hex('E1 00'), hex('08 00 02 E1 00'),
  // ARMmbed/mbed-os #12930: a length past 65535 rolled over; here a 24-bit length of 0xFFFFFF over a few bytes.
  hex('D8 00 FF FF FF 00'), hex('18 00 FF FF FF'),
  // Leshan TlvDecoderTest "broken TLV": nesting that §7.4.3 does not allow.
  hex('00 11 22 33 44 55 66 77 88 99 00'), hex('08 00 02 00 00'), hex('82 06 80 00'),
  // Identifier 65535 is reserved (LwM2M 1.1 Core §7.4.3).
  hex('E1 FF FF 00'),
];

/** TLV payloads with the path of the request they answer (Read, Write, Create). */
export const TLV_NODES: Array<[Buffer, string]> = [
  [tlvVectors.DEVICE, '/3/0'], [tlvVectors.DEVICE_WRAPPED, '/3'], [tlvVectors.DEVICE_WRAPPED, '/3/0'],
  [tlvVectors.SERVER, '/1'], [tlvVectors.OBJ65, '/65/0'], [tlvVectors.OBJ66, '/66'], [tlvVectors.ACL, '/2'],
  [hex('C8 00 14 4F 70 65 6E 20 4D 6F 62 69 6C 65 20 41 6C 6C 69 61 6E 63 65'), '/3/0/0'],
  [hex('86 06 41 00 01 41 01 05'), '/3/0/6'], [hex('41 00 01'), '/3/0/6/0'], [hex('C4 0D 51 82 42 8F'), '/3/0/13'],
  // contiki-ng/contiki-ng PR #3166: zero-length Integer (Battery Level), zero-length Time, a 2-byte Boolean.
  [hex('C0 09'), '/3/0/9'], [hex('C0 0D'), '/3/0/13'], [hex('C2 06 01 00'), '/1/0/6'],
  // Objlnk shorter and longer than 4 bytes (ExtDevInfo /3/0/22).
  [hex('86 16 42 00 00 01'), '/3/0/22'], [hex('88 16 06 45 00 00 00 00 00 00'), '/3/0/22'],
  // Time past the Date range, an 8-byte integer.
  [hex('C8 0D 08 7F FF FF FF FF FF FF FF'), '/3/0/13'],
  // A wrapped object instance whose ID is not the request's.
  [hex('08 01 03 C1 09 64'), '/3/0'],
];

// ---- SenML-JSON (110)

export const SENML_JSON: string[] = [
  // RFC 8428 §5.1 examples.
  '[{"n":"urn:dev:ow:10e2073a01080063","u":"Cel","v":23.1}]',
  '[{"bn":"urn:dev:ow:10e2073a0108006:","bt":1.276020076001e+09,"bu":"A","bver":5,"n":"voltage","u":"V","v":120.1},{"n":"current","t":-5,"v":1.2},{"n":"current","v":1.7}]',
  '[{"bn":"urn:dev:ow:10e2073a01080063:","n":"temp","u":"Cel","v":23.1},{"n":"label","vs":"Machine Room"},{"n":"open","vb":false},{"n":"nfv-reader","vd":"aGkgCg"}]',
  '[{"test":"good","n":"a","v":1,"ut":5}]', '[{"bn":"/","test_":"fail","n":"34/0/2","v":1}]',
  // LwM2M 1.1 Core §7.4.4, Tables 7.4.4-2 to 7.4.4-8.
  '[{"bn":"/3/0/","n":"0","vs":"Open Mobile Alliance"},{"n":"1","vs":"Lightweight M2M Client"},{"n":"2","vs":"345000123"},{"n":"3","vs":"1.0"},{"n":"6/0","v":1},{"n":"6/1","v":5},{"n":"7/0","v":3800},{"n":"7/1","v":5000},{"n":"8/0","v":125},{"n":"8/1","v":900},{"n":"9","v":100},{"n":"10","v":15},{"n":"11/0","v":0},{"n":"13","v":1367491215},{"n":"14","vs":"+02:00"},{"n":"16","vs":"U"}]',
  '[{"bn":"/72/","bt":25462634,"n":"1/2","v":22.4,"t":-5},{"n":"1/2","v":22.9,"t":-30},{"n":"1/2","v":24.1,"t":-50}]',
  '[{"bn":"/","n":"65/0/0/0","vlo":"66:0"},{"n":"65/0/0/1","vlo":"66:1"},{"n":"65/0/1","vs":"8613800755500"},{"n":"66/1/2","vlo":"65535:65535"}]',
  '[{"bn":"/3/0/0","vs":"Open Mobile Alliance"}]',
  '[{"n":"/3/0/0", "vs":"Open Mobile Alliance"},{"n" :"/3/0/9", "v":95},{"n":"/1/0/1", "v":86400}]',
  '[{"n":"/3311/0/5850", "vb":false},{"n":"/3311/2/5851", "v":20},{"n":"/3308/0/5900", "v":18}]',
  '[{"n":"/3/0/0"},{"n":"/3/0/9"},{"n":"/1/0/1"}]', // a Read-Composite request: names only
  '[{"bn":"/2/3","n":"/0","v":1234}]', '[{"bn":"/5/0/0","vd":"AQIDBAU="}]', '[{"bn":"/5/0/0","vd":"-_8"}]',
  '[{"bn":"/5/0/1","n":"","vs":"http"}]', '[{"bv":1,"n":"/34/0/2","v":1}]', '[{"bver":11,"n":"/34/0/2","v":1}]',
  '[{"n":"/9/0/1","v":18446744073709551615}]', '[{"n":"/3/0/13","v":1e300}]', '[{"n":"/5/0/13","v":-1}]',
  // eclipse-wakaama/wakaama #514: Create with "{}" left the decoded data NULL and it was dereferenced.
  '{}', '[]', '[{}]', '',
  // contiki-ng/contiki-ng PR #3166: a name-less JSON token's name was a wild pointer.
  '[{"v":1}]', '[{"":1}]', '[{"bn":"/3/0/","n":"","v":1}]',
  // contiki-ng/contiki-ng PR #3166: uint8_t offsets wrapped for payloads past 255 bytes.
  `[{"n":"/3/0/0","vs":"${'a'.repeat(300)}"},{"n":"/3/0/9","v":1}]`, `[{"vs":"${'b'.repeat(260)}","n":"/3/0/1"}]`,
  // zephyrproject-rtos/zephyr PR #43415: SenML JSON names without a base name.
  '[{"n":"/3/0/0","vs":"x"},{"n":"1","vs":"y"}]',
  // DaveGamble/cJSON #800, json-parser/json-parser #68, sheredom/json.h #82: parsers that read past a truncated string, escape or number.
  '[{"1":1,', '[{"n":"/3/0/0","vs":"\\uDC', '[{"n":"/3/0/9","v":0.}]', '[{"n":"/3/0/0","vs":"\\', '[{"n":"/3/0/0","vs":"\\ud800"}]',
  // RFC 8428 §4.6 resolution in floating point: base value plus value, base time plus time, past the largest double.
  '[{"bv":1e308,"n":"/9/0/3","v":1e308}]', '[{"bt":1e308,"n":"/9/0/3","v":1,"t":1e308}]', '[{"bs":-1e308,"n":"/9/0/3","s":-1e308,"v":1}]',
  // Deep nesting (a stack overflow in a recursive parser).
  `[{"n":${'['.repeat(2000)}${']'.repeat(2000)}}]`,
];

// ---- SenML-CBOR (112)

export const SENML_CBOR: Buffer[] = [
  // RFC 8428 §6: the CBOR of the §5.1.2 example, 195 bytes (a half float among them).
  hex(`87 a7 21 78 1b 75 72 6e 3a 64 65 76 3a 6f 77 3a 31 30 65 32 30 37 33 61 30 31 30 38 30 30 36 3a
    22 fb 41 d3 03 a1 5b 00 10 62 23 61 41 20 05 00 67 76 6f 6c 74 61 67 65 01 61 56 02 fb 40 5e 06
    66 66 66 66 66 a3 00 67 63 75 72 72 65 6e 74 06 24 02 fb 3f f3 33 33 33 33 33 33 a3 00 67 63 75
    72 72 65 6e 74 06 23 02 fb 3f f4 cc cc cc cc cc cd a3 00 67 63 75 72 72 65 6e 74 06 22 02 fb 3f
    f6 66 66 66 66 66 66 a3 00 67 63 75 72 72 65 6e 74 06 21 02 f9 3e 00 a3 00 67 63 75 72 72 65 6e
    74 06 20 02 fb 3f f9 99 99 99 99 99 9a a3 00 67 63 75 72 72 65 6e 74 06 00 02 fb 3f fb 33 33 33
    33 33 33`),
  // LwM2M 1.1 Core §7.4.5: Read /3/0 (Leshan AbstractSenMLTest.givenSenMLCborExample).
  hex('90a321652f332f302f00613003744f70656e204d6f62696c6520416c6c69616e6365a200613103764c696768747765696768' +
    '74204d324d20436c69656e74a20061320369333435303030313233a20061330363312e30a20063362f300201a20063362f310205a20063372f' +
    '3002190ed8a20063372f3102191388a20063382f3002187da20063382f3102190384a2006139021864a200623130020fa2006431312f300200' +
    'a200623133021a5182428fa20062313403662b30323a3030a200623136036155'),
  hex('81a221662f302f302f330843abcdef'), hex('81a202f95cb0216b2f333434322f302f313330'), // Leshan: opaque, half float
  hex('81 a3 21 68 2f36352f302f302f 00 61 30 63 766c6f 64 36363a30'), // "vlo"
  hex('81 a2 00 66 2f392f302f31 02 c4 82 20 18 2d'), // decimal fraction 4.5
  hex('81 a2 00 66 2f392f302f31 02 1b ffffffffffffffff'), hex('81 a4 21 63 2f372f 22 1a 01848a6a 00 63 312f32 02 01'),
  hex('9f bf 00 66 2f392f302f31 02 01 ff ff'), // indefinite lengths
  hex('81 a2 00 66 2f392f302f31 02 c4 82 3b ffffffffffffffff 01'), hex('81 a2 00 7f 61 2f ff 02 01'), hex('bf 00 ff'),
  // ARMmbed/mbed-os #12930 (length roll-over) and CVE-2020-12883 (lengths trusted past the input): huge counts over a few bytes.
  hex('9b ffffffffffffffff'), hex('9a ffffffff 00'), hex('81 7a ffffffff 61'), hex('81 bb 7fffffffffffffff 00'),
  // contiki-ng/contiki-ng PR #3166 for SenML-CBOR: an empty name, an empty byte-string value.
  hex('81 a2 00 60 02 01'), hex('81 a2 00 66 2f352f302f30 08 40'),
];

// ---- LwM2M-CBOR (11544): AVSystem Anjay's lwm2m_cbor_in.c / lwm2m_cbor_out.c vectors, and failures.

export const LWM2M_CBOR: Buffer[] = [
  'A1 83 0D 18 1A 01 18 2A', 'BF 9F 0D 18 1A 01 FF 18 2A FF', 'A1 0D A1 18 1A A1 01 18 2A', 'A1 81 0D A1 81 18 1A A1 81 01 18 2A',
  'BF 9F 0D FF BF 9F 18 1A FF BF 9F 01 FF 18 2A FF FF FF', 'A1 81 0D A1 81 18 1A A1 81 01 A1 81 02 C4 82 20 18 2D',
  'A1 82 0D 18 1A A2 01 18 2A 02 15', 'A2 83 0D 18 1A 01 18 2A 83 0D 18 1A 02 15', 'A2 0D A1 18 1A A1 01 01 0E A1 18 1B A1 02 02',
  'A1 82 0D 18 1A A7 01 01 02 20 03 F9 41 00 04 64 74 65 73 74 05 44 11 22 33 44 06 65 31 32 3A 33 34 07 01',
  'A1 83 03 00 0D 1A 51 82 42 8F', 'A1 83 03 00 0D C1 1A 51 82 42 8F', 'A1 84 18 41 00 00 01 64 36 36 3A 31',
  'A1 82 0D 18 1A A2 01 18 2A 03 A2 15 FB 40 51 6B 85 1E B8 51 EC 18 25 F4',
  'A1 82 0D 18 1A A1 1A 00 01 00 00 05', 'A1 83 0D 18 1A 19 FF FF 05', 'A1 85 0D 18 1A 03 04 05 05', 'A2 0D A1 80 18 1A A1 80 01 18 2A',
  'A1 83 0D FB 3F D0 A3 D7 0A 3D 70 A4 01 18 2A', 'A1 0D A1 62 32 36 A1 01 18 2A', 'A1 83 0D 18 1A 01 F6',
  'A2 83 0D 18 1A 01 01 0D A1 18 1A A1 01 02', 'A1 83 03 00 0D C1 FB 7F F0 00 00 00 00 00 00', 'A1 84 64 64 65 76 31 0D 18 1A 01 18 2A',
  // CVE-2020-12883 / ARMmbed/mbed-os #12930 pattern: a container count far past the bytes that follow.
  'A1 9B FF FF FF FF FF FF FF FF 00', 'BB 00 00 00 01 00 00 00 00 00',
].map(hex);

// ---- The strict CBOR of COSE and the manifest (RFC 8949 Appendix A and refusals)

export const CBOR: Buffer[] = [
  '00', '17', '1818', '1903e8', '1a000f4240', '1b000000e8d4a51000', '3903e7', '6449455446', '4401020304', 'a201020304',
  '83 01 82 02 03 82 04 05', 'f4', 'f5', 'f6', 'c0 74 323031332d30332d32315432303a30343a30305a', 'd8 18 45 64 49 45 54 46',
  'a201020103', 'f93c00', '5f4101ff', '0102', '1bffffffffffffffff', '9a7fffffff', '3bffffffffffffffff', '7f ff', 'ff', '1c',
  '81'.repeat(40), '62 c3 28', 'f8 20', 'a1 81 01 02',
].map(hex);

// ---- COSE_Sign1 (RFC 9052 §4.2): cose-wg/Examples sign1-tests and eddsa-examples, byte for byte.

export const COSE: Buffer[] = [
  // sign-pass-03: ES256, untagged, kid unprotected
  '8443A10126A10442313154546869732069732074686520636F6E74656E742E5840EAE868ECC176883766C5DC5BA5B8DCA25DAB3C2E56A551CE5705B793914348E19F43D6C6BA654472DA301B645B293C9BA939295B97C4BDB847782BFF384C5794',
  // sign-pass-02: tagged, external AAD
  'D28443A10126A10442313154546869732069732074686520636F6E74656E742E5840EAE868ECC176883766C5DC5BA5B8DCA25DAB3C2E56A551CE5705B793914348E155388B10C4F1B59A6733EAB416870A945111A4B2FBDBEF33A77234B1DEFF2F9B',
  // sign-pass-01: alg unprotected (refused by Ferry's policy)
  'D28441A0A201260442313154546869732069732074686520636F6E74656E742E5840EAE868ECC176883766C5DC5BA5B8DCA25DAB3C2E56A551CE5705B793914348E11A02E5F0344BF2D4EE5C7FD75A68A9F5E0B3CC1F1FC1409C189566586FF9D610',
  // eddsa-sig-01
  'D28445A201270300A10442313154546869732069732074686520636F6E74656E742E58407142FD2FF96D56DB85BEE905A76BA1D0B7321A95C8C4D3607C5781932B7AFB8711497DFA751BF40B58B3BCC32300B1487F3DB34085EEF013BF08F4A44D6FEF0D',
  // sign-fail-03: alg -999
  'D28445A1013903E6A10442313154546869732069732074686520636F6E74656E742E5840EAE868ECC176883766C5DC5BA5B8DCA25DAB3C2E56A551CE5705B793914348E19F43D6C6BA654472DA301B645B293C9BA939295B97C4BDB847782BFF384C5794',
  // sign-fail-06: a protected attribute added
  'D28445A201260300A10442313154546869732069732074686520636F6E74656E742E5840EAE868ECC176883766C5DC5BA5B8DCA25DAB3C2E56A551CE5705B793914348E19F43D6C6BA654472DA301B645B293C9BA939295B97C4BDB847782BFF384C5794',
  // Refusals: crit, detached payload, wrong tag, a 3-item array, alg as text.
  'D28446A2012602810440A054546869732069732074686520636F6E74656E742E4100', 'D28443A10126A0F64100', 'D86284 43A10126 A0 4100 4100',
  '8340A04100', 'D28449A1016545533235364000A0410041 00',
  // A 300-character text label in both header buckets (a reason that quoted it whole).
  `84 590133 A2 01 27 79012C ${'6b'.repeat(300)} 01 A1 79012C ${'6b'.repeat(300)} 01 41 00 58 40 ${'00'.repeat(64)}`,
].map(hex);

// ---- Package signing keys (PEM): fixed test keys, so every fuzz run and replay signs the same bytes.

export const ED25519_PRIVATE_PEM = `-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIHzrWjBKm0oL7ZMI4mgBj85WK02LQW5YUcE95Oxb+8zh
-----END PRIVATE KEY-----
`;
export const ED25519_PUBLIC_PEM = `-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAmMONqi1Zyxwo0PYUjF/jVenYTXO2QF12KtiyICl8eZs=
-----END PUBLIC KEY-----
`;
export const P256_PRIVATE_PEM = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgWD11kQrGKE2erSTK
TSjNXeClpVLVuoRnMys4EsLJ53WhRANCAAR0VcWOp9O1O/iPEaPIqdihARgeuqZ4
IK1k8HEess/fHZRx1QrkCWDpeRLRlJ8y10XTswSJE35bQTzcY8pUY/ot
-----END PRIVATE KEY-----
`;
export const P256_SEC1_PEM = `-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIFg9dZEKxihNnq0kyk0ozV3gpaVS1bqEZzMrOBLCyed1oAoGCCqGSM49
AwEHoUQDQgAEdFXFjqfTtTv4jxGjyKnYoQEYHrqmeCCtZPBxHrLP3x2UcdUK5Alg
6XkS0ZSfMtdF07MEiRN+W0E83GPKVGP6LQ==
-----END EC PRIVATE KEY-----
`;
export const P256_PUBLIC_PEM = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEdFXFjqfTtTv4jxGjyKnYoQEYHrqm
eCCtZPBxHrLP3x2UcdUK5Alg6XkS0ZSfMtdF07MEiRN+W0E83GPKVGP6LQ==
-----END PUBLIC KEY-----
`;

const pem = (label: string, der: Buffer): string =>
  `-----BEGIN ${label}-----\n${(der.toString('base64').match(/.{1,64}/g) ?? []).join('\n')}\n-----END ${label}-----\n`;

/** The P-256 public key as a compressed point (SEC1 §2.3.3) in its SubjectPublicKeyInfo. */
function compressedP256(): string {
  const der = Buffer.from(P256_PUBLIC_PEM.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
  const point = der.subarray(der.length - 65);
  const x = point.subarray(1, 33);
  const prefix = (point[64]! & 1) === 1 ? 0x03 : 0x02;
  return pem('PUBLIC KEY', Buffer.concat([hex('30 39 30 13 06 07 2a8648ce3d0201 06 08 2a8648ce3d030107 03 22 00'), Buffer.of(prefix), x]));
}

/** DER documents as they go in PEM, for the key readers' DER walk. */
export const KEY_DER: Array<[label: string, der: Buffer]> = [
  // Contiki-NG CVE-2020-12141 (contiki-ng/contiki-ng #1354, SNMP BER decoder reading past the buffer on a length): long-form lengths past the end.
  ['PUBLIC KEY', hex('30 84 FF FF FF FF 30')], ['PUBLIC KEY', hex('30 82 FF FF 30 00')], ['PRIVATE KEY', hex('30 80 02 01 00 00 00')],
  ['PRIVATE KEY', hex('30 81')], ['PUBLIC KEY', hex('30')], ['PUBLIC KEY', hex('')],
  // Contiki-NG CVE-2024-41126 (SNMP: one byte read past the message right after an OID): documents that end just after an OID.
  ['PUBLIC KEY', hex('30 07 30 05 06 03 2B 65 70')], ['PRIVATE KEY', hex('30 0A 02 01 00 30 05 06 03 2B 65 70')],
  // An Ed25519 SPKI with a 31-byte key, a bit string with unused bits, an id-ecPublicKey on another curve (secp384r1).
  ['PUBLIC KEY', hex('30 29 30 05 06 03 2B 65 70 03 20 00' + '11'.repeat(31))], ['PUBLIC KEY', hex('30 2A 30 05 06 03 2B 65 70 03 21 07' + '11'.repeat(32))],
  ['PUBLIC KEY', hex('30 18 30 10 06 07 2A 86 48 CE 3D 02 01 06 05 2B 81 04 00 22 03 04 00 04 01 02')],
  // SEC1 ECPrivateKey with version 2, an empty scalar, a 33-byte scalar.
  ['EC PRIVATE KEY', hex('30 07 02 01 02 04 02 01 02')], ['EC PRIVATE KEY', hex('30 05 02 01 01 04 00')], ['EC PRIVATE KEY', hex('30 26 02 01 01 04 21' + '01'.repeat(33))],
];

export const PEM: string[] = [
  ED25519_PRIVATE_PEM, ED25519_PUBLIC_PEM, P256_PRIVATE_PEM, P256_SEC1_PEM, P256_PUBLIC_PEM, compressedP256(),
  ...KEY_DER.map(([label, der]) => pem(label, der)),
  '-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n', '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PRIVATE KEY-----\n',
  '-----BEGIN PUBLIC KEY-----\nA===\n-----END PUBLIC KEY-----\n', '', 'not a key',
];

// ---- CoRE Link Format (RFC 6690) and Register payloads

export const LINK_FORMAT: string[] = [
  // RFC 6690 §5 examples.
  '</sensors/temp>;if="sensor",</sensors/light>;if="sensor"',
  '</sensors>;ct=40;title="Sensor Index",</sensors/temp>;rt="temperature-c";if="sensor",</sensors/light>;rt="light-lux";if="sensor",<http://www.example.com/sensors/t123>;anchor="/sensors/temp";rel="describedby",</t>;anchor="/sensors/temp";rel="alternate"',
  '</firmware/v2.1>;rt="firmware";sz=262144', '</a>;title="x, y; z";obs;ct=0;title="second";q="say \\"hi\\"",</b>',
  // LwM2M Register payloads (1.0 TS §5.3.1; 1.1 Transport "Alternate Path"; Leshan's core-link vector).
  '</1/0>,</1/1>,</2/0>,</2/1>,</2/2>,</2/3>,</2/4>,</3/0>,</4/0>,</5>',
  '</lwm2m>;rt="oma.lwm2m",</lwm2m/1/0>,</lwm2m/1/1>,</lwm2m/3/0>,</lwm2m/5>',
  '</>;rt="oma.lwm2m";ct="60 110 112 1542 1543 11542 11543",</1>;ver=1.1,</1/0>,</2>,</3>;ver=1.1,</3/0>,</3442/0>',
  '</>;ct=11543,</3/0>', '</alt/>;rt="oma.lwm2m";ct=110,</3/0>,</alt/5/0>',
  // A Discover answer (Core §5.4.2): attributes on object, instance and resource links.
  '</3>;ver=1.1,</3/0>;pmin=10,</3/0/1>,</3/0/2>,</3/0/7>;dim=2;gt=50;lt=42.2;st=0.5,</3/0/13>;epmin=1;epmax=300',
  // eclipse-leshan/leshan #1229: "</>;ct=110;ct=112,…" (a repeated ct) was refused with a parse error.
  '</>;ct=110;ct=112,</1/0>,</2>,</3/0>,</4/0>,</5/0>,</7/0>,</15/0>,</16/0>',
  // sheredom/json.h #82 / DaveGamble/cJSON #800 pattern (a scanner reading past a truncated token): quoted strings and escapes cut at the end.
  '</1/0>;title="\\', '</1/0>;title="', '</1/0>;', '</1/0', '<', '</x>;__proto__=1;constructor=2;toString',
  '</1/0>;title="a\u0000b"', '</3/0>;ct="110 x"', '</3/0>;dim=65536;ver=1', `</3/0>;rt="${'x'.repeat(70_000)}"`,
];

/** Write-Attributes Uri-Query options (LwM2M 1.2 Transport examples 1–5) and refusals. */
export const ATTRIBUTE_QUERIES: string[][] = [
  ['pmin=1'], ['pmin'], ['pmin=10'], ['gt=45', 'st=10'], ['lt=20', 'gt=85', 'st=10'],
  ['pmin=10', 'pmax=60', 'gt=50', 'lt=42.2', 'st=0.5', 'epmin=1', 'epmax=300'], ['lt=-20.5', 'gt=-0'], [],
  ['lt=50', 'gt=50'], ['pmin=61', 'pmax=60'], ['gt=1e3'], ['gt=.5'], ['pmax=4294967296'], ['pmin=1', 'pmin=2'], ['=5'], [''],
  ['gt=99999999999999999999.99999999999999999999'], ['constructor=1'], ['__proto__'],
  // ARMmbed/mbed-coap CVE-2020-12887: option numbers wrapped so one Uri-Query option was processed twice.
  ['pmin=1', 'pmin=1'], Array.from({ length: 33 }, () => 'pmax=1'),
];

/** Register and Update Uri-Query options (LwM2M 1.1 Transport, Registration Interface) and refusals. */
export const REGISTER_QUERIES: string[][] = [
  ['ep=dev1', 'lt=300', 'lwm2m=1.1', 'b=U', 'Q', 'sms=33612345678'], ['ep=urn:imei:490154203237518'],
  ['ep=x', 'lwm2m=1.0', 'b=UQS'], ['pid=7', 'b=U', 'apn=internet', 'lt=60', 'ep=dev', 'x', 'lwm2m=1.2'],
  ['ep=capteur-été 1'], ['ep=a=b'], ['ep=' + 'x'.repeat(255)], ['ep=' + '😀'.repeat(200)], ['lt=120'], ['b=T', 'Q'],
  // eclipse-wakaama/wakaama #425: the crafted packet 44 02 e6e2 e2e68167 b2 7264 11 …, a POST /rd with no query at all.
  [],
  // ARMmbed/mbed-coap CVE-2020-12887: an option number wrapped so Uri-Query was processed twice (the buffer orphaned).
  ['ep=a', 'lt=60', 'ep=b'], ['ep=a', 'Q', 'Q'], Array.from({ length: 65 }, (_, i) => `ep${i}=1`),
  // ARMmbed/mbed-coap CVE-2020-12884: Uri-Query options read past the packet: empty and key-only options.
  ['', '=', 'ep=', 'lt=', 'Q='], ['ep'], ['ep=a', 'lt'], ['ep=a', 'b='], ['ep=a\u0000b'], ['ep=a', 'lt=99999999999999999999'],
];

// ---- CoAP Block1/Block2 option values (RFC 7959 §2.2)

export const BLOCK: Buffer[] = [
  // RFC 7959 §3 figures and LwM2M Core App. E.6.2.
  '', '0B', '13', '1B', '23', '02', '0A', '12', '1A', '22', '27 F3', '01 0E', 'FF FF FE', '01 00 00',
  // coapjs/node-coap #58: readUInt32BE on an empty Block2 option value.
  '00', '00 00', '00 00 00',
  // coapjs/node-coap #87 and #168: a block/integer option longer than its format allows, which threw where it could not be caught.
  'FF FF FF FF', '00 00 00 0B', 'FF FF FF FF FF FF FF FF',
  // contiki-ng/contiki-ng PR #3166: the SZX-derived block size (SZX 7, BERT) was used as a buffer length.
  '07', '0F', 'FF FF FF', 'FF FF F7',
  // PelionIoT/mbed-coap PR #123 / ARMmbed/mbed-os #13761: offsets from a block size other than the packet's; the largest NUM at the smallest size.
  'FF FF F0', 'FF FF F8',
].map(hex);

// ---- Paths and plain values

export const PATHS: string[] = [
  '/5', '/3/0', '/5/0/1', '/2/0/2/127', '/3/0/6/0', '/65534/65534/65534/65534', '/0/0/0/0',
  '', '/', '//5', '/5/', '/05', '/+5', '/-1', '/1e3', '/0x5', '/５', '/٣', '/5/0/1/2/3', '/65535', '/99999', '/5\u0000', '/%35',
  // eclipse-wakaama/wakaama #560: lwm2m_stringToUri on a bootstrap write path.
  '/0/1/12', '/1'.repeat(10_000),
];

/** Plain text (content-format 0) values with the resource they are for (LwM2M 1.1 Core §7.4.1). */
export const TEXT_VALUES: Array<[path: string, value: string | Buffer]> = [
  ['/3/0/0', 'Open Mobile Alliance'], ['/3/0/9', '100'], ['/3/0/13', '1367491215'], ['/1/0/6', '1'], ['/5/0/13', '86400'],
  ['/5/0/0', 'AQIDBAU='], ['/3/0/22/0', '66:1'], ['/9/0/1', '-12.5e2'], ['/3/0/9', '1.5'], ['/5/0/13', '-1'],
  ['/1/0/6', 'true'], ['/5/0/0', '!,-INVALID$_\''], ['/3/0/22/0', '66'], ['/3/0/0', hex('C3 28')],
  // contiki-ng/contiki-ng PR #3166: zero-length integer, time and boolean values.
  ['/3/0/9', ''], ['/3/0/13', ''], ['/1/0/6', ''], ['/3/0/22/0', ''],
  // Integers past 64 bits, -0, leading zeros and signs.
  ['/3/0/9', '99999999999999999999'], ['/3/0/9', '-9223372036854775809'], ['/3/0/9', '-0'], ['/3/0/9', '007'], ['/3/0/9', '+1'],
  ['/3/0/13', '8640000000001'], ['/3/0/22/0', '65536:0'], ['/3/0/22/0', '01:1'],
];

/** Operator JSON values for a resource (the admin API's write body), with the resource path. */
export const JSON_VALUES: Array<[path: string, json: unknown]> = [
  ['/3/0/0', 'Open Mobile Alliance'], ['/3/0/9', 100], ['/3/0/9', '18446744073709551616'], ['/5/0/13', '18446744073709551615'],
  ['/3/0/13', '2013-05-02T10:40:15Z'], ['/3/0/13', 1367491215], ['/3/0/13', '2013-99-99T00:00:00Z'], ['/5/0/0', 'AQIDBAU='],
  ['/3/0/22/0', '66:1'], ['/1/0/6', true], ['/3/0/9', 1.5], ['/3/0/9', null], ['/3/0/9', { toString: 1 }], ['/3/0/9', [1]],
  ['/3/0/9', Number.NaN], ['/3/0/9', '-9223372036854775809'], ['/3/0/13', '+275760-09-13T00:00:00.001Z'],
];

export const UTF8: Buffer[] = [
  'Open Mobile Alliance', 'é', '😀', '', '\u0000',
].map(utf8).concat([
  // Overlong NUL, a surrogate, past U+10FFFF, truncated sequences, a BOM, a lone continuation byte.
  'C0 80', 'ED A0 80', 'F4 90 80 80', 'E2 82', 'F0 9F 98', 'EF BB BF 41', '80', 'FF FE',
].map(hex));

export const BASE64: string[] = ['', 'AQIDBAU=', 'AQIDBAU', '-_8', '+/8=', 'aGkgCg', '=', '==', 'A===', 'AB=C', 'AR', 'AQID=', 'a b', 'AA==AA==', '\u00e9'];

/**
 * CoAP datagrams that crashed other stacks' message parsers: seeds for decodeCoapMessage
 * (protocols/coap-message.ts) and for the socket fuzzers.
 */
export const COAP_DATAGRAMS: Buffer[] = [
  // contiki-os/contiki #2240: er-coap coap_parse_message SIGSEGV.
  hex('42 43 42 42 42 42 42 9e 80 42 42 28 01 e1 e1 e1 e1 e1 e1 e1 e1 e1 e1 e1 e1 e1 e1 bf e1 00 00 10 00 43 42 53 42 ff 49'),
  // contiki-os/contiki #2238: er-coap coap_parse_int_option SIGSEGV.
  hex('51 51 51 00 80 51 51 51 51 4e 51 51 51 51 51 51 51 f5 06'),
  // eclipse-wakaama/wakaama #425: a crafted packet leaking 24 bytes per datagram.
  hex('44 02 e6 e2 e2 e6 81 67 b2 72 64 11'),
];

/** CoAP messages (RFC 7252 §3): well-formed ones, then the option and token shapes that broke other parsers. */
export const COAP_MESSAGES: Buffer[] = [
  ...COAP_DATAGRAMS,
  // A Register (POST /rd?ep=dev1&lt=300, link-format payload), a GET /3/0/9 with Accept 11542, a piggybacked 2.05, an Empty ACK, a ping.
  hex('42 02 30 39 7a 7b b2 72 64 11 28 39 6c 77 6d 32 6d 3d 31 2e 31 07 65 70 3d 64 65 76 31 06 6c 74 3d 33 30 30 ff 3c 2f 31 2f 30 3e'),
  hex('41 01 00 07 aa 61 33 01 30 01 39 62 2d 16'), hex('61 45 00 07 aa c1 00 ff 31 30 30'), hex('60 00 00 07'), hex('40 00 00 07'),
  // ARMmbed/mbed-coap CVE-2020-12886: the token length was not checked against the datagram (8 announced, 2 present).
  hex('48 01 00 01 aa bb'), hex('4f 01 00 01'),
  // ARMmbed/mbed-coap CVE-2020-12883 and ARMmbed/mbed-os #12926/#12927: a delta or length nibble 13/14 whose extended bytes are missing.
  hex('40 01 00 01 d0'), hex('40 01 00 01 e0 01'), hex('40 01 00 01 0d'), hex('40 01 00 01 0e 01'),
  // ARMmbed/mbed-coap CVE-2020-12887: option numbers past 65535 (a 16-bit sum wrapped and Uri-Query was read twice).
  hex('40 01 00 01 e0 fe f2 d1 03 78'), hex('40 01 00 01 f1 78'),
  // ARMmbed/mbed-os #12930: an extended length past 65535 (rolled over in 16 bits).
  hex('40 01 00 01 1e ff ff 00'),
  // ARMmbed/mbed-coap CVE-2020-12884: several Uri-Query options, the last running past the datagram.
  hex('40 02 00 01 b2 72 64 41 61 01 62 03 63'),
  // coapjs/node-coap #168: a Content-Format of 3 bytes threw where it could not be caught.
  hex('40 45 00 01 c3 01 02 03'),
  // contiki-ng/contiki-ng #1312: messages shorter than the header; a payload marker with nothing after it; an Empty message with a token.
  hex(''), hex('40'), hex('40 01 00'), hex('40 01 00 01 ff'), hex('41 00 00 01 aa'),
];
