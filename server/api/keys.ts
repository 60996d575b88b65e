/**
 * /api/v1/keys: the trusted package keys registry. List (viewer), add a public key with a
 * validity period, change the period, revoke (admin). Revoking a key revokes every live image it
 * signed (governance/halt.ts: they start no new update, and the campaigns rolling them out pause
 * with a critical alert). Keys read from files at start-up are listed, and refused changes
 * (FERRY_KEY_FROM_FILE): their file decides.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DecodeError } from '../../protocols/errors.ts';
import { encodePublicKeyPem, parsePublicKeyPem } from '../../protocols/package-keys.ts';
import type { TrustAnchor } from '../../protocols/package.ts';
import type { AlertSink } from '../alerts/kinds.ts';
import { KeyError } from '../errors.ts';
import type { KeyRegistry } from '../firmware/key-registry.ts';
import { revokeReleases } from '../governance/halt.ts';
import type { Db } from '../store/db.ts';
import { addKey, deadness, listKeys, revokeKey, SERVER_SIGNING, setKeyValidity, type TrustedKey } from '../store/trusted-keys.ts';
import { actorOf } from './auth.ts';
import { dateTime, errorBody, freeText, instant, instantParam, nullableDateTime } from './schemas.ts';

const KEY_NAME = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._@-]+$' } as const;
const nameParams = { type: 'object', required: ['name'], additionalProperties: false, properties: { name: KEY_NAME } } as const;
const nullableString = { type: ['string', 'null'] } as const;

export const keyBody = {
  type: 'object',
  properties: {
    name: KEY_NAME, alg: { type: 'string', enum: ['ed25519', 'es256'] },
    kid: { type: 'string', description: 'the COSE key id, hex: the first 8 bytes of SHA-256 over the public key (SubjectPublicKeyInfo)' },
    fingerprint: { type: 'string', description: 'SHA-256 over the public key (SubjectPublicKeyInfo DER), hex' },
    publicKeyPem: { type: 'string' },
    notBefore: dateTime, notAfter: { ...nullableDateTime, description: 'from this instant on the key signs no new upload; null: no end' },
    status: { type: 'string', enum: ['live', 'revoked', 'expired', 'not-yet-valid'], description: 'whether an upload signed by it is taken now' },
    revokedAt: nullableDateTime, revokeReason: nullableString, revokedBy: nullableString,
    source: { type: 'string', enum: ['api', 'file'], description: 'file: read from --trusted-keys or --signing-key at start-up; read-only here, its file decides' },
    createdBy: { type: 'string' }, createdAt: dateTime,
    images: { type: 'integer', description: 'stored images whose manifest it signed' },
  },
} as const;

const revokedBody = {
  type: 'object',
  properties: {
    ...keyBody.properties,
    revokedImages: { type: 'array', items: { type: 'object', properties: { id: { type: 'integer' }, version: { type: 'string' }, hardwareClass: { type: 'string' }, from: { type: 'string' } } } },
    pausedCampaigns: { type: 'array', items: { type: 'integer' } },
  },
} as const;

const spkiOf = (a: TrustAnchor): Buffer => Buffer.from(encodePublicKeyPem(a).replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');

/** A registry row as the API shows it. */
export function keyView(k: TrustedKey, now: Date): Record<string, unknown> {
  const { id: _id, kid, publicKey: _pk, ...rest } = k;
  return {
    ...rest, kid: Buffer.from(kid).toString('hex'), fingerprint: createHash('sha256').update(spkiOf(k)).digest('hex'),
    publicKeyPem: encodePublicKeyPem(k), status: (k.source === 'api' ? deadness(k, now) : undefined) ?? 'live',
  };
}

interface AddBody { name: string; publicKeyPem: string; notBefore?: string; notAfter?: string }
interface ValidityBody { notBefore?: string; notAfter?: string | null }

const who = (req: FastifyRequest): { actor: string; user?: string | undefined } => ({ actor: actorOf(req), user: req.token?.user });

