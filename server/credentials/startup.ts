/**
 * The master key checked against the database at start: a key that is not the one the stored keys
 * were sealed under, or stored keys and no key at all, stop the server with one line. With no key
 * stored, another master key simply replaces the check value.
 */
import { SecretsKeyError } from '../errors.ts';
import type { Db } from '../store/db.ts';
import { anyCredentials, claimKeyCheck, countCredentials, replaceKeyCheck, storedKeyCheck } from '../store/credentials.ts';
import type { SecretsKey } from './secrets-key.ts';

const WRONG_KEY = 'the master key (--secrets-key-file / FERRY_SECRETS_KEY_FILE) is not the one the stored device keys were encrypted with';

export async function checkSecretsKey(db: Db, key: SecretsKey | undefined): Promise<void> {
  if (key === undefined) {
    const n = await countCredentials(db);
    if (n > 0) throw new SecretsKeyError(`${n} device key${n === 1 ? ' is' : 's are'} stored and no master key is given: set --secrets-key-file / FERRY_SECRETS_KEY_FILE`);
    return;
  }
  // Keys stored with no check value (written before any server claimed one): one must open.
  if (await storedKeyCheck(db) === null) {
    const row = await anyCredentials(db);
    if (row) {
      try {
        key.open(row.key, { endpoint: row.endpoint, identity: row.identity });
      } catch {
        throw new SecretsKeyError(WRONG_KEY);
      }
    }
  }
  const stored = await claimKeyCheck(db, key.checkValue());
  if (!key.matches(stored)) {
    // Nothing sealed under the old key any more: the new one takes its place.
    if (await countCredentials(db) === 0) { await replaceKeyCheck(db, key.checkValue()); return; }
    throw new SecretsKeyError(WRONG_KEY);
  }
}
