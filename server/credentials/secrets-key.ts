/**
 * The master key device keys are encrypted under (--secrets-key-file): a file holding 32 random
 * bytes as 64 hex digits (`ferry secrets-keygen FILE` makes one). Keys are sealed with AES-256-GCM,
 * a random 12-byte nonce each, the device's endpoint and the PSK identity as additional data: a
 * ciphertext moved to another row, or opened under another master key, does not decrypt.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { KeyFileError, SecretsKeyError } from '../errors.ts';

export const SECRETS_KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const CHECK_LABEL = 'ferry secrets key check v1';

/** A master key: opaque outside this file. */
export class SecretsKey {
  readonly #key: Buffer;
  constructor(key: Buffer) {
    if (key.length !== SECRETS_KEY_BYTES) throw new RangeError(`a secrets key is ${SECRETS_KEY_BYTES} bytes`);
    this.#key = Buffer.from(key);
  }

  /** The check value stored once in the database: HMAC-SHA256 of a fixed label, hex. */
  checkValue(): string {
    return createHmac('sha256', this.#key).update(CHECK_LABEL).digest('hex');
  }

  /**
   * A separate key for another purpose, HMAC-SHA256 of `label` under the master key: knowing the
   * derived key tells nothing of the master key nor of a key derived under another label.
   */
  derive(label: string): Buffer {
    return createHmac('sha256', this.#key).update(label).digest();
  }

  /** True when `stored` is this key's check value. */
  matches(stored: string): boolean {
    const mine = Buffer.from(this.checkValue(), 'hex');
    const theirs = Buffer.from(stored, 'hex');
    return theirs.length === mine.length && timingSafeEqual(mine, theirs);
  }

  seal(plain: Buffer, where: KeyPlace): { ct: Buffer; nonce: Buffer } {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, nonce);
    cipher.setAAD(additionalData(where));
    const ct = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return { ct, nonce };
  }

  /** The key sealed for `where`; a SecretsKeyError when it was sealed elsewhere, under another key, or altered. */
  open(sealed: { ct: Buffer; nonce: Buffer }, where: KeyPlace): Buffer {
    try {
      if (sealed.ct.length <= TAG_BYTES || sealed.nonce.length !== NONCE_BYTES) throw new Error('truncated');
      const decipher = createDecipheriv('aes-256-gcm', this.#key, sealed.nonce);
      decipher.setAAD(additionalData(where));
      decipher.setAuthTag(sealed.ct.subarray(sealed.ct.length - TAG_BYTES));
      return Buffer.concat([decipher.update(sealed.ct.subarray(0, sealed.ct.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new SecretsKeyError(`the stored key of ${where.endpoint} (identity ${where.identity}) does not decrypt under this master key`);
    }
  }
}

/** Which row a key belongs to: what its ciphertext is bound to. */
export interface KeyPlace { endpoint: string; identity: string }

const additionalData = (w: KeyPlace): Buffer => {
  const ep = Buffer.from(w.endpoint, 'utf8');
  const id = Buffer.from(w.identity, 'utf8');
  const len = Buffer.alloc(8);
  len.writeUInt32BE(ep.length, 0);
  len.writeUInt32BE(id.length, 4);
  return Buffer.concat([Buffer.from('ferry-psk-v1'), len, ep, id]);
};

/** A new master key file's text: 64 hex digits and a newline. */
export const newSecretsKeyText = (): string => `${randomBytes(SECRETS_KEY_BYTES).toString('hex')}\n`;

/** Reads a master key file; a KeyFileError naming it when it is missing, unreadable or not 64 hex digits. */
export async function loadSecretsKey(file: string): Promise<SecretsKey> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new KeyFileError(`cannot read the secrets key file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (--secrets-key-file / FERRY_SECRETS_KEY_FILE)`);
  }
  const hex = text.trim();
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw new KeyFileError(`the secrets key file ${file} must hold 32 bytes as 64 hex digits (make one with ferry secrets-keygen FILE)`);
  }
  return new SecretsKey(Buffer.from(hex, 'hex'));
}
