/**
 * The package keys a server runs with: the trusted public keys uploads are verified against
 * (--trusted-keys) and the optional key it signs raw images with (--signing-key), read from PEM
 * files at start-up. The signing key's public half is trusted too.
 */
import { readFile } from 'node:fs/promises';
import { DecodeError } from '../../protocols/errors.ts';
import { parsePrivateKeyPem, parsePublicKeyPem } from '../../protocols/package-keys.ts';
import type { SigningKey, TrustAnchor } from '../../protocols/package.ts';
import { KeyFileError } from '../errors.ts';

export interface PackageKeys {
  trustedKeys: readonly TrustAnchor[];
  signingKey: SigningKey | undefined;
}

async function readKeyFile<T>(path: string, what: string, parse: (text: string) => T): Promise<T> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new KeyFileError(`cannot read ${what} ${path}: ${code === 'ENOENT' ? 'no such file' : code ?? String(err)}`);
  }
  try {
    return parse(text);
  } catch (err) {
    if (err instanceof DecodeError) throw new KeyFileError(`${what} ${path} is not usable: ${err.reason}`);
    throw err;
  }
}

export function readTrustAnchorFile(path: string): Promise<TrustAnchor> {
  return readKeyFile(path, 'public key', parsePublicKeyPem);
}

export function readSigningKeyFile(path: string): Promise<SigningKey> {
  return readKeyFile(path, 'private key', parsePrivateKeyPem);
}

export const publicHalf = (k: TrustAnchor): TrustAnchor => ({ alg: k.alg, kid: k.kid, publicKey: k.publicKey });

/** Reads --trusted-keys and --signing-key; throws KeyFileError naming the first bad file. */
export async function loadPackageKeys(o: { trustedKeys?: readonly string[] | undefined; signingKey?: string | undefined }): Promise<PackageKeys> {
  const trusted: TrustAnchor[] = [];
  for (const path of o.trustedKeys ?? []) trusted.push(await readTrustAnchorFile(path));
  const signingKey = o.signingKey === undefined ? undefined : await readSigningKeyFile(o.signingKey);
  if (signingKey !== undefined && !trusted.some((a) => a.alg === signingKey.alg && Buffer.compare(a.publicKey, signingKey.publicKey) === 0)) {
    trusted.push(publicHalf(signingKey));
  }
  return { trustedKeys: trusted, signingKey };
}

export const kidHex = (kid: Uint8Array): string => Buffer.from(kid).toString('hex');

/** For the start-up log line: key ids, never key material. */
export function describePackageKeys(k: PackageKeys): { trustedKeys: string[]; signingKey: string | null } {
  return { trustedKeys: k.trustedKeys.map((a) => `${a.alg}:${kidHex(a.kid)}`), signingKey: k.signingKey ? `${k.signingKey.alg}:${kidHex(k.signingKey.kid)}` : null };
}
