// The DTLS 1.2 record layer's framing (RFC 6347 §4.1) and the tls12_cid record (RFC 9146 §4):
// headers written out by hand from the structures, both forms both ways, several records in a
// datagram, a partial record after whole ones, every truncation, the length caps.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ContentType, DTLS_1_0, DTLS_1_2, MAX_CIPHERTEXT_LENGTH, MAX_PLAINTEXT_LENGTH, decodeRecord, encodeRecord, splitRecords, type DtlsRecord } from '../../protocols/dtls-record.ts';
import { DecodeError } from '../../protocols/errors.ts';
import { hexLayout, returnsOrDecodeError, seededBytes, throwsDecodeError } from './_helpers.ts';

// DTLSPlaintext (§4.1): type, version, epoch, sequence_number, length, fragment.
const PLAINTEXT = hexLayout(`
  16                  // type handshake(22)
  fe fd               // version {254,253}
  00 00               // epoch 0
  00 00 00 00 00 07   // sequence_number 7
  00 03               // length 3
  aa bb cc            // fragment`);

// RFC 9146 §4: tls12_cid(25), version, epoch, sequence_number, cid[4], length, enc_content.
const CID_RECORD = hexLayout(`
  19                  // type tls12_cid(25)
  fe fd               // version {254,253}
  00 01               // epoch 1
  00 00 00 00 01 02   // sequence_number 258
  de ad be ef         // cid, 4 bytes: the length this side negotiated
  00 05               // length 5
  01 02 03 04 05      // enc_content`);

test('a DTLSPlaintext header byte by byte (RFC 6347 §4.1), read and written', () => {
  assert.is(PLAINTEXT.length, 16);
  const { record, next } = decodeRecord(PLAINTEXT, 0);
  assert.is(next, 16);
  assert.is(record.type, ContentType.handshake);
  assert.equal(record.version, { major: 254, minor: 253 });
  assert.is(record.epoch, 0);
  assert.is(record.sequenceNumber, 7);
  assert.is(record.cid, undefined);
  assert.equal([...record.fragment], [0xaa, 0xbb, 0xcc]);
  assert.ok(encodeRecord(record).equals(PLAINTEXT));
});

test('a tls12_cid record with a 4-byte CID (RFC 9146 §4), read with the negotiated CID length and written', () => {
  const { record, next } = decodeRecord(CID_RECORD, 0, 4);
  assert.is(next, CID_RECORD.length);
  assert.is(record.type, ContentType.tls12_cid);
  assert.is(record.epoch, 1);
  assert.is(record.sequenceNumber, 258);
  assert.is(record.cid?.toString('hex'), 'deadbeef');
  assert.is(record.fragment.toString('hex'), '0102030405');
  assert.ok(encodeRecord(record).equals(CID_RECORD));
  // Read with another CID length, the bytes frame differently: the length is not on the wire.
  throwsDecodeError(() => decodeRecord(CID_RECORD, 0, 5), 'dtls.record.truncated');
});

test('a tls12_cid record is refused with no CID negotiated, with a zero-length one, and in epoch 0', () => {
  throwsDecodeError(() => decodeRecord(CID_RECORD, 0), 'dtls.record.cid-unexpected');
  throwsDecodeError(() => decodeRecord(CID_RECORD, 0, 0), 'dtls.record.cid-unexpected');
  const epoch0 = Buffer.from(CID_RECORD);
  epoch0.writeUInt16BE(0, 3);
  throwsDecodeError(() => decodeRecord(epoch0, 0, 4), 'dtls.record.cid-epoch');
  // A plain record still parses where a CID was negotiated (epoch 0, or an alert before it).
  assert.is(decodeRecord(PLAINTEXT, 0, 4).record.sequenceNumber, 7);
});

test('the field extremes come back: epoch 65535, sequence_number 2^48-1, DTLS 1.0 version, an empty fragment', () => {
  const cases: DtlsRecord[] = [
    { type: ContentType.application_data, version: DTLS_1_2, epoch: 0xffff, sequenceNumber: 2 ** 48 - 1, fragment: Buffer.alloc(MAX_CIPHERTEXT_LENGTH, 1) },
    { type: ContentType.handshake, version: DTLS_1_0, epoch: 0, sequenceNumber: 0, fragment: Buffer.alloc(MAX_PLAINTEXT_LENGTH, 2) },
    { type: ContentType.alert, version: DTLS_1_2, epoch: 3, sequenceNumber: 2 ** 32 + 5, fragment: Buffer.alloc(0) },
    { type: ContentType.tls12_cid, version: DTLS_1_2, epoch: 1, sequenceNumber: 1, cid: Buffer.alloc(255, 9), fragment: Buffer.from('x') },
  ];
  for (const c of cases) {
    const bytes = encodeRecord(c);
    const { record } = decodeRecord(bytes, 0, c.cid?.length);
    assert.equal({ ...record, fragment: record.fragment.toString('hex'), cid: record.cid?.toString('hex') },
      { ...c, version: { ...c.version }, fragment: c.fragment.toString('hex'), cid: c.cid?.toString('hex') });
  }
  assert.is(encodeRecord(cases[0]!).subarray(5, 11).toString('hex'), 'ffffffffffff');
});

test('several records in one datagram are split, each fragment a view of the datagram', () => {
  const ccs = encodeRecord({ type: ContentType.change_cipher_spec, version: DTLS_1_2, epoch: 0, sequenceNumber: 8, fragment: Buffer.from([1]) });
  const datagram = Buffer.concat([PLAINTEXT, ccs, CID_RECORD]);
  const { records, error } = splitRecords(datagram, 4);
  assert.is(error, undefined);
  assert.equal(records.map((r) => [r.type, r.epoch, r.sequenceNumber]), [[22, 0, 7], [20, 0, 8], [25, 1, 258]]);
  assert.is(records[2]!.fragment.buffer, datagram.buffer);
});

