// A session's epoch-1 protection with and without Connection IDs (RFC 9146): the format of what the
// server seals, and which of the client's records open: the agreed format only, the right CID only,
// each sequence number once, with `newest` telling a record above every earlier one (RFC 9146 §6).
import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeInnerPlaintext, encodeInnerPlaintext, open, seal, type CcmKeys } from '../../../protocols/dtls-ccm.ts';
import { ContentType, DTLS_1_2, decodeRecord, encodeRecord, type DtlsRecord } from '../../../protocols/dtls-record.ts';
import type { KeyBlock } from '../../../protocols/tls-prf.ts';
import { Protection } from '../../../server/dtls/protection.ts';

const KEYS: KeyBlock = { clientWriteKey: randomBytes(16), serverWriteKey: randomBytes(16), clientWriteIV: randomBytes(4), serverWriteIV: randomBytes(4) };
const CLIENT: CcmKeys = { writeKey: KEYS.clientWriteKey, writeIV: KEYS.clientWriteIV, tagLength: 8 };
const SERVER: CcmKeys = { writeKey: KEYS.serverWriteKey, writeIV: KEYS.serverWriteIV, tagLength: 8 };
const OURS = Buffer.from('a1a2a3a4a5a6', 'hex');
const THEIRS = Buffer.from('b1b2', 'hex');
const VERSION = 0xfefd;

/** A record as the client sends it: tls12_cid with `cid`, else plain. */
function fromClient(seq: number, type: ContentType, content: Buffer, cid?: Buffer): DtlsRecord {
  const bytes = cid === undefined
    ? encodeRecord({ type, version: DTLS_1_2, epoch: 1, sequenceNumber: seq, fragment: seal(CLIENT, { type, version: VERSION, epoch: 1, sequenceNumber: seq }, content) })
    : encodeRecord({ type: ContentType.tls12_cid, version: DTLS_1_2, epoch: 1, sequenceNumber: seq, cid,
      fragment: seal(CLIENT, { type: ContentType.tls12_cid, version: VERSION, epoch: 1, sequenceNumber: seq, cid }, encodeInnerPlaintext(content, type, 2)) });
  return decodeRecord(bytes, 0, cid?.length).record;
}

test('with CIDs both ways: the server seals tls12_cid records with the client\'s CID and the real type inside', () => {
  const p = new Protection(KEYS, 8, { receive: OURS, send: THEIRS });
  const { record } = decodeRecord(p.sealRecord(ContentType.application_data, Buffer.from('hi')), 0, THEIRS.length);
  assert.is(record.type, ContentType.tls12_cid);
  assert.equal(record.cid, THEIRS);
  const inner = open(SERVER, { type: ContentType.tls12_cid, version: VERSION, epoch: 1, sequenceNumber: record.sequenceNumber, cid: THEIRS }, record.fragment);
  assert.ok(inner);
  assert.equal(decodeInnerPlaintext(inner), { content: Buffer.from('hi'), realType: ContentType.application_data });
});

test('a zero-length client CID: the server\'s records stay plain, and it still reads only tls12_cid records', () => {
  const p = new Protection(KEYS, 8, { receive: OURS, send: Buffer.alloc(0) });
  const { record } = decodeRecord(p.sealRecord(ContentType.alert, Buffer.from([1, 0])), 0);
  assert.is(record.type, ContentType.alert);
  assert.is(record.cid, undefined);
  assert.is(p.openRecord(fromClient(0, ContentType.application_data, Buffer.from('x'))), undefined);
  assert.equal(p.openRecord(fromClient(1, ContentType.application_data, Buffer.from('x'), OURS)), { type: ContentType.application_data, content: Buffer.from('x'), newest: true });
});

test('the client\'s records open only with the server\'s CID, once each; newest only above every earlier one', () => {
  const p = new Protection(KEYS, 8, { receive: OURS, send: THEIRS });
  const r5 = fromClient(5, ContentType.application_data, Buffer.from('five'), OURS);
  assert.equal(p.openRecord(r5), { type: ContentType.application_data, content: Buffer.from('five'), newest: true });
  assert.is(p.openRecord(r5), undefined, 'replayed');
  assert.equal(p.openRecord(fromClient(3, ContentType.handshake, Buffer.from('three'), OURS)), { type: ContentType.handshake, content: Buffer.from('three'), newest: false });
  assert.is(p.openRecord(fromClient(6, ContentType.application_data, Buffer.from('x'), Buffer.from('a1a2a3a4a5a7', 'hex'))), undefined, 'another CID');
  assert.is(p.openRecord(fromClient(7, ContentType.application_data, Buffer.from('x'))), undefined, 'the plain format');
  const forged = fromClient(8, ContentType.application_data, Buffer.from('x'), OURS);
  forged.fragment[forged.fragment.length - 1]! ^= 1;
  assert.is(p.openRecord(forged), undefined, 'not authentic');
  // A failed record did not spend its number; an authentic 8 is still the newest.
  assert.is(p.openRecord(fromClient(8, ContentType.application_data, Buffer.from('x'), OURS))?.newest, true);
});

test('without CIDs: plain records both ways, a tls12_cid record never opens', () => {
  const p = new Protection(KEYS, 8);
  assert.is(decodeRecord(p.sealRecord(ContentType.application_data, Buffer.from('a')), 0).record.type, ContentType.application_data);
  assert.is(p.openRecord(fromClient(0, ContentType.application_data, Buffer.from('x'), OURS)), undefined);
  assert.equal(p.openRecord(fromClient(1, ContentType.application_data, Buffer.from('x'))), { type: ContentType.application_data, content: Buffer.from('x'), newest: true });
});

test('an authentic DTLSInnerPlaintext of zeros only has no type: dropped', () => {
  const p = new Protection(KEYS, 8, { receive: OURS });
  const zeros = Buffer.alloc(4);
  const bytes = encodeRecord({ type: ContentType.tls12_cid, version: DTLS_1_2, epoch: 1, sequenceNumber: 0, cid: OURS,
    fragment: seal(CLIENT, { type: ContentType.tls12_cid, version: VERSION, epoch: 1, sequenceNumber: 0, cid: OURS }, zeros) });
  assert.is(p.openRecord(decodeRecord(bytes, 0, OURS.length).record), undefined);
});

test.run();
