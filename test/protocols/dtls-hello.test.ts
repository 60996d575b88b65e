// The hello messages (RFC 6347 §4.2.1, RFC 5246 §7.4.1) and their extensions (RFC 7627, RFC 5746,
// RFC 9146 §3): layouts written out by hand, round trips, every truncation, the bounds of each
// field; and a ClientHello sent by libcoap over OpenSSL (an outside peer) read field by field.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ExtensionType, connectionIdExtension, extendedMasterSecretExtension, renegotiationInfoExtension } from '../../protocols/dtls-extensions.ts';
import { HandshakeType, decodeHandshakeFragments } from '../../protocols/dtls-handshake.ts';
import { CipherSuite, encodeClientHello, encodeHelloVerifyRequest, encodeServerHello, parseClientHello, parseHelloVerifyRequest, parseServerHello } from '../../protocols/dtls-hello.ts';
import { ContentType, DTLS_1_0, DTLS_1_2, splitRecords } from '../../protocols/dtls-record.ts';
import { hex, hexLayout, throwsDecodeError } from './_helpers.ts';

const RANDOM = Buffer.from(Array.from({ length: 32 }, (_, i) => i + 1));
const RANDOM_HEX = RANDOM.toString('hex');

const CLIENT_HELLO = hexLayout(`
  fe fd               // client_version {254,253}
  ${RANDOM_HEX}       // random[32]
  00                  // session_id<0..32>: empty
  04 11 22 33 44      // cookie<0..2^8-1>: 4 bytes
  00 06 c0 a8 c0 a4 00 ff   // cipher_suites: CCM_8, CCM, TLS_EMPTY_RENEGOTIATION_INFO_SCSV
  01 00               // compression_methods: null
  00 13               // extensions<0..2^16-1>: 19 bytes
  00 17 00 00         // extended_master_secret(23), empty
  ff 01 00 01 00      // renegotiation_info(0xff01): renegotiated_connection<0..255> empty
  00 36 00 06 05 01 02 03 04 05   // connection_id(54): cid<0..2^8-1> of 5 bytes`);
/** Where the extensions block starts: a ClientHello cut there is one without extensions. */
const CLIENT_HELLO_EXTENSIONS_AT = CLIENT_HELLO.length - 21;

test('a ClientHello byte by byte: fields, suites, SCSV, the three extensions decoded and all listed raw', () => {
  const h = parseClientHello(CLIENT_HELLO);
  assert.equal(h.clientVersion, DTLS_1_2);
  assert.ok(h.random.equals(RANDOM));
  assert.is(h.sessionId.length, 0);
  assert.is(h.cookie.toString('hex'), '11223344');
  assert.equal(h.cipherSuites, [CipherSuite.TLS_PSK_WITH_AES_128_CCM_8, CipherSuite.TLS_PSK_WITH_AES_128_CCM, CipherSuite.TLS_EMPTY_RENEGOTIATION_INFO_SCSV]);
  assert.equal(h.compressionMethods, [0]);
  assert.ok(h.emptyRenegotiationInfoScsv);
  assert.ok(h.extendedMasterSecret);
  assert.is(h.renegotiationInfo?.length, 0);
  assert.is(h.connectionId?.toString('hex'), '0102030405');
  assert.equal(h.extensions.map((e) => [e.type, e.data.toString('hex')]), [[23, ''], [0xff01, '00'], [54, '050102030405']]);
  assert.ok(encodeClientHello(h).equals(CLIENT_HELLO));
});

test('a ClientHello without extensions, and with an empty block, parse; nothing is decoded from either', () => {
  for (const body of [CLIENT_HELLO.subarray(0, CLIENT_HELLO_EXTENSIONS_AT), Buffer.concat([CLIENT_HELLO.subarray(0, CLIENT_HELLO_EXTENSIONS_AT), hex('00 00')])]) {
    const h = parseClientHello(body);
    assert.equal([h.extensions, h.extendedMasterSecret, h.renegotiationInfo, h.connectionId], [[], false, undefined, undefined]);
    assert.ok(encodeClientHello({ ...h, ...(body.length > CLIENT_HELLO_EXTENSIONS_AT ? {} : { extensions: undefined }) }).equals(body));
  }
});

