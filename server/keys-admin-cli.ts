/**
 * `ferry keys ls|add|validity|revoke`: the trusted package keys registry through the admin API
 * (server/cli/command.ts: FERRY_URL, FERRY_TOKEN, --json, exit codes).
 */
import { nounCommand, readArg, seg, str, table, when, type Ctx } from './cli/command.ts';
import { CommandUsageError } from './errors.ts';

const HELP = `Usage: ferry keys <command> [options]

The public keys firmware packages may be signed by, through the admin API at FERRY_URL (default
http://127.0.0.1:8080) with the token in FERRY_TOKEN. Uploads signed by a revoked key, or by a
key outside its validity period, are refused. Keys the server reads from files (--trusted-keys,
--signing-key) are listed with source "file" and are changed only through their files.

  ls                       every key: name, source, algorithm, kid, status, validity, images signed
  add NAME PUBFILE [--not-before INSTANT] [--not-after INSTANT]
                           trust the public key in PUBFILE (PEM, from ferry keygen) as NAME (admin)
  validity NAME [--not-before INSTANT] [--not-after INSTANT|none]
                           change a key's validity period (admin)
  revoke NAME --reason TEXT
                           revoke a key: it signs no new upload, and every image it signed is
                           revoked (campaigns rolling them out pause) (admin)

  --json                   print the API's answer as JSON instead of a table
INSTANT is RFC 3339, e.g. 2027-01-01T00:00:00Z.
Exit codes: 0 done, 1 refused or unreachable, 2 usage error.
`;

interface KeyView { name: string; source: string; alg: string; kid: string; status: string; notBefore: string; notAfter: string | null; images: number; revokeReason: string | null }
interface Revoked { revokedImages?: Array<{ id: number; version: string; hardwareClass: string }>; pausedCampaigns?: number[] }

const VALIDITY = { 'not-before': { type: 'string' }, 'not-after': { type: 'string' } } as const;

function validity(c: Ctx): Record<string, string | null> {
  const notBefore = str(c, 'not-before');
  const notAfter = str(c, 'not-after');
  return {
    ...(notBefore === undefined ? {} : { notBefore }),
    ...(notAfter === undefined ? {} : { notAfter: notAfter === 'none' ? null : notAfter }),
  };
}

const path = (name: string): string => `/api/v1/keys/${seg(name)}`;

function summary(k: KeyView & Revoked, revoke = false): string {
  const line = `${k.name} (${k.alg} ${k.kid}, ${k.source}): ${k.status}, valid ${when(k.notBefore)} to ${when(k.notAfter)}`;
  if (!revoke) return `${line}\n`;
  const images = k.revokedImages ?? [];
  return `${line}\nrevoked ${images.length} image(s) it signed${images.length ? `: ${images.map((i) => `${i.id} (${i.hardwareClass} ${i.version})`).join(', ')}` : ''}`
    + `${k.pausedCampaigns?.length ? `; paused campaign(s) ${k.pausedCampaigns.join(', ')}` : ''}\n`;
}

export const keysCommand = nounCommand('keys', HELP, {
  ls: {
    role: 'viewer',
    run: async (c) => c.show(await c.api().list<KeyView>('/api/v1/keys'), (keys) => table(
      ['NAME', 'SOURCE', 'ALG', 'KID', 'STATUS', 'NOT BEFORE', 'NOT AFTER', 'IMAGES'],
      keys.map((k) => [k.name, k.source, k.alg, k.kid, k.status, when(k.notBefore), when(k.notAfter), k.images]))),
  },
  add: {
    args: ['NAME', 'PUBFILE'], options: VALIDITY, role: 'admin',
    run: async (c) => {
      const pem = await readArg(c.args[1]!, 'utf8');
      c.show(await c.api().call<KeyView>('POST', '/api/v1/keys', { json: { name: c.args[0], publicKeyPem: pem, ...validity(c) } }), (k) => summary(k));
    },
  },
  validity: {
    args: ['NAME'], options: VALIDITY, role: 'admin',
    run: async (c) => {
      const body = validity(c);
      if (Object.keys(body).length === 0) throw new CommandUsageError('give --not-before, --not-after or both');
      c.show(await c.api().call<KeyView>('PATCH', path(c.args[0]!), { json: body }), (k) => summary(k));
    },
  },
  revoke: {
    args: ['NAME'], options: { reason: { type: 'string' } }, role: 'admin',
    run: async (c) => {
      const reason = str(c, 'reason');
      if (!reason) throw new CommandUsageError('revoke needs --reason TEXT (it goes in the audit log)');
      c.show(await c.api().call<KeyView & Revoked>('POST', `${path(c.args[0]!)}/revoke`, { json: { reason } }), (k) => summary(k, true));
    },
  },
});
