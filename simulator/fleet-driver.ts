/**
 * The operator's side of a fleet run, through Ferry's admin API: once a device has registered it
 * asks for its update (POST /api/v1/devices/:endpoint/update), asks again when an update fails
 * (a few times), and in a soak asks for the next one as soon as one succeeds. Soak images
 * alternate between two payloads; each round is uploaded as a raw image the server signs, so
 * every round has a higher sequence number and passes the devices' anti-rollback check.
 *
 * What no wait can mend stops the run (an ApiFailure, once, through onFailure): a token refused
 * (401, 403), an API that cannot be reached, an image that does not exist, an image for another
 * hardware class. `check()` looks for the first three before a device starts. Everything else
 * (5xx, 409 busy, a device not registered yet, a lost connection) is retried and counted by kind.
 */
import { AdminApi, reason, refusalOf } from './admin-api.ts';
import type { SimDeviceEvent } from './device.ts';

export interface DriverOptions {
  /** Base URL of the admin API, e.g. http://127.0.0.1:8080 */
  api: string;
  token?: string;
  /** Where the token came from, for messages (--api-token, FERRY_API_TOKEN, FERRY_ADMIN_TOKEN). */
  tokenSource?: string;
  /** Update every device to this firmware image once. */
  updateTo?: number;
  /** Soak: alternate between these payloads, one upload per round. */
  soak?: { payloads: readonly [Buffer, Buffer]; hardwareClass: string; versionPrefix?: string };
  /** Requests per device and round before giving up (default 3). */
  maxAttempts?: number;
  /** Wait before asking again after a refusal or a failure (default 1000 ms). */
  retryMs?: number;
  /** How often outstanding updates of quiet devices are looked at (default 2000 ms; quiet = silent 3 × this long). */
  pollMs?: number;
  /** Limit for one API request (default 30 s; the check before the run: 10 s at most). */
  requestTimeoutMs?: number;
  /** The devices are being marked testbeds (--testbed): an image not approved is refused only until the mark comes. */
  testbed?: boolean;
}

export interface DriverStats {
  requested: number;
  retried: number;
  gaveUp: number;
  uploads: number;
  /** Refusals and lost requests that were retried, in all and by kind ('HTTP 503': 2). */
  errors: number;
  errorsByKind: Record<string, number>;
}

/**
 * A release the server will not deliver, for good: a revoked image, or one not approved for
 * devices that are not testbeds (unless they are being marked: then the refusal lasts until the
 * mark). Undefined for any other refusal.
 */
function releaseRefusal(r: { code?: string; message: string }, marking: boolean): string | undefined {
  if (r.code === 'FERRY_RELEASE_REVOKED') return `${r.message} (409)`;
  if (r.code === 'FERRY_RELEASE_NOT_APPROVED' && !marking) return `it is not approved (409): run with --testbed to update testbed devices with it, or have it approved`;
  return undefined;
}

/** Why the run cannot go on; `message` is one line for the operator. */
export interface ApiFailure {
  kind: 'auth' | 'unreachable' | 'no-image' | 'wrong-class' | 'upload-refused' | 'credentials-refused' | 'release-refused';
  status?: number;
  message: string;
}

const PREFLIGHT_TIMEOUT_MS = 10_000;

interface Pending {
  round: number;
  attempts: number;
  updateId: number | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** When the device last said anything (any event): a device that talks needs no polling. */
  heardAt: number;
}

export class ApiDriver {
  readonly stats: DriverStats = { requested: 0, retried: 0, gaveUp: 0, uploads: 0, errors: 0, errorsByKind: {} };
  /** Set once, when the run must stop. */
  failure: ApiFailure | undefined;
  readonly #o: DriverOptions;
  readonly #api: AdminApi;
  readonly #onFailure: ((f: ApiFailure) => void) | undefined;
  readonly #devices = new Map<string, Pending>();
  readonly #rounds = new Map<number, Promise<number>>();
  /** GET /api/v1/firmware/:id answers, shared for a retry interval: a burst of 404s asks once. */
  readonly #imageChecks = new Map<number, { at: number; gone: Promise<boolean> }>();
  /** Devices whose hardware class was found to match the image's (a 409 asks once per device). */
  readonly #classChecked = new Set<string>();
  /** The --update image's hardware class, from check(). */
  #imageClass: string | undefined;
  readonly #poll: ReturnType<typeof setInterval>;
  #closed = false;
  #polling = false;

