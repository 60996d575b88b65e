/**
 * The audit log's chain, and how it is ordered when several servers write one database.
 *
 * Design: a sealer. Events are written as before (recordEvents: one INSERT, whatever the batch),
 * with no sequence number and no link, so the registration path and every transaction that
 * records an event take no extra lock and no extra round trip. Every second each server runs
 * `sealPending`: in one transaction it locks the one `audit_chain` row (FOR UPDATE SKIP LOCKED:
 * a server that finds it locked leaves the round to the one holding it), reads up to a page of the
 * committed events that have no sequence number yet, in id order, gives them the next sequence
 * numbers and links (HMAC-SHA256 of the previous link and the row's canonical content, signer.ts)
 * in one UPDATE, and moves the head. Ids are assigned before commit, so a lower id may commit after
 * a higher one was sealed: it is simply sealed in a later round with a higher sequence number.
 * The chain's order is the sequence number, never the id; the sealer only ever sees committed rows.
 *
 * What this protects: a sealed row that is changed, deleted, moved or one inserted among sealed
 * ones is found by verify.ts, and cutting the tail off is found through the signed checkpoints
 * (checkpoints.ts). What it does not: an event is sealed up to a second or so after its commit,
 * and a row written straight into the database in that window is sealed like any other.
 *
 * The chain's key is fixed by its first seal (`keyed`, `key_check`): a server with another master
 * key, or none where the chain is keyed, does not seal (it logs why) rather than fork the chain.
 * An unkeyed chain (a lab) given a key later is keyed from its head on (keying.ts).
 */
import type { Db, Queryable } from '../store/db.ts';
import { AT_ISO, GENESIS_LINK, linkOf, type AuditSigner, type SealedContent } from './signer.ts';

/** The columns an event is sealed over, as SealedContent (seq excepted, given by the sealer). */
export const CONTENT_COLUMNS = `id, kind, actor, endpoint, update_id AS "updateId", data, ${AT_ISO} AS at`;

export interface ChainState {
  seq: number;
  link: string;
  keyed: boolean | null;
  keyCheck: string | null;
  baseSeq: number;
  baseLink: string;
  baseMac: string | null;
}

const STATE_COLUMNS = 'seq, link, keyed, key_check AS "keyCheck", base_seq AS "baseSeq", base_link AS "baseLink", base_mac AS "baseMac"';

/** The chain's row, made when missing (a new database, or one emptied). */
export async function chainState(q: Queryable, o: { lock?: 'wait' | 'skip' } = {}): Promise<ChainState | undefined> {
  const lock = o.lock === 'wait' ? ' FOR UPDATE' : o.lock === 'skip' ? ' FOR UPDATE SKIP LOCKED' : '';
  for (let attempt = 0; attempt < 2; attempt++) {
    const { rows } = await q.query<ChainState>(`SELECT ${STATE_COLUMNS} FROM audit_chain WHERE id = 1${lock}`);
    if (rows[0]) return rows[0];
    if (attempt === 0) {
      const { rows: exists } = await q.query('SELECT 1 FROM audit_chain WHERE id = 1');
      if (exists.length > 0) return undefined; // there, and locked by another sealer
      await q.query('INSERT INTO audit_chain (id, seq, link, base_seq, base_link) VALUES (1, 0, $1, 0, $1) ON CONFLICT (id) DO NOTHING', [GENESIS_LINK]);
    }
  }
  return undefined;
}

/** Why a chain is not this signer's to seal or check, or undefined when it is. */
export function keyMismatch(state: ChainState, signer: AuditSigner): string | undefined {
  if (state.keyed === null) return undefined;
  if (state.keyed !== signer.keyed) {
    return state.keyed ? 'the audit chain is keyed (HMAC) and this server has no master key (--secrets-key-file)'
      : 'the audit chain was started without a master key (plain SHA-256); a server with one keys it from its head (keying.ts)';
  }
  if (state.keyed && state.keyCheck !== signer.keyCheck()) return 'the audit chain was sealed under another master key (--secrets-key-file)';
  return undefined;
}

export type SealOutcome = { sealed: number; head: number } | { busy: true } | { refused: string };

/** Chains the committed events that are not yet, a page a transaction, until none is left. */
export async function sealPending(db: Db, signer: AuditSigner, o: { pageSize?: number; maxPages?: number } = {}): Promise<SealOutcome> {
  const pageSize = o.pageSize ?? 1000;
  let sealed = 0;
  let head = 0;
  for (let pages = 0; pages < (o.maxPages ?? 100); pages++) {
    type Round = { busy: true } | { refused: string } | { n: number; head: number };
    const round = await db.transaction(async (tx): Promise<Round> => {
      const state = await chainState(tx, { lock: 'skip' });
      if (!state) return { busy: true };
      const refused = keyMismatch(state, signer);
      if (refused) return { refused };
      const { rows } = await tx.query<Omit<SealedContent, 'seq'>>(
        `SELECT ${CONTENT_COLUMNS} FROM events WHERE seq IS NULL ORDER BY id LIMIT $1`, [pageSize]);
      if (rows.length === 0) return { n: 0, head: Number(state.seq) };
      let seq = Number(state.seq);
      let link = state.link;
      const ids: number[] = [];
      const seqs: number[] = [];
      const links: string[] = [];
      for (const r of rows) {
        seq += 1;
        link = linkOf(signer, link, { ...r, seq, id: Number(r.id), updateId: r.updateId === null ? null : Number(r.updateId) });
        ids.push(Number(r.id));
        seqs.push(seq);
        links.push(link);
      }
      const updated = await tx.query(
        `UPDATE events e SET seq = t.s, link = t.l FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS t(i, s, l)
          WHERE e.id = t.i AND e.seq IS NULL`, [ids, seqs, links]);
      // A row deleted between the read and the update: seal nothing this round rather than a gap.
      if (updated.rowCount !== ids.length) throw new Error(`sealing ${ids.length} events updated ${updated.rowCount}: rolled back`);
      await tx.query('UPDATE audit_chain SET seq = $1, link = $2, keyed = $3, key_check = $4 WHERE id = 1', [seq, link, signer.keyed, signer.keyCheck()]);
      return { n: rows.length, head: seq };
    });
    if (!('n' in round)) return sealed > 0 ? { sealed, head } : round;
    sealed += round.n;
    head = round.head;
    if (round.n < pageSize) break;
  }
  return { sealed, head };
}
