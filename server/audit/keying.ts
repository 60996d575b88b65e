/**
 * A chain begun without a master key (a lab, plain SHA-256) given one later: the first server
 * with the key checks the whole unkeyed chain (it can: SHA-256 needs no key), then makes its head
 * the archive boundary, signed under the key, and seals on from there with HMAC. Verification
 * starts at that boundary: the unkeyed events stay in `events` (listed, exported, archived in
 * time) but, having never been keyed, are no longer checked. An unkeyed chain that does not
 * verify is not keyed (sealing stays stopped, and the log says why): what is wrong must be seen.
 */
import type { Db } from '../store/db.ts';
import { chainState } from './chain.ts';
import { AuditSigner, boundaryText } from './signer.ts';
import { verifyChain } from './verify.ts';

export type KeyingOutcome = { keyedFrom: number } | { refused: string } | { notNeeded: true };

export async function keyChain(db: Db, signer: AuditSigner): Promise<KeyingOutcome> {
  if (!signer.keyed) return { notNeeded: true };
  return db.transaction(async (tx) => {
    const state = await chainState(tx, { lock: 'wait' });
    if (!state || state.keyed !== false) return { notNeeded: true };
    const lab = await verifyChain(tx, new AuditSigner(undefined));
    if (!lab.ok) {
      const bad = lab.firstBad;
      return { refused: `the unkeyed audit chain does not verify${bad ? ` (sequence ${bad.sequence}: ${bad.problem})` : lab.error ? `: ${lab.error}` : ''}: it is not keyed` };
    }
    const seq = Number(state.seq);
    await tx.query('UPDATE audit_chain SET keyed = true, key_check = $1, base_seq = $2, base_link = $3, base_mac = $4 WHERE id = 1',
      [signer.keyCheck(), seq, state.link, signer.mac(boundaryText(seq, state.link))]);
    return { keyedFrom: seq };
  });
}
