import { createHash } from 'node:crypto';
import { DuplicateVersionError, FirmwareInUseError } from '../errors.ts';
import type { Db, Queryable } from './db.ts';
import { camelRow, FINAL_STATES_SQL, type FirmwareImage, type ReleaseState } from './rows.ts';
import { recordEvent } from './events.ts';

const COLUMNS = "id, version, hardware_class, size, sha256, delivery, sequence, vendor_id, encode(key_id, 'hex') AS key_id, download_name, created_at, "
  + 'state, state_changed_at, signed_by, uploaded_by, (SELECT name FROM users WHERE users.id = uploaded_by) AS uploaded_by_user, reissue_of, '
  + '(SELECT name FROM trusted_keys WHERE trusted_keys.kid = firmware_images.key_id) AS key_name';

export interface NewFirmware {
  version: string;
  hardwareClass: string;
  /** The bytes a device receives. */
  payload: Buffer;
  delivery?: 'package' | 'payload';
  /** The signed manifest (COSE_Sign1) and what it says. */
  manifest?: Uint8Array;
  sequence?: number;
  vendorId?: string;
  keyId?: Uint8Array;
  /** Who uploaded it: 'token:<name>' through the API. */
  actor?: string;
  /** The user who uploaded it (the four-eyes rule compares the approver with this user). */
  uploadedBy?: number;
  /** Who signed the manifest: the release machine (default) or this server (--signing-key). */
  signedBy?: 'uploader' | 'server';
  /** More for the firmware.uploaded event. */
  event?: Record<string, unknown>;
  /** A re-issue of this original image, in this release state (inherited from it; a firmware.reissued event says so). */
  reissue?: { of: number; state: ReleaseState; inheritedFrom: ReleaseState };
}

/** A live image of a class and version, as an upload of that version again is judged against it. */
export interface LiveRelease {
  id: number;
  reissueOf: number | null;
  state: ReleaseState;
  /** The signed manifest (COSE_Sign1); null for an image stored without one. */
  manifest: Buffer | null;
}

