import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  TAG_LENGTH,
  additionalData,
  aeadDecrypt,
  aeadEncrypt,
  cidAdditionalData,
  decodeInnerPlaintext,
  encodeInnerPlaintext,
  open,
  seal,
  type CcmKeys,
  type CcmTagLength,
  type RecordHeader,
} from '../../protocols/dtls-ccm.ts';
import { hex, returnsOrDecodeError, seededBytes, throwsDecodeError } from './_helpers.ts';

const bytes = seededBytes(0xcc3);
const DTLS_1_2 = 0xfefd;
const APPLICATION_DATA = 23;
const HANDSHAKE = 22;

// ---------------------------------------------------------------------------------------------
// The AES-CCM primitive, through the exact node:crypto calls seal and open make.

interface Vector {
  name: string;
  key: string;
  nonce: string;
  aad: string;
  plaintext: string;
  /** ciphertext || tag */
  sealed: string;
  tagLength: CcmTagLength;
}

const VECTORS: Vector[] = [
  {
    // RFC 3610 §8, Packet Vector #1: 13-byte nonce, 8-byte header as AAD, M = 8.
    name: 'RFC 3610 Packet Vector #1',
    key: 'C0 C1 C2 C3 C4 C5 C6 C7 C8 C9 CA CB CC CD CE CF',
    nonce: '00 00 00 03 02 01 00 A0 A1 A2 A3 A4 A5',
    aad: '00 01 02 03 04 05 06 07',
    plaintext: '08 09 0A 0B 0C 0D 0E 0F 10 11 12 13 14 15 16 17 18 19 1A 1B 1C 1D 1E',
    sealed: `58 8C 97 9A 61 C6 63 D2 F0 66 D0 C2 C0 F9 89 80 6D 5F 6B 61 DA C3 84
             17 E8 D1 2C FD F9 26 E0`,
    tagLength: 8,
  },
  {
    // RFC 3610 §8, Packet Vector #2.
    name: 'RFC 3610 Packet Vector #2',
    key: 'C0 C1 C2 C3 C4 C5 C6 C7 C8 C9 CA CB CC CD CE CF',
    nonce: '00 00 00 04 03 02 01 A0 A1 A2 A3 A4 A5',
    aad: '00 01 02 03 04 05 06 07',
    plaintext: '08 09 0A 0B 0C 0D 0E 0F 10 11 12 13 14 15 16 17 18 19 1A 1B 1C 1D 1E 1F',
    sealed: `72 C9 1A 36 E1 35 F8 CF 29 1C A8 94 08 5C 87 E3 CC 15 C4 39 C9 E4 3A 3B
             A0 91 D5 6E 10 40 09 16`,
    tagLength: 8,
  },
  {
    // NIST SP 800-38C Appendix C, Example 3 (Tlen 64, Nlen 96, Alen 160, Plen 192):
    // a 12-byte nonce and an 8-byte tag, the shape of TLS_PSK_WITH_AES_128_CCM_8.
    name: 'NIST SP 800-38C Example 3',
    key: '40414243 44454647 48494a4b 4c4d4e4f',
    nonce: '10111213 14151617 18191a1b',
    aad: '00010203 04050607 08090a0b 0c0d0e0f 10111213',
    plaintext: '20212223 24252627 28292a2b 2c2d2e2f 30313233 34353637',
    sealed: 'e3b201a9 f5b71a7a 9b1ceaec cd97e70b 6176aad9 a4428aa5 484392fb c1b09951',
    tagLength: 8,
  },
  {
    // NIST CAVP CCM test vectors, Variable Tag Test (VTT), AES-128, Plen 24, Nlen 13, Alen 32, Tlen 16.
    name: 'NIST CAVP CCM VTT AES-128, Tlen 16',
    key: '4189351b5caea375a0299e81c621bf43',
    nonce: '48c0906930561e0ab0ef4cd972',
    aad: '40a27c1d1e23ea3dbe8056b2774861a4a201cce49f19997d19206d8c8a343951',
    plaintext: '4535d12b4377928a7c0a61c9f825a48671ea05910748c8ef',
    sealed: '26c56961c035a7e452cce61bc6ee220d77b3f94d18fd10b6d80e8bf80f4a46cab06d4313f0db9be9',
    tagLength: 16,
  },
  {
    // Project Wycheproof, aes_ccm_test.json, tcId 11 (ivSize 96, tagSize 128): a 12-byte nonce and
    // a 16-byte tag, the shape of TLS_PSK_WITH_AES_128_CCM.
    name: 'Wycheproof AES-CCM tcId 11',
    key: '9415f925bcb41dc25e86c826dbc8bf68',
    nonce: 'bdffaa763b916ff0ee3f3ce4',
    aad: '705d676cd8a94451',
    plaintext: 'feb36167eafc02c8e2bd6e13817686ba',
    sealed: '08db327a88be7b48f430fd7bfccdf502 b7c249f810adacf99abded1f3b9130f2',
    tagLength: 16,
  },
  {
    // Project Wycheproof, aes_ccm_test.json, tcId 34 (ivSize 96, tagSize 128).
    name: 'Wycheproof AES-CCM tcId 34',
    key: '875b0b4a84150524eb1f50f9d8de1388',
    nonce: 'fdc5014ed1ad706129d57322',
    aad: '35a6d9829c8449c4402e385cc5c6fe98',
    plaintext: '2f575dfb2dbe9d238de576fc63e4ac32',
    sealed: '3469c3ff738aa32aacc1ac48d89b1d75 fa68720a3171a54c4b3690bffde7b610',
    tagLength: 16,
  },
];