test('a partial record after whole ones: the whole ones stand, the partial one is the error', () => {
  const datagram = Buffer.concat([PLAINTEXT, PLAINTEXT, PLAINTEXT.subarray(0, 14)]);
  const { records, error } = splitRecords(datagram);
  assert.is(records.length, 2);
  assert.instance(error, DecodeError);
  assert.is(error?.code, 'dtls.record.truncated');
  // Nothing whole: no records, and the error.
  const none = splitRecords(PLAINTEXT.subarray(0, 5));
  assert.equal([none.records.length, none.error?.code], [0, 'dtls.record.truncated']);
  assert.is(splitRecords(Buffer.alloc(0)).error?.code, 'dtls.record.empty');
});

test('every truncation of a record is a DecodeError, never a RangeError', () => {
  for (const [bytes, cidLength] of [[PLAINTEXT, undefined], [CID_RECORD, 4]] as const) {
    for (let n = 0; n < bytes.length; n++) {
      throwsDecodeError(() => decodeRecord(bytes.subarray(0, n), 0, cidLength), 'dtls.record.truncated');
      const split = splitRecords(Buffer.concat([PLAINTEXT, bytes.subarray(0, n)]), cidLength);
      assert.is(split.records.length, 1);
      assert.is(split.error?.code, n === 0 ? undefined : 'dtls.record.truncated');
    }
  }
});

test('lengths: over 2^14 + 2048 is refused, over 2^14 in epoch 0 too, before the bytes are looked for', () => {
  const header = (epoch: number, length: number) => {
    const h = Buffer.from(PLAINTEXT.subarray(0, 13));
    h.writeUInt16BE(epoch, 3);
    h.writeUInt16BE(length, 11);
    return h;
  };
  throwsDecodeError(() => decodeRecord(Buffer.concat([header(1, MAX_CIPHERTEXT_LENGTH + 1), Buffer.alloc(MAX_CIPHERTEXT_LENGTH + 1)]), 0), 'dtls.record.oversize');
  throwsDecodeError(() => decodeRecord(header(1, 0xffff), 0), 'dtls.record.oversize');
  throwsDecodeError(() => decodeRecord(Buffer.concat([header(0, MAX_PLAINTEXT_LENGTH + 1), Buffer.alloc(MAX_PLAINTEXT_LENGTH + 1)]), 0), 'dtls.record.oversize');
  assert.is(decodeRecord(Buffer.concat([header(1, MAX_CIPHERTEXT_LENGTH), Buffer.alloc(MAX_CIPHERTEXT_LENGTH)]), 0).next, 13 + MAX_CIPHERTEXT_LENGTH);
  // A length under the cap but past the datagram is a truncation.
  throwsDecodeError(() => decodeRecord(header(1, 1000), 0), 'dtls.record.truncated');
});

test('refused headers: an unknown content type, a version that is not DTLS 1.2 or 1.0', () => {
  for (const type of [0, 19, 24, 26, 255]) {
    throwsDecodeError(() => decodeRecord(Buffer.from([type, ...PLAINTEXT.subarray(1)]), 0), 'dtls.record.content-type');
  }
  for (const [major, minor] of [[3, 3], [254, 252], [254, 254], [253, 253]]) {
    throwsDecodeError(() => decodeRecord(Buffer.from([0x16, major!, minor!, ...PLAINTEXT.subarray(3)]), 0), 'dtls.record.version');
  }
  assert.equal(decodeRecord(Buffer.from([0x16, 254, 255, ...PLAINTEXT.subarray(3)]), 0).record.version, { major: 254, minor: 255 });
});

test('the encoder refuses what it must not write; the decoder, a CID length or an offset that cannot be', () => {
  const base: DtlsRecord = { type: ContentType.handshake, version: DTLS_1_2, epoch: 0, sequenceNumber: 0, fragment: Buffer.alloc(1) };
  const bad: DtlsRecord[] = [
    { ...base, sequenceNumber: 2 ** 48 },
    { ...base, sequenceNumber: -1 },
    { ...base, epoch: 0x10000 },
    { ...base, cid: Buffer.alloc(4) },
    { ...base, type: ContentType.tls12_cid, epoch: 1 },
    { ...base, type: ContentType.tls12_cid, epoch: 1, cid: Buffer.alloc(0) },
    { ...base, type: ContentType.tls12_cid, epoch: 0, cid: Buffer.alloc(4) },
    { ...base, fragment: Buffer.alloc(MAX_PLAINTEXT_LENGTH + 1) },
    { ...base, epoch: 1, fragment: Buffer.alloc(MAX_CIPHERTEXT_LENGTH + 1) },
    { ...base, type: 24 as ContentType },
  ];
  for (const r of bad) assert.throws(() => encodeRecord(r), (e: unknown) => e instanceof RangeError);
  assert.throws(() => splitRecords(PLAINTEXT, 256), (e: unknown) => e instanceof RangeError);
  for (const offset of [-1, 17, 0.5]) assert.throws(() => decodeRecord(PLAINTEXT, offset), (e: unknown) => e instanceof RangeError);
});

test('hostile bytes: random datagrams and mutated records give records or a DecodeError', () => {
  const random = seededBytes(0xd71);
  for (let i = 0; i < 3000; i++) {
    const b = i % 2 === 0 ? random(i % 64) : Buffer.concat([PLAINTEXT, CID_RECORD]);
    if (i % 2 === 1) b[i % b.length] = random(1)[0]!;
    for (const cidLength of [undefined, 0, 1, 4, 255]) returnsOrDecodeError(() => splitRecords(b, cidLength));
  }
});

test.run();
