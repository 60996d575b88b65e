import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ccmOpen, ccmSeal, openRecord } from '../../../simulator/dtls/ccm.ts';
import { RecordWriter } from '../../../simulator/dtls/record-writer.ts';
import { prf, pskPremaster } from '../../../simulator/dtls/prf.ts';
import { ReplayWindow } from '../../../simulator/dtls/replay.ts';
import { aeadAdditionalData, cidAdditionalData, decodeRecords, encodeRecord, innerPlaintext, readInnerPlaintext } from '../../../simulator/dtls/record.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('TLS 1.2 PRF (HMAC-SHA256): the published test vector, 100 bytes', () => {
  const out = prf(hex('9bbe436ba940f017b17652849a71db35'), 'test label', hex('a0ba9f936cda311827a6f796ffd5198c'), 100);
  assert.is(out.length, 100);
  assert.is(out.subarray(0, 16).toString('hex'), 'e3f229ba727be17b8d122620557cd453');
  assert.is(
    out.toString('hex'),
    'e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff70187347b66',
  );
});

test('RFC 4279 §2: the PSK premaster secret', () => {
  assert.is(pskPremaster(hex('aabb')).toString('hex'), '000200000002aabb');
});

test('RFC 3610 packet vector #1: AES-CCM, M = 8, 13-byte nonce', () => {
  const key = hex('c0c1c2c3c4c5c6c7c8c9cacbcccdcecf');
  const nonce = hex('00000003020100a0a1a2a3a4a5');
  const aad = hex('0001020304050607');
  const plain = hex('08090a0b0c0d0e0f101112131415161718191a1b1c1d1e');
  const sealed = ccmSeal(key, nonce, aad, plain, 8);
  assert.is(sealed.toString('hex'), '588c979a61c663d2f066d0c2c0f989806d5f6b61dac38417e8d12cfdf926e0');
  assert.equal(ccmOpen(key, nonce, aad, sealed, 8), plain);
  const bad = Buffer.from(sealed);
  bad[0] = (bad[0] ?? 0) ^ 1;
  assert.is(ccmOpen(key, nonce, aad, bad, 8), undefined);
  assert.is(ccmOpen(key, nonce, hex('0001020304050608'), sealed, 8), undefined);
});

test('RFC 6347 §4.1.2.6: the replay window', () => {
  const w = new ReplayWindow();
  assert.ok(w.fresh(5));
  w.mark(5);
  assert.not.ok(w.fresh(5));
  assert.ok(w.fresh(3));
  w.mark(3);
  assert.not.ok(w.fresh(3));
  w.mark(100);
  assert.not.ok(w.fresh(36), 'older than 64 behind the top');
  assert.ok(w.fresh(37));
  assert.ok(w.fresh(99));
  w.mark(99);
  assert.not.ok(w.fresh(99));
  assert.not.ok(w.fresh(100));
  w.mark(1000);
  assert.ok(w.fresh(999));
  assert.not.ok(w.fresh(900));
});

test('RFC 6347 §4.1: records in one datagram; RFC 9146 §4: a tls12_cid record and its inner plaintext', () => {
  const a = encodeRecord({ type: 22, version: 0xfefd, epoch: 0, seq: 7, fragment: hex('0102') });
  const cid = hex('c1d2');
  const b = encodeRecord({ type: 25, version: 0xfefd, epoch: 1, seq: 2 ** 40 + 3, cid, fragment: hex('aabbcc') });
  assert.is(b.length, 13 + 2 + 3);
  const recs = decodeRecords(Buffer.concat([a, b, hex('1600')]), 2);
  assert.is(recs.length, 2);
  assert.is(recs[0]?.seq, 7);
  assert.equal(recs[1]?.cid, cid);
  assert.is(recs[1]?.seq, 2 ** 40 + 3);
  assert.equal(recs[1]?.fragment, hex('aabbcc'));
  const inner = innerPlaintext(hex('0a0b'), 23);
  assert.equal(readInnerPlaintext(Buffer.concat([inner, Buffer.alloc(3)])), { type: 23, content: hex('0a0b') });
  const aad = cidAdditionalData(1, 5, 0xfefd, cid, 10);
  assert.is(aad.toString('hex'), 'ffffffffffffffff' + '19' + '02' + '19' + 'fefd' + '0001' + '000000000005' + 'c1d2' + '000a');
});

test('epoch-1 records: sealed per RFC 6655 without a CID, in the RFC 9146 §4 format with one', () => {
  const w = new RecordWriter();
  const cipher = { key: hex('000102030405060708090a0b0c0d0e0f'), iv: hex('a1a2a3a4'), tagLength: 8 };
  w.cipher = cipher;
  const plainRec = decodeRecords(w.protect(23, Buffer.from('hello')), 0)[0];
  assert.is(plainRec?.type, 23);
  assert.is(plainRec?.seq, 0);
  assert.is(plainRec?.fragment.length, 8 + 5 + 8, 'explicit nonce, ciphertext, 8-byte tag');
  assert.is(plainRec?.fragment.subarray(0, 8).toString('hex'), '0001000000000000', 'explicit nonce = epoch ‖ sequence');
  const opened = openRecord(cipher, plainRec?.fragment as Buffer, (n) => aeadAdditionalData(1, 0, 23, 0xfefd, n));
  assert.is(opened?.toString(), 'hello');
  w.cid = hex('0a0b0c');
  const rec = decodeRecords(w.protect(23, Buffer.from('hi')), 3)[0];
  assert.is(rec?.type, 25);
  assert.equal(rec?.cid, hex('0a0b0c'));
  assert.is(rec?.seq, 1);
  const inner = openRecord(cipher, rec?.fragment as Buffer, (n) => cidAdditionalData(1, 1, 0xfefd, hex('0a0b0c'), n));
  assert.equal(inner !== undefined ? readInnerPlaintext(inner) : undefined, { type: 23, content: Buffer.from('hi') });
});

test.run();
