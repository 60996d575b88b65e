/** Packages and devices for the simulator's runs against a real Ferry server. */
import { signPackage } from '../../protocols/package.ts';
import type { TrustAnchor } from '../../protocols/package.ts';
import type { Ferry } from '../../server/main.ts';
import { makeSimImage } from '../../simulator/image.ts';
import { testSigningKey } from '../helpers/ferry.ts';

/** The key test servers trust (and sign raw uploads with): the devices trust it too. */
export function trustedAnchor(): TrustAnchor {
  const { key } = testSigningKey();
  return { alg: key.alg, kid: key.kid, publicKey: key.publicKey };
}

export function signedPackage(version: string, size: number, sequence: number, seed = 1): Buffer {
  return Buffer.from(signPackage({
    payload: makeSimImage({ version, size, seed }), key: testSigningKey().key, sequence, vendorId: 'ferry', classId: 'sim-1', version, created: 1_700_000_000,
  }));
}

export async function uploadPackage(ferry: Ferry, pkg: Buffer): Promise<number> {
  const res = await ferry.api.inject({ method: 'POST', url: '/api/v1/firmware', headers: { 'content-type': 'application/octet-stream' }, payload: pkg });
  if (res.statusCode !== 201) throw new Error(`upload: ${res.statusCode} ${res.body}`);
  return res.json().id as number;
}

export async function requestUpdate(ferry: Ferry, endpoint: string, firmwareId: number): Promise<number> {
  const res = await ferry.api.inject({ method: 'POST', url: `/api/v1/devices/${endpoint}/update`, payload: { firmwareId } });
  if (res.statusCode !== 202) throw new Error(`update ${endpoint}: ${res.statusCode} ${res.body}`);
  return res.json().id as number;
}
