/**
 * Recomputes the audit chain a page at a time (never the whole table in memory) from the archive
 * boundary, and names the first row that is not as it was sealed:
 *
 * - `missing`: a sequence number is absent (a row deleted); `id` is null, the row is gone.
 * - `out-of-order`: the row is not the one sealed at its place: the row after it verifies there
 *   (two rows swapped, or one put in between and the rest renumbered), or its number repeats.
 * - `changed`: the row's content (or link) is not what was sealed.
 * - `truncated`: the chain ends before the latest signed checkpoint, or before the head.
 */
import type { Queryable } from '../store/db.ts';
import { CONTENT_COLUMNS, chainState, keyMismatch } from './chain.ts';
import { latestCheckpoint } from './checkpoints.ts';
import { GENESIS_LINK, boundaryText, linkOf, type AuditSigner, type SealedContent } from './signer.ts';

export type Problem = 'changed' | 'missing' | 'out-of-order' | 'truncated';

export interface VerifyResult {
  ok: boolean;
  /** Sealed rows recomputed. */
  checked: number;
  /** HMAC under the master key (true) or plain SHA-256 (false: evident only against accidents). */
  keyed: boolean;
  /** The archive boundary the check started after (0: nothing archived). */
  from: number;
  /** The last sequence number found. */
  through: number;
  /** Events committed and not yet sealed (written in the last second or so). */
  unsealed: number;
  /** The latest signed checkpoint compared with. */
  checkpoint?: { sequence: number; at: string };
  /** Checkpoints whose MAC is not this server's (written without the key). */
  forgedCheckpoints: number;
  firstBad?: { sequence: number; id: number | null; problem: Problem };
  /** Why the chain could not be checked at all (another master key). */
  error?: string;
}

type Row = SealedContent & { link: string };

const PAGE = 1000;

/**
 * The chain checked from the archive boundary. An archive run that moved the boundary while the
 * check read would look like missing rows: a failed check whose boundary moved meanwhile is run
 * again (up to three times).
 */
export async function verifyChain(q: Queryable, signer: AuditSigner, o: { checkpointFile?: string; pageSize?: number } = {}): Promise<VerifyResult> {
  for (let attempt = 1; ; attempt++) {
    const result = await verifyOnce(q, signer, o);
    if (result.ok || attempt >= 3) return result;
    const now = await chainState(q);
    if (now === undefined || Number(now.baseSeq) === result.from) return result;
  }
}

async function verifyOnce(q: Queryable, signer: AuditSigner, o: { checkpointFile?: string; pageSize?: number }): Promise<VerifyResult> {
  const pageSize = o.pageSize ?? PAGE;
  const state = await chainState(q);
  if (!state) throw new Error('the audit chain row is missing');
  const base = { seq: Number(state.baseSeq), link: state.baseLink };
  const result: VerifyResult = { ok: true, checked: 0, keyed: signer.keyed, from: base.seq, through: base.seq, unsealed: 0, forgedCheckpoints: 0 };
  const refused = keyMismatch(state, signer);
  if (refused) return { ...result, ok: false, error: refused };
  const { latest, forged } = await latestCheckpoint(q, signer, base.seq, o.checkpointFile);
  result.forgedCheckpoints = forged;
  if (latest) result.checkpoint = { sequence: latest.seq, at: latest.at };
  const bad = (sequence: number, id: number | null, problem: Problem): VerifyResult => ({ ...result, ok: false, firstBad: { sequence, id, problem } });

  const boundaryOk = base.seq === 0 ? base.link === GENESIS_LINK : state.baseMac !== null && signer.check(boundaryText(base.seq, base.link), state.baseMac);
  if (!boundaryOk) return bad(base.seq, null, 'changed');

  let prev = base.link;
  let expected = base.seq + 1;
  // After every row at the boundary (rows sealed before the chain was keyed stay in events).
  let cursor = { seq: base.seq, id: Number.MAX_SAFE_INTEGER };
  let linkAtCheckpoint: string | undefined;
  for (;;) {
    const rows = await pageAfter(q, cursor, pageSize + 1); // one more: the row after the last, to tell a swap from a change
    const n = Math.min(rows.length, pageSize);
    for (let i = 0; i < n; i++) {
      const r = rows[i]!;
      if (r.seq < expected) return bad(r.seq, r.id, 'out-of-order');
      if (r.seq > expected) return bad(expected, null, 'missing');
      if (linkOf(signer, prev, r) !== r.link) {
        const next = rows[i + 1];
        const nextBelongsHere = next !== undefined && linkOf(signer, prev, { ...next, seq: expected }) === next.link;
        return bad(r.seq, r.id, nextBelongsHere ? 'out-of-order' : 'changed');
      }
      if (latest && r.seq === latest.seq) linkAtCheckpoint = r.link;
      prev = r.link;
      expected += 1;
      result.checked += 1;
      result.through = r.seq;
      cursor = { seq: r.seq, id: r.id };
    }
    if (rows.length <= pageSize) break;
  }

  const { rows: [pending] } = await q.query<{ n: number }>('SELECT count(*) AS n FROM events WHERE seq IS NULL');
  result.unsealed = Number(pending?.n ?? 0);
  if (forged > 0) result.ok = false;
  if (latest && latest.seq > base.seq) {
    if (latest.seq > result.through) return bad(result.through + 1, null, 'truncated');
    if (linkAtCheckpoint !== latest.link) return bad(latest.seq, null, 'changed');
  }
  if (Number(state.seq) > result.through) return bad(result.through + 1, null, 'truncated');
  return result;
}

async function pageAfter(q: Queryable, after: { seq: number; id: number }, limit: number): Promise<Row[]> {
  const { rows } = await q.query<Row>(
    `SELECT seq, link, ${CONTENT_COLUMNS} FROM events
      WHERE seq IS NOT NULL AND (seq, id) > ($1::bigint, $2::bigint) ORDER BY seq, id LIMIT $3`, [after.seq, after.id, limit]);
  return rows.map((r) => ({ ...r, seq: Number(r.seq), id: Number(r.id), updateId: r.updateId === null ? null : Number(r.updateId) }));
}
