import { createHash } from 'node:crypto';
import type { Db, Queryable } from './db.ts';
import { camelRow, type FirmwareImage } from './rows.ts';
import { recordEvent } from './events.ts';

const COLUMNS = 'id, version, hardware_class, size, sha256, delivery, created_at';

export class DuplicateVersionError extends Error {
  constructor(hardwareClass: string, version: string) {
    super(`firmware version ${version} already exists for hardware class ${hardwareClass}`);
    this.name = 'DuplicateVersionError';
  }
}

export async function insertFirmware(
  db: Db,
  f: { version: string; hardwareClass: string; payload: Buffer; actor?: 'api' | 'engine' },
): Promise<FirmwareImage> {
  const sha256 = createHash('sha256').update(f.payload).digest('hex');
  return db.transaction(async (tx) => {
    const res = await tx.query(
      `INSERT INTO firmware_images (version, hardware_class, size, sha256, payload)
       VALUES ($1, $2, $3, $4, $5) ON CONFLICT (hardware_class, version) DO NOTHING RETURNING ${COLUMNS}`,
      [f.version, f.hardwareClass, f.payload.length, sha256, f.payload]);
    const row = res.rows[0];
    if (!row) throw new DuplicateVersionError(f.hardwareClass, f.version);
    const image = camelRow<FirmwareImage>(row);
    await recordEvent(tx, {
      kind: 'firmware.uploaded', actor: f.actor ?? 'api',
      data: { firmwareId: image.id, version: image.version, hardwareClass: image.hardwareClass, size: image.size, sha256 },
    });
    return image;
  });
}

export async function getFirmware(q: Queryable, id: number): Promise<FirmwareImage | null> {
  const res = await q.query(`SELECT ${COLUMNS} FROM firmware_images WHERE id = $1`, [id]);
  return res.rows[0] ? camelRow<FirmwareImage>(res.rows[0]) : null;
}

export async function listFirmware(q: Queryable): Promise<FirmwareImage[]> {
  const res = await q.query(`SELECT ${COLUMNS} FROM firmware_images ORDER BY id`);
  return res.rows.map((r) => camelRow<FirmwareImage>(r));
}

/** The bytes a device downloads, with the digest they must have. */
export async function loadFirmwarePayload(q: Queryable, id: number): Promise<{ payload: Buffer; sha256: string } | null> {
  const res = await q.query<{ payload: Buffer; sha256: string }>(
    'SELECT payload, sha256 FROM firmware_images WHERE id = $1', [id]);
  return res.rows[0] ?? null;
}
