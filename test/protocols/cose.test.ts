import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { p256 } from '@noble/curves/nist.js';
import { decodeCbor, encodeCbor, CborTag, type CborValue } from '../../protocols/cbor.ts';
import { createSignature, decodeSign1, schemeOf, sigStructure, verifySign1 } from '../../protocols/cose.ts';
import { hex, returnsOrDecodeError, seededBytes, throwsDecodeError } from './_helpers.ts';

// ---- cose-wg/Examples (the RFC 8152 / RFC 9052 examples), byte for byte.
const CONTENT = Buffer.from('This is the content.');

/** Key "11", P-256 (Examples' sign1-tests). */
const b64url = (s: string): Buffer => Buffer.from(s, 'base64url');
const P256_PUBLIC = Buffer.concat([Buffer.of(4), b64url('usWxHK2PmfnHKwXPS54m0kTcGJ90UiglWiGahtagnv8'), b64url('IBOL-C3BttVivg-lSreASjpkttcsz-1rb7btKLv8EX4')]);
const P256_PRIVATE = b64url('V8kgd2ZBRuh2dgyVINBUqpPDr7BOMGcF22CQMIUHtNM');
/** Key "11", Ed25519 (Examples' eddsa-examples; RFC 8032 §7.1 TEST 1). */
const ED_PUBLIC = hex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
const ED_PRIVATE = hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');

const SIGN_PASS_03 = hex(`8443A10126A10442313154546869732069732074686520636F6E74656E742E5840EAE868ECC176883766C5DC5BA5B8DCA25DAB3C2E56A551CE5705B793914348E1
  9F43D6C6BA654472DA301B645B293C9BA939295B97C4BDB847782BFF384C5794`);
const EDDSA_SIG_01 = hex(`D28445A201270300A10442313154546869732069732074686520636F6E74656E742E58407142FD2FF96D56DB85BEE905A76BA1D0B7321A95C8C4D3607C578193
  2B7AFB8711497DFA751BF40B58B3BCC32300B1487F3DB34085EEF013BF08F4A44D6FEF0D`);

test('RFC 9052 §4.4 Sig_structure: sign-pass-03 ToBeSign, byte for byte', () => {
  const s = decodeSign1(SIGN_PASS_03);
  assert.equal(Buffer.from(sigStructure(s.protectedBytes, s.payload)), hex('846A5369676E61747572653143A101264054546869732069732074686520636F6E74656E742E'));
});

test('cose-wg sign1-tests/sign-pass-03: ES256, untagged, kid unprotected, verifies', () => {
  const s = decodeSign1(SIGN_PASS_03);
  assert.is(s.alg, -7);
  assert.equal(Buffer.from(s.kid!), Buffer.from('11'));
  assert.equal(Buffer.from(s.payload), CONTENT);
  assert.ok(verifySign1(s, 'es256', P256_PUBLIC));
  assert.not.ok(verifySign1(s, 'es256', p256.getPublicKey(p256.utils.randomSecretKey(), false)));
});

test('cose-wg sign1-tests/sign-pass-02: tagged, external AAD in the Sig_structure', () => {
  const s = decodeSign1(hex(`D28443A10126A10442313154546869732069732074686520636F6E74656E742E5840EAE868ECC176883766C5DC5BA5B8DCA25DAB3C2E56A551CE5705B793914348E1
    55388B10C4F1B59A6733EAB416870A945111A4B2FBDBEF33A77234B1DEFF2F9B`));
  const aad = hex('11aa22bb33cc44dd55006699');
  assert.equal(Buffer.from(sigStructure(s.protectedBytes, s.payload, aad)),
    hex('846A5369676E61747572653143A101264C11AA22BB33CC44DD5500669954546869732069732074686520636F6E74656E742E'));
  assert.ok(verifySign1(s, 'es256', P256_PUBLIC, aad));
  assert.not.ok(verifySign1(s, 'es256', P256_PUBLIC)); // without the AAD it must fail
});

