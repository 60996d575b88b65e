/**
 * The trusted package keys registry (migrations/0016_signing_keys.sql): keys added through the
 * API, with a validity period and revocation, and the keys a server read from files, recorded
 * for listing and naming. Every change moves `updated_at`, and records an event in its transaction.
 */
import type { TrustAnchor } from '../../protocols/package.ts';
import { KeyError, KeyFileError } from '../errors.ts';
import type { Db, Queryable } from './db.ts';
import { recordEvent } from './events.ts';
import { camelRow } from './rows.ts';

export type KeySource = 'api' | 'file';

export interface TrustedKey extends TrustAnchor {
  id: number;
  name: string;
  notBefore: Date;
  notAfter: Date | null;
  revokedAt: Date | null;
  revokeReason: string | null;
  revokedBy: string | null;
  source: KeySource;
  createdBy: string;
  createdAt: Date;
  /** Images stored (not deleted) whose manifest this key signed. */
  images: number;
}

const BARE = 'id, name, alg, kid, public_key, not_before, not_after, revoked_at, revoke_reason, revoked_by, source, created_by, created_at';
const COLUMNS = `${BARE}, (SELECT count(*)::int FROM firmware_images f WHERE f.key_id = k.kid AND f.deleted_at IS NULL) AS images`;

function keyOf(row: Record<string, unknown>): TrustedKey {
  const k = camelRow<TrustedKey & { id: string | number }>(row);
  return { ...k, id: Number(k.id), kid: new Uint8Array(k.kid), publicKey: new Uint8Array(k.publicKey) };
}

/** Why a key signs no new upload at `now`, or undefined while it is live. */
export function deadness(k: Pick<TrustedKey, 'revokedAt' | 'notBefore' | 'notAfter'>, now: Date): 'revoked' | 'expired' | 'not-yet-valid' | undefined {
  if (k.revokedAt !== null) return 'revoked';
  if (k.notAfter !== null && now >= k.notAfter) return 'expired';
  if (now < k.notBefore) return 'not-yet-valid';
  return undefined;
}

/** Every key by name; `counted: false` leaves out the count of images (0), for the trust anchors. */
export async function listKeys(q: Queryable, o: { counted?: boolean } = {}): Promise<TrustedKey[]> {
  return (await q.query(`SELECT ${o.counted === false ? `${BARE}, 0 AS images` : COLUMNS} FROM trusted_keys k ORDER BY name`)).rows.map(keyOf);
}

async function keyById(q: Queryable, id: number | string): Promise<TrustedKey> {
  return keyOf((await q.query(`SELECT ${COLUMNS} FROM trusted_keys k WHERE id = $1`, [id])).rows[0]!);
}

/** The registry's key of `kid`, its row locked FOR SHARE until the transaction ends: it cannot be revoked meanwhile. */
export async function lockKeyOfKid(tx: Queryable, kid: Uint8Array): Promise<TrustedKey | undefined> {
  const row = (await tx.query(`SELECT ${BARE}, 0 AS images FROM trusted_keys k WHERE kid = $1 FOR SHARE`, [Buffer.from(kid)])).rows[0];
  return row && keyOf(row);
}

/**
 * What changes whenever a key is added, changed or removed, whatever order the changes commit in:
 * a digest of every row's id and last change. Servers compare it to know their anchors are current.
 */
