/**
 * Signed checkpoints of the chain's head (sequence number, link, time, MAC), kept apart from the
 * events: in `audit_checkpoints` and, with --audit-checkpoint-file, appended to a file as one JSON
 * line each (a place the database's writers may not reach). Verification compares the chain with
 * the latest checkpoint, so events cut off the tail are found even though what is left chains well.
 */
import { appendFile, open } from 'node:fs/promises';
import type { Queryable } from '../store/db.ts';
import { chainState } from './chain.ts';
import { checkpointText, type AuditSigner } from './signer.ts';

export interface Checkpoint { seq: number; link: string; at: string; mac: string }

/** Signs the current head and stores it (and appends it to `file`); none when the head has not moved since the last. */
export async function writeCheckpoint(q: Queryable, signer: AuditSigner, o: { file?: string; now?: Date } = {}): Promise<Checkpoint | undefined> {
  const state = await chainState(q);
  if (!state || Number(state.seq) === 0) return undefined;
  const seq = Number(state.seq);
  const { rows } = await q.query<{ seq: number }>('SELECT seq FROM audit_checkpoints ORDER BY seq DESC, id DESC LIMIT 1');
  if (rows[0] && Number(rows[0].seq) === seq) return undefined;
  const at = (o.now ?? new Date()).toISOString();
  const cp: Checkpoint = { seq, link: state.link, at, mac: signer.mac(checkpointText(seq, state.link, at)) };
  await q.query('INSERT INTO audit_checkpoints (seq, link, at, mac) VALUES ($1, $2, $3, $4)', [cp.seq, cp.link, cp.at, cp.mac]);
  if (o.file !== undefined) await appendFile(o.file, `${JSON.stringify(cp)}\n`, { mode: 0o600 });
  return cp;
}

/**
 * The latest checkpoint past the archive boundary `after` whose MAC is this signer's, from the
 * table and the file; `forged` counts those whose MAC is not (someone wrote one without the key).
 * Checkpoints at or before the boundary are of events no longer checked (archived, or sealed
 * before the chain was keyed) and are left out.
 */
export async function latestCheckpoint(q: Queryable, signer: AuditSigner, after: number, file?: string): Promise<{ latest?: Checkpoint; forged: number }> {
  const candidates: Checkpoint[] = [];
  // The newest few by sequence number: a forged one on top does not hide the real ones below it.
  const { rows } = await q.query<Checkpoint>('SELECT seq, link, at, mac FROM audit_checkpoints WHERE seq > $1 ORDER BY seq DESC, id DESC LIMIT 20', [after]);
  candidates.push(...rows.map((r) => ({ ...r, seq: Number(r.seq) })));
  if (file !== undefined) candidates.push(...(await fileCheckpoints(file)).filter((c) => c.seq > after));
  let latest: Checkpoint | undefined;
  let forged = 0;
  for (const c of candidates) {
    if (!signer.check(checkpointText(c.seq, c.link, c.at), c.mac)) { forged++; continue; }
    if (latest === undefined || c.seq > latest.seq) latest = c;
  }
  return { ...(latest ? { latest } : {}), forged };
}

const TAIL_BYTES = 8192;

/** The checkpoints among the file's last lines (its last 8 KiB: the file only grows); none when it does not exist yet. */
async function fileCheckpoints(file: string): Promise<Checkpoint[]> {
  let text: string;
  try {
    const fh = await open(file, 'r');
    try {
      const { size } = await fh.stat();
      const start = Math.max(0, size - TAIL_BYTES);
      const buf = Buffer.alloc(size - start);
      await fh.read(buf, 0, buf.length, start);
      text = buf.toString('utf8');
    } finally {
      await fh.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: Checkpoint[] = [];
  for (const line of text.split('\n')) {
    try {
      const c = JSON.parse(line) as Partial<Checkpoint>;
      if (Number.isSafeInteger(c.seq) && typeof c.link === 'string' && typeof c.at === 'string' && typeof c.mac === 'string') {
        out.push({ seq: c.seq!, link: c.link, at: c.at, mac: c.mac });
      }
    } catch { /* a torn or foreign line: not a checkpoint */ }
  }
  return out;
}
