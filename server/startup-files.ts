/**
 * The files `ferry serve` is configured with, read before anything else: a key file that is
 * missing or unusable stops start-up at once, with a line naming the file and its flag, rather
 * than after the database was opened (and a new one made and migrated). startFerry reads them
 * again (they are small): this is only the early check.
 */
import type { Config } from './config.ts';
import { loadSecretsKey } from './credentials/secrets-key.ts';
import { loadPackageKeys } from './firmware/keys.ts';

/** Throws KeyFileError (startup-errors.ts words it) for the first unusable file. */
export async function checkConfigFiles(config: Pick<Config, 'trustedKeys' | 'signingKey' | 'secretsKeyFile'>): Promise<void> {
  await loadPackageKeys(config);
  if (config.secretsKeyFile !== undefined) await loadSecretsKey(config.secretsKeyFile);
}