export async function registryStamp(q: Queryable): Promise<string> {
  return (await q.query<{ stamp: string }>(
    `SELECT md5(coalesce(string_agg(id::text || ':' || (extract(epoch FROM updated_at) * 1000000)::bigint::text, ',' ORDER BY id), '')) AS stamp
       FROM trusted_keys`)).rows[0]!.stamp;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** The key holding `name` or `kid`, if any. */
async function holder(q: Queryable, name: string, kid: Uint8Array): Promise<{ name: string; source: KeySource } | undefined> {
  return (await q.query<{ name: string; source: KeySource }>('SELECT name, source FROM trusted_keys WHERE name = $1 OR kid = $2 ORDER BY name = $1 DESC LIMIT 1',
    [name, Buffer.from(kid)])).rows[0];
}

export interface NewKey { name: string; anchor: TrustAnchor; notBefore?: Date | undefined; notAfter?: Date | undefined; actor: string; user?: string | undefined }

/** Adds a key through the API (event key.added); a name or kid already held is a KeyError FERRY_KEY_EXISTS. */
export async function addKey(db: Db, k: NewKey): Promise<TrustedKey> {
  return db.transaction(async (tx) => {
    await tx.query('LOCK TABLE trusted_keys IN SHARE ROW EXCLUSIVE MODE');
    const taken = await holder(tx, k.name, k.anchor.kid);
    if (taken !== undefined) {
      throw new KeyError('FERRY_KEY_EXISTS', taken.name === k.name
        ? `a key named ${k.name} exists already`
        : `this public key (kid ${hex(k.anchor.kid)}) is trusted already, as ${taken.name}${taken.source === 'file' ? ' (from a key file)' : ''}`);
    }
    const res = await tx.query<{ id: string | number }>(
      `INSERT INTO trusted_keys (name, alg, kid, public_key, not_before, not_after, source, created_by)
       VALUES ($1, $2, $3, $4, COALESCE($5, now()), $6, 'api', $7) RETURNING id`,
      [k.name, k.anchor.alg, Buffer.from(k.anchor.kid), Buffer.from(k.anchor.publicKey), k.notBefore ?? null, k.notAfter ?? null, k.actor]);
    const added = await keyById(tx, res.rows[0]!.id);
    await recordEvent(tx, {
      kind: 'key.added', actor: k.actor,
      data: { name: added.name, alg: added.alg, kid: hex(added.kid), notBefore: added.notBefore.toISOString(), notAfter: added.notAfter?.toISOString() ?? null, ...(k.user ? { user: k.user } : {}) },
    });
    return added;
  });
}

/** An API key, locked, or the KeyError saying why it cannot be changed (none by that name; a file's). */
async function apiKeyForUpdate(q: Queryable, name: string, what: string): Promise<TrustedKey> {
  const row = (await q.query(`SELECT ${COLUMNS} FROM trusted_keys k WHERE name = $1 FOR UPDATE`, [name])).rows[0];
  if (row === undefined) throw new KeyError('FERRY_KEY_NOT_FOUND', `no trusted key named ${name}`);
  const key = keyOf(row);
  if (key.source === 'file') {
    throw new KeyError('FERRY_KEY_FROM_FILE', `${name} is read from a key file at start-up (${name === SERVER_SIGNING ? '--signing-key' : '--trusted-keys'}): `
      + `it cannot be ${what} through the API; remove the file from ${name === SERVER_SIGNING ? '--signing-key' : '--trusted-keys'} and restart the servers`);
  }
  return key;
}

/**
 * Marks the key revoked (event key.revoked, with who and why). A key revoked already is left as it
 * was (`revokedNow` false). The images it signed are the caller's to revoke (governance/halt.ts).
 */
export async function revokeKey(db: Db, name: string, o: { reason: string; actor: string; user?: string | undefined }): Promise<{ key: TrustedKey; revokedNow: boolean }> {
  return db.transaction(async (tx) => {
    const key = await apiKeyForUpdate(tx, name, 'revoked');
    if (key.revokedAt !== null) return { key, revokedNow: false };
    await tx.query("UPDATE trusted_keys SET revoked_at = now(), revoke_reason = $2, revoked_by = $3, updated_at = now() WHERE id = $1", [key.id, o.reason, o.actor]);
    await recordEvent(tx, { kind: 'key.revoked', actor: o.actor, data: { name, kid: hex(key.kid), reason: o.reason, images: key.images, ...(o.user ? { user: o.user } : {}) } });
    return { key: await keyById(tx, key.id), revokedNow: true };
  });
}

/** Sets an API key's validity period (event key.validity_changed); undefined leaves a bound as it is, null (notAfter) removes it. */
export async function setKeyValidity(db: Db, name: string, o: { notBefore?: Date | undefined; notAfter?: Date | null | undefined; actor: string; user?: string | undefined }): Promise<TrustedKey> {
  return db.transaction(async (tx) => {
    const key = await apiKeyForUpdate(tx, name, 'changed');
    const notBefore = o.notBefore ?? key.notBefore;
    const notAfter = o.notAfter === undefined ? key.notAfter : o.notAfter;
    if (notAfter !== null && notAfter <= notBefore) {
      throw new KeyError('FERRY_KEY_INVALID', `notAfter ${notAfter.toISOString()} is not after notBefore ${notBefore.toISOString()}`);
    }
    await tx.query('UPDATE trusted_keys SET not_before = $2, not_after = $3, updated_at = now() WHERE id = $1', [key.id, notBefore, notAfter]);
    await recordEvent(tx, {
      kind: 'key.validity_changed', actor: o.actor,
      data: { name, kid: hex(key.kid), from: { notBefore: key.notBefore.toISOString(), notAfter: key.notAfter?.toISOString() ?? null },
        to: { notBefore: notBefore.toISOString(), notAfter: notAfter?.toISOString() ?? null }, ...(o.user ? { user: o.user } : {}) },
    });
    return await keyById(tx, key.id);
  });
}

/** The name the public half of --signing-key is listed by. */
export const SERVER_SIGNING = 'server-signing';

export interface FileKey { name: string; anchor: TrustAnchor; file: string }

/**
 * Records a server's file keys (source 'file'): each inserted, or updated when its file now holds
 * another key; with `replace`, file keys not among them are removed (start-up: the files given
 * are the server's). A name or kid held by a key added through the API is a KeyFileError naming
 * the file: a revoked key must not come back through a file.
 */
export async function recordFileKeys(db: Db, keys: readonly FileKey[], o: { replace: boolean }): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query('LOCK TABLE trusted_keys IN SHARE ROW EXCLUSIVE MODE');
    if (o.replace) {
      await tx.query("DELETE FROM trusted_keys WHERE source = 'file' AND NOT (name = ANY($1::text[]))", [keys.map((k) => k.name)]);
    }
    for (const k of keys) {
      const other = (await tx.query<{ name: string; source: KeySource; kid: Buffer }>(
        "SELECT name, source, kid FROM trusted_keys WHERE (name = $1 OR kid = $2) AND NOT (source = 'file' AND name = $1)", [k.name, Buffer.from(k.anchor.kid)])).rows[0];
      if (other !== undefined) {
        throw new KeyFileError(other.source === 'api'
          ? `key file ${k.file} holds ${other.name === k.name ? `a key named ${k.name}` : `the key ${other.name} (kid ${hex(k.anchor.kid)})`}, which was added through the API: `
            + 'remove one of the two (a file key cannot be revoked; ferry keys revoke can)'
          : `key file ${k.file} holds the same key as ${other.name} (kid ${hex(k.anchor.kid)}): give each key once`);
      }
      await tx.query(
        `INSERT INTO trusted_keys (name, alg, kid, public_key, source, created_by) VALUES ($1, $2, $3, $4, 'file', 'config')
         ON CONFLICT (name) DO UPDATE SET alg = EXCLUDED.alg, kid = EXCLUDED.kid, public_key = EXCLUDED.public_key, updated_at = now()
         WHERE trusted_keys.kid <> EXCLUDED.kid`,
        [k.name, k.anchor.alg, Buffer.from(k.anchor.kid), Buffer.from(k.anchor.publicKey)]);
    }
  });
}