test('every truncation of a ClientHello is a DecodeError, but for the one without extensions', () => {
  for (let n = 0; n < CLIENT_HELLO.length; n++) {
    if (n === CLIENT_HELLO_EXTENSIONS_AT) continue;
    throwsDecodeError(() => parseClientHello(CLIENT_HELLO.subarray(0, n)), 'dtls.client-hello.truncated');
  }
});

/** CLIENT_HELLO with bytes [at, at + n) replaced. */
const edit = (at: number, n: number, bytes: string): Buffer => Buffer.concat([CLIENT_HELLO.subarray(0, at), hex(bytes), CLIENT_HELLO.subarray(at + n)]);
const SID = 34;
const SUITES = SID + 1 + 5;
const COMPRESSION = SUITES + 8;
const EXTENSIONS = COMPRESSION + 2;

test('ClientHello fields out of bounds: session_id over 32, cipher_suites empty or odd, no null compression', () => {
  assert.is(CLIENT_HELLO[SUITES + 1], 6);
  assert.is(EXTENSIONS, CLIENT_HELLO_EXTENSIONS_AT);
  throwsDecodeError(() => parseClientHello(edit(SID, 1, `21 ${'00'.repeat(33)}`)), 'dtls.client-hello.session-id');
  throwsDecodeError(() => parseClientHello(edit(SUITES, 8, '00 00')), 'dtls.client-hello.cipher-suites');
  throwsDecodeError(() => parseClientHello(edit(SUITES, 8, '00 03 c0 a8 00')), 'dtls.client-hello.cipher-suites');
  throwsDecodeError(() => parseClientHello(edit(COMPRESSION, 2, '01 01')), 'dtls.client-hello.compression-methods');
  throwsDecodeError(() => parseClientHello(edit(COMPRESSION, 2, '00')), 'dtls.client-hello.compression-methods');
  assert.equal(parseClientHello(edit(COMPRESSION, 2, '02 01 00')).compressionMethods, [1, 0]);
  // A 255-byte cookie is the most DTLS 1.2 allows (RFC 6347 §4.2.1) and is read.
  assert.is(parseClientHello(edit(SID + 1, 5, `ff ${'ab'.repeat(255)}`)).cookie.length, 255);
});

test('extensions: EMS with data, renegotiation_info and connection_id with a wrong inner length, a repeat, bytes after the block', () => {
  const withExtensions = (list: string): Buffer => {
    const ext = hex(list);
    return Buffer.concat([CLIENT_HELLO.subarray(0, EXTENSIONS), Buffer.from([ext.length >> 8, ext.length & 0xff]), ext]);
  };
  throwsDecodeError(() => parseClientHello(withExtensions('00 17 00 01 00')), 'dtls.extension.extended-master-secret');
  throwsDecodeError(() => parseClientHello(withExtensions('ff 01 00 01 01')), 'dtls.extension.truncated');
  throwsDecodeError(() => parseClientHello(withExtensions('ff 01 00 02 00 00')), 'dtls.extension.trailing');
  throwsDecodeError(() => parseClientHello(withExtensions('ff 01 00 00')), 'dtls.extension.truncated');
  throwsDecodeError(() => parseClientHello(withExtensions('00 36 00 02 05 01')), 'dtls.extension.truncated');
  throwsDecodeError(() => parseClientHello(withExtensions('00 17 00 00 00 17 00 00')), 'dtls.extension.repeated');
  throwsDecodeError(() => parseClientHello(withExtensions('00 17 00 01')), 'dtls.client-hello.truncated');
  throwsDecodeError(() => parseClientHello(Buffer.concat([CLIENT_HELLO, hex('00')])), 'dtls.client-hello.trailing');
  throwsDecodeError(() => parseClientHello(Buffer.concat([CLIENT_HELLO.subarray(0, EXTENSIONS), hex('00')])), 'dtls.client-hello.truncated');
  // A renegotiation_info that is not empty is read as sent: refusing it (RFC 5746 §3.6) is the handshake's.
  assert.is(parseClientHello(withExtensions('ff 01 00 03 02 aa bb')).renegotiationInfo?.toString('hex'), 'aabb');
  // Extensions Ferry does not know are listed and left alone; a zero-length CID is a CID.
  const other = parseClientHello(withExtensions('00 0a 00 02 00 17 00 36 00 01 00'));
  assert.equal(other.extensions.map((e) => e.type), [10, ExtensionType.connection_id]);
  assert.is(other.connectionId?.length, 0);
});

