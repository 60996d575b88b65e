// The console's one way to the API. The token is kept in sessionStorage (this tab only, gone when
// it closes, never in a URL or a cookie) and sent by fetch as `Authorization: Bearer`: the API's
// own authentication, so the server has no session or cookie to guard against cross-site requests.
// Live views poll (EventSource cannot send that header).

const KEY = 'ferry.token';
const RANK = { viewer: 0, approver: 0, operator: 1, admin: 2 };

export const session = {
  token: () => sessionStorage.getItem(KEY),
  signIn: (token) => sessionStorage.setItem(KEY, token),
  signOut: () => sessionStorage.removeItem(KEY),
};

/** Whether a token of `role` may do what needs `needed` (the server's role table decides; this only hides buttons). */
export const can = (role, needed) => (RANK[role] ?? -1) >= RANK[needed];

/** An answer other than 2xx: the API's code and message. */
export class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

const listeners = new Set();
/** Calls `fn(error)` for every refused request (the console shows the latest). */
export function onApiError(fn) { listeners.add(fn); return () => listeners.delete(fn); }

/** One request; JSON in and out, a Blob sent as application/octet-stream. Throws ApiError (`quiet`: not to the banner). */
export async function request(method, path, body, { quiet = false } = {}) {
  const headers = { authorization: `Bearer ${session.token() ?? ''}`, accept: 'application/json' };
  let payload;
  if (body instanceof Blob) { headers['content-type'] = 'application/octet-stream'; payload = body; }
  else if (body !== undefined) { headers['content-type'] = 'application/json'; payload = JSON.stringify(body); }
  const res = await fetch(path, { method, headers, body: payload, cache: 'no-store', credentials: 'omit' });
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  const data = type.includes('json') && text ? JSON.parse(text) : text;
  if (res.ok) return data;
  const err = new ApiError(res.status, data?.code ?? `HTTP_${res.status}`, data?.message ?? res.statusText);
  if (!quiet || res.status === 401) for (const fn of listeners) fn(err);
  throw err;
}

export const get = (path, query, opts) => request('GET', path + qs(query), undefined, opts);
export const post = (path, body = {}) => request('POST', path, body);
export const del = (path) => request('DELETE', path);

/** `?a=1&b=x` from an object, leaving out empty values. */
export function qs(query = {}) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') p.append(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

/** The items of a list answer, a bare array or a page `{ items, next }`. */
export const itemsOf = (body) => (Array.isArray(body) ? body : body?.items ?? []);
/** The cursor of the next page (null: the last page, or a bare array). */
export const nextOf = (body) => (Array.isArray(body) ? null : body?.next ?? null);

/** Every item of a paged list, at most `max` (bounded: the console never walks a huge fleet). */
export async function allItems(path, query = {}, max = 10_000) {
  const out = [];
  let after;
  do {
    const body = await get(path, { ...query, limit: 1000, after });
    out.push(...itemsOf(body));
    after = nextOf(body);
  } while (after && out.length < max);
  return out;
}