  constructor(o: DriverOptions, onFailure?: (f: ApiFailure) => void) {
    if (o.updateTo === undefined && o.soak === undefined) throw new RangeError('the driver needs updateTo or soak');
    this.#o = o;
    this.#api = new AdminApi({ api: o.api, token: o.token, timeoutMs: o.requestTimeoutMs });
    this.#onFailure = onFailure;
    this.#poll = setInterval(() => void this.#pollOutstanding(), o.pollMs ?? 2000);
  }

  readonly onEvent = (e: SimDeviceEvent): void => {
    if (this.#closed) return;
    const p = this.#devices.get(e.endpoint);
    if (p !== undefined) p.heardAt = Date.now();
    if (e.type === 'registered' && p === undefined) {
      const first: Pending = { round: 1, attempts: 0, updateId: undefined, timer: undefined, heardAt: Date.now() };
      this.#devices.set(e.endpoint, first);
      this.#schedule(e.endpoint, first, 0);
    } else if (e.type === 'update-succeeded' && p !== undefined && this.#o.soak !== undefined) {
      this.#next(e.endpoint, p, p.round + 1);
    } else if ((e.type === 'update-failed' || e.type === 'download-failed') && p !== undefined && e.result !== 11) {
      this.#retry(e.endpoint, p);
    }
  };

  /**
   * Before the fleet starts: is the API there, does it take the token, does the --update image
   * exist? GET /api/v1/firmware/:id (a soak: GET /api/v1/devices?limit=1). A 5xx is left to the
   * run, which retries. The failure, if any, is also in `failure`.
   */
  async check(): Promise<ApiFailure | undefined> {
    const id = this.#o.updateTo;
    const timeoutMs = Math.min(PREFLIGHT_TIMEOUT_MS, this.#o.requestTimeoutMs ?? PREFLIGHT_TIMEOUT_MS);
    const res = await this.#api.send(id === undefined ? '/api/v1/devices?limit=1' : `/api/v1/firmware/${id}`, { method: 'GET' }, timeoutMs);
    if (!(res instanceof Response)) {
      this.#fail({ kind: 'unreachable', message: `cannot reach the API at ${this.#api.base} (${res.detail}): check --api` });
    } else if (res.status === 200 && id !== undefined) {
      const body = await res.json().catch(() => undefined) as { hardwareClass?: unknown } | undefined;
      if (typeof body?.hardwareClass === 'string') this.#imageClass = body.hardwareClass;
    } else if (res.status === 404 && id !== undefined) {
      this.#fail(this.#noImage(id, await reason(res)));
    } else {
      this.#refused(res, await reason(res), 'reading the API');
    }
    return this.failure;
  }

  async close(): Promise<void> {
    this.#stop();
    await Promise.allSettled([...this.#rounds.values()]);
  }

  #stop(): void {
    this.#closed = true;
    clearInterval(this.#poll);
    for (const p of this.#devices.values()) if (p.timer !== undefined) clearTimeout(p.timer);
  }

  /** The first failure stops the driver and the run; later ones, and any after close(), are dropped. */
  #fail(f: ApiFailure): void {
    if (this.failure !== undefined || this.#closed) return;
    this.failure = f;
    this.#stop();
    this.#onFailure?.(f);
  }

  #count(kind: string): void {
    this.stats.errors += 1;
    this.stats.errorsByKind[kind] = (this.stats.errorsByKind[kind] ?? 0) + 1;
  }

  /** 401 or 403 (`why` is the answer's reason): the run stops; true. Any other status: false. */
  #refused(res: Response, why: string, doing: string): boolean {
    if (res.status !== 401 && res.status !== 403) return false;
    const source = this.#o.tokenSource ?? '--api-token';
    const message = this.#api.token === undefined
      ? `the API at ${this.#api.base} wants a token (${res.status}${why === '' ? '' : `: ${why}`}): set --api-token or FERRY_API_TOKEN`
      : res.status === 401
        ? `the API at ${this.#api.base} refused the token from ${source} (401${why === '' ? '' : `: ${why}`}): set --api-token or FERRY_API_TOKEN`
        : `the API at ${this.#api.base} refused the token from ${source} while ${doing} (403${why === '' ? '' : `: ${why}`}): it needs an operator token`;
    this.#fail({ kind: 'auth', status: res.status, message });
    return true;
  }

  #noImage(id: number, why: string): ApiFailure {
    return { kind: 'no-image', status: 404, message: `the API at ${this.#api.base} has no firmware image ${id} (404${why === '' ? '' : `: ${why}`}): check --update` };
  }

  #next(endpoint: string, p: Pending, round: number): void {
    p.round = round;
    p.attempts = 0;
    p.updateId = undefined;
    this.#schedule(endpoint, p, 0);
  }

  #retry(endpoint: string, p: Pending): void {
    p.updateId = undefined;
    if (p.attempts >= (this.#o.maxAttempts ?? 3)) {
      this.stats.gaveUp += 1;
      return;
    }
    this.stats.retried += 1;
    this.#schedule(endpoint, p, this.#o.retryMs ?? 1000);
  }

  #schedule(endpoint: string, p: Pending, ms: number): void {
    if (this.#closed) return;
    if (p.timer !== undefined) clearTimeout(p.timer);
    p.timer = setTimeout(() => {
      p.timer = undefined;
      void this.#request(endpoint, p);
    }, ms);
  }

  /** Asks again later without spending an attempt: the server is busy or does not know the device yet. */
  #wait(endpoint: string, p: Pending, kind: string): void {
    this.#count(kind);
    p.attempts -= 1;
    this.#schedule(endpoint, p, this.#o.retryMs ?? 1000);
  }

