/**
 * Device credentials: provisioning (create or replace, rotate, delete, import) and the DTLS
 * layer's look-up of a PSK by identity. Keys are sealed under the master key before they reach the
 * database and opened only here. Looked-up keys are kept in a bounded LRU cache that is dropped
 * whenever the generation in the database moves: it is read at most once a second on a hit, and
 * with every miss, so a change made on any node is seen by every node within a second.
 */
import { refuseDecommissioned } from '../store/decommission.ts';
import { LRUCache } from 'lru-cache';
import { endpointNameProblem } from '../../protocols/registration.ts';
import { CredentialsError, DeviceNotFoundError, FerryError, SecretsKeyError } from '../errors.ts';
import type { Db, Queryable } from '../store/db.ts';
import * as devices from '../store/devices.ts';
import { recordEvent } from '../store/events.ts';
import * as store from '../store/credentials.ts';
import { checkIdentity, generateKey, identityProblem, parseKey } from './psk.ts';
import type { SecretsKey } from './secrets-key.ts';
import type { ImportEntry } from './import.ts';

/** The keys a handshake with `identity` may use: the current one, and the one a rotation replaced while the device has not used the new one. */
export interface PskLookup {
  deviceId: number;
  endpoint: string;
  /** The current key, when `identity` is the current identity. */
  current: Buffer | null;
  /** The previous key, when `identity` is the previous identity. */
  previous: Buffer | null;
  /** A rotation is not confirmed yet (the device has not shaken hands with the new key). */
  rotationPending: boolean;
}

/** What an operator may see of a device's credentials: never the key. */
export interface CredentialInfo {
  endpoint: string;
  identity: string;
  previousIdentity: string | null;
  createdAt: Date;
  rotatedAt: Date | null;
  lastHandshakeAt: Date | null;
}

/** A key given in hex, or one to generate (returned once, to the caller). */
export type KeySource = { key: string } | { generate: true };

export interface CredentialServiceOptions {
  db: Db;
  /** Undefined: keys are refused (FERRY_CREDENTIALS_NO_SECRETS_KEY); listings still work. */
  secretsKey: SecretsKey | undefined;
  cacheSize?: number;
  /** Milliseconds a cached key is trusted before the generation is read again. */
  checkEveryMs?: number;
  now?: () => number;
}

export class CredentialService {
  readonly #db: Db;
  readonly #key: SecretsKey | undefined;
  readonly #cache: LRUCache<string, PskLookup>;
  /** endpoint → whether it has credentials; dropped with the key cache. */
  readonly #holders: LRUCache<string, boolean>;
  /** Whether any device has credentials, as of the generation it was read at; undefined: not known. */
  #any: boolean | undefined;
  readonly #checkEveryMs: number;
  readonly #now: () => number;
  #generation = -1;
  #checkedAt = -Infinity;

  constructor(o: CredentialServiceOptions) {
    this.#db = o.db;
    this.#key = o.secretsKey;
    this.#cache = new LRUCache({ max: o.cacheSize ?? 10_000 });
    this.#holders = new LRUCache({ max: o.cacheSize ?? 10_000 });
    this.#checkEveryMs = o.checkEveryMs ?? 1000;
    this.#now = o.now ?? Date.now;
  }

