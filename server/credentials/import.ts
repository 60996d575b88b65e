/**
 * A batch of credentials to import: a JSON array of { endpoint, identity, key } (key in hex) or CSV
 * lines `endpoint,identity,key_hex` (a first line `endpoint,identity,key_hex` is a header; blank
 * lines and lines starting with # are skipped). Every entry is checked, the endpoint name as a
 * Register's ep is; any problem refuses the whole batch with one message naming each bad line (for
 * JSON, the line is the element's index + 1).
 */
import { endpointNameProblem } from '../../protocols/registration.ts';
import { CredentialsError } from '../errors.ts';
import { identityProblem, keyProblem } from './psk.ts';

export interface ImportEntry { line: number; endpoint: string; identity: string; key: Buffer }

export const MAX_IMPORT_ENTRIES = 10_000;

interface Raw { line: number; endpoint: unknown; identity: unknown; key: unknown }

export function parseJsonImport(body: unknown): ImportEntry[] {
  if (!Array.isArray(body)) throw refuse(['the body must be a JSON array of { endpoint, identity, key }']);
  return check(body.map((e: unknown, i) => {
    const o = (typeof e === 'object' && e !== null ? e : {}) as Record<string, unknown>;
    return { line: i + 1, endpoint: o['endpoint'], identity: o['identity'], key: o['key'] };
  }));
}

export function parseCsvImport(text: string): ImportEntry[] {
  const raws: Raw[] = [];
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((l, i) => {
    const line = l.trim();
    if (line === '' || line.startsWith('#') || (raws.length === 0 && problems.length === 0 && /^endpoint\s*,\s*identity\s*,\s*key(_hex)?$/i.test(line))) return;
    const fields = line.split(',').map((f) => f.trim());
    if (fields.length !== 3) { problems.push(`line ${i + 1}: expected endpoint,identity,key_hex (3 fields), got ${fields.length}`); return; }
    raws.push({ line: i + 1, endpoint: fields[0], identity: fields[1], key: fields[2] });
  });
  return check(raws, problems);
}

function check(raws: Raw[], problems: string[] = []): ImportEntry[] {
  if (raws.length + problems.length === 0) throw refuse(['no credentials in the body']);
  if (raws.length > MAX_IMPORT_ENTRIES) throw refuse([`at most ${MAX_IMPORT_ENTRIES} credentials in one import, got ${raws.length}`]);
  const entries: ImportEntry[] = [];
  const endpoints = new Map<string, number>();
  const identities = new Map<string, number>();
  for (const r of raws) {
    const bad = (why: string) => problems.push(`line ${r.line}: ${why}`);
    if (typeof r.endpoint !== 'string') { bad('no endpoint'); continue; }
    const badName = endpointNameProblem(r.endpoint);
    if (badName !== undefined) { bad(`the endpoint name ${badName}`); continue; }
    if (typeof r.identity !== 'string') { bad('no identity'); continue; }
    if (typeof r.key !== 'string') { bad('no key'); continue; }
    const why = identityProblem(r.identity) ?? keyProblem(r.key);
    if (why) { bad(why); continue; }
    const sameEndpoint = endpoints.get(r.endpoint);
    if (sameEndpoint !== undefined) { bad(`endpoint ${r.endpoint} is on line ${sameEndpoint} too`); continue; }
    const sameIdentity = identities.get(r.identity);
    if (sameIdentity !== undefined) { bad(`identity ${r.identity} is on line ${sameIdentity} too`); continue; }
    endpoints.set(r.endpoint, r.line);
    identities.set(r.identity, r.line);
    entries.push({ line: r.line, endpoint: r.endpoint, identity: r.identity, key: Buffer.from(r.key, 'hex') });
  }
  if (problems.length > 0) throw refuse(problems);
  return entries;
}

const refuse = (problems: string[]): CredentialsError => {
  const shown = problems.slice(0, 50);
  const more = problems.length > shown.length ? `; and ${problems.length - shown.length} more` : '';
  return new CredentialsError('FERRY_CREDENTIALS_IMPORT', `nothing imported: ${shown.join('; ')}${more}`);
};
