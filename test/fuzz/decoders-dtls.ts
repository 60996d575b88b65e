/**
 * Decoder fuzz targets of DTLS 1.2: datagrams split into records (and epoch-0 contents read by
 * type), records' handshake fragments reassembled and their bodies read, ClientHello bodies.
 * Seeds: a ClientHello caught from coap-client-openssl (test/protocols/fixtures) and the
 * project's own encoders. What a decoder accepts must be written back as the same bytes.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { encodeAlert, encodeChangeCipherSpec, parseAlert, parseChangeCipherSpec } from '../../protocols/dtls-alert.ts';
import { connectionIdExtension, extendedMasterSecretExtension, renegotiationInfoExtension, type Extension } from '../../protocols/dtls-extensions.ts';
import { HandshakeType, decodeHandshakeFragments, encodeHandshake, fragmentHandshake, handshakeHashInput, type HandshakeMessage } from '../../protocols/dtls-handshake.ts';
import { encodeClientHello, encodeHelloVerifyRequest, encodeServerHello, parseClientHello, parseHelloVerifyRequest, parseServerHello, type ClientHelloFields } from '../../protocols/dtls-hello.ts';
import { encodeClientKeyExchangePsk, encodeFinished, encodeServerKeyExchangePsk, parseClientKeyExchangePsk, parseFinished, parseServerHelloDone, parseServerKeyExchangePsk } from '../../protocols/dtls-messages.ts';
import { HandshakeReassembly } from '../../protocols/dtls-reassembly.ts';
import { ContentType, DTLS_1_0, DTLS_1_2, encodeRecord, splitRecords, type DtlsRecord } from '../../protocols/dtls-record.ts';
import { each, SAMPLE_SEED, u8 } from './decoder-kit.ts';
import type { DecoderTarget } from './engine.ts';
import { mutatedBytes } from './mutate.ts';

const FIXTURE = Buffer.from(readFileSync(new URL('../protocols/fixtures/openssl-client-hello.hex', import.meta.url), 'utf8').replace(/\s+/g, ''), 'hex');
const bytes = (max: number, min = 0) => fc.uint8Array({ minLength: min, maxLength: max }).map((b) => Buffer.from(b));

// ---- ClientHello bodies

const extensionArb: fc.Arbitrary<Extension> = fc.oneof(
  fc.constant(extendedMasterSecretExtension()),
  bytes(8).map(renegotiationInfoExtension),
  bytes(16).map(connectionIdExtension),
  fc.record({ type: fc.integer({ min: 0, max: 0xffff }), data: bytes(16) }),
);

const clientHelloArb: fc.Arbitrary<ClientHelloFields> = fc.record({
  clientVersion: fc.constantFrom(DTLS_1_2, DTLS_1_0),
  random: bytes(32, 32),
  sessionId: bytes(32),
  cookie: fc.oneof(bytes(32), bytes(255)),
  cipherSuites: fc.array(fc.oneof(fc.constantFrom(0xc0a8, 0xc0a4, 0x00ff), fc.integer({ min: 0, max: 0xffff })), { minLength: 1, maxLength: 12 }),
  compressionMethods: fc.array(fc.integer({ min: 1, max: 255 }), { maxLength: 2 }).map((m) => [...m, 0]),
  extensions: fc.option(fc.uniqueArray(extensionArb, { selector: (e) => e.type, maxLength: 6 }), { nil: undefined }),
});

const FIXTURE_HELLO = decodeHandshakeFragments(splitRecords(FIXTURE).records[0]!.fragment)[0]!.body;
const HELLO_SEEDS: Buffer[] = [
  FIXTURE_HELLO,
  encodeClientHello({ ...parseClientHello(FIXTURE_HELLO), cookie: Buffer.alloc(32, 0xc0) }),
  ...fc.sample(clientHelloArb, { seed: SAMPLE_SEED, numRuns: 20 }).map(encodeClientHello),
];

/**
 * ClientHello bodies are canonical: one read is written back as the same bytes (with no extensions
 * block when none was there), and the decoded extensions agree with the raw list.
 */
function checkClientHello(body: Buffer): void {
  const h = parseClientHello(body);
  const back = encodeClientHello({ ...h, extensions: h.extensions.length === 0 && body.length === encodeClientHello({ ...h, extensions: undefined }).length ? undefined : h.extensions });
  if (!back.equals(body)) throw new Error('ClientHello written back differs');
  const types = h.extensions.map((e) => e.type);
  if (h.extendedMasterSecret !== types.includes(23) || (h.connectionId !== undefined) !== types.includes(54) || (h.renegotiationInfo !== undefined) !== types.includes(0xff01)) {
    throw new Error('decoded extensions disagree with the list');
  }
}