for (const v of VECTORS) {
  test(`AES-CCM primitive: ${v.name} (tag ${v.tagLength})`, () => {
    const [key, nonce, aad, plaintext, sealed] = [v.key, v.nonce, v.aad, v.plaintext, v.sealed].map(hex) as [
      Buffer, Buffer, Buffer, Buffer, Buffer,
    ];
    assert.equal(aeadEncrypt(key, nonce, plaintext, aad, v.tagLength), sealed);
    assert.equal(aeadDecrypt(key, nonce, sealed, aad, v.tagLength), plaintext);
    const badTag = Buffer.from(sealed);
    badTag[badTag.length - 1]! ^= 0x01;
    assert.is(aeadDecrypt(key, nonce, badTag, aad, v.tagLength), undefined);
    const badAad = Buffer.from(aad);
    badAad[0]! ^= 0x80;
    assert.is(aeadDecrypt(key, nonce, sealed, badAad, v.tagLength), undefined);
  });
}

// ---------------------------------------------------------------------------------------------
// additional_data layouts, written out byte by byte.

test('RFC 5246 §6.2.3.3 with RFC 6347 §4.1.2.1: additional_data = epoch || sequence_number || type || version || length', () => {
  const header: RecordHeader = { type: APPLICATION_DATA, version: DTLS_1_2, epoch: 1, sequenceNumber: 5 };
  assert.equal(additionalData(header, 16), hex('0001 000000000005 17 fefd 0010'));
  const big: RecordHeader = { type: HANDSHAKE, version: DTLS_1_2, epoch: 0xfffe, sequenceNumber: 2 ** 48 - 1 };
  assert.equal(additionalData(big, 0x4000), hex('fffe ffffffffffff 16 fefd 4000'));
});

test('RFC 9146 §5.3: additional_data of a record with a Connection ID', () => {
  const header = { type: 25, version: DTLS_1_2, epoch: 1, sequenceNumber: 0x0a0b, cid: hex('c1 c2 c3 c4') };
  const fields: Array<[string, string]> = [
    ['ff ff ff ff ff ff ff ff', 'seq_num_placeholder'],
    ['19', 'tls12_cid'],
    ['04', 'cid_length'],
    ['19', 'tls12_cid'],
    ['fe fd', 'DTLSCiphertext.version'],
    ['00 01', 'epoch'],
    ['00 00 00 00 0a 0b', 'sequence_number'],
    ['c1 c2 c3 c4', 'cid'],
    ['00 11', 'length_of_DTLSInnerPlaintext'],
  ];
  const expected = hex(fields.map(([field]) => field).join(' '));
  assert.is(expected.length, 8 + 1 + 1 + 1 + 2 + 2 + 6 + 4 + 2);
  assert.equal(cidAdditionalData(header, 0x11), expected);
  // A one-byte and a 255-byte CID.
  assert.equal(
    cidAdditionalData({ ...header, cid: hex('7f') }, 1),
    hex('ffffffffffffffff 19 01 19 fefd 0001 000000000a0b 7f 0001'),
  );
  const longest = cidAdditionalData({ ...header, cid: Buffer.alloc(255, 0xab) }, 0);
  assert.is(longest.length, 23 + 255);
  assert.is(longest[9], 0xff);
});