  /** The keys for a handshake with `identity`, or undefined when no device has it. */
  async pskFor(identity: string): Promise<PskLookup | undefined> {
    // A peer's ClientKeyExchange may carry any bytes (a NUL, which no database text takes); only a
    // valid identity was ever stored, so any other is unknown without asking.
    if (identityProblem(identity) !== undefined) return undefined;
    if (this.#now() - this.#checkedAt >= this.#checkEveryMs) this.#seeGeneration(await store.generation(this.#db));
    const hit = this.#cache.get(identity);
    if (hit) return hit;
    const { row, generation } = await store.credentialsByIdentity(this.#db, identity);
    this.#seeGeneration(generation);
    if (!row) return undefined;
    const key = this.#needKey();
    const found: PskLookup = {
      deviceId: row.deviceId, endpoint: row.endpoint,
      current: row.identity === identity ? key.open(row.key, { endpoint: row.endpoint, identity }) : null,
      previous: row.previous?.identity === identity ? key.open(row.previous.key, { endpoint: row.endpoint, identity }) : null,
      rotationPending: row.previous !== null,
    };
    if (this.#generation === generation) this.#cache.set(identity, found);
    return found;
  }

  /** Whether the endpoint has credentials (then it speaks only over its DTLS session); cached like the keys. */
  async hasCredentials(endpoint: string): Promise<boolean> {
    if (this.#now() - this.#checkedAt >= this.#checkEveryMs) this.#seeGeneration(await store.generation(this.#db));
    // A lab with no credentials at all asks the database nothing per device.
    if (!await this.anyCredentials()) return false;
    const hit = this.#holders.get(endpoint);
    if (hit !== undefined) return hit;
    const { has, generation } = await store.endpointHasCredentials(this.#db, endpoint);
    this.#seeGeneration(generation);
    if (this.#generation === generation) this.#holders.set(endpoint, has);
    return has;
  }

  /** Whether any device has credentials (cached until the generation moves). */
  async anyCredentials(): Promise<boolean> {
    if (this.#now() - this.#checkedAt >= this.#checkEveryMs) this.#seeGeneration(await store.generation(this.#db));
    if (this.#any !== undefined) return this.#any;
    const generation = this.#generation;
    const any = await store.credentialsExist(this.#db);
    if (this.#generation === generation) this.#any = any;
    return any;
  }

  /** The endpoint a PSK identity is provisioned for (its current or previous identity); undefined: none. */
  async endpointOfIdentity(identity: string): Promise<string | undefined> {
    return (await this.pskFor(identity))?.endpoint;
  }

  /**
   * A handshake with `identity` completed. With the current key (`usedPrevious` false) the
   * previous key is dropped: the device has the new one.
   */
  async handshakeDone(identity: string, usedPrevious: boolean): Promise<void> {
    if (usedPrevious) { await store.recordHandshake(this.#db, identity); return; }
    await this.confirmNewKey(identity);
  }

  /** A handshake with the current key of `identity` completed: the previous key goes. */
  async confirmNewKey(identity: string): Promise<void> {
    const dropped = await this.#db.transaction(async (tx) => {
      const gone = await store.confirmCurrentKey(tx, identity);
      if (gone) await recordEvent(tx, { kind: 'credentials.confirmed', actor: 'dtls', deviceId: gone.deviceId, data: { identity, droppedIdentity: gone.droppedIdentity } });
      return gone !== undefined;
    });
    if (dropped) this.#clearCaches();
  }

  /**
   * Creates or replaces the device's credentials; returns the generated key, if one was. An
   * endpoint that has never registered gets its device row here, 'provisioned' (provisionDevices).
   */
  async put(endpoint: string, identity: string, source: KeySource, actor: string): Promise<{ generated?: Buffer }> {
    return this.#change(endpoint, identity, source, actor, 'put');
  }

  /** A new current key; the old one stays as the previous until a handshake with the new one. */
  async rotate(endpoint: string, identity: string, source: KeySource, actor: string): Promise<{ generated?: Buffer }> {
    return this.#change(endpoint, identity, source, actor, 'rotate');
  }

  async remove(endpoint: string, actor: string): Promise<void> {
    await this.#db.transaction(async (tx) => {
      const device = await deviceOf(tx, endpoint);
      if (!await store.deleteCredentials(tx, device.id)) throw noCredentials(endpoint);
      await recordEvent(tx, { kind: 'credentials.deleted', actor, deviceId: device.id, endpoint });
      // A device provisioned and never registered was made for its credentials: it goes with them.
      if (await devices.dropProvisioned(tx, device.id)) await recordEvent(tx, { kind: 'device.unprovisioned', actor, endpoint });
    });
    this.#clearCaches();
  }

  /** Credentials were deleted elsewhere (a device decommissioned): its cached keys go. */
  forgetCached(): void {
    this.#clearCaches();
  }

  async info(endpoint: string): Promise<CredentialInfo> {
    const device = await deviceOf(this.#db, endpoint);
    const row = await store.credentialsOf(this.#db, device.id);
    if (!row) throw noCredentials(endpoint);
    return {
      endpoint, identity: row.identity, previousIdentity: row.previous?.identity ?? null,
      createdAt: row.createdAt, rotatedAt: row.rotatedAt, lastHandshakeAt: row.lastHandshakeAt,
    };
  }

  /**
   * Creates or replaces every entry's credentials in one transaction: all or none. Entries are
   * checked already (import.ts). Endpoints that have never registered get their device rows, 'provisioned'.
   */
  async importAll(entries: readonly ImportEntry[], actor: string): Promise<number> {
    const key = this.#needKey();
    const problems: string[] = [];
    await takenOnRace('of the batch', this.#db.transaction(async (tx) => {
      await claimCheck(tx, key);
      await refuseDecommissioned(tx, entries.map((e) => e.endpoint), 'credentials');
      const { ids, created } = await devices.provisionDevices(tx, entries.map((e) => e.endpoint), actor);
      for (const e of entries) {
        const holder = await store.identityHolder(tx, e.identity, ids.get(e.endpoint)!);
        if (holder !== undefined && !entries.some((o) => o.endpoint === holder)) problems.push(`line ${e.line}: identity ${e.identity} is device ${holder}'s`);
      }
      if (problems.length > 0) throw new CredentialsError('FERRY_CREDENTIALS_IMPORT', `nothing imported: ${problems.join('; ')}`);
      // Identities may move between devices of the batch: the old credentials all go first.
      for (const e of entries) await store.deleteCredentials(tx, ids.get(e.endpoint)!);
      for (const e of entries) {
        await store.putCredentials(tx, ids.get(e.endpoint)!, e.identity, key.seal(e.key, { endpoint: e.endpoint, identity: e.identity }));
      }
      await recordEvent(tx, { kind: 'credentials.imported', actor, data: { count: entries.length, provisioned: created.length, endpoints: entries.slice(0, 100).map((e) => e.endpoint) } });
    }));
    this.#clearCaches();
    return entries.length;
  }

  async #change(endpoint: string, identity: string, source: KeySource, actor: string, how: 'put' | 'rotate'): Promise<{ generated?: Buffer }> {
    checkEndpoint(endpoint);
    checkIdentity(identity);
    const plain = 'key' in source ? parseKey(source.key) : generateKey();
    const key = this.#needKey();
    await takenOnRace(identity, this.#db.transaction(async (tx) => {
      await claimCheck(tx, key);
      await refuseDecommissioned(tx, [endpoint], 'credentials');
      // Only a put makes a device: a rotation needs credentials, so a device, already.
      const device = how === 'put'
        ? { id: (await devices.provisionDevices(tx, [endpoint], actor)).ids.get(endpoint)! }
        : await deviceOf(tx, endpoint);
      const holder = await store.identityHolder(tx, identity, device.id);
      if (holder !== undefined) throw new CredentialsError('FERRY_PSK_IDENTITY_TAKEN', `device ${holder} already has the identity ${identity}`);
      const sealed = key.seal(plain, { endpoint, identity });
      if (how === 'put') {
        const existed = await store.credentialsOf(tx, device.id);
        await store.putCredentials(tx, device.id, identity, sealed);
        await recordEvent(tx, { kind: existed ? 'credentials.replaced' : 'credentials.created', actor, deviceId: device.id, endpoint, data: { identity, generated: !('key' in source) } });
      } else {
        const before = await store.credentialsOf(tx, device.id);
        if (!before) throw noCredentials(endpoint);
        await store.rotateCredentials(tx, device.id, identity, sealed);
        await recordEvent(tx, { kind: 'credentials.rotated', actor, deviceId: device.id, endpoint, data: { identity, previousIdentity: before.identity, generated: !('key' in source) } });
      }
    }));
    this.#clearCaches();
    return 'key' in source ? {} : { generated: plain };
  }

  #seeGeneration(generation: number): void {
    if (generation !== this.#generation) this.#clearCaches();
    this.#generation = generation;
    this.#checkedAt = this.#now();
  }

  #clearCaches(): void {
    this.#cache.clear();
    this.#holders.clear();
    this.#any = undefined;
  }

  #needKey(): SecretsKey {
    if (!this.#key) throw new CredentialsError('FERRY_CREDENTIALS_NO_SECRETS_KEY', 'this server has no master key (--secrets-key-file / FERRY_SECRETS_KEY_FILE): it stores no device keys');
    return this.#key;
  }
}

/** The master key's check value stored with the first key; a key sealed under another master key is refused. */
async function claimCheck(q: Queryable, key: SecretsKey): Promise<void> {
  if (!key.matches(await store.claimKeyCheck(q, key.checkValue()))) {
    throw new SecretsKeyError('this server\'s master key is not the one the stored device keys were encrypted with');
  }
}

/**
 * Changes are serialised across nodes: claimCheck's upsert locks the one credentials_state row
 * first, so a second change waits and then sees the first's identities. The unique indexes on
 * identity and previous_identity stay the last word; their violation is the same refusal.
 */
async function takenOnRace<T>(identity: string, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    const e = err as { code?: string; constraint?: string };
    if (e.code === '23505' && /identity/.test(e.constraint ?? '')) {
      throw new CredentialsError('FERRY_PSK_IDENTITY_TAKEN', `another device was given the identity ${identity} at the same time`);
    }
    throw err;
  }
}

/** The endpoint name a Register would take (protocols/registration.ts), or FERRY_VALIDATION. */
function checkEndpoint(endpoint: string): void {
  const why = endpointNameProblem(endpoint);
  if (why !== undefined) throw new FerryError('FERRY_VALIDATION', `the endpoint name ${why}`);
}

async function deviceOf(q: Queryable, endpoint: string): Promise<{ id: number }> {
  const device = await devices.findByEndpoint(q, endpoint);
  if (!device) throw new DeviceNotFoundError(`no device ${endpoint}`);
  return device;
}

const noCredentials = (endpoint: string): CredentialsError => new CredentialsError('FERRY_CREDENTIALS_NOT_FOUND', `device ${endpoint} has no credentials`);
