/**
 * The package keys a server runs with: the trusted public keys uploads are verified against
 * (--trusted-keys) and the optional key it signs raw images with (--signing-key), read from PEM
 * files at start-up. The signing key's public half is trusted too. Each is named for the registry
 * (key-registry.ts): by its file's name, the signing key as `server-signing`.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { DecodeError } from '../../protocols/errors.ts';
import { parsePrivateKeyPem, parsePublicKeyPem } from '../../protocols/package-keys.ts';
import type { SigningKey, TrustAnchor } from '../../protocols/package.ts';
import { KeyFileError } from '../errors.ts';
import { SERVER_SIGNING, type FileKey } from '../store/trusted-keys.ts';

export interface PackageKeys {
  trustedKeys: readonly TrustAnchor[];
  signingKey: SigningKey | undefined;
  /** The same keys, named and with their files (a key in two files once, the signing key as server-signing). */
  files: readonly FileKey[];
}

/** `setting`: the flag and variable the file was given by (`--signing-key / FERRY_SIGNING_KEY`), named in the message. */
async function readKeyFile<T>(path: string, what: string, parse: (text: string) => T, setting?: string): Promise<T> {
  const given = setting === undefined ? '' : ` (${setting})`;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new KeyFileError(`cannot read ${what} ${path}${given}: ${code === 'ENOENT' ? 'no such file' : code ?? String(err)}`);
  }
  try {
    return parse(text);
  } catch (err) {
    if (err instanceof DecodeError) throw new KeyFileError(`${what} ${path}${given} is not usable: ${err.reason}`);
    throw err;
  }
}

export function readTrustAnchorFile(path: string, setting?: string): Promise<TrustAnchor> {
  return readKeyFile(path, 'public key', parsePublicKeyPem, setting);
}

export function readSigningKeyFile(path: string, setting?: string): Promise<SigningKey> {
  return readKeyFile(path, 'private key', parsePrivateKeyPem, setting);
}

export const publicHalf = (k: TrustAnchor): TrustAnchor => ({ alg: k.alg, kid: k.kid, publicKey: k.publicKey });

/** A file's name as a key name: its base name, characters a key name cannot hold as '-', at most 64. */
export const keyNameOf = (path: string): string => basename(path).replace(/[^A-Za-z0-9._@-]/g, '-').slice(0, 64) || 'key';

const sameKey = (a: TrustAnchor, b: TrustAnchor): boolean => a.alg === b.alg && Buffer.compare(a.publicKey, b.publicKey) === 0;

/** Reads --trusted-keys and --signing-key; throws KeyFileError naming the first bad file, or two files of one name. */
export async function loadPackageKeys(o: { trustedKeys?: readonly string[] | undefined; signingKey?: string | undefined }): Promise<PackageKeys> {
  const trusted: TrustAnchor[] = [];
  const files: FileKey[] = [];
  const signingKey = o.signingKey === undefined ? undefined : await readSigningKeyFile(o.signingKey, '--signing-key / FERRY_SIGNING_KEY');
  if (signingKey !== undefined) files.push({ name: SERVER_SIGNING, anchor: publicHalf(signingKey), file: o.signingKey! });
  for (const path of o.trustedKeys ?? []) {
    const anchor = await readTrustAnchorFile(path, '--trusted-keys / FERRY_TRUSTED_KEYS');
    trusted.push(anchor);
    if (files.some((f) => sameKey(f.anchor, anchor))) continue;
    const name = keyNameOf(path);
    const clash = files.find((f) => f.name === name);
    if (clash !== undefined) throw new KeyFileError(`key files ${clash.file} and ${path} would both be listed as ${name}: rename one`);
    files.push({ name, anchor, file: path });
  }
  if (signingKey !== undefined && !trusted.some((a) => sameKey(a, signingKey))) trusted.push(publicHalf(signingKey));
  return { trustedKeys: trusted, signingKey, files };
}

export const kidHex = (kid: Uint8Array): string => Buffer.from(kid).toString('hex');

/** For the start-up log line: key ids, never key material. */
export function describePackageKeys(k: PackageKeys): { trustedKeys: string[]; signingKey: string | null } {
  return { trustedKeys: k.trustedKeys.map((a) => `${a.alg}:${kidHex(a.kid)}`), signingKey: k.signingKey ? `${k.signingKey.alg}:${kidHex(k.signingKey.kid)}` : null };
}
