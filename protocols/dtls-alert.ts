/**
 * The two record contents of one short message each:
 *
 *   ChangeCipherSpec (RFC 5246 §7.1): one byte, change_cipher_spec(1)
 *   Alert (RFC 5246 §7.2): level(1) description(1)
 *
 * A record carries exactly one of them (after decryption, from epoch 1 on). An alert level other
 * than warning(1) or fatal(2) is refused; a description is read as its number, listed or not
 * (the AlertDescription enum runs to 255 and other RFCs add to it, as RFC 4279 §2 does).
 */
import { DecodeError } from './errors.ts';

export const AlertLevel = { warning: 1, fatal: 2 } as const;
export type AlertLevel = (typeof AlertLevel)[keyof typeof AlertLevel];

/** AlertDescription values a PSK server sends or is likely to receive (RFC 5246 §7.2, RFC 4279 §2). */
export const AlertDescription = {
  close_notify: 0,
  unexpected_message: 10,
  bad_record_mac: 20,
  record_overflow: 22,
  handshake_failure: 40,
  illegal_parameter: 47,
  decode_error: 50,
  decrypt_error: 51,
  protocol_version: 70,
  insufficient_security: 71,
  internal_error: 80,
  user_canceled: 90,
  no_renegotiation: 100,
  unsupported_extension: 110,
  unknown_psk_identity: 115,
} as const;

const NAMES: ReadonlyMap<number, string> = new Map(Object.entries(AlertDescription).map(([name, n]) => [n, name]));

/** An alert description's RFC name, or its number for one not listed here. */
export function alertName(description: number): string {
  return NAMES.get(description) ?? `alert ${description}`;
}

export interface Alert {
  level: AlertLevel;
  description: number;
}

export function encodeAlert(a: Alert): Buffer {
  if (a.level !== AlertLevel.warning && a.level !== AlertLevel.fatal) throw new RangeError(`alert level is 1 or 2, got ${a.level}`);
  if (!Number.isInteger(a.description) || a.description < 0 || a.description > 255) throw new RangeError(`alert description is 0..255, got ${a.description}`);
  return Buffer.from([a.level, a.description]);
}

export function parseAlert(fragment: Buffer): Alert {
  if (fragment.length !== 2) throw new DecodeError('dtls.alert.length', `an alert is 2 bytes, got ${fragment.length}`);
  const level = fragment[0]!;
  if (level !== AlertLevel.warning && level !== AlertLevel.fatal) throw new DecodeError('dtls.alert.level', `alert level ${level} is neither warning (1) nor fatal (2)`);
  return { level, description: fragment[1]! };
}

/** ChangeCipherSpec's one byte (RFC 5246 §7.1). */
export const CHANGE_CIPHER_SPEC = 1;

export function encodeChangeCipherSpec(): Buffer {
  return Buffer.from([CHANGE_CIPHER_SPEC]);
}

export function parseChangeCipherSpec(fragment: Buffer): void {
  if (fragment.length !== 1 || fragment[0] !== CHANGE_CIPHER_SPEC) {
    throw new DecodeError('dtls.change-cipher-spec.invalid', `ChangeCipherSpec is the one byte 1, got ${fragment.length} bytes (${fragment.subarray(0, 4).toString('hex')})`);
  }
}
