/** Users, tokens and release calls for the governance tests (a real server, its API, its database). */
import type { Ferry } from '../../../server/main.ts';
import { createToken } from '../../../server/store/tokens.ts';
import { createUser, type UserRole } from '../../../server/store/users.ts';
import { bearer, injectRaw } from '../../helpers/ferry.ts';

export interface Answer { status: number; body: any }

/** One API call with `token` (none: the test admin token). */
export async function call(ferry: Ferry, method: 'GET' | 'POST' | 'PUT', url: string, payload?: unknown, token?: string): Promise<Answer> {
  const res = await injectRaw(ferry, {
    method, url, headers: bearer(token), ...(payload === undefined ? {} : { payload: payload as object }),
  });
  return { status: res.statusCode, body: res.body === '' ? undefined : res.json() };
}

/** A user holding `roles`, with one token per role (named <user>-<role>): role → secret. */
export async function userWithTokens(ferry: Ferry, name: string, roles: UserRole[]): Promise<Record<string, string>> {
  await ferry.db.transaction((tx) => createUser(tx, { name, roles, actor: 'test' }));
  const out: Record<string, string> = {};
  for (const role of roles) out[role] = (await createToken(ferry.db, { name: `${name}-${role}`, role, createdBy: 'test', user: name })).token;
  return out;
}

/** An image uploaded with `token`: a raw one (the test server signs it) by version, or a signed package; its id. */
export async function uploadAs(ferry: Ferry, token: string, image: string | Buffer, hardwareClass = 'sim-1'): Promise<number> {
  const raw = typeof image === 'string';
  const res = await injectRaw(ferry, {
    method: 'POST', url: raw ? `/api/v1/firmware?version=${image}&hardwareClass=${hardwareClass}` : '/api/v1/firmware',
    headers: { ...bearer(token), 'content-type': 'application/octet-stream' }, payload: raw ? Buffer.alloc(2048, image.length) : image,
  });
  if (res.statusCode !== 201) throw new Error(`upload: ${res.statusCode} ${res.body}`);
  return res.json().id as number;
}

/** The image's firmware.state_changed events: "from→to by user (reason)". */
export async function stateChanges(ferry: Ferry, firmwareId: number): Promise<string[]> {
  const { rows } = await ferry.db.query<{ data: Record<string, unknown> }>(
    `SELECT data FROM events WHERE kind = 'firmware.state_changed' AND (data->>'firmwareId')::bigint = $1 ORDER BY id`, [firmwareId]);
  return rows.map(({ data: d }) => `${String(d['from'])}→${String(d['to'])}${d['user'] ? ` by ${String(d['user'])}` : ''}${d['campaignId'] ? ` campaign ${String(d['campaignId'])}` : ''}`);
}
