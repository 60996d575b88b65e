/**
 * One webhook attempt: the JSON body of an alert, its optional HMAC signature, and one POST with a
 * bounded time, classified as delivered, to retry (5xx, 408, 429, timeouts, connection errors) or
 * given up (any other answer: a 4xx says the request itself is wrong, a 3xx is not followed).
 */
import { createHmac } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Alert } from '../store/alerts.ts';

export const SIGNATURE_HEADER = 'x-ferry-signature';

/** What the webhook receives: `{id, kind, severity, at, message, campaignId?, device?: {endpoint}, updateId?, data}`. */
export function webhookBody(a: Alert): Record<string, unknown> {
  return {
    id: a.id, kind: a.kind, severity: a.severity, at: a.at.toISOString(), message: a.message,
    ...(a.campaignId !== null ? { campaignId: a.campaignId } : {}),
    ...(a.endpoint !== null ? { device: { endpoint: a.endpoint } } : {}),
    ...(a.updateId !== null ? { updateId: a.updateId } : {}),
    data: a.data,
  };
}

/** `sha256=<hex HMAC-SHA256 of the exact body bytes>`, as GitHub signs its webhooks. */
export function signature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** `retryAfterMs`: what the server asked for in Retry-After (RFC 9110 §10.2.3), on a 429 or 503. */
export type Outcome = { delivered: true } | { delivered: false; retry: boolean; error: string; aborted?: boolean; retryAfterMs?: number };

/** A status worth another attempt: the server's trouble, not the request's. */
const retryable = (status: number): boolean => status >= 500 || status === 408 || status === 429;

/**
 * POSTs `body` once. Never rejects: a timeout (`timeoutMs` for the whole exchange, headers to
 * answer) or a socket error is an outcome to retry; `signal` (shutdown) aborts it as not counted.
 */
export function postOnce(url: URL, body: string, o: { secret?: string | undefined; alertId: number; timeoutMs: number; signal: AbortSignal }): Promise<Outcome> {
  const headers: Record<string, string | number> = {
    'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'user-agent': 'ferry-alerts',
    'x-ferry-alert-id': o.alertId, ...(o.secret ? { [SIGNATURE_HEADER]: signature(o.secret, body) } : {}),
  };
  return new Promise<Outcome>((resolve) => {
    let done = false;
    const finish = (out: Outcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      o.signal.removeEventListener('abort', onAbort);
      resolve(out);
    };
    // No keep-alive agent: one connection per attempt, closed after it, so nothing lingers at shutdown.
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, { method: 'POST', headers, agent: false }, (res) => {
      const status = res.statusCode ?? 0;
      res.resume(); // the answer's body is not read
      res.on('error', () => {});
      req.destroy();
      if (status >= 200 && status < 300) finish({ delivered: true });
      else {
        const after = status === 429 || status === 503 ? retryAfterMs(res.headers['retry-after']) : undefined;
        finish({ delivered: false, retry: retryable(status), error: `HTTP ${status}`, ...(after === undefined ? {} : { retryAfterMs: after }) });
      }
    });
    const timer = setTimeout(() => {
      finish({ delivered: false, retry: true, error: `no answer in ${o.timeoutMs} ms` });
      req.destroy();
    }, o.timeoutMs);
    const onAbort = (): void => {
      finish({ delivered: false, retry: true, error: 'shutting down', aborted: true });
      req.destroy();
    };
    if (o.signal.aborted) onAbort();
    else o.signal.addEventListener('abort', onAbort, { once: true });
    req.on('error', (err: NodeJS.ErrnoException) => finish({ delivered: false, retry: true, error: err.code ?? err.message }));
    req.end(body);
  });
}

/** Retry-After as delay-seconds or an HTTP-date, in ms from now; undefined when absent or unreadable. */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
