import { createHash, createHmac } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  checkVerifyData,
  extendedMasterSecret,
  keyExpansion,
  masterSecret,
  prf,
  pskPremasterSecret,
  verifyData,
} from '../../protocols/tls-prf.ts';
import { hex, seededBytes, throwsDecodeError } from './_helpers.ts';

const hmac = (key: Buffer, ...parts: Buffer[]): Buffer => {
  const h = createHmac('sha256', key);
  for (const part of parts) h.update(part);
  return h.digest();
};
const ascii = (text: string): Buffer => Buffer.from(text, 'ascii');
const bytes = seededBytes(0x7e57);

test('RFC 5246 §5: the published TLS 1.2 PRF (SHA-256) test vector, 100 bytes', () => {
  // "Generating 100 bytes of pseudo-randomness using TLS1.2PRF-SHA256", posted to the IETF TLS
  // working group's mailing list and carried by many TLS stacks' test suites.
  const secret = hex('9b be 43 6b a9 40 f0 17 b1 76 52 84 9a 71 db 35');
  const seed = hex('a0 ba 9f 93 6c da 31 18 27 a6 f7 96 ff d5 19 8c');
  const expected = hex(`
    e3 f2 29 ba 72 7b e1 7b 8d 12 26 20 55 7c d4 53
    c2 aa b2 1d 07 c3 d4 95 32 9b 52 d4 e6 1e db 5a
    6b 30 17 91 e9 0d 35 c9 c9 a4 6b 4e 14 ba f9 af
    0f a0 22 f7 07 7d ef 17 ab fd 37 97 c0 56 4b ab
    4f bc 91 66 6e 9d ef 9b 97 fc e3 4f 79 67 89 ba
    a4 80 82 d1 22 ee 42 c5 a7 2e 5a 51 10 ff f7 01
    87 34 7b 66`);
  assert.equal(prf(secret, 'test label', seed, 100), expected);
  // Shorter outputs are prefixes: P_hash is cut, never recomputed.
  for (const length of [0, 1, 31, 32, 33, 64, 99]) {
    assert.equal(prf(secret, 'test label', seed, length), expected.subarray(0, length));
  }
});

test('RFC 5246 §5: a bad output length is a caller bug (RangeError)', () => {
  for (const length of [-1, 1.5, Number.NaN]) {
    assert.throws(() => prf(Buffer.alloc(16), 'x', Buffer.alloc(0), length), RangeError);
  }
});

test('RFC 4279 §2: plain PSK premaster secret is uint16 N, N zeros, uint16 N, the PSK', () => {
  assert.equal(pskPremasterSecret(hex('01 02 03')), hex('0003 000000 0003 010203'));
  // A 16-byte PSK, the common LwM2M case: 2 + 16 + 2 + 16 = 36 bytes.
  const psk = hex('00112233445566778899aabbccddeeff');
  const premaster = pskPremasterSecret(psk);
  assert.is(premaster.length, 36);
  assert.equal(premaster.subarray(0, 2), hex('0010'));
  assert.equal(premaster.subarray(2, 18), Buffer.alloc(16));
  assert.equal(premaster.subarray(18, 20), hex('0010'));
  assert.equal(premaster.subarray(20), psk);
  // The longest PSK a uint16 can announce.
  const longest = pskPremasterSecret(Buffer.alloc(0xffff, 0xaa));
  assert.is(longest.length, 4 + 2 * 0xffff);
  assert.equal(longest.subarray(0, 2), hex('ffff'));
  assert.throws(() => pskPremasterSecret(Buffer.alloc(0)), RangeError);
  assert.throws(() => pskPremasterSecret(Buffer.alloc(0x10000)), RangeError);
});

test('RFC 5246 §8.1: master secret, cross-checked by computing P_SHA256 with HMAC step by step', () => {
  const premaster = pskPremasterSecret(hex('0102030405060708090a0b0c0d0e0f10'));
  const clientRandom = bytes(32);
  const serverRandom = bytes(32);
  // seed = "master secret" + ClientHello.random + ServerHello.random; 48 bytes need two HMAC blocks.
  const seed = Buffer.concat([ascii('master secret'), clientRandom, serverRandom]);
  const a1 = hmac(premaster, seed);
  const a2 = hmac(premaster, a1);
  const expected = Buffer.concat([hmac(premaster, a1, seed), hmac(premaster, a2, seed)]).subarray(0, 48);
  const master = masterSecret(premaster, { clientRandom, serverRandom });
  assert.is(master.length, 48);
  assert.equal(master, expected);
  // The randoms are ordered client then server: swapping them changes everything.
  assert.not.equal(masterSecret(premaster, { clientRandom: serverRandom, serverRandom: clientRandom }), master);
});