export const dtlsClientHelloTarget = (): DecoderTarget<Uint8Array, ClientHelloFields> => ({
  name: 'dtls-client-hello',
  describe: 'parseClientHello and its extensions, written back byte for byte (dtls-hello.ts, dtls-extensions.ts)',
  input: mutatedBytes(HELLO_SEEDS, 4),
  corpus: () => HELLO_SEEDS,
  decode: (b) => checkClientHello(u8(b)),
  roundTrip: { values: clientHelloArb, check: (f) => checkClientHello(encodeClientHello(f)) },
  bytes: (b) => b,
  ciRuns: 5000,
});

// ---- Handshake fragments: header, reassembly, bodies

const messages: HandshakeMessage[] = [
  { msgType: HandshakeType.client_hello, messageSeq: 0, body: FIXTURE_HELLO },
  { msgType: HandshakeType.client_hello, messageSeq: 1, body: HELLO_SEEDS[1]! },
  { msgType: HandshakeType.hello_verify_request, messageSeq: 0, body: encodeHelloVerifyRequest(Buffer.alloc(32, 0xc0)) },
  { msgType: HandshakeType.server_hello, messageSeq: 1, body: encodeServerHello({ random: Buffer.alloc(32, 1), sessionId: Buffer.alloc(8, 2), cipherSuite: 0xc0a8, extendedMasterSecret: true, renegotiationInfo: true, connectionId: Buffer.alloc(4, 3) }) },
  { msgType: HandshakeType.server_key_exchange, messageSeq: 2, body: encodeServerKeyExchangePsk(Buffer.from('ferry')) },
  { msgType: HandshakeType.server_hello_done, messageSeq: 3, body: Buffer.alloc(0) },
  { msgType: HandshakeType.client_key_exchange, messageSeq: 2, body: encodeClientKeyExchangePsk(Buffer.from('device-17')) },
  { msgType: HandshakeType.finished, messageSeq: 3, body: encodeFinished(Buffer.alloc(12, 0xf1)) },
];
const HANDSHAKE_SEEDS: Buffer[] = [
  ...messages.map(encodeHandshake),
  Buffer.concat(messages.slice(3, 6).map(encodeHandshake)),
  ...fragmentHandshake(messages[0]!, 100),
  Buffer.concat(fragmentHandshake(messages[1]!, 60).reverse()),
];

/** The body read by its msg_type, as the server and a client would. */
function readBody(m: HandshakeMessage): void {
  switch (m.msgType) {
    case HandshakeType.client_hello: checkClientHello(m.body); break;
    case HandshakeType.server_hello: parseServerHello(m.body); break;
    case HandshakeType.hello_verify_request: {
      const v = parseHelloVerifyRequest(m.body);
      if (!encodeHelloVerifyRequest(v.cookie, v.serverVersion).equals(m.body)) throw new Error('HelloVerifyRequest written back differs');
      break;
    }
    case HandshakeType.server_key_exchange: parseServerKeyExchangePsk(m.body); break;
    case HandshakeType.server_hello_done: parseServerHelloDone(m.body); break;
    case HandshakeType.client_key_exchange: parseClientKeyExchangePsk(m.body); break;
    case HandshakeType.finished: parseFinished(m.body); break;
  }
}

export const dtlsHandshakeTarget = (): DecoderTarget<Uint8Array, { m: HandshakeMessage; max: number; order: number[] }> => ({
  name: 'dtls-handshake',
  describe: 'decodeHandshakeFragments, HandshakeReassembly, the handshake bodies by msg_type (dtls-handshake.ts, dtls-reassembly.ts, dtls-hello.ts, dtls-messages.ts)',
  input: mutatedBytes(HANDSHAKE_SEEDS, 4),
  corpus: () => HANDSHAKE_SEEDS,
  decode: (b) => {
    const frags = decodeHandshakeFragments(u8(b));
    // Fragments of one message_seq go to one reassembly, the first one met starting it.
    const byMessage = new Map<number, HandshakeReassembly>();
    each(...frags.map((f) => () => {
      const r = byMessage.get(f.messageSeq);
      if (r) r.add(f);
      else byMessage.set(f.messageSeq, new HandshakeReassembly(f));
    }));
    each(...[...byMessage.values()].filter((r) => r.complete).map((r) => () => readBody(r.message())));
  },
  roundTrip: {
    values: fc.record({
      m: fc.record({ msgType: fc.integer({ min: 0, max: 255 }), messageSeq: fc.integer({ min: 0, max: 0xffff }), body: bytes(600) }),
      max: fc.integer({ min: 13, max: 300 }),
      order: fc.array(fc.nat(), { maxLength: 60 }),
    }),
    check: ({ m, max, order }) => {
      const frags = fragmentHandshake(m, max).flatMap((f) => decodeHandshakeFragments(f));
      // Delivered in a shuffled order, with repeats.
      const shuffled = [...order.map((i) => frags[i % frags.length]!), ...frags.reverse()];
      const r = new HandshakeReassembly(shuffled[0]!);
      for (const f of shuffled.slice(1)) r.add(f);
      if (!r.message().body.equals(m.body) || !handshakeHashInput(r.message()).equals(encodeHandshake(m))) throw new Error('reassembled message differs');
    },
  },
  bytes: (b) => b,
  ciRuns: 5000,
});

