/**
 * Device credentials (migration 0010): a PSK identity and its encrypted key per device, the key a
 * rotation replaced kept as the previous one. Only sealed keys pass through here (the service
 * seals and opens them). Every change moves credentials_state.generation, in its transaction.
 */
import type { Queryable } from './db.ts';

export interface Sealed { ct: Buffer; nonce: Buffer }

export interface CredentialRow {
  deviceId: number;
  endpoint: string;
  identity: string;
  key: Sealed;
  previous: { identity: string; key: Sealed } | null;
  createdAt: Date;
  rotatedAt: Date | null;
  lastHandshakeAt: Date | null;
}

interface RawRow {
  device_id: string | number; endpoint: string; identity: string; key_ct: Uint8Array; key_nonce: Uint8Array;
  previous_identity: string | null; previous_key_ct: Uint8Array | null; previous_key_nonce: Uint8Array | null;
  created_at: Date; rotated_at: Date | null; last_handshake_at: Date | null;
}

const buf = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

const fromRaw = (r: RawRow): CredentialRow => ({
  deviceId: Number(r.device_id), endpoint: r.endpoint, identity: r.identity,
  key: { ct: buf(r.key_ct), nonce: buf(r.key_nonce) },
  previous: r.previous_identity === null ? null
    : { identity: r.previous_identity, key: { ct: buf(r.previous_key_ct!), nonce: buf(r.previous_key_nonce!) } },
  createdAt: r.created_at, rotatedAt: r.rotated_at, lastHandshakeAt: r.last_handshake_at,
});

const SELECT = `SELECT c.device_id, d.endpoint, c.identity, c.key_ct, c.key_nonce, c.previous_identity, c.previous_key_ct,
  c.previous_key_nonce, c.created_at, c.rotated_at, c.last_handshake_at FROM device_credentials c JOIN devices d ON d.id = c.device_id`;

/** Moves the generation: other nodes drop their cached keys. Call it in the transaction of the change. */
export async function bumpGeneration(q: Queryable): Promise<void> {
  await q.query(`INSERT INTO credentials_state (id, generation, changed_at) VALUES (1, 1, now())
    ON CONFLICT (id) DO UPDATE SET generation = credentials_state.generation + 1, changed_at = now()`);
}

export async function credentialsOf(q: Queryable, deviceId: number): Promise<CredentialRow | undefined> {
  const res = await q.query<RawRow>(`${SELECT} WHERE c.device_id = $1`, [deviceId]);
  return res.rows[0] ? fromRaw(res.rows[0]) : undefined;
}

/** The credentials whose current or previous identity is `identity`, and the generation read with them (one snapshot). */
export async function credentialsByIdentity(q: Queryable, identity: string): Promise<{ row: CredentialRow | undefined; generation: number }> {
  const res = await q.query<RawRow & { generation: string | null }>(
    `SELECT g.generation, k.* FROM (SELECT (SELECT generation FROM credentials_state WHERE id = 1) AS generation) g
     LEFT JOIN (${SELECT} WHERE c.identity = $1 OR c.previous_identity = $1) k ON true`, [identity]);
  const r = res.rows[0]!;
  return { row: r.device_id === null ? undefined : fromRaw(r), generation: Number(r.generation ?? 0) };
}

/** Whether the endpoint has credentials, and the generation read with the answer. */
export async function endpointHasCredentials(q: Queryable, endpoint: string): Promise<{ has: boolean; generation: number }> {
  const res = await q.query<{ generation: string | null; has: boolean }>(
    `SELECT (SELECT generation FROM credentials_state WHERE id = 1) AS generation,
            EXISTS (SELECT 1 FROM device_credentials c JOIN devices d ON d.id = c.device_id WHERE d.endpoint = $1) AS has`, [endpoint]);
  const r = res.rows[0]!;
  return { has: r.has, generation: Number(r.generation ?? 0) };
}

export async function generation(q: Queryable): Promise<number> {
  const res = await q.query<{ generation: string }>('SELECT generation FROM credentials_state WHERE id = 1');
  return Number(res.rows[0]?.generation ?? 0);
}

/** The device that holds `identity` (current or previous), other than `exceptDeviceId`. */
export async function identityHolder(q: Queryable, identity: string, exceptDeviceId: number): Promise<string | undefined> {
  const res = await q.query<{ endpoint: string }>(
    `SELECT d.endpoint FROM device_credentials c JOIN devices d ON d.id = c.device_id
     WHERE (c.identity = $1 OR c.previous_identity = $1) AND c.device_id <> $2 LIMIT 1`, [identity, exceptDeviceId]);
  return res.rows[0]?.endpoint;
}