export function keyRoutes(app: FastifyInstance, deps: { db: Db; keys: KeyRegistry; alerts?: AlertSink | undefined; now?: (() => number) | undefined }): void {
  const { db, keys } = deps;
  const now = (): Date => new Date((deps.now ?? Date.now)());

  app.get('/api/v1/keys', {
    schema: {
      summary: 'The trusted package keys: uploads must be signed by a live one',
      querystring: { type: 'object', additionalProperties: false },
      response: { 200: { type: 'object', properties: { items: { type: 'array', items: keyBody }, next: { type: 'null', description: 'always null: every key is on the one page, by name' } } }, '4xx': errorBody },
    },
  }, async () => {
    await keys.current(); // this server's key files listed even if their rows went missing
    const at = now();
    return { items: (await listKeys(db)).map((k) => keyView(k, at)), next: null };
  });

  app.post<{ Body: AddBody }>('/api/v1/keys', {
    schema: {
      summary: 'Trust a public key (PEM, from ferry keygen) for uploads, within a validity period',
      description: 'notBefore defaults to now, notAfter to no end. A name or public key trusted already is a 409 (FERRY_KEY_EXISTS); a PEM that is not an Ed25519 or P-256 public key, or an empty period, a 400 (FERRY_KEY_INVALID).',
      body: {
        type: 'object', required: ['name', 'publicKeyPem'], additionalProperties: false,
        properties: { name: KEY_NAME, publicKeyPem: { type: 'string', minLength: 1, maxLength: 4096 }, notBefore: instantParam, notAfter: instantParam },
      },
      response: { 201: keyBody, '4xx': errorBody },
    },
  }, async (req, reply) => {
    const { name, publicKeyPem } = req.body;
    if (name === SERVER_SIGNING) throw new KeyError('FERRY_KEY_INVALID', `${SERVER_SIGNING} is the name of the public half of --signing-key: choose another name`);
    let anchor: TrustAnchor;
    try {
      anchor = parsePublicKeyPem(publicKeyPem);
    } catch (err) {
      if (err instanceof DecodeError) throw new KeyError('FERRY_KEY_INVALID', `publicKeyPem is not a usable public key: ${err.reason}`);
      throw err;
    }
    const notBefore = instant(req.body.notBefore, 'notBefore') ?? now();
    const notAfter = instant(req.body.notAfter, 'notAfter');
    if (notAfter !== undefined && notAfter <= notBefore) {
      throw new KeyError('FERRY_KEY_INVALID', `notAfter ${notAfter.toISOString()} is not after notBefore ${notBefore.toISOString()}${req.body.notBefore === undefined ? ' (now)' : ''}`);
    }
    const added = await addKey(db, { name, anchor, notBefore, notAfter, ...who(req) });
    keys.invalidate();
    req.log.info({ key: name, kid: Buffer.from(anchor.kid).toString('hex'), by: actorOf(req) }, 'trusted key added');
    return reply.code(201).send(keyView(added, now()));
  });

  app.patch<{ Params: { name: string }; Body: ValidityBody }>('/api/v1/keys/:name', {
    schema: {
      summary: 'Change a key\'s validity period (notAfter null: no end)',
      description: 'A key read from a file is a 409 (FERRY_KEY_FROM_FILE).',
      params: nameParams,
      body: {
        type: 'object', additionalProperties: false, minProperties: 1,
        properties: { notBefore: instantParam, notAfter: { anyOf: [instantParam, { type: 'null' }] } },
      },
      response: { 200: keyBody, '4xx': errorBody },
    },
  }, async (req) => {
    await keys.current(); // this server's key files recorded, so that changing one is refused as such
    const notAfter = req.body.notAfter === null ? null : instant(req.body.notAfter, 'notAfter');
    const changed = await setKeyValidity(db, req.params.name, { notBefore: instant(req.body.notBefore, 'notBefore'), notAfter, ...who(req) });
    keys.invalidate();
    req.log.info({ key: changed.name, notBefore: changed.notBefore, notAfter: changed.notAfter, by: actorOf(req) }, 'trusted key validity changed');
    return keyView(changed, now());
  });

  app.post<{ Params: { name: string }; Body: { reason: string } }>('/api/v1/keys/:name/revoke', {
    schema: {
      summary: 'Revoke a key: it signs no new upload, and every live image it signed is revoked (their campaigns pause)',
      description: 'Revoking a revoked key again revokes any image it signed that is still live. A key read from a file is a 409 (FERRY_KEY_FROM_FILE): remove its file.',
      params: nameParams,
      body: { type: 'object', required: ['reason'], additionalProperties: false, properties: { reason: freeText(500) } },
      response: { 200: revokedBody, '4xx': errorBody },
    },
  }, async (req) => {
    const { name } = req.params;
    await keys.current();
    const { key, revokedNow } = await revokeKey(db, name, { reason: req.body.reason, ...who(req) });
    keys.invalidate();
    const signed = await db.query<{ id: string | number }>(
      "SELECT id FROM firmware_images WHERE key_id = $1 AND state <> 'revoked' AND deleted_at IS NULL ORDER BY id", [Buffer.from(key.kid)]);
    const halted = await revokeReleases(db, deps.alerts, {
      firmwareIds: signed.rows.map((r) => Number(r.id)), reason: `signing key ${name} was revoked: ${req.body.reason}`, ...who(req),
    });
    req.log.warn({ key: name, revokedNow, images: halted.revoked.map((r) => r.id), campaigns: halted.paused, by: actorOf(req) }, 'trusted key revoked');
    return { ...keyView(key, now()), revokedImages: halted.revoked, pausedCampaigns: halted.paused };
  });
}
