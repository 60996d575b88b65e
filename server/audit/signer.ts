/**
 * What seals the audit chain: HMAC-SHA256 under the audit key, itself HMAC-SHA256 of a fixed label
 * under the secrets master key (--secrets-key-file), so the database, which never holds either,
 * cannot recompute a link. Without a master key (a lab) the chain is plain SHA-256: it shows
 * accidents (a row edited by hand, a restore that lost rows), not someone who rewrites the chain.
 *
 * A link is the MAC of the previous link and the row's canonical content; a checkpoint's and the
 * archive boundary's MACs are over their own labelled text, so none can stand for another.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { SecretsKey } from '../credentials/secrets-key.ts';

const AUDIT_KEY_LABEL = 'ferry audit chain key v1';
const KEY_CHECK_LABEL = 'ferry audit key check v1';

/** The link before the first event: 64 zeros. */
export const GENESIS_LINK = '0'.repeat(64);

export class AuditSigner {
  readonly #key: Buffer | undefined;
  /** True when links are HMACs under a key; false for plain SHA-256. */
  readonly keyed: boolean;

  constructor(secretsKey: SecretsKey | undefined) {
    this.#key = secretsKey?.derive(AUDIT_KEY_LABEL);
    this.keyed = this.#key !== undefined;
  }

  /** Hex MAC (or digest, unkeyed) of `text`. */
  mac(text: string): string {
    return (this.#key ? createHmac('sha256', this.#key) : createHash('sha256')).update(text, 'utf8').digest('hex');
  }

  /** Whether `mac` is this signer's of `text`, in constant time. */
  check(text: string, mac: string): boolean {
    const mine = Buffer.from(this.mac(text), 'hex');
    const theirs = Buffer.from(/^[0-9a-f]{64}$/.test(mac) ? mac : '', 'hex');
    return mine.length === theirs.length && timingSafeEqual(mine, theirs);
  }

  /** Stored with the chain at its first seal: another key (or none) is told apart from tampering. */
  keyCheck(): string | null {
    return this.#key ? this.mac(KEY_CHECK_LABEL) : null;
  }
}

/** The content of one event that is sealed; `endpoint` as text (a purge nulls device_id, never this). */
export interface SealedContent {
  seq: number;
  id: number;
  kind: string;
  actor: string;
  endpoint: string | null;
  updateId: number | null;
  data: unknown;
  /** created_at as ISO 8601 in UTC with microseconds, formatted by the database (AT_ISO). */
  at: string;
}

/** The SQL expression giving an event's `at` as the text that is sealed. */
export const AT_ISO = `to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** JSON with every object's keys sorted, no spaces: the same value always gives the same text. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o).sort().filter((k) => o[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
}

/** An event's link: the MAC of the previous link and the event's canonical content. */
export function linkOf(signer: AuditSigner, prev: string, c: SealedContent): string {
  return signer.mac(`ferry-event-v1\n${prev}\n${canonicalJson({
    seq: c.seq, id: c.id, kind: c.kind, actor: c.actor, endpoint: c.endpoint, updateId: c.updateId, data: c.data, at: c.at,
  })}`);
}

/** The text a checkpoint's MAC is over. */
export const checkpointText = (seq: number, link: string, at: string): string => `ferry-checkpoint-v1\n${seq}\n${link}\n${at}`;

/** The text the archive boundary's MAC is over. */
export const boundaryText = (seq: number, link: string): string => `ferry-archive-boundary-v1\n${seq}\n${link}`;