/** Creates or replaces a device's credentials: a new current key, no previous one, the times reset. */
export async function putCredentials(q: Queryable, deviceId: number, identity: string, key: Sealed): Promise<void> {
  await q.query(
    `INSERT INTO device_credentials (device_id, identity, key_ct, key_nonce) VALUES ($1, $2, $3, $4)
     ON CONFLICT (device_id) DO UPDATE SET identity = EXCLUDED.identity, key_ct = EXCLUDED.key_ct, key_nonce = EXCLUDED.key_nonce,
       previous_identity = NULL, previous_key_ct = NULL, previous_key_nonce = NULL, created_at = now(), rotated_at = NULL, last_handshake_at = NULL`,
    [deviceId, identity, key.ct, key.nonce]);
  await bumpGeneration(q);
}

/** The current key becomes the previous one (replacing any earlier previous), the new one current. */
export async function rotateCredentials(q: Queryable, deviceId: number, identity: string, key: Sealed): Promise<boolean> {
  const res = await q.query(
    `UPDATE device_credentials SET previous_identity = identity, previous_key_ct = key_ct, previous_key_nonce = key_nonce,
       identity = $2, key_ct = $3, key_nonce = $4, rotated_at = now() WHERE device_id = $1`,
    [deviceId, identity, key.ct, key.nonce]);
  if (res.rowCount > 0) await bumpGeneration(q);
  return res.rowCount > 0;
}

export async function deleteCredentials(q: Queryable, deviceId: number): Promise<boolean> {
  const res = await q.query('DELETE FROM device_credentials WHERE device_id = $1', [deviceId]);
  if (res.rowCount > 0) await bumpGeneration(q);
  return res.rowCount > 0;
}

/**
 * A handshake completed with `identity`'s current key: the last handshake is now, and the previous
 * key, no longer needed, is dropped. Returns the device and the identity dropped, if one was.
 */
export async function confirmCurrentKey(q: Queryable, identity: string): Promise<{ deviceId: number; droppedIdentity: string } | undefined> {
  const res = await q.query<{ device_id: string | number; dropped: string | null }>(
    `UPDATE device_credentials c SET last_handshake_at = now(), previous_identity = NULL, previous_key_ct = NULL, previous_key_nonce = NULL
     FROM device_credentials old WHERE old.device_id = c.device_id AND c.identity = $1
     RETURNING c.device_id, old.previous_identity AS dropped`, [identity]);
  const row = res.rows[0];
  if (!row || row.dropped === null) return undefined;
  await bumpGeneration(q);
  return { deviceId: Number(row.device_id), droppedIdentity: row.dropped };
}

/** A handshake completed with `identity`'s previous key: only the time is recorded. */
export async function recordHandshake(q: Queryable, identity: string): Promise<void> {
  await q.query('UPDATE device_credentials SET last_handshake_at = now() WHERE identity = $1 OR previous_identity = $1', [identity]);
}

/** One device's credentials, any (the master key's check opens it). */
export async function anyCredentials(q: Queryable): Promise<CredentialRow | undefined> {
  const res = await q.query<RawRow>(`${SELECT} ORDER BY c.device_id LIMIT 1`);
  return res.rows[0] ? fromRaw(res.rows[0]) : undefined;
}

/** Whether any device has credentials (one index probe, whatever the count). */
export async function credentialsExist(q: Queryable): Promise<boolean> {
  const res = await q.query<{ any: boolean }>('SELECT EXISTS (SELECT 1 FROM device_credentials) AS any');
  return res.rows[0]!.any;
}

export async function countCredentials(q: Queryable): Promise<number> {
  const res = await q.query<{ n: string }>('SELECT count(*) AS n FROM device_credentials');
  return Number(res.rows[0]!.n);
}

export async function storedKeyCheck(q: Queryable): Promise<string | null> {
  const res = await q.query<{ key_check: string | null }>('SELECT key_check FROM credentials_state WHERE id = 1');
  return res.rows[0]?.key_check ?? null;
}

/** Stores the check value unless one is stored; returns the one stored now. */
export async function claimKeyCheck(q: Queryable, check: string): Promise<string> {
  await q.query(`INSERT INTO credentials_state (id, key_check) VALUES (1, $1)
    ON CONFLICT (id) DO UPDATE SET key_check = COALESCE(credentials_state.key_check, EXCLUDED.key_check)`, [check]);
  return (await storedKeyCheck(q))!;
}

/** Replaces the check value (no key is sealed under the old one). */
export async function replaceKeyCheck(q: Queryable, check: string): Promise<void> {
  await q.query(`INSERT INTO credentials_state (id, key_check) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET key_check = EXCLUDED.key_check`, [check]);
}