async function insertRow(tx: Queryable, f: NewFirmware): Promise<FirmwareImage> {
  const sha256 = createHash('sha256').update(f.payload).digest('hex');
  const bytes = (b: Uint8Array | undefined) => (b === undefined ? null : Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  const res = await tx.query(
    `INSERT INTO firmware_images (version, hardware_class, size, sha256, payload, delivery, manifest, sequence, vendor_id, key_id, uploaded_by, signed_by,
       reissue_of, state, state_changed_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, COALESCE($14, 'uploaded'), CASE WHEN $13::bigint IS NULL THEN NULL ELSE now() END)
     ON CONFLICT (hardware_class, version) WHERE deleted_at IS NULL AND reissue_of IS NULL DO NOTHING RETURNING ${COLUMNS}`,
    [f.version, f.hardwareClass, f.payload.length, sha256, f.payload, f.delivery ?? 'package', bytes(f.manifest),
      f.sequence ?? null, f.vendorId ?? null, bytes(f.keyId), f.uploadedBy ?? null, f.signedBy ?? 'uploader',
      f.reissue?.of ?? null, f.reissue?.state ?? null]);
  const row = res.rows[0];
  if (!row) throw new DuplicateVersionError(f.hardwareClass, f.version);
  const image = camelRow<FirmwareImage>(row);
  await recordEvent(tx, {
    kind: 'firmware.uploaded', actor: f.actor ?? 'api',
    data: {
      firmwareId: image.id, version: image.version, hardwareClass: image.hardwareClass, size: image.size, sha256,
      delivery: image.delivery, sequence: image.sequence, vendorId: image.vendorId, keyId: image.keyId, keyName: image.keyName, signedBy: image.signedBy,
      ...(image.uploadedByUser ? { user: image.uploadedByUser } : {}), ...(f.reissue ? { reissueOf: f.reissue.of } : {}), ...f.event,
    },
  });
  if (f.reissue) {
    await recordEvent(tx, {
      kind: 'firmware.reissued', actor: f.actor ?? 'api',
      data: {
        firmwareId: image.id, reissueOf: f.reissue.of, version: image.version, hardwareClass: image.hardwareClass, sequence: image.sequence,
        state: f.reissue.state, inheritedFrom: f.reissue.inheritedFrom, ...(image.uploadedByUser ? { user: image.uploadedByUser } : {}),
      },
    });
  }
  return image;
}

/** Stores an image as given (no sequence check): tests, benchmarks, tools. */
export async function insertFirmware(db: Db, f: NewFirmware): Promise<FirmwareImage> {
  return db.transaction((tx) => insertRow(tx, f));
}

/**
 * Stores a signed image with its class locked: `build` gets the class's highest sequence number
 * (null when none) and the live images of the class and version (empty when none), and returns
 * the row, or throws to refuse (a rollback); two uploads for one class run one after the other,
 * so both cannot pass the check against the same highest. A version the class has live is stored
 * only as a re-issue (`build` says of which image), else refused (DuplicateVersionError).
 * `check` runs first in the transaction, and may lock rows the image depends on or refuse it.
 */
export async function insertSignedFirmware(
  db: Db, o: {
    hardwareClass: string; version: string;
    build: (highestSequence: number | null, live: LiveRelease[]) => NewFirmware;
    check?: ((tx: Queryable) => Promise<void>) | undefined;
  },
): Promise<FirmwareImage> {
  return db.transaction(async (tx) => {
    await o.check?.(tx);
    await tx.query("SELECT pg_advisory_xact_lock(hashtext('ferry.firmware_images'), hashtext($1))", [o.hardwareClass]);
    const live = await tx.query<{ id: number; reissue_of: number | null; state: ReleaseState; manifest: Buffer | null }>(
      'SELECT id, reissue_of, state, manifest FROM firmware_images WHERE hardware_class = $1 AND version = $2 AND deleted_at IS NULL ORDER BY id',
      [o.hardwareClass, o.version]);
    // Deleted images count: deleting one must not let an older sequence number back in.
    const res = await tx.query<{ highest: number | null }>(
      'SELECT max(sequence) AS highest FROM firmware_images WHERE hardware_class = $1', [o.hardwareClass]);
    const f = o.build(res.rows[0]?.highest ?? null, live.rows.map((r) => ({ id: Number(r.id), reissueOf: r.reissue_of === null ? null : Number(r.reissue_of), state: r.state, manifest: r.manifest })));
    if (f.hardwareClass !== o.hardwareClass || f.version !== o.version) throw new Error('insertSignedFirmware: build changed the class or version');
    if (live.rows.length > 0 && f.reissue === undefined) throw new DuplicateVersionError(o.hardwareClass, o.version);
    return insertRow(tx, f);
  });
}

/** A live image (a deleted one is null). */
export async function getFirmware(q: Queryable, id: number): Promise<FirmwareImage | null> {
  const res = await q.query(`SELECT ${COLUMNS} FROM firmware_images WHERE id = $1 AND deleted_at IS NULL`, [id]);
  return res.rows[0] ? camelRow<FirmwareImage>(res.rows[0]) : null;
}

/** The live images by id; a page of them with `limit` (after `afterId`), all without. */
export async function listFirmware(q: Queryable, p: { limit?: number; afterId?: number } = {}): Promise<FirmwareImage[]> {
  const res = await q.query(`SELECT ${COLUMNS} FROM firmware_images WHERE deleted_at IS NULL AND id > $1 ORDER BY id LIMIT $2`, [p.afterId ?? 0, p.limit ?? null]);
  return res.rows.map((r) => camelRow<FirmwareImage>(r));
}

/** What still needs an image: updates not finished that deliver it, campaigns not ended that roll it out. Empty when it may be deleted. */
export async function firmwareInUse(q: Queryable, id: number): Promise<string[]> {
  const res = await q.query<{ updates: number; campaigns: number }>(
    `SELECT (SELECT count(*)::int FROM device_updates WHERE firmware_id = $1 AND state NOT IN (${FINAL_STATES_SQL})) AS updates,
            (SELECT count(*)::int FROM campaigns WHERE firmware_id = $1 AND state IN ('draft', 'scheduled', 'running', 'paused')) AS campaigns`, [id]);
  const { updates = 0, campaigns = 0 } = res.rows[0] ?? {};
  return [
    ...(updates > 0 ? [`${updates} update${updates === 1 ? '' : 's'} in flight`] : []),
    ...(campaigns > 0 ? [`${campaigns} campaign${campaigns === 1 ? '' : 's'} not yet completed or aborted`] : []),
  ];
}

/**
 * Deletes an image softly: the row stays for the updates that name it (their history), its bytes
 * go, and its version may be uploaded again. Null when there is no live image with this id;
 * FirmwareInUseError while firmwareInUse says it is needed.
 */
export async function deleteFirmware(db: Db, id: number, actor: string): Promise<FirmwareImage | null> {
  return db.transaction(async (tx) => {
    // Locks the row: createUpdate takes it FOR SHARE, so no update can start on it meanwhile.
    const res = await tx.query(`SELECT ${COLUMNS} FROM firmware_images WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`, [id]);
    if (!res.rows[0]) return null;
    const image = camelRow<FirmwareImage>(res.rows[0]);
    const uses = await firmwareInUse(tx, id);
    if (uses.length > 0) throw new FirmwareInUseError(id, uses);
    await tx.query("UPDATE firmware_images SET deleted_at = now(), payload = '\\x'::bytea, manifest = NULL WHERE id = $1", [id]);
    await recordEvent(tx, { kind: 'firmware.deleted', actor, data: { firmwareId: id, version: image.version, hardwareClass: image.hardwareClass, sha256: image.sha256 } });
    return image;
  });
}

/** The bytes a device downloads, with the digest they must have. */
/** The id of the image Package URIs call `name` (/fw/<name>); undefined when none is (or it was deleted). */
export async function firmwareIdByName(q: Queryable, name: string): Promise<number | undefined> {
  const res = await q.query<{ id: string | number }>('SELECT id FROM firmware_images WHERE download_name = $1 AND deleted_at IS NULL', [name]);
  const row = res.rows[0];
  return row === undefined ? undefined : Number(row.id);
}

export async function loadFirmwarePayload(q: Queryable, id: number): Promise<{ payload: Buffer; sha256: string } | null> {
  const res = await q.query<{ payload: Buffer; sha256: string }>(
    'SELECT payload, sha256 FROM firmware_images WHERE id = $1 AND deleted_at IS NULL', [id]);
  return res.rows[0] ?? null;
}
