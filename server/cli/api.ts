/**
 * The admin API as the `ferry` commands call it: FERRY_URL (default http://127.0.0.1:8080, the
 * API's default port) and the bearer token in FERRY_TOKEN. An answer that is not a 2xx is thrown
 * as an ApiError (the API's message, FERRY_ code and HTTP status), a request that got no answer as
 * an ApiUnreachable; command.ts turns both into one line on stderr and exit 1.
 */
import { AdminApi } from '../../simulator/admin-api.ts';

export const DEFAULT_URL = 'http://127.0.0.1:8080';

/** What a command reads and writes. `tty`: stdout is a terminal (bars and colours may be drawn). */
export interface CliIo { out: (text: string) => void; err: (text: string) => void; env: NodeJS.ProcessEnv; tty?: boolean }

export const processIo: CliIo = {
  out: (t) => void process.stdout.write(t), err: (t) => void process.stderr.write(t), env: process.env, tty: process.stdout.isTTY === true,
};

/** The API refused: its message and FERRY_ code (absent when the answer was not Ferry's JSON). */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly status: number;
  readonly code: string | undefined;
  constructor(message: string, status: number, code: string | undefined) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** No answer from FERRY_URL, or no token to send. */
export class ApiUnreachable extends Error {
  override name = 'ApiUnreachable';
}

/** One page of a list route. */
export interface Page<T> { items: T[]; next: number | null }

/**
 * A list route's answer as a page: `{items, next}`, or a bare array (routes that answer one
 * whole list), which is a last page.
 */
export function itemsOf<T>(body: unknown): Page<T> {
  if (Array.isArray(body)) return { items: body as T[], next: null };
  const b = body as { items?: unknown; next?: unknown } | null;
  if (b !== null && typeof b === 'object' && Array.isArray(b.items)) return { items: b.items as T[], next: typeof b.next === 'number' ? b.next : null };
  throw new ApiError('the answer is not a list', 200, undefined);
}

/** `?a=1&b=2` of the values that are set ('' when none is). */
export function query(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}

/** A request's body: JSON, or bytes or text of a content type (default application/octet-stream). */
export interface Body { json?: unknown; body?: Buffer | string; type?: string }

export class ApiClient {
  private readonly api: AdminApi;

  /** `role`: the least role the command needs, named when FERRY_TOKEN is missing. */
  constructor(env: NodeJS.ProcessEnv, role: string) {
    const token = env['FERRY_TOKEN'];
    if (!token) throw new ApiUnreachable(`set FERRY_TOKEN to an API token (${role} role)`);
    this.api = new AdminApi({ api: env['FERRY_URL'] || DEFAULT_URL, token });
  }

  /** One request whose answer is a 2xx, its body unread; `timeoutMs` for the whole answer (default 30 s). */
  async respond(method: string, path: string, o: Body & { timeoutMs?: number } = {}): Promise<Response> {
    const { timeoutMs, ...body } = o;
    const res = await this.api.send(path, { method, ...body }, timeoutMs);
    if (!(res instanceof Response)) throw new ApiUnreachable(`cannot reach ${this.api.base} (${res.error}): ${res.detail}`);
    if (res.ok) return res;
    const text = await res.text();
    let e: { code?: unknown; message?: unknown } = {};
    try {
      e = (JSON.parse(text) ?? {}) as typeof e;
    } catch { /* not JSON: its text is the message */ }
    const message = typeof e.message === 'string' ? e.message : text.replace(/\s+/g, ' ').trim().slice(0, 200) || res.statusText;
    throw new ApiError(message, res.status, typeof e.code === 'string' ? e.code : undefined);
  }

  /** One request; the parsed JSON answer (undefined for an empty one, e.g. 204). */
  async call<T = unknown>(method: string, path: string, o: Body & { timeoutMs?: number } = {}): Promise<T> {
    const res = await this.respond(method, path, o);
    const text = await res.text();
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError(`${method} ${path}: the answer is not JSON`, res.status, undefined);
    }
  }

  get<T = unknown>(path: string): Promise<T> { return this.call<T>('GET', path); }

  /**
   * Every item of a list route, page after page (`?after=` its `next`), up to `max` items.
   * `pageSize` (at most 1000) goes as `?limit=`, only to routes that take one.
   */
  async list<T>(path: string, params: Record<string, string | number | boolean | undefined> = {}, o: { max?: number | undefined; pageSize?: number } = {}): Promise<T[]> {
    const max = o.max ?? Infinity;
    const items: T[] = [];
    let after: number | undefined;
    for (;;) {
      const limit = o.pageSize === undefined ? undefined : Math.min(o.pageSize, max - items.length);
      const body = await this.get(`${path}${query({ ...params, limit, after })}`);
      const page = itemsOf<T>(body);
      items.push(...page.items.slice(0, max - items.length));
      // A bare array from a route that took ?limit= and filled it: the next page is after its last id.
      const last = (page.items[page.items.length - 1] as { id?: unknown } | undefined)?.id;
      const next = page.next ?? (Array.isArray(body) && page.items.length === limit && typeof last === 'number' ? last : null);
      if (next === null || items.length >= max || page.items.length === 0) return items;
      after = next;
    }
  }
}
