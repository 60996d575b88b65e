/**
 * `ferry sim --testbed`: once each device has registered, the operator's side asks Ferry's admin
 * API to mark it a testbed (PUT /api/v1/devices/:endpoint/testbed), once per device. A device never
 * declares itself one: the mark is an operator's act, made here with the operator token of --api.
 * A token refused (401, 403) or an API that cannot be reached stops the run (onFailure); anything
 * else (5xx, a lost answer) is asked again a few times.
 */
import { AdminApi, reason } from './admin-api.ts';
import type { SimDeviceEvent } from './device.ts';
import type { ApiFailure } from './fleet-driver.ts';

export interface TestbedOptions {
  api: string;
  token?: string;
  /** Where the token came from, for messages. */
  tokenSource?: string;
  /** Requests per device before giving up (default 3), and the wait between them (default 1000 ms). */
  maxAttempts?: number;
  retryMs?: number;
}

export class TestbedMarker {
  /** Devices marked, and those given up on. */
  readonly stats = { marked: 0, gaveUp: 0 };
  failure: ApiFailure | undefined;
  readonly #o: TestbedOptions;
  readonly #api: AdminApi;
  readonly #onFailure: (f: ApiFailure) => void;
  /** Endpoints asked for (each once, whatever the re-registrations). */
  readonly #asked = new Set<string>();
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  readonly #requests = new Set<Promise<void>>();
  #closed = false;

  constructor(o: TestbedOptions, onFailure: (f: ApiFailure) => void) {
    this.#o = o;
    this.#api = new AdminApi({ api: o.api, token: o.token });
    this.#onFailure = onFailure;
  }

  readonly onEvent = (e: SimDeviceEvent): void => {
    if (this.#closed || e.type !== 'registered' || this.#asked.has(e.endpoint)) return;
    this.#asked.add(e.endpoint);
    this.#request(e.endpoint, 1);
  };

  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    await Promise.allSettled([...this.#requests]);
  }

  #request(endpoint: string, attempt: number): void {
    const done = this.#mark(endpoint, attempt).finally(() => this.#requests.delete(done));
    this.#requests.add(done);
  }

  async #mark(endpoint: string, attempt: number): Promise<void> {
    const res = await this.#api.send(`/api/v1/devices/${encodeURIComponent(endpoint)}/testbed`, { method: 'PUT', json: { testbed: true } });
    if (this.#closed) return;
    if (res instanceof Response && res.status === 200) {
      this.stats.marked += 1;
      return;
    }
    if (!(res instanceof Response) && res.error === 'unreachable') {
      return this.#fail({ kind: 'unreachable', message: `cannot reach the API at ${this.#api.base} to mark ${endpoint} a testbed (${res.detail}): check --api` });
    }
    if (res instanceof Response && (res.status === 401 || res.status === 403)) {
      const why = await reason(res);
      const token = this.#o.tokenSource === undefined ? 'no token given (--api-token or FERRY_API_TOKEN)' : `the token from ${this.#o.tokenSource}`;
      return this.#fail({ kind: 'auth', status: res.status, message: `the API at ${this.#api.base} refused to mark ${endpoint} a testbed (${res.status}${why === '' ? '' : `: ${why}`}): ${token} needs the operator role` });
    }
    if (attempt >= (this.#o.maxAttempts ?? 3)) {
      this.stats.gaveUp += 1;
      return;
    }
    const timer = setTimeout(() => { this.#timers.delete(timer); this.#request(endpoint, attempt + 1); }, this.#o.retryMs ?? 1000);
    this.#timers.add(timer);
  }

  #fail(f: ApiFailure): void {
    if (this.failure !== undefined) return;
    this.failure = f;
    this.#closed = true;
    this.#onFailure(f);
  }
}