test('a HelloVerifyRequest with a 32-byte cookie (RFC 6347 §4.2.1): server_version DTLS 1.0 by default', () => {
  const cookie = Buffer.alloc(32, 0xc5);
  const body = encodeHelloVerifyRequest(cookie);
  assert.is(body.toString('hex'), hexLayout(`
    fe ff               // server_version {254,255}
    20                  // cookie<0..2^8-1>: 32 bytes
    ${'c5'.repeat(32)}`).toString('hex'));
  assert.equal(parseHelloVerifyRequest(body), { serverVersion: DTLS_1_0, cookie });
  assert.is(encodeHelloVerifyRequest(cookie, DTLS_1_2).subarray(0, 2).toString('hex'), 'fefd');
  for (let n = 0; n < body.length; n++) throwsDecodeError(() => parseHelloVerifyRequest(body.subarray(0, n)), 'dtls.hello-verify-request.truncated');
  throwsDecodeError(() => parseHelloVerifyRequest(Buffer.concat([body, hex('00')])), 'dtls.hello-verify-request.trailing');
  assert.throws(() => encodeHelloVerifyRequest(Buffer.alloc(256)), (e: unknown) => e instanceof RangeError);
});

const SERVER_HELLO = hexLayout(`
  fe fd               // server_version {254,253}
  ${RANDOM_HEX}       // random[32]
  04 0a 0b 0c 0d      // session_id: 4 bytes
  c0 a8               // cipher_suite TLS_PSK_WITH_AES_128_CCM_8
  00                  // compression_method null
  00 12               // extensions: 18 bytes
  00 17 00 00         // extended_master_secret(23), empty
  ff 01 00 01 00      // renegotiation_info(0xff01), renegotiated_connection empty
  00 36 00 05 04 aa bb cc dd   // connection_id(54): the server's cid, 4 bytes`);

test('a ServerHello with extended_master_secret, an empty renegotiation_info and the server\'s connection_id, byte by byte', () => {
  const body = encodeServerHello({
    random: RANDOM, sessionId: hex('0a0b0c0d'), cipherSuite: CipherSuite.TLS_PSK_WITH_AES_128_CCM_8,
    extendedMasterSecret: true, renegotiationInfo: true, connectionId: hex('aabbccdd'),
  });
  assert.is(body.toString('hex'), SERVER_HELLO.toString('hex'));
  const h = parseServerHello(body);
  assert.equal([h.serverVersion, h.cipherSuite, h.compressionMethod, h.sessionId.toString('hex')], [DTLS_1_2, 0xc0a8, 0, '0a0b0c0d']);
  assert.equal([h.extendedMasterSecret, h.renegotiationInfo?.length, h.connectionId?.toString('hex')], [true, 0, 'aabbccdd']);
  for (let n = 0; n < SERVER_HELLO.length; n++) {
    if (n === SERVER_HELLO.length - 20) continue; // no extensions block: a whole ServerHello
    throwsDecodeError(() => parseServerHello(SERVER_HELLO.subarray(0, n)), 'dtls.server-hello.truncated');
  }
});

