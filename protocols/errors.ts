/**
 * A decoder's error: `reason` is short, human-readable, and safe to put in a CoAP diagnostic
 * payload or an HTTP JSON body. `code` is stable, for tests and logs.
 */
export class DecodeError extends Error {
  readonly code: string;
  readonly reason: string;
  constructor(code: string, reason: string) {
    super(`${code}: ${reason}`);
    this.name = 'DecodeError';
    this.code = code;
    this.reason = reason;
  }
}