test('RFC 7627 §4: extended master secret is seeded by the session hash alone', () => {
  const premaster = pskPremasterSecret(hex('aabbccdd'));
  const sessionHash = createHash('sha256').update('ClientHello ... ClientKeyExchange').digest();
  const seed = Buffer.concat([ascii('extended master secret'), sessionHash]);
  const a1 = hmac(premaster, seed);
  const a2 = hmac(premaster, a1);
  const expected = Buffer.concat([hmac(premaster, a1, seed), hmac(premaster, a2, seed)]).subarray(0, 48);
  assert.equal(extendedMasterSecret(premaster, sessionHash), expected);
  assert.throws(() => extendedMasterSecret(premaster, sessionHash.subarray(0, 31)), RangeError);
});

test('RFC 5246 §6.3 with RFC 6655 §3: key_block is 40 bytes, sliced key, key, IV, IV; seed is server then client random', () => {
  const master = bytes(48);
  const clientRandom = bytes(32);
  const serverRandom = bytes(32);
  const keys = keyExpansion(master, { clientRandom, serverRandom });
  assert.is(keys.clientWriteKey.length, 16);
  assert.is(keys.serverWriteKey.length, 16);
  assert.is(keys.clientWriteIV.length, 4);
  assert.is(keys.serverWriteIV.length, 4);
  // Two HMAC blocks (64 bytes) cover the 40-byte key_block; no MAC keys come first (AEAD suites).
  const seed = Buffer.concat([ascii('key expansion'), serverRandom, clientRandom]);
  const a1 = hmac(master, seed);
  const a2 = hmac(master, a1);
  const block = Buffer.concat([hmac(master, a1, seed), hmac(master, a2, seed)]);
  assert.equal(keys.clientWriteKey, block.subarray(0, 16));
  assert.equal(keys.serverWriteKey, block.subarray(16, 32));
  assert.equal(keys.clientWriteIV, block.subarray(32, 36));
  assert.equal(keys.serverWriteIV, block.subarray(36, 40));
  assert.equal(
    Buffer.concat([keys.clientWriteKey, keys.serverWriteKey, keys.clientWriteIV, keys.serverWriteIV]),
    prf(master, 'key expansion', Buffer.concat([serverRandom, clientRandom]), 40),
  );
});

test('wrong-sized master secret or randoms are caller bugs (RangeError)', () => {
  const randoms = { clientRandom: bytes(32), serverRandom: bytes(32) };
  assert.throws(() => keyExpansion(bytes(47), randoms), RangeError);
  assert.throws(() => keyExpansion(bytes(48), { ...randoms, serverRandom: bytes(31) }), RangeError);
  assert.throws(() => masterSecret(bytes(36), { ...randoms, clientRandom: bytes(33) }), RangeError);
  assert.throws(() => verifyData(bytes(32), 'client', bytes(32)), RangeError);
  assert.throws(() => verifyData(bytes(48), 'client', bytes(20)), RangeError);
});

test('RFC 5246 §7.4.9: verify_data is 12 bytes of PRF(master_secret, "client finished" | "server finished", hash)', () => {
  const master = bytes(48);
  const handshakeHash = createHash('sha256').update('handshake messages').digest();
  for (const sender of ['client', 'server'] as const) {
    const value = verifyData(master, sender, handshakeHash);
    assert.is(value.length, 12);
    // One HMAC block covers 12 bytes.
    const seed = Buffer.concat([ascii(`${sender} finished`), handshakeHash]);
    assert.equal(value, hmac(master, hmac(master, seed), seed).subarray(0, 12));
  }
  assert.not.equal(verifyData(master, 'client', handshakeHash), verifyData(master, 'server', handshakeHash));
});

test('RFC 5246 §7.4.9: checking a received verify_data', () => {
  const master = bytes(48);
  const handshakeHash = bytes(32);
  const good = verifyData(master, 'client', handshakeHash);
  assert.ok(checkVerifyData(master, 'client', handshakeHash, good));
  // A Finished from the other side, or over another transcript, does not verify.
  assert.not.ok(checkVerifyData(master, 'server', handshakeHash, good));
  assert.not.ok(checkVerifyData(master, 'client', bytes(32), good));
  // Any single flipped bit, first byte to last, is a mismatch (false, not an exception).
  for (let i = 0; i < good.length; i++) {
    for (const bit of [0x01, 0x80]) {
      const bad = Buffer.from(good);
      bad[i]! ^= bit;
      assert.is(checkVerifyData(master, 'client', handshakeHash, bad), false);
    }
  }
  // The received copy is not modified.
  assert.equal(good, verifyData(master, 'client', handshakeHash));
});

test('RFC 5246 §7.4.9: a Finished body that is not 12 bytes is malformed (DecodeError)', () => {
  const master = bytes(48);
  const handshakeHash = bytes(32);
  const good = verifyData(master, 'server', handshakeHash);
  for (const received of [Buffer.alloc(0), good.subarray(0, 11), Buffer.concat([good, hex('00')])]) {
    throwsDecodeError(() => checkVerifyData(master, 'server', handshakeHash, received), 'tls.finished.length');
  }
});

test.run();
