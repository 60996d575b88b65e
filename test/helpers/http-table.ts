/**
 * Many raw HTTP requests to a server on loopback: node:http with keep-alive and a bounded number
 * of requests in flight, the path sent exactly as written (no URL normalisation, so `..`,
 * `%00` or `%C3%28` reach the server as they are). For request tables (hostile-input tests).
 */
import { Agent, request, type IncomingHttpHeaders } from 'node:http';

export interface RawRequest {
  method: string;
  /** The request target as sent: path and query, already percent-encoded where wanted. */
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request; rejects when the client cannot send it or the connection fails. */
export function send(base: URL, req: RawRequest, agent?: Agent): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const body = req.body === undefined ? undefined : Buffer.isBuffer(req.body) ? req.body : Buffer.from(req.body, 'utf8');
    const r = request({
      host: base.hostname, port: base.port, method: req.method, path: req.path, ...(agent ? { agent } : {}),
      headers: { ...req.headers, ...(body ? { 'content-length': String(body.length) } : {}) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    r.on('error', reject);
    r.end(body);
  });
}

/** Every request, at most `concurrency` at a time over kept-alive connections; answers (or errors) in order. */
export async function sendAll(base: URL, reqs: readonly RawRequest[], concurrency = 6): Promise<Array<RawResponse | Error>> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const out = new Array<RawResponse | Error>(reqs.length);
  let next = 0;
  const worker = async () => {
    while (next < reqs.length) {
      const i = next++;
      try {
        out[i] = await send(base, reqs[i]!, agent);
      } catch (err) {
        out[i] = err instanceof Error ? err : new Error(String(err));
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    agent.destroy();
  }
  return out;
}

/** Why an answer is not a clean refusal of a client's mistake, or undefined: a 4xx, JSON, with a non-empty `message` and a FERRY_ `code`. */
export function refusalProblem(status: number, contentType: unknown, body: string): string | undefined {
  if (status < 400 || status >= 500) return `status ${status}`;
  if (!String(contentType).startsWith('application/json')) return `content-type ${String(contentType)}`;
  let parsed: { message?: unknown; code?: unknown };
  try { parsed = JSON.parse(body) as { message?: unknown; code?: unknown }; } catch { return 'the body is not JSON'; }
  if (typeof parsed.message !== 'string' || parsed.message === '') return 'no message';
  if (typeof parsed.code !== 'string' || !/^FERRY_[A-Z0-9_]+$/.test(parsed.code)) return 'no code';
  return undefined;
}