test('additional_data: out-of-range fields are caller bugs (RangeError)', () => {
  const header: RecordHeader = { type: APPLICATION_DATA, version: DTLS_1_2, epoch: 0, sequenceNumber: 0 };
  assert.throws(() => additionalData({ ...header, epoch: 0x10000 }, 0), RangeError);
  assert.throws(() => additionalData({ ...header, sequenceNumber: 2 ** 48 }, 0), RangeError);
  assert.throws(() => additionalData({ ...header, sequenceNumber: -1 }, 0), RangeError);
  assert.throws(() => additionalData({ ...header, type: 256 }, 0), RangeError);
  assert.throws(() => additionalData(header, 0x4001), RangeError);
  const cidHeader = { ...header, type: 25, cid: hex('01') };
  assert.throws(() => cidAdditionalData({ ...cidHeader, cid: Buffer.alloc(0) }, 0), RangeError);
  assert.throws(() => cidAdditionalData({ ...cidHeader, cid: Buffer.alloc(256) }, 0), RangeError);
  assert.throws(() => cidAdditionalData({ ...cidHeader, type: APPLICATION_DATA }, 0), RangeError);
});

// ---------------------------------------------------------------------------------------------
// DTLSInnerPlaintext.

test('RFC 9146 §4: DTLSInnerPlaintext = content || real_type || zeros', () => {
  assert.equal(encodeInnerPlaintext(hex('aa bb'), APPLICATION_DATA), hex('aa bb 17'));
  assert.equal(encodeInnerPlaintext(hex('aa bb'), APPLICATION_DATA, 3), hex('aa bb 17 00 00 00'));
  assert.equal(encodeInnerPlaintext(Buffer.alloc(0), 21), hex('15'));
  assert.equal(decodeInnerPlaintext(hex('aa bb 17')), { content: hex('aa bb'), realType: 23 });
  assert.equal(decodeInnerPlaintext(hex('aa bb 17 00 00 00')), { content: hex('aa bb'), realType: 23 });
  assert.equal(decodeInnerPlaintext(hex('15')), { content: Buffer.alloc(0), realType: 21 });
  // Zeros at the end of the content are content: real_type stands between them and the padding.
  assert.equal(decodeInnerPlaintext(hex('00 00 16 00')), { content: hex('00 00'), realType: 22 });
  for (let padding = 0; padding < 40; padding += 7) {
    const content = bytes(padding * 3);
    const inner = encodeInnerPlaintext(content, HANDSHAKE, padding);
    assert.is(inner.length, content.length + 1 + padding);
    assert.equal(decodeInnerPlaintext(inner), { content, realType: HANDSHAKE });
  }
});

test('RFC 9146 §4: a DTLSInnerPlaintext with no non-zero byte has no real_type (DecodeError)', () => {
  throwsDecodeError(() => decodeInnerPlaintext(Buffer.alloc(0)), 'dtls.inner-plaintext');
  throwsDecodeError(() => decodeInnerPlaintext(Buffer.alloc(1)), 'dtls.inner-plaintext');
  throwsDecodeError(() => decodeInnerPlaintext(Buffer.alloc(300)), 'dtls.inner-plaintext');
});

test('RFC 9146 §4, §5: encodeInnerPlaintext refuses real_type 0 and more than 2^14 bytes (RangeError)', () => {
  assert.throws(() => encodeInnerPlaintext(hex('01'), 0), RangeError);
  assert.throws(() => encodeInnerPlaintext(hex('01'), 256), RangeError);
  assert.throws(() => encodeInnerPlaintext(hex('01'), 23, -1), RangeError);
  assert.throws(() => encodeInnerPlaintext(Buffer.alloc(0x4000), 23), RangeError);
  assert.is(encodeInnerPlaintext(Buffer.alloc(0x3fff), 23).length, 0x4000);
});

// ---------------------------------------------------------------------------------------------
// seal and open.

function keysFor(tagLength: CcmTagLength): CcmKeys {
  return { writeKey: bytes(16), writeIV: bytes(4), tagLength };
}

const SUITES = Object.entries(TAG_LENGTH) as Array<[string, CcmTagLength]>;

