/**
 * The audit chain's periodic work on each server: seal what committed (every second), sign a
 * checkpoint of the head (every minute, when it moved), and archive past --audit-retention
 * (every ten minutes, when set). Several servers on one database may all run it: sealing and
 * archiving take the chain's row lock, and a server that finds it taken leaves the round.
 */
import type { Logger } from '../log.ts';
import { every, type Periodic } from '../periodic.ts';
import type { Db } from '../store/db.ts';
import { archiveEvents } from './archive.ts';
import { sealPending } from './chain.ts';
import { writeCheckpoint, type Checkpoint } from './checkpoints.ts';
import { keyChain } from './keying.ts';
import type { AuditSigner } from './signer.ts';

export interface AuditorOptions {
  db: Db;
  signer: AuditSigner;
  log: Logger;
  /** Appended with each checkpoint (--audit-checkpoint-file). */
  checkpointFile?: string;
  /** Seconds events are kept in `events` before they are archived; 0: never. */
  retentionSeconds: number;
  sealMs?: number;
  checkpointMs?: number;
  archiveMs?: number;
}

export class Auditor {
  readonly #o: AuditorOptions;
  #timer: Periodic | undefined;
  #lastCheckpoint = 0;
  #lastArchive = 0;
  #refusal: string | undefined;

  constructor(o: AuditorOptions) {
    this.#o = o;
  }

  start(): void {
    this.#timer ??= every(this.#o.sealMs ?? 1000, () => this.tick(), this.#o.log, 'audit chain');
  }

  async stop(): Promise<void> {
    await this.#timer?.stop();
    this.#timer = undefined;
  }

  /** Seals what committed and signs a checkpoint of the head now (none when it did not move). */
  async checkpoint(): Promise<Checkpoint | undefined> {
    const { db, signer } = this.#o;
    await sealPending(db, signer);
    return writeCheckpoint(db, signer, this.#o.checkpointFile === undefined ? {} : { file: this.#o.checkpointFile });
  }

  /** One round: seal, then a checkpoint and an archive run when due. */
  async tick(now = Date.now()): Promise<void> {
    const { db, signer, log } = this.#o;
    let sealed = await sealPending(db, signer);
    if ('refused' in sealed && signer.keyed) {
      // Perhaps a lab's unkeyed chain, and this server now has a key: key it from its head.
      const keyed = await keyChain(db, signer);
      if ('keyedFrom' in keyed) {
        log.warn({ sequence: keyed.keyedFrom }, 'the audit chain was unkeyed (plain SHA-256) up to this sequence number; it is keyed (HMAC) from here on');
        sealed = await sealPending(db, signer);
      } else if ('refused' in keyed) {
        sealed = keyed;
      }
    }
    if ('refused' in sealed) {
      if (this.#refusal !== sealed.refused) log.error(`audit events are not sealed: ${sealed.refused}`);
      this.#refusal = sealed.refused;
      return;
    }
    this.#refusal = undefined;
    if (now - this.#lastCheckpoint >= (this.#o.checkpointMs ?? 60_000)) {
      this.#lastCheckpoint = now;
      await writeCheckpoint(db, signer, this.#o.checkpointFile === undefined ? {} : { file: this.#o.checkpointFile });
    }
    if (this.#o.retentionSeconds > 0 && now - this.#lastArchive >= (this.#o.archiveMs ?? 600_000)) {
      this.#lastArchive = now;
      const archived = await archiveEvents(db, signer, new Date(now - this.#o.retentionSeconds * 1000));
      if ('refused' in archived) log.error(`audit events are not archived: ${archived.refused}`);
      else if (archived.archived > 0) log.info({ archived: archived.archived, through: archived.through }, 'audit events archived');
    }
  }
}