  async #request(endpoint: string, p: Pending): Promise<void> {
    if (this.#closed) return;
    let firmwareId: number;
    try {
      firmwareId = this.#o.updateTo ?? (await this.#roundImage(p.round));
    } catch (err) {
      if (this.#closed) return;
      this.#count(err instanceof SoakUploadError ? err.kind : 'soak upload');
      this.#retry(endpoint, p);
      return;
    }
    if (this.#closed) return;
    p.attempts += 1;
    const res = await this.#api.send(`/api/v1/devices/${encodeURIComponent(endpoint)}/update`, { method: 'POST', json: { firmwareId } });
    if (this.#closed) {
      if (res instanceof Response) await res.body?.cancel().catch(() => undefined);
      return;
    }
    if (!(res instanceof Response)) {
      if (res.error === 'unreachable') this.#fail({ kind: 'unreachable', message: `cannot reach the API at ${this.#api.base} (${res.detail}): check --api` });
      else {
        this.#count(res.error === 'timeout' ? 'timeout' : 'connection lost');
        this.#retry(endpoint, p);
      }
      return;
    }
    if (res.status === 202) {
      this.stats.requested += 1;
      p.updateId = (await res.json() as { id: number }).id;
      return;
    }
    const refusal = await refusalOf(res);
    if (this.#refused(res, refusal.message, 'asking for an update')) return;
    const release = releaseRefusal(refusal, this.#o.testbed === true);
    if (release !== undefined) {
      this.#fail({ kind: 'release-refused', status: res.status, message: `the API at ${this.#api.base} will not update ${endpoint} to image ${firmwareId}: ${release}` });
    } else if (res.status === 404) {
      // Either the image is gone (the run cannot go on) or the inventory does not know the device yet (wait).
      if (await this.#imageGone(firmwareId)) this.#fail(this.#noImage(firmwareId, `no firmware image ${firmwareId}`));
      else if (!this.#closed) this.#wait(endpoint, p, 'HTTP 404 (device not known yet)');
    } else if (res.status === 409) {
      // An update still active (wait), or an image for another hardware class (never).
      const mismatch = await this.#classMismatch(endpoint);
      if (mismatch !== undefined) this.#fail({ kind: 'wrong-class', status: 409, message: `the API at ${this.#api.base} will not update ${endpoint} to image ${firmwareId}: ${mismatch} (409): check --update and --model` });
      else if (!this.#closed) this.#wait(endpoint, p, 'HTTP 409 (busy)');
    } else if (res.status >= 500 || res.status === 429) {
      this.#wait(endpoint, p, `HTTP ${res.status}`);
    } else {
      this.#count(`HTTP ${res.status}`);
      this.#retry(endpoint, p);
    }
  }

  /** Whether GET /api/v1/firmware/:id answers 404 (asked at most once per retry interval and image). */
  #imageGone(id: number): Promise<boolean> {
    const known = this.#imageChecks.get(id);
    if (known !== undefined && Date.now() - known.at < (this.#o.retryMs ?? 1000)) return known.gone;
    const gone = this.#api.send(`/api/v1/firmware/${id}`, { method: 'GET' }).then(async (res) => {
      if (!(res instanceof Response)) return false;
      await res.body?.cancel().catch(() => undefined);
      return res.status === 404;
    });
    this.#imageChecks.set(id, { at: Date.now(), gone });
    return gone;
  }

  /** "the image is for hardware class A, the device is B" when they differ; undefined when they match or cannot be told. */
  async #classMismatch(endpoint: string): Promise<string | undefined> {
    const imageClass = this.#o.soak?.hardwareClass ?? this.#imageClass;
    if (imageClass === undefined || this.#classChecked.has(endpoint)) return undefined;
    const res = await this.#api.send(`/api/v1/devices/${encodeURIComponent(endpoint)}`, { method: 'GET' });
    if (!(res instanceof Response)) return undefined;
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => undefined);
      return undefined;
    }
    const deviceClass = (await res.json().catch(() => undefined) as { hardwareClass?: unknown } | undefined)?.hardwareClass;
    if (typeof deviceClass !== 'string') return undefined; // not read yet: ask again on the next 409
    if (deviceClass !== imageClass) return `the image is for hardware class ${imageClass}, the device is ${deviceClass}`;
    this.#classChecked.add(endpoint);
    return undefined;
  }

  /** The firmware id of soak round `round`, uploading it the first time a device needs it. */
  #roundImage(round: number): Promise<number> {
    let id = this.#rounds.get(round);
    if (id === undefined) {
      const soak = this.#o.soak!;
      const version = `${soak.versionPrefix ?? 'soak-'}${round}`;
      id = this.#api.send(`/api/v1/firmware?version=${encodeURIComponent(version)}&hardwareClass=${encodeURIComponent(soak.hardwareClass)}&delivery=package`, {
        method: 'POST', body: soak.payloads[round % 2]!,
      }).then(async (res) => {
        if (!(res instanceof Response)) {
          if (res.error === 'unreachable') this.#fail({ kind: 'unreachable', message: `cannot reach the API at ${this.#api.base} (${res.detail}): check --api` });
          throw new SoakUploadError(res.error === 'timeout' ? 'timeout' : 'connection lost');
        }
        if (res.status === 201) {
          this.stats.uploads += 1;
          return (await res.json() as { id: number }).id;
        }
        const why = await reason(res);
        if (this.#refused(res, why, 'uploading a soak image')) throw new SoakUploadError(`HTTP ${res.status}`);
        // A 4xx other than 409 or 429 will not change by asking again (a server without --signing-key, an image too large).
        if (res.status >= 400 && res.status < 500 && res.status !== 409 && res.status !== 429) {
          this.#fail({ kind: 'upload-refused', status: res.status, message: `the API at ${this.#api.base} refused the soak image ${version} (${res.status}: ${why})` });
        }
        throw new SoakUploadError(`soak upload HTTP ${res.status}`);
      });
      this.#rounds.set(round, id);
      id.catch(() => this.#rounds.delete(round));
    }
    return id;
  }

  /**
   * Updates the server failed without the device telling (a silent device, a DM timeout) are asked
   * again. One pass at a time, one request at a time: a fleet of thousands must not turn into a
   * load test of the admin API (on embedded PGlite that would starve the server's CoAP sockets).
   */
  async #pollOutstanding(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    try {
      await this.#pollPass();
    } finally {
      this.#polling = false;
    }
  }

  async #pollPass(): Promise<void> {
    const quietSince = Date.now() - 3 * (this.#o.pollMs ?? 2000);
    for (const [endpoint, p] of this.#devices) {
      if (this.#closed || p.updateId === undefined || p.heardAt > quietSince) continue;
      const id = p.updateId;
      const res = await this.#api.send(`/api/v1/updates/${id}`, { method: 'GET' });
      if (this.#closed) return;
      if (!(res instanceof Response)) {
        if (res.error === 'unreachable') this.#fail({ kind: 'unreachable', message: `cannot reach the API at ${this.#api.base} (${res.detail}): check --api` });
        else this.#count(res.error === 'timeout' ? 'timeout' : 'connection lost');
        continue;
      }
      if (res.status !== 200) {
        if (!this.#refused(res, await reason(res), 'reading an update')) this.#count(`HTTP ${res.status}`);
        continue;
      }
      const body = await res.json().catch(() => undefined) as { state?: string } | undefined;
      if (p.updateId !== id) continue;
      if (body?.state === 'failed' || body?.state === 'cancelled') this.#retry(endpoint, p);
      else if (body?.state === 'succeeded' && this.#o.soak === undefined) p.updateId = undefined;
    }
  }

}

/** A soak round's upload that did not give an image; `kind` is what the error count files it under. */
class SoakUploadError extends Error {
  override name = 'SoakUploadError';
  readonly kind: string;
  constructor(kind: string) {
    super(kind);
    this.kind = kind;
  }
}
