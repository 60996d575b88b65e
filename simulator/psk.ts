/**
 * The simulated devices' DTLS pre-shared keys, derived from the fleet seed so that a run can be
 * replayed against keys an operator imported once:
 *
 *   identity = the endpoint name
 *   key      = the first 16 bytes of HMAC-SHA256(key = the seed as a decimal string,
 *                                               data = the endpoint name), both UTF-8
 *
 * e.g. with openssl: printf %s sim-01 | openssl dgst -sha256 -hmac 42 (the first 32 hex digits).
 * Such keys are for test fleets only: anyone who knows the seed knows every key.
 *
 * The credentials file is what `ferry credentials import` and POST /api/v1/credentials/import
 * take: CSV lines endpoint,identity,key_hex under that header, or (a .json file) a JSON array of
 * { endpoint, identity, key } with the key in hex.
 */
import { createHmac } from 'node:crypto';

export interface DevicePsk {
  endpoint: string;
  identity: string;
  key: Buffer;
}

/** RFC 7925 §4.2: a PSK of at least 16 bytes (128 bits). */
export const SIM_PSK_BYTES = 16;

export function simPsk(seed: number, endpoint: string): DevicePsk {
  const key = createHmac('sha256', String(seed)).update(endpoint, 'utf8').digest().subarray(0, SIM_PSK_BYTES);
  return { endpoint, identity: endpoint, key: Buffer.from(key) };
}

/** The file for `ferry credentials import`: JSON when the name ends in .json, else CSV with a header. */
export function credentialsFile(name: string, psks: readonly DevicePsk[]): string {
  if (name.toLowerCase().endsWith('.json')) return `${JSON.stringify(credentialsJson(psks), null, 2)}\n`;
  return `endpoint,identity,key_hex\n${psks.map((p) => `${p.endpoint},${p.identity},${p.key.toString('hex')}\n`).join('')}`;
}

/** The body of POST /api/v1/credentials/import (application/json). */
export const credentialsJson = (psks: readonly DevicePsk[]): { endpoint: string; identity: string; key: string }[] =>
  psks.map((p) => ({ endpoint: p.endpoint, identity: p.identity, key: p.key.toString('hex') }));