test('cose-wg eddsa-examples/eddsa-sig-01: Ed25519 verifies, and signing reproduces the signature byte for byte', () => {
  const s = decodeSign1(EDDSA_SIG_01);
  assert.is(s.alg, -8);
  assert.equal(s.protectedHeader.get(3), 0); // content type 0, protected
  assert.ok(verifySign1(s, 'ed25519', ED_PUBLIC));
  const again = createSignature('ed25519', ED_PRIVATE, sigStructure(s.protectedBytes, s.payload));
  assert.equal(Buffer.from(again), Buffer.from(s.signature));
});

test('cose-wg sign-fail-02 (payload changed) and sign-fail-06 (protected attribute added) do not verify', () => {
  const changedPayload = decodeSign1(hex(`D28443A10126A10442313154546869732069732074686520636F6E74656E742F5840EAE868ECC176883766C5DC5BA5B8DCA25DAB3C2E56A551CE5705B793914348E1
    9F43D6C6BA654472DA301B645B293C9BA939295B97C4BDB847782BFF384C5794`));
  assert.not.ok(verifySign1(changedPayload, 'es256', P256_PUBLIC));
  const addedProtected = decodeSign1(hex(`D28445A201260300A10442313154546869732069732074686520636F6E74656E742E5840EAE868ECC176883766C5DC5BA5B8DCA25DAB3C2E56A551CE5705B793914348E1
    9F43D6C6BA654472DA301B645B293C9BA939295B97C4BDB847782BFF384C5794`));
  assert.not.ok(verifySign1(addedProtected, 'es256', P256_PUBLIC));
});

test('cose-wg sign-fail-03: alg -999 decodes but has no scheme', () => {
  const s = decodeSign1(hex(`D28445A1013903E6A10442313154546869732069732074686520636F6E74656E742E5840EAE868ECC176883766C5DC5BA5B8DCA25DAB3C2E56A551CE5705B793914348E1
    9F43D6C6BA654472DA301B645B293C9BA939295B97C4BDB847782BFF384C5794`));
  assert.is(s.alg, -999);
  assert.is(schemeOf(-999), undefined);
  for (const [alg, scheme] of [[-8, 'ed25519'], [-19, 'ed25519'], [-7, 'es256'], [-9, 'es256']] as const) assert.is(schemeOf(alg), scheme);
});

test('our policy: alg only unprotected (cose-wg sign-pass-01), crit, detached payload, wrong tag are refused', () => {
  // sign-pass-01 is valid COSE, but its alg is unprotected; Ferry requires it protected.
  throwsDecodeError(() => decodeSign1(hex(`D28441A0A201260442313154546869732069732074686520636F6E74656E742E5840EAE868ECC176883766C5DC5BA5B8DCA25DAB3C2E56A551CE5705B793914348E1
    1A02E5F0344BF2D4EE5C7FD75A68A9F5E0B3CC1F1FC1409C189566586FF9D610`)), 'cose');
  const sig = new Uint8Array(64);
  type Header = Map<number, CborValue>;
  const sign1 = (prot: Header, unprot: Header, payload: Uint8Array | null = CONTENT, tag = 18) =>
    encodeCbor(new CborTag(tag, [encodeCbor(prot), unprot, payload, sig]));
  throwsDecodeError(() => decodeSign1(sign1(new Map<number, CborValue>([[1, -7], [2, [4]]]), new Map())), 'cose');
  throwsDecodeError(() => decodeSign1(sign1(new Map([[1, -7]]), new Map(), null)), 'cose');
  throwsDecodeError(() => decodeSign1(sign1(new Map([[1, -7]]), new Map(), CONTENT, 98)), 'cose');
  throwsDecodeError(() => decodeSign1(sign1(new Map<number, CborValue>([[1, -7], [4, Buffer.from('a')]]), new Map([[4, Buffer.from('a')]]))), 'cose');
  throwsDecodeError(() => decodeSign1(sign1(new Map([[4, Buffer.from('a')]]), new Map())), 'cose');
  throwsDecodeError(() => decodeSign1(sign1(new Map([[1, 'ES256']]), new Map())), 'cose');
  throwsDecodeError(() => decodeSign1(encodeCbor([Buffer.alloc(0), new Map(), CONTENT])), 'cose');
});

