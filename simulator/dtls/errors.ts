/** How a DTLS session ends badly: an alert from the peer, the handshake timing out, or a protocol violation. */

/** RFC 5246 §7.2 alert descriptions a PSK client meets, for readable errors. */
const ALERT_NAMES: Record<number, string> = {
  0: 'close_notify',
  10: 'unexpected_message',
  20: 'bad_record_mac',
  40: 'handshake_failure',
  47: 'illegal_parameter',
  50: 'decode_error',
  51: 'decrypt_error',
  70: 'protocol_version',
  80: 'internal_error',
  115: 'unknown_psk_identity',
};

export const alertName = (d: number): string => ALERT_NAMES[d] ?? `alert ${d}`;

export type DtlsErrorKind = 'alert' | 'timeout' | 'protocol' | 'closed';

export class DtlsError extends Error {
  readonly kind: DtlsErrorKind;
  /** The alert description, when kind is 'alert' (or 0 for close_notify). */
  readonly alert: number | undefined;

  constructor(kind: DtlsErrorKind, message: string, alert?: number) {
    super(message);
    this.kind = kind;
    this.alert = alert;
    this.name = 'DtlsError';
  }
}
