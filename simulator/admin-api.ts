/**
 * Requests to Ferry's admin API for the simulator's driver: the bearer token, a time limit per
 * request, and a request that got no answer returned as a value (why: unreachable, timeout, lost),
 * never thrown. The driver decides what a status means; this file only carries the requests.
 */

/** A request that got no answer: the API cannot be reached (connect refused, no such host), took too long, or dropped it. */
export interface NoAnswer { error: 'unreachable' | 'timeout' | 'lost'; detail: string }

/** Errors whose cause says no connection could be made (undici puts the socket error in `cause`). */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT']);

function noAnswer(err: unknown, timeoutMs: number): NoAnswer {
  if (err instanceof Error && err.name === 'TimeoutError') return { error: 'timeout', detail: `no answer within ${timeoutMs / 1000} s` };
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  const detail = typeof cause?.message === 'string' && cause.message !== '' ? cause.message : err instanceof Error ? err.message : String(err);
  // fetch refuses a URL it will not connect to (a "bad port" of the Fetch standard, §2.9) the same way.
  const unreachable = (typeof cause?.code === 'string' && UNREACHABLE.has(cause.code)) || detail === 'bad port';
  return { error: unreachable ? 'unreachable' : 'lost', detail };
}

/** The `message` of Ferry's JSON error body, else the start of whatever came. */
export async function reason(res: Response): Promise<string> {
  return (await refusalOf(res)).message;
}

/** Ferry's JSON error body: its `code` (FERRY_…) if any, and its `message` (else the start of whatever came). */
export async function refusalOf(res: Response): Promise<{ code?: string; message: string }> {
  const text = await res.text().catch(() => '');
  try {
    const { code, message } = JSON.parse(text) as { code?: unknown; message?: unknown };
    if (typeof message === 'string') return { ...(typeof code === 'string' ? { code } : {}), message };
  } catch { /* not JSON */ }
  return { message: text.replace(/\s+/g, ' ').trim().slice(0, 120) };
}

export class AdminApi {
  /** The API's base URL without a trailing slash, e.g. http://127.0.0.1:8080 */
  readonly base: string;
  readonly token: string | undefined;
  private readonly timeoutMs: number;

  constructor(o: { api: string; token?: string | undefined; timeoutMs?: number | undefined }) {
    this.base = o.api.replace(/\/$/, '');
    this.token = o.token;
    this.timeoutMs = o.timeoutMs ?? 30_000;
  }

  /** One request with a JSON body, or another (`type`, default application/octet-stream), if any. */
  async send(path: string, o: { method: string; json?: unknown; body?: Buffer | string; type?: string }, timeoutMs = this.timeoutMs): Promise<Response | NoAnswer> {
    const headers: Record<string, string> = {};
    if (this.token !== undefined) headers['authorization'] = `Bearer ${this.token}`;
    let body: string | Buffer | undefined;
    if (o.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(o.json);
    } else if (o.body !== undefined) {
      headers['content-type'] = o.type ?? 'application/octet-stream';
      body = o.body;
    }
    try {
      return await fetch(`${this.base}${path}`, { method: o.method, headers, signal: AbortSignal.timeout(timeoutMs), ...(body === undefined ? {} : { body }) });
    } catch (err) {
      return noAnswer(err, timeoutMs);
    }
  }
}
