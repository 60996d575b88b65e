/**
 * Gives the server the fleet's PSKs before the devices start, through the admin API:
 * POST /api/v1/credentials/import with a JSON array of { endpoint, identity, key }, in batches
 * (the server takes a bounded number per request; each batch is all or nothing). Anything but
 * 200 stops the run: the devices could not complete a handshake without their keys.
 */
import { AdminApi, reason } from './admin-api.ts';
import type { ApiFailure } from './fleet-driver.ts';
import { credentialsJson } from './psk.ts';
import type { DevicePsk } from './psk.ts';

/** Credentials per import request: well below the server's limit, so a request stays small. */
export const IMPORT_BATCH = 1000;

export interface ProvisionOptions {
  /** Base URL of the admin API, e.g. http://127.0.0.1:8080 */
  api: string;
  token?: string;
  /** Where the token came from, for messages. */
  tokenSource?: string;
  requestTimeoutMs?: number;
}

/** Imports every PSK; resolves with the count imported, or the failure that stopped it. */
export async function provisionCredentials(o: ProvisionOptions, psks: readonly DevicePsk[], batch = IMPORT_BATCH): Promise<{ imported: number; failure?: ApiFailure }> {
  const api = new AdminApi({ api: o.api, token: o.token, timeoutMs: o.requestTimeoutMs });
  let imported = 0;
  for (let i = 0; i < psks.length; i += batch) {
    const part = psks.slice(i, i + batch);
    const res = await api.send('/api/v1/credentials/import', { method: 'POST', json: credentialsJson(part) });
    if (!(res instanceof Response)) {
      const kind = res.error === 'unreachable' ? 'unreachable' : 'credentials-refused';
      return { imported, failure: { kind, message: `cannot import the devices' credentials at ${api.base} (${res.detail}): check --api` } };
    }
    if (res.status !== 200) {
      const why = await reason(res);
      const auth = res.status === 401 || res.status === 403;
      const token = o.tokenSource === undefined ? 'no token given (--api-token or FERRY_API_TOKEN)' : `the token from ${o.tokenSource}`;
      const message = auth
        ? `the API at ${api.base} refused to import credentials (${res.status}${why === '' ? '' : `: ${why}`}): ${token} needs the admin role`
        : `the API at ${api.base} refused the credentials of devices ${i + 1}–${i + part.length} (${res.status}${why === '' ? '' : `: ${why}`})`;
      return { imported, failure: { kind: auth ? 'auth' : 'credentials-refused', status: res.status, message } };
    }
    imported += part.length;
  }
  return { imported };
}
