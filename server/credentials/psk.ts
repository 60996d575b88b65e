/** What a PSK identity and key may be, checked the same way by the API, the import and the service. */
import { randomBytes } from 'node:crypto';
import { CredentialsError } from '../errors.ts';

export const MIN_KEY_BYTES = 16;
export const MAX_KEY_BYTES = 64;
/** A generated key's length. */
export const GENERATED_KEY_BYTES = 32;
const IDENTITY = /^[\x21-\x7e]{1,128}$/;

/** Why `identity` is not one, or undefined. */
export function identityProblem(identity: string): string | undefined {
  return IDENTITY.test(identity) ? undefined : 'the identity must be 1 to 128 printable characters without spaces';
}

/** Why `hex` is not a key, or undefined. */
export function keyProblem(hex: string): string | undefined {
  if (!/^([0-9a-fA-F]{2})*$/.test(hex)) return 'the key must be hex digits, two per byte';
  const n = hex.length / 2;
  if (n < MIN_KEY_BYTES || n > MAX_KEY_BYTES) return `the key must be ${MIN_KEY_BYTES} to ${MAX_KEY_BYTES} bytes, got ${n}`;
  return undefined;
}

/** The identity, or a FERRY_PSK_INVALID. */
export function checkIdentity(identity: string): string {
  const problem = identityProblem(identity);
  if (problem) throw new CredentialsError('FERRY_PSK_INVALID', problem);
  return identity;
}

/** The key's bytes, or a FERRY_PSK_INVALID. */
export function parseKey(hex: string): Buffer {
  const problem = keyProblem(hex);
  if (problem) throw new CredentialsError('FERRY_PSK_INVALID', problem);
  return Buffer.from(hex, 'hex');
}

export const generateKey = (): Buffer => randomBytes(GENERATED_KEY_BYTES);
