/**
 * The operator's side of a fleet run, through Ferry's admin API: once a device has registered it
 * asks for its update (POST /api/v1/devices/:endpoint/update), asks again when an update fails
 * (a few times), and in a soak asks for the next one as soon as one succeeds. Soak images
 * alternate between two payloads; each round is uploaded as a raw image the server signs, so
 * every round has a higher sequence number and passes the devices' anti-rollback check.
 */
import type { SimDeviceEvent } from './device.ts';

export interface DriverOptions {
  /** Base URL of the admin API, e.g. http://127.0.0.1:8080 */
  api: string;
  token?: string;
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
}

export interface DriverStats {
  requested: number;
  retried: number;
  gaveUp: number;
  uploads: number;
  errors: number;
}

interface Pending {
  round: number;
  attempts: number;
  updateId: number | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** When the device last said anything (any event): a device that talks needs no polling. */
  heardAt: number;
}

export class ApiDriver {
  readonly stats: DriverStats = { requested: 0, retried: 0, gaveUp: 0, uploads: 0, errors: 0 };
  readonly #o: DriverOptions;
  readonly #devices = new Map<string, Pending>();
  readonly #rounds = new Map<number, Promise<number>>();
  readonly #poll: ReturnType<typeof setInterval>;
  #closed = false;
  #polling = false;

  constructor(o: DriverOptions) {
    if (o.updateTo === undefined && o.soak === undefined) throw new RangeError('the driver needs updateTo or soak');
    this.#o = o;
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

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#poll);
    for (const p of this.#devices.values()) if (p.timer !== undefined) clearTimeout(p.timer);
    await Promise.allSettled([...this.#rounds.values()]);
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
    if (p.timer !== undefined) clearTimeout(p.timer);
    p.timer = setTimeout(() => {
      p.timer = undefined;
      void this.#request(endpoint, p);
    }, ms);
  }

  async #request(endpoint: string, p: Pending): Promise<void> {
    if (this.#closed) return;
    try {
      const firmwareId = this.#o.updateTo ?? (await this.#roundImage(p.round));
      p.attempts += 1;
      const res = await this.#fetch(`/api/v1/devices/${encodeURIComponent(endpoint)}/update`, { method: 'POST', json: { firmwareId } });
      if (res.status === 202) {
        this.stats.requested += 1;
        p.updateId = (await res.json() as { id: number }).id;
        return;
      }
      // No token, a bad one, or too low a role: an error, retried a bounded number of times, not a wait.
      if (res.status === 401 || res.status === 403) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
      // 404: the inventory does not know the device yet; 409: an update is still active. Wait.
      p.attempts -= 1;
      this.#schedule(endpoint, p, this.#o.retryMs ?? 1000);
    } catch {
      if (this.#closed) return;
      this.stats.errors += 1;
      this.#retry(endpoint, p);
    }
  }

  /** The firmware id of soak round `round`, uploading it the first time a device needs it. */
  #roundImage(round: number): Promise<number> {
    let id = this.#rounds.get(round);
    if (id === undefined) {
      const soak = this.#o.soak!;
      const version = `${soak.versionPrefix ?? 'soak-'}${round}`;
      id = this.#fetch(`/api/v1/firmware?version=${encodeURIComponent(version)}&hardwareClass=${encodeURIComponent(soak.hardwareClass)}&delivery=package`, {
        method: 'POST', body: soak.payloads[round % 2]!,
      }).then(async (res) => {
        if (res.status !== 201) throw new Error(`uploading soak round ${round}: HTTP ${res.status} ${await res.text()}`);
        this.stats.uploads += 1;
        return (await res.json() as { id: number }).id;
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
      try {
        const res = await this.#fetch(`/api/v1/updates/${id}`, { method: 'GET' });
        if (res.status !== 200) continue;
        const body = await res.json() as { state: string };
        if (p.updateId !== id) continue;
        if (body.state === 'failed' || body.state === 'cancelled') this.#retry(endpoint, p);
        else if (body.state === 'succeeded' && this.#o.soak === undefined) p.updateId = undefined;
      } catch {
        this.stats.errors += 1;
      }
    }
  }

  #fetch(path: string, o: { method: string; json?: unknown; body?: Buffer }): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.#o.token !== undefined) headers['authorization'] = `Bearer ${this.#o.token}`;
    let body: string | Buffer | undefined;
    if (o.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(o.json);
    } else if (o.body !== undefined) {
      headers['content-type'] = 'application/octet-stream';
      body = o.body;
    }
    return fetch(`${this.#o.api.replace(/\/$/, '')}${path}`, { method: o.method, headers, ...(body === undefined ? {} : { body }) });
  }
}