for (const [suite, tagLength] of SUITES) {
  test(`${suite}: seal is nonce_explicit || AES-CCM(salt || nonce_explicit, additional_data), written out by hand`, () => {
    const keys = keysFor(tagLength);
    const header: RecordHeader = { type: APPLICATION_DATA, version: DTLS_1_2, epoch: 1, sequenceNumber: 0x0102030405 };
    const plaintext = bytes(37);
    const fragment = seal(keys, header, plaintext);
    assert.is(fragment.length, 8 + 37 + tagLength);
    const nonceExplicit = hex('0001 000102030405');
    assert.equal(fragment.subarray(0, 8), nonceExplicit);
    const aad = hex('0001 000102030405 17 fefd 0025');
    const nonce = Buffer.concat([keys.writeIV, nonceExplicit]);
    assert.equal(fragment.subarray(8), aeadEncrypt(keys.writeKey, nonce, plaintext, aad, tagLength));
    assert.equal(open(keys, header, fragment), plaintext);
  });

  test(`${suite}: a record with a CID is sealed over its DTLSInnerPlaintext and the RFC 9146 additional_data`, () => {
    const keys = keysFor(tagLength);
    const header: RecordHeader = { type: 25, version: DTLS_1_2, epoch: 2, sequenceNumber: 9, cid: hex('cafe') };
    const content = bytes(10);
    const inner = encodeInnerPlaintext(content, APPLICATION_DATA, 5); // 10 + 1 + 5 = 16 bytes
    const fragment = seal(keys, header, inner);
    const aad = hex('ffffffffffffffff 19 02 19 fefd 0002 000000000009 cafe 0010');
    const nonceExplicit = hex('0002 000000000009');
    const nonce = Buffer.concat([keys.writeIV, nonceExplicit]);
    assert.equal(fragment, Buffer.concat([nonceExplicit, aeadEncrypt(keys.writeKey, nonce, inner, aad, tagLength)]));
    const opened = open(keys, header, fragment);
    assert.ok(opened);
    assert.equal(decodeInnerPlaintext(opened), { content, realType: APPLICATION_DATA });
    // Opened as an ordinary record (no CID in the additional data), it does not authenticate.
    assert.is(open(keys, { type: APPLICATION_DATA, version: DTLS_1_2, epoch: 2, sequenceNumber: 9 }, fragment), undefined);
  });

  test(`${suite}: round trips, from an empty plaintext to 2^14 bytes`, () => {
    const keys = keysFor(tagLength);
    for (const length of [0, 1, 15, 16, 17, 100, 1024, 0x4000]) {
      const header: RecordHeader = { type: HANDSHAKE, version: DTLS_1_2, epoch: 1, sequenceNumber: length };
      const plaintext = bytes(length);
      const fragment = seal(keys, header, plaintext);
      assert.is(fragment.length, 8 + length + tagLength);
      assert.equal(open(keys, header, fragment), plaintext);
    }
  });

  test(`${suite}: a flipped bit in nonce_explicit, ciphertext, tag or any covered header field → undefined`, () => {
    const keys = keysFor(tagLength);
    const header: RecordHeader = { type: APPLICATION_DATA, version: DTLS_1_2, epoch: 3, sequenceNumber: 77 };
    const plaintext = bytes(20);
    const fragment = seal(keys, header, plaintext);
    // Every bit of the fragment: nonce_explicit (0..7), ciphertext (8..27), tag (28..).
    for (let i = 0; i < fragment.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const bad = Buffer.from(fragment);
        bad[i]! ^= 1 << bit;
        assert.is(open(keys, header, bad), undefined, `byte ${i} bit ${bit}`);
      }
    }
    // Every field of additional_data, including the length (a byte more or less of ciphertext).
    const wrongHeaders: RecordHeader[] = [
      { ...header, type: HANDSHAKE },
      { ...header, version: 0xfeff },
      { ...header, epoch: 4 },
      { ...header, sequenceNumber: 78 },
    ];
    for (const wrong of wrongHeaders) assert.is(open(keys, wrong, fragment), undefined);
    assert.is(open(keys, header, fragment.subarray(0, fragment.length - 1)), undefined);
    assert.is(open(keys, header, Buffer.concat([fragment, hex('00')])), undefined);
    // The other direction's keys.
    assert.is(open({ ...keys, writeKey: bytes(16) }, header, fragment), undefined);
    assert.is(open({ ...keys, writeIV: bytes(4) }, header, fragment), undefined);
    // The untouched fragment still opens.
    assert.equal(open(keys, header, fragment), plaintext);
  });

  test(`${suite}: a flipped bit in a CID record's CID, epoch or sequence number → undefined`, () => {
    const keys = keysFor(tagLength);
    const header = { type: 25, version: DTLS_1_2, epoch: 1, sequenceNumber: 1, cid: hex('0102030405060708') };
    const fragment = seal(keys, header, encodeInnerPlaintext(hex('68656c6c6f'), APPLICATION_DATA));
    for (let i = 0; i < header.cid.length; i++) {
      const cid = Buffer.from(header.cid);
      cid[i]! ^= 0x10;
      assert.is(open(keys, { ...header, cid }, fragment), undefined);
    }
    assert.is(open(keys, { ...header, cid: header.cid.subarray(1) }, fragment), undefined);
    assert.is(open(keys, { ...header, epoch: 0 }, fragment), undefined);
    assert.is(open(keys, { ...header, sequenceNumber: 0 }, fragment), undefined);
    assert.ok(open(keys, header, fragment));
  });

  test(`${suite}: a fragment too short for nonce_explicit and tag, or too long for 2^14 bytes, is a DecodeError`, () => {
    const keys = keysFor(tagLength);
    const header: RecordHeader = { type: APPLICATION_DATA, version: DTLS_1_2, epoch: 1, sequenceNumber: 0 };
    for (const length of [0, 7, 8, 8 + tagLength - 1]) {
      throwsDecodeError(() => open(keys, header, Buffer.alloc(length)), 'dtls.ccm.short');
    }
    // Exactly nonce_explicit and tag: an empty plaintext, which only authenticates if sealed as such.
    assert.is(open(keys, header, Buffer.alloc(8 + tagLength)), undefined);
    throwsDecodeError(() => open(keys, header, Buffer.alloc(8 + 0x4001 + tagLength)), 'dtls.record-overflow');
  });

  test(`${suite}: hostile fragments give undefined or a DecodeError, nothing else`, () => {
    const keys = keysFor(tagLength);
    const header: RecordHeader = { type: APPLICATION_DATA, version: DTLS_1_2, epoch: 1, sequenceNumber: 0 };
    for (let i = 0; i < 200; i++) {
      const fragment = bytes(i % 60);
      returnsOrDecodeError(() => assert.is(open(keys, header, fragment), undefined));
    }
  });
}

