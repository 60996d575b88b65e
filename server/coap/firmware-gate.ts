/**
 * Which image a GET /fw/<name> may fetch, asked per request by each socket that serves firmware.
 *
 * - `/fw/<name>` (32 hex digits, the image's unguessable download name): on a plain CoAP socket the
 *   name is the capability, so any requester that knows it gets the image (within the download
 *   access limits); on a DTLS socket the session's device (its PSK identity's endpoint) must have an
 *   update of that very image under way, or the answer is 4.03.
 * - `/fw/<id>` (the counting id of Package URIs written before images had names): only on plain
 *   CoAP, and only to an address whose device has an update of that image under way; 4.04 to
 *   anyone else, so counting ids reveals nothing.
 *
 * Answers are synchronous once the name and the permission are known: both are cached (a granted
 * permission for a while, a refusal briefly), so a download asks the store once, not per block.
 */
import { LRUCache } from 'lru-cache';
import type { Logger } from '../log.ts';
import { coapRefusal, type CoapRefusal } from './refusal.ts';

/** A download name: 32 lowercase hex digits (the firmware_images default, a v4 UUID: 122 random bits). */
const NAME = /^[0-9a-f]{32}$/;
const LEGACY_ID = /^[1-9]\d{0,15}$/;

export interface FirmwareGateOptions {
  /** 'psk': a DTLS socket (the requester's session identity decides); 'nosec': plain CoAP. */
  securityMode: 'psk' | 'nosec';
  /** The image id a download name stands for (the store); undefined when none. */
  idOfName: (name: string) => Promise<number | undefined>;
  /** Whether the requester may fetch image `id` now: the store, asked by endpoint (DTLS) or by address (plain). */
  updatingWith: (who: { endpoint: string } | { address: string }, id: number) => Promise<boolean>;
  /** The endpoint a session's PSK identity is provisioned for (DTLS sockets); undefined: none. */
  endpointOfIdentity?: (identity: string) => Promise<string | undefined>;
  log: Logger;
  /** How often refused requests are summed up in the log (ms). */
  logEveryMs?: number;
}

export interface FirmwareGateStats {
  /** DTLS requests for an image their device has no update of (4.03). */
  notYours: number;
  /** Requests for a name or id that is nobody's here (4.04). */
  unknown: number;
}

const NOT_FOUND = coapRefusal('FERRY_FW_NOT_FOUND', 'no such firmware image');
const NOT_YOURS = coapRefusal('FERRY_FW_NOT_YOURS', 'this session\'s device has no update of that image under way');

export type GateAnswer = number | CoapRefusal;

/** Who asks: the IP it sent from and, over DTLS, the PSK identity of its session. */
export interface Requester {
  address: string;
  identity?: string | undefined;
}

export class FirmwareGate {
  readonly stats: FirmwareGateStats = { notYours: 0, unknown: 0 };
  private readonly o: FirmwareGateOptions;
  private readonly names = new LRUCache<string, number>({ max: 10_000, ttl: 5 * 60_000 });
  /** `who|id` → granted; refusals live 5 s, grants 30 s (an update that ends stops downloads soon after). */
  private readonly granted = new LRUCache<string, boolean>({ max: 100_000, ttl: 30_000 });
  /** PSK identity → its endpoint, for as long as a grant lives: the per-block path stays synchronous. */
  private readonly endpoints = new LRUCache<string, string>({ max: 100_000, ttl: 30_000 });
  private loggedAt = 0;
  private refusedSinceLog = 0;

  constructor(o: FirmwareGateOptions) {
    this.o = o;
  }

  /**
   * The image id the request for `segment` (the path after /fw/) may fetch, or the refusal. `from`:
   * the requester's IP and, over DTLS, its session's PSK identity.
   */
  resolve(segment: string, from: Requester): GateAnswer | Promise<GateAnswer> {
    if (NAME.test(segment)) {
      const id = this.names.get(segment);
      if (id !== undefined) return this.permit(id, from, true);
      return this.o.idOfName(segment).then((found) => {
        if (found === undefined) return this.refuse(NOT_FOUND, 'unknown');
        this.names.set(segment, found);
        return this.permit(found, from, true);
      });
    }
    if (this.o.securityMode === 'nosec' && LEGACY_ID.test(segment)) return this.permit(Number(segment), from, false);
    return this.refuse(NOT_FOUND, 'unknown');
  }

  /** Forgets an image's name (deleted). */
  forget(id: number): void {
    for (const [name, value] of this.names) if (value === id) this.names.delete(name);
  }

  private permit(id: number, from: Requester, byName: boolean): GateAnswer | Promise<GateAnswer> {
    // A name on plain CoAP is its own permission.
    if (this.o.securityMode === 'nosec' && byName) return id;
    const refusal = byName ? NOT_YOURS : NOT_FOUND;
    if (this.o.securityMode === 'nosec') return this.cached(`a:${from.address}|${id}`, () => this.o.updatingWith({ address: from.address }, id), id, refusal);
    const endpointOf = this.o.endpointOfIdentity;
    const identity = from.identity;
    if (endpointOf === undefined || identity === undefined) return this.refuse(refusal, 'notYours');
    const known = this.endpoints.get(identity);
    if (known !== undefined) return this.cached(`e:${known}|${id}`, () => this.o.updatingWith({ endpoint: known }, id), id, refusal);
    return endpointOf(identity).then((endpoint) => {
      if (endpoint === undefined) return this.refuse(refusal, 'notYours');
      this.endpoints.set(identity, endpoint);
      return this.cached(`e:${endpoint}|${id}`, () => this.o.updatingWith({ endpoint }, id), id, refusal);
    });
  }

  private cached(key: string, ask: () => Promise<boolean>, id: number, refusal: CoapRefusal): GateAnswer | Promise<GateAnswer> {
    const known = this.granted.get(key);
    if (known !== undefined) return this.decide(known, id, refusal);
    return ask().then((yes) => {
      this.granted.set(key, yes, { ttl: yes ? 30_000 : 5_000 });
      return this.decide(yes, id, refusal);
    }, (err: unknown) => {
      this.o.log.warn({ err }, 'could not tell whether a device may fetch an image');
      return this.refuse(refusal, refusal === NOT_YOURS ? 'notYours' : 'unknown');
    });
  }

  /** The image, or the refusal, as the grant says (a method: a named closure per block costs its name). */
  private decide(yes: boolean, id: number, refusal: CoapRefusal): GateAnswer {
    return yes ? id : this.refuse(refusal, refusal === NOT_YOURS ? 'notYours' : 'unknown');
  }

  private refuse(refusal: CoapRefusal, why: keyof FirmwareGateStats): CoapRefusal {
    this.stats[why]++;
    this.refusedSinceLog++;
    const now = Date.now();
    if (now - this.loggedAt >= (this.o.logEveryMs ?? 60_000)) {
      this.o.log.warn({ socket: this.o.securityMode, refused: this.refusedSinceLog, ...this.stats }, 'firmware requests refused (not found, or not this device\'s)');
      this.loggedAt = now;
      this.refusedSinceLog = 0;
    }
    return refusal;
  }
}
