/** Why a CoAP exchange failed, as a value with a stable code a caller can switch on. */
export const CoapErrorCode = {
  /** No ACK after MAX_RETRANSMIT retransmissions, or no response within the overall bound. */
  TIMEOUT: 'COAP_TIMEOUT',
  /** The peer answered our message with a Reset. */
  RESET: 'COAP_RESET',
  /** The endpoint was closed while the exchange was under way. */
  CLOSED: 'COAP_CLOSED',
  /** The message could not be built (e.g. larger than the datagram limit). */
  ENCODE: 'COAP_ENCODE',
  /** The caller gave up on the exchange (its AbortSignal fired). */
  CANCELLED: 'COAP_CANCELLED',
} as const;
export type CoapErrorCode = (typeof CoapErrorCode)[keyof typeof CoapErrorCode];

export class CoapError extends Error {
  readonly code: CoapErrorCode;
  readonly reason: string;
  constructor(code: CoapErrorCode, reason: string) {
    super(`${code}: ${reason}`);
    this.name = 'CoapError';
    this.code = code;
    this.reason = reason;
  }
}

export function isCoapError(err: unknown, code?: CoapErrorCode): err is CoapError {
  return err instanceof CoapError && (code === undefined || err.code === code);
}