test('a ServerHello asked for no extension has no extensions block; only those asked for are written', () => {
  const bare = encodeServerHello({ random: RANDOM, sessionId: Buffer.alloc(0), cipherSuite: CipherSuite.TLS_PSK_WITH_AES_128_CCM });
  assert.is(bare.length, 2 + 32 + 1 + 2 + 1);
  assert.equal(parseServerHello(bare).extensions, []);
  const ems = parseServerHello(encodeServerHello({ random: RANDOM, sessionId: Buffer.alloc(0), cipherSuite: 0xc0a4, extendedMasterSecret: true, connectionId: Buffer.alloc(0) }));
  assert.equal(ems.extensions.map((e) => [e.type, e.data.toString('hex')]), [[23, ''], [54, '00']]);
  assert.throws(() => encodeServerHello({ random: Buffer.alloc(31), sessionId: Buffer.alloc(0), cipherSuite: 0xc0a8 }), (e: unknown) => e instanceof RangeError);
  assert.throws(() => encodeServerHello({ random: RANDOM, sessionId: Buffer.alloc(33), cipherSuite: 0xc0a8 }), (e: unknown) => e instanceof RangeError);
  assert.throws(() => encodeServerHello({ random: RANDOM, sessionId: Buffer.alloc(0), cipherSuite: 0xc0a8, connectionId: Buffer.alloc(256) }), (e: unknown) => e instanceof RangeError);
});

test('the extension builders, and a ClientHello made of them read back', () => {
  const extensions = [extendedMasterSecretExtension(), renegotiationInfoExtension(), connectionIdExtension(hex('0102'))];
  const body = encodeClientHello({ clientVersion: DTLS_1_2, random: RANDOM, sessionId: Buffer.alloc(0), cookie: Buffer.alloc(0), cipherSuites: [0xc0a8], compressionMethods: [0], extensions });
  const h = parseClientHello(body);
  assert.equal([h.extendedMasterSecret, h.renegotiationInfo?.length, h.connectionId?.toString('hex'), h.emptyRenegotiationInfoScsv], [true, 0, '0102', false]);
  assert.throws(() => encodeClientHello({ ...h, extensions: [extendedMasterSecretExtension(), extendedMasterSecretExtension()] }), (e: unknown) => e instanceof RangeError);
  assert.throws(() => encodeClientHello({ ...h, cipherSuites: [] }), (e: unknown) => e instanceof RangeError);
});

// A ClientHello from coap-client-openssl (libcoap 4.3.1 on OpenSSL 3.0), PSK identity "id",
// caught on a loopback port by fixtures/capture-client-hello.ts.
const FIXTURE = hex(readFileSync(new URL('./fixtures/openssl-client-hello.hex', import.meta.url), 'utf8'));

test('an outside peer\'s ClientHello datagram: one DTLS 1.0 record, one unfragmented ClientHello offering CCM_8 with EMS and the SCSV', () => {
  const { records, error } = splitRecords(FIXTURE);
  assert.is(error, undefined);
  assert.is(records.length, 1);
  const [record] = records;
  assert.equal([record!.type, record!.version, record!.epoch, record!.sequenceNumber], [ContentType.handshake, DTLS_1_0, 0, 0]);
  const [f, ...more] = decodeHandshakeFragments(record!.fragment);
  assert.is(more.length, 0);
  assert.equal([f!.msgType, f!.messageSeq, f!.fragmentOffset, f!.fragmentLength === f!.length], [HandshakeType.client_hello, 0, 0, true]);
  const h = parseClientHello(f!.body);
  assert.equal(h.clientVersion, DTLS_1_2);
  assert.is(h.cookie.length, 0);
  assert.ok(h.cipherSuites.includes(CipherSuite.TLS_PSK_WITH_AES_128_CCM_8));
  assert.ok(h.cipherSuites.includes(CipherSuite.TLS_PSK_WITH_AES_128_CCM));
  assert.ok(h.emptyRenegotiationInfoScsv, 'OpenSSL signals secure renegotiation with the SCSV');
  assert.is(h.renegotiationInfo, undefined);
  assert.ok(h.extendedMasterSecret);
  assert.is(h.connectionId, undefined);
  // server_name, ec_point_formats, supported_groups, session_ticket, encrypt_then_mac, extended_master_secret, signature_algorithms
  assert.equal(h.extensions.map((e) => e.type), [0, 11, 10, 35, 22, 23, 13]);
  // Written back from what was read, the body is the same bytes.
  assert.ok(encodeClientHello(h).equals(f!.body));
});

test.run();
