// The PSK handshake's later bodies (RFC 4279 §2: ServerKeyExchange, ClientKeyExchange; RFC 5246
// §7.4.5 ServerHelloDone, §7.4.9 Finished) and the one-message contents (RFC 5246 §7.1
// ChangeCipherSpec, §7.2 Alert): layouts by hand, round trips, every truncation, wrong lengths.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AlertDescription, AlertLevel, alertName, encodeAlert, encodeChangeCipherSpec, parseAlert, parseChangeCipherSpec } from '../../protocols/dtls-alert.ts';
import {
  encodeClientKeyExchangePsk, encodeFinished, encodeServerHelloDone, encodeServerKeyExchangePsk,
  parseClientKeyExchangePsk, parseFinished, parseServerHelloDone, parseServerKeyExchangePsk,
} from '../../protocols/dtls-messages.ts';
import { hex, hexLayout, throwsDecodeError } from './_helpers.ts';

test('ServerKeyExchange for PSK: psk_identity_hint<0..2^16-1> (RFC 4279 §2), with a hint and empty', () => {
  const body = encodeServerKeyExchangePsk(Buffer.from('ferry'));
  assert.is(body.toString('hex'), hexLayout(`
    00 05               // psk_identity_hint length 5
    66 65 72 72 79      // "ferry"`).toString('hex'));
  assert.is(parseServerKeyExchangePsk(body).pskIdentityHint.toString(), 'ferry');
  assert.is(encodeServerKeyExchangePsk(Buffer.alloc(0)).toString('hex'), '0000');
  assert.is(parseServerKeyExchangePsk(hex('0000')).pskIdentityHint.length, 0);
  for (let n = 0; n < body.length; n++) throwsDecodeError(() => parseServerKeyExchangePsk(body.subarray(0, n)), 'dtls.server-key-exchange.truncated');
  throwsDecodeError(() => parseServerKeyExchangePsk(Buffer.concat([body, hex('00')])), 'dtls.server-key-exchange.trailing');
  assert.throws(() => encodeServerKeyExchangePsk(Buffer.alloc(0x10000)), (e: unknown) => e instanceof RangeError);
});

test('ClientKeyExchange for PSK: psk_identity<0..2^16-1> (RFC 4279 §2), up to the longest', () => {
  const body = hexLayout(`
    00 02               // psk_identity length 2
    69 64               // "id"`);
  assert.is(parseClientKeyExchangePsk(body).pskIdentity.toString(), 'id');
  assert.ok(encodeClientKeyExchangePsk(Buffer.from('id')).equals(body));
  const longest = Buffer.alloc(0xffff, 0x61);
  assert.ok(parseClientKeyExchangePsk(encodeClientKeyExchangePsk(longest)).pskIdentity.equals(longest));
  for (let n = 0; n < body.length; n++) throwsDecodeError(() => parseClientKeyExchangePsk(body.subarray(0, n)), 'dtls.client-key-exchange.truncated');
  throwsDecodeError(() => parseClientKeyExchangePsk(hex('ffff 00')), 'dtls.client-key-exchange.truncated');
  throwsDecodeError(() => parseClientKeyExchangePsk(hex('0001 61 62')), 'dtls.client-key-exchange.trailing');
});

test('ServerHelloDone is empty (RFC 5246 §7.4.5)', () => {
  assert.is(encodeServerHelloDone().length, 0);
  parseServerHelloDone(Buffer.alloc(0));
  throwsDecodeError(() => parseServerHelloDone(hex('00')), 'dtls.server-hello-done.trailing');
});

test('Finished: verify_data, 12 bytes (RFC 5246 §7.4.9); 11 or 13 refused', () => {
  const verifyData = hex('00112233445566778899aabb');
  assert.ok(encodeFinished(verifyData).equals(verifyData));
  assert.ok(parseFinished(verifyData).verifyData.equals(verifyData));
  for (const n of [0, 11, 13, 32]) throwsDecodeError(() => parseFinished(Buffer.alloc(n)), 'dtls.finished.length');
  assert.throws(() => encodeFinished(Buffer.alloc(11)), (e: unknown) => e instanceof RangeError);
});

test('ChangeCipherSpec is the one byte 1 (RFC 5246 §7.1)', () => {
  assert.is(encodeChangeCipherSpec().toString('hex'), '01');
  parseChangeCipherSpec(hex('01'));
  for (const bad of ['', '00', '02', '0101']) throwsDecodeError(() => parseChangeCipherSpec(hex(bad)), 'dtls.change-cipher-spec.invalid');
});

test('Alert: level and description (RFC 5246 §7.2); every description a server sends, by its RFC number', () => {
  const sent: Array<[keyof typeof AlertDescription, number]> = [
    ['close_notify', 0], ['unexpected_message', 10], ['bad_record_mac', 20], ['handshake_failure', 40], ['illegal_parameter', 47],
    ['decode_error', 50], ['decrypt_error', 51], ['protocol_version', 70], ['internal_error', 80], ['no_renegotiation', 100], ['unknown_psk_identity', 115],
  ];
  for (const [name, n] of sent) {
    assert.is(AlertDescription[name], n);
    assert.is(alertName(n), name);
    const level = name === 'close_notify' || name === 'no_renegotiation' ? AlertLevel.warning : AlertLevel.fatal;
    const bytes = encodeAlert({ level, description: n });
    assert.equal([...bytes], [level, n]);
    assert.equal(parseAlert(bytes), { level, description: n });
  }
  assert.is(encodeAlert({ level: AlertLevel.fatal, description: AlertDescription.handshake_failure }).toString('hex'), '0228');
});

test('Alert: an unknown description is read as its number; a bad level or length is refused', () => {
  assert.equal(parseAlert(hex('02 fe')), { level: 2, description: 254 });
  assert.is(alertName(254), 'alert 254');
  for (const bad of ['00 28', '03 28', 'ff 00']) throwsDecodeError(() => parseAlert(hex(bad)), 'dtls.alert.level');
  for (const bad of ['', '02', '02 28 00']) throwsDecodeError(() => parseAlert(hex(bad)), 'dtls.alert.length');
  assert.throws(() => encodeAlert({ level: 3 as AlertLevel, description: 0 }), (e: unknown) => e instanceof RangeError);
  assert.throws(() => encodeAlert({ level: AlertLevel.fatal, description: 256 }), (e: unknown) => e instanceof RangeError);
});

test.run();
