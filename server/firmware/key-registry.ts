/**
 * The trust anchors uploads are verified against: this server's key files (--trusted-keys, the
 * public half of --signing-key) and the live keys of the registry (trusted_keys, added through
 * the API: not revoked, and now within [notBefore, notAfter)).
 *
 * The registry's rows are cached; each look-up first compares a cheap stamp (a digest of each
 * row's id and last change) with the cached one and reloads on a difference, so a key added, revoked or expired
 * through any server sharing the database counts on the next upload here. Liveness is judged at
 * the look-up, against the clock, so a key expires on time without a reload.
 *
 * A key that is revoked or outside its validity in the registry is never an anchor, not even when
 * a key file holds it too. File keys are recorded in the registry at start-up (listed, named, and
 * read-only there); a server whose file keys went missing from it records them again.
 */
import type { SigningKey, TrustAnchor } from '../../protocols/package.ts';
import { KeyError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Db, Queryable } from '../store/db.ts';
import { deadness, listKeys, lockKeyOfKid, recordFileKeys, registryStamp, type FileKey, type TrustedKey } from '../store/trusted-keys.ts';
import type { PackageKeys } from './keys.ts';

/** What the start-up log and the API's documentation say of a server started with --signing-key. */
export const SERVER_SIGNING_NOTICE = 'this server signs raw image uploads itself (--signing-key) with a key devices trust: '
  + 'a leaked operator token is then enough to ship any firmware. A mode for labs and demos; in production, sign on the release machine '
  + '(ferry sign) and upload signed packages';

const sameKid = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0;

type Why = NonNullable<ReturnType<typeof deadness>>;

/** The refusal of an upload signed by a key that signs no new one, naming the key. */
export function deadKeyError(key: TrustedKey, why: Why): KeyError {
  const kid = Buffer.from(key.kid).toString('hex');
  if (why === 'revoked') {
    return new KeyError('FERRY_KEY_REVOKED', `the package is signed by key ${key.name} (kid ${kid}), revoked at ${key.revokedAt!.toISOString()}`
      + ` (${key.revokeReason}): it signs no new upload; sign the image with a live key`);
  }
  return new KeyError('FERRY_KEY_EXPIRED', `the package is signed by key ${key.name} (kid ${kid}), `
    + (why === 'expired' ? `expired at ${key.notAfter!.toISOString()}` : `not valid before ${key.notBefore.toISOString()}`)
    + ': it signs no new upload; sign the image with a key valid now, or change the key\'s validity (PATCH /api/v1/keys/NAME)');
}

/** The anchors to verify a package with, and the registry's dead keys it may be signed by. */
export interface Trust {
  anchors: TrustAnchor[];
  /** Revoked or out-of-validity keys of the package's kid (every one when it names none): a signature by one is refused with its reason. */
  dead: Array<{ key: TrustedKey; why: Why }>;
}

export class KeyRegistry {
  readonly signingKey: SigningKey | undefined;
  readonly files: readonly FileKey[];
  private readonly db: Db;
  private readonly now: () => number;
  private readonly log: Pick<Logger, 'warn'> | undefined;
  private cache: { stamp: string; keys: TrustedKey[] } | undefined;

  constructor(o: { db: Db; keys: PackageKeys; now?: (() => number) | undefined; log?: Pick<Logger, 'warn'> | undefined }) {
    this.db = o.db;
    this.signingKey = o.keys.signingKey;
    this.files = o.keys.files;
    this.now = o.now ?? Date.now;
    this.log = o.log;
  }

  /** Start-up: this server's key files become the registry's file keys (others' removed). A KeyFileError when one clashes with an API key. */
  async recordFiles(): Promise<void> {
    await recordFileKeys(this.db, this.files, { replace: true });
    this.invalidate();
  }

  /** Drops the cache: the next look-up reloads (after a change made here). */
  invalidate(): void {
    this.cache = undefined;
  }

  /** The registry's rows, reloaded when the stamp moved (this server's file keys recorded again if they went missing). */
  async current(): Promise<TrustedKey[]> {
    const stamp = await registryStamp(this.db);
    if (this.cache?.stamp === stamp) return this.cache.keys;
    let keys = await listKeys(this.db, { counted: false });
    let at = stamp;
    if (this.files.some((f) => !keys.some((k) => k.source === 'file' && k.name === f.name))) {
      try {
        await recordFileKeys(this.db, this.files, { replace: false });
        keys = await listKeys(this.db, { counted: false });
        at = await registryStamp(this.db);
      } catch (err) {
        this.log?.warn({ err }, 'could not record this server\'s key files in the key registry again');
      }
    }
    this.cache = { stamp: at, keys };
    return keys;
  }

  /**
   * Inside the upload's transaction: locks the registry's key of `kid` (FOR SHARE, so a revocation
   * waits for the upload, whose image it then revokes too) and refuses the upload if the key died
   * since it was verified.
   */
  async holdSigner(tx: Queryable, kid: Uint8Array): Promise<void> {
    const key = await lockKeyOfKid(tx, kid);
    const why = key?.source === 'api' ? deadness(key, new Date(this.now())) : undefined;
    if (why !== undefined) throw deadKeyError(key!, why);
  }

  /** What a package signed with `kid` (undefined: it names none) is verified against, now. */
  async trustFor(kid: Uint8Array | undefined): Promise<Trust> {
    const now = new Date(this.now());
    const keys = await this.current();
    const judged = keys.filter((k) => k.source === 'api').map((key) => ({ key, why: deadness(key, now) }));
    const anchors: TrustAnchor[] = judged.filter((j) => j.why === undefined).map((j) => j.key);
    const dead = judged.filter((j): j is Trust['dead'][number] => j.why !== undefined);
    for (const f of this.files) {
      if (!dead.some((d) => sameKid(d.key.kid, f.anchor.kid))) anchors.push(f.anchor);
    }
    return { anchors, dead: dead.filter((d) => kid === undefined || sameKid(d.key.kid, kid)) };
  }
}