test('seal: a plaintext over 2^14 bytes, wrong-sized keys or a bad tag length are caller bugs (RangeError)', () => {
  const keys = keysFor(8);
  const header: RecordHeader = { type: APPLICATION_DATA, version: DTLS_1_2, epoch: 1, sequenceNumber: 0 };
  assert.throws(() => seal(keys, header, Buffer.alloc(0x4001)), RangeError);
  assert.throws(() => seal({ ...keys, writeKey: bytes(32) }, header, hex('00')), RangeError);
  assert.throws(() => seal({ ...keys, writeIV: bytes(12) }, header, hex('00')), RangeError);
  assert.throws(() => seal({ ...keys, tagLength: 12 as CcmTagLength }, header, hex('00')), RangeError);
  assert.throws(() => open({ ...keys, writeKey: bytes(15) }, header, Buffer.alloc(40)), RangeError);
});

test('RFC 6655: the two suites differ only in tag length, and each opens only its own records', () => {
  const key = bytes(16);
  const salt = bytes(4);
  const header: RecordHeader = { type: APPLICATION_DATA, version: DTLS_1_2, epoch: 1, sequenceNumber: 1 };
  const plaintext = bytes(24);
  const short = seal({ writeKey: key, writeIV: salt, tagLength: 8 }, header, plaintext);
  const long = seal({ writeKey: key, writeIV: salt, tagLength: 16 }, header, plaintext);
  assert.is(long.length - short.length, 8);
  // Same nonce_explicit, and the same ciphertext: CCM's counter blocks do not encode the tag length
  // (RFC 3610 §2.3), while its first CBC-MAC block does (RFC 3610 §2.2), so the tags are unrelated.
  assert.equal(short.subarray(0, 8 + 24), long.subarray(0, 8 + 24));
  assert.not.equal(short.subarray(8 + 24), long.subarray(8 + 24, 8 + 24 + 8));
  assert.is(open({ writeKey: key, writeIV: salt, tagLength: 16 }, header, short), undefined);
  assert.is(open({ writeKey: key, writeIV: salt, tagLength: 8 }, header, long), undefined);
});

test.run();