test('RFC 8949: the strict CBOR subset (preferred heads, duplicate keys, floats, indefinite lengths, trailing bytes)', () => {
  assert.equal(Buffer.from(encodeCbor(0)), hex('00'));
  assert.equal(Buffer.from(encodeCbor(23)), hex('17'));
  assert.equal(Buffer.from(encodeCbor(24)), hex('1818'));
  assert.equal(Buffer.from(encodeCbor(1000)), hex('1903e8'));       // RFC 8949 Appendix A
  assert.equal(Buffer.from(encodeCbor(1000000)), hex('1a000f4240'));
  assert.equal(Buffer.from(encodeCbor(1000000000000)), hex('1b000000e8d4a51000'));
  assert.equal(Buffer.from(encodeCbor(-1000)), hex('3903e7'));
  assert.equal(Buffer.from(encodeCbor('IETF')), hex('6449455446'));
  assert.equal(decodeCbor(hex('1b000000e8d4a51000')), 1000000000000);
  assert.equal(decodeCbor(hex('a201020304')), new Map([[1, 2], [3, 4]]));
  throwsDecodeError(() => decodeCbor(hex('a201020103')), 'cbor');          // duplicate key
  throwsDecodeError(() => decodeCbor(hex('f93c00')), 'cbor');              // half float 1.0
  throwsDecodeError(() => decodeCbor(hex('5f4101ff')), 'cbor');            // indefinite bstr
  throwsDecodeError(() => decodeCbor(hex('0102')), 'cbor');                // trailing byte
  throwsDecodeError(() => decodeCbor(hex('1bffffffffffffffff')), 'cbor');  // beyond 2^53
  throwsDecodeError(() => decodeCbor(hex('9a7fffffff')), 'cbor');          // array longer than the data
  throwsDecodeError(() => decodeCbor(Buffer.alloc(40, 0x81)), 'cbor');     // nested too deep
  const random = seededBytes(9052);
  for (let i = 0; i < 2000; i++) returnsOrDecodeError(() => decodeSign1(random(1 + (i % 90))));
});

test('a duplicate text key of 1,000 characters: DecodeError cbor, the key cut in the reason (found by fuzzing)', () => {
  // {13: {"kkk…": 0, "kkk…": 1}}, the shape the fuzzer found (a2 0d a2 7903e8 6b6b…)
  const key = Buffer.concat([hex('79 03 e8'), Buffer.alloc(1000, 0x6b)]);
  const input = Buffer.concat([hex('a1 0d a2'), key, hex('00'), key, hex('01')]);
  throwsDecodeError(() => decodeCbor(input), 'cbor');
  try {
    decodeCbor(input);
  } catch (e) {
    assert.is((e as { reason: string }).reason, `duplicate map key "${'k'.repeat(40)}…"`);
  }
});

test('a 1,000-character text label in both header buckets: DecodeError cose, the label cut in the reason', () => {
  const label = 'k'.repeat(1000);
  const input = encodeCbor([encodeCbor(new Map<string | number, CborValue>([[1, -8], [label, 1]])), new Map([[label, 1]]), CONTENT, new Uint8Array(64)]);
  throwsDecodeError(() => decodeSign1(input), 'cose');
  try {
    decodeSign1(input);
  } catch (e) {
    assert.is((e as { reason: string }).reason, `header parameter ${'k'.repeat(40)}… is both protected and unprotected`);
  }
});

test.run();
