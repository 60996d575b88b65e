/**
 * Retention of the audit log (--audit-retention): sealed events older than the period move, in
 * sequence order and a bounded number per run, to `events_archive`, in one transaction with the
 * chain's row locked. The link of the last one moved becomes the archive boundary, signed, and
 * verification starts from it. The range is checked before it is moved: an altered row is never
 * archived out of sight (nothing moves, and the caller logs why).
 */
import type { Db } from '../store/db.ts';
import { CONTENT_COLUMNS, chainState, keyMismatch } from './chain.ts';
import { boundaryText, linkOf, type AuditSigner, type SealedContent } from './signer.ts';

export type ArchiveOutcome = { archived: number; through: number } | { refused: string };

export async function archiveEvents(db: Db, signer: AuditSigner, before: Date, o: { max?: number } = {}): Promise<ArchiveOutcome> {
  const max = o.max ?? 10_000;
  return db.transaction(async (tx) => {
    const state = await chainState(tx, { lock: 'wait' });
    if (!state) return { refused: 'the audit chain row is missing' };
    const refused = keyMismatch(state, signer);
    if (refused) return { refused };
    const baseSeq = Number(state.baseSeq);
    // A prefix of the chain: up to the last sealed event before the first one that is to stay.
    const { rows: [first] } = await tx.query<{ seq: number | null }>(
      'SELECT min(seq) AS seq FROM events WHERE seq > $1 AND at >= $2', [baseSeq, before]);
    const keepFrom = first?.seq === null || first?.seq === undefined ? Number(state.seq) + 1 : Number(first.seq);
    const through = Math.min(keepFrom - 1, baseSeq + max);
    if (through <= baseSeq) return { archived: 0, through: baseSeq };

    const { rows } = await tx.query<SealedContent & { link: string }>(
      `SELECT seq, link, ${CONTENT_COLUMNS} FROM events WHERE seq > $1 AND seq <= $2 ORDER BY seq`, [baseSeq, through]);
    let prev = state.baseLink;
    let expected = baseSeq + 1;
    for (const r of rows) {
      const seq = Number(r.seq);
      const content = { ...r, seq, id: Number(r.id), updateId: r.updateId === null ? null : Number(r.updateId) };
      if (seq !== expected || linkOf(signer, prev, content) !== r.link) {
        return { refused: `event ${r.id} (sequence ${expected}) does not verify: nothing archived (run ferry audit verify)` };
      }
      prev = r.link;
      expected += 1;
    }
    if (expected !== through + 1) return { refused: `sequence ${expected} is missing: nothing archived (run ferry audit verify)` };

    await tx.query(
      `INSERT INTO events_archive (id, at, actor, kind, device_id, update_id, data, endpoint, seq, link)
       SELECT id, at, actor, kind, device_id, update_id, data, endpoint, seq, link FROM events WHERE seq <= $1`, [through]);
    // With them any left at or before the boundary (sealed before the chain was keyed, keying.ts).
    const moved = await tx.query('DELETE FROM events WHERE seq <= $1', [through]);
    await tx.query('UPDATE audit_chain SET base_seq = $1, base_link = $2, base_mac = $3 WHERE id = 1',
      [through, prev, signer.mac(boundaryText(through, prev))]);
    return { archived: moved.rowCount, through };
  });
}