// ---- Records

const rec = (type: ContentType, epoch: number, sequenceNumber: number, fragment: Buffer, cid?: Buffer): Buffer =>
  encodeRecord({ type, version: DTLS_1_2, epoch, sequenceNumber, fragment, ...(cid ? { cid } : {}) });
const RECORD_SEEDS: Buffer[] = [
  FIXTURE,
  Buffer.concat(HANDSHAKE_SEEDS.slice(0, 8).map((h, i) => rec(ContentType.handshake, 0, i, h))),
  Buffer.concat([rec(ContentType.handshake, 0, 3, HANDSHAKE_SEEDS[6]!), rec(ContentType.change_cipher_spec, 0, 4, encodeChangeCipherSpec()), rec(ContentType.handshake, 1, 0, Buffer.alloc(40, 0xee))]),
  Buffer.concat([rec(ContentType.tls12_cid, 1, 7, Buffer.alloc(30, 0xab), Buffer.from('cid4')), rec(ContentType.alert, 0, 9, encodeAlert({ level: 2, description: 40 }))]),
  rec(ContentType.tls12_cid, 2, 2 ** 48 - 1, Buffer.alloc(5), Buffer.from('eight-by')),
];

const recordArb: fc.Arbitrary<DtlsRecord> = fc.oneof(
  fc.record({ type: fc.constantFrom(20, 21, 22, 23) as fc.Arbitrary<ContentType>, version: fc.constantFrom(DTLS_1_2, DTLS_1_0), epoch: fc.integer({ min: 0, max: 0xffff }), sequenceNumber: fc.integer({ min: 0, max: 2 ** 48 - 1 }), fragment: bytes(64) }),
  fc.record({ type: fc.constant(ContentType.tls12_cid), version: fc.constant(DTLS_1_2), epoch: fc.integer({ min: 1, max: 0xffff }), sequenceNumber: fc.integer({ min: 0, max: 2 ** 48 - 1 }), cid: bytes(4, 4), fragment: bytes(64) }),
);

export const dtlsRecordTarget = (): DecoderTarget<{ cidLength: number | undefined; datagram: Uint8Array }, DtlsRecord[]> => ({
  name: 'dtls-record',
  describe: 'splitRecords, and epoch-0 contents by type: handshake fragments, ChangeCipherSpec, Alert (dtls-record.ts, dtls-handshake.ts, dtls-alert.ts)',
  input: fc.record({ cidLength: fc.constantFrom(undefined, 0, 4, 8), datagram: mutatedBytes(RECORD_SEEDS, 4) }),
  corpus: () => RECORD_SEEDS.flatMap((datagram) => [{ cidLength: 4, datagram }, { cidLength: 8, datagram }]),
  decode: ({ cidLength, datagram }) => {
    const b = u8(datagram);
    const { records, error } = splitRecords(b, cidLength);
    const back = Buffer.concat(records.map(encodeRecord));
    if (!back.equals(b.subarray(0, back.length))) throw new Error('records written back differ from the datagram');
    each(...records.filter((r) => r.epoch === 0).map((r) => () => {
      if (r.type === ContentType.handshake) decodeHandshakeFragments(r.fragment);
      else if (r.type === ContentType.change_cipher_spec) parseChangeCipherSpec(r.fragment);
      else if (r.type === ContentType.alert) parseAlert(r.fragment);
    }));
    if (error) throw error;
  },
  roundTrip: {
    values: fc.array(recordArb, { minLength: 1, maxLength: 5 }),
    check: (list) => {
      const { records, error } = splitRecords(Buffer.concat(list.map(encodeRecord)), 4);
      if (error || records.length !== list.length) throw new Error(`split into ${records.length} records: ${error?.message ?? ''}`);
      records.forEach((r, i) => {
        const want = list[i]!;
        if (r.type !== want.type || r.epoch !== want.epoch || r.sequenceNumber !== want.sequenceNumber || r.version.minor !== want.version.minor
          || !r.fragment.equals(want.fragment) || (want.cid && !r.cid?.equals(want.cid))) throw new Error(`record ${i} came back different`);
      });
    },
  },
  bytes: (i) => i.datagram,
  ciRuns: 5000,
});
