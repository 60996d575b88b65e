/**
 * A firmware upload, signed package or raw image, checked and stored.
 *
 * - A body that starts with FRY1 is a package: its manifest signature is verified against the
 *   trusted keys, its payload against the manifest's size and SHA-256; version and class come
 *   from the manifest (a query that names others is refused).
 * - Anything else is a raw image, taken only when the server has a signing key: it is signed into
 *   a package with the class's next sequence number.
 * - Anti-rollback: the sequence number must be above the class's highest, unless forced (logged,
 *   and recorded in the firmware.uploaded event). The check and the insert share one transaction
 *   with the class locked.
 * - delivery=package stores the whole package as the bytes devices receive; delivery=payload stores
 *   only the payload (devices with their own image format). The manifest is stored either way.
 *   The default is package for every upload, a raw image signed here included: a device then
 *   checks the signature itself: the device never trusts the server.
 *
 * - The trust anchors are the key registry's (key-registry.ts). A package signed by a key the
 *   registry holds revoked or outside its validity period is refused as such (FERRY_KEY_REVOKED,
 *   FERRY_KEY_EXPIRED, naming the key) once its signature verifies with that key.
 * - A version the class has live is taken again only as a re-issue (reissue.ts): the same payload
 *   signed with a higher sequence number, stored beside the original with its release state.
 *
 * Every refusal is an UploadError with its code (a DuplicateVersionError for a version the class
 * has, a KeyError for a dead key): a package that does not decode is FERRY_DECODE, one that does
 * not verify FERRY_PACKAGE_INVALID.
 */
import { DecodeError } from '../../protocols/errors.ts';
import { PACKAGE_MAGIC, PackageError, DEFAULT_VENDOR_ID, checkPayload, parsePackage, signPackage, verifyManifestSignature } from '../../protocols/package.ts';
import type { PackageHeader, SigningKey, TrustAnchor } from '../../protocols/package.ts';
import { UploadError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Db } from '../store/db.ts';
import { insertSignedFirmware, type LiveRelease, type NewFirmware } from '../store/firmware.ts';
import type { FirmwareImage } from '../store/rows.ts';
import { deadKeyError, type KeyRegistry, type Trust } from './key-registry.ts';
import { kidHex } from './keys.ts';
import { reissueOf } from './reissue.ts';

export type Delivery = 'package' | 'payload';

export interface UploadRequest {
  body: Buffer;
  version?: string | undefined;
  hardwareClass?: string | undefined;
  delivery?: Delivery | undefined;
  /** Accept a sequence number not above the class's highest. */
  force?: boolean | undefined;
  /** The image cache's size (--image-cache-mb): a larger image is refused (FERRY_UPLOAD_OVER_CACHE), as it could not be served from memory. */
  imageCacheBytes?: number | undefined;
  /** Who uploads, for the audit log ('token:<name>'). */
  actor?: string | undefined;
  /** The user who uploads: nobody else may approve the release. */
  userId?: number | undefined;
}

const isPackage = (body: Buffer): boolean => body.length >= PACKAGE_MAGIC.length && body.subarray(0, PACKAGE_MAGIC.length).equals(PACKAGE_MAGIC);

export async function uploadFirmware(db: Db, keys: KeyRegistry, req: UploadRequest, log: Pick<Logger, 'warn'>): Promise<FirmwareImage> {
  try {
    return await upload(db, keys, req, log);
  } catch (err) {
    throw refusalOf(err);
  }
}

/** protocols/'s refusals as UploadErrors, worded for the operator; anything else as it is. */
function refusalOf(err: unknown): unknown {
  if (err instanceof DecodeError) return new UploadError('FERRY_DECODE', `not a valid Ferry package: ${err.reason}`, { cause: err });
  if (err instanceof PackageError) return new UploadError('FERRY_PACKAGE_INVALID', `package refused (${err.code}): ${err.reason}`, { cause: err });
  return err;
}

async function upload(db: Db, keys: KeyRegistry, req: UploadRequest, log: Pick<Logger, 'warn'>): Promise<FirmwareImage> {
  if (req.body.length === 0) throw new UploadError('FERRY_UPLOAD_EMPTY', 'the image is empty');
  const delivery = req.delivery ?? 'package';
  const row = (bytes: Buffer, header: PackageHeader, payload: Uint8Array, event: Record<string, unknown>, highest: number | null, live: LiveRelease[]): NewFirmware => {
    const m = header.manifest;
    const reissue = live.length === 0 ? undefined
      : reissueOf({ hardwareClass: m.classId, version: m.version, payloadDigest: m.payloadDigest, sequence: m.sequence, highest, live });
    const delivered = delivery === 'package' ? bytes : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    refuseBeyondCache(delivered.length, req.imageCacheBytes);
    return {
      ...(reissue === undefined ? {} : { reissue }),
      version: m.version, hardwareClass: m.classId, delivery,
      payload: delivered,
      manifest: header.coseBytes, sequence: m.sequence, vendorId: m.vendorId, ...(header.kid ? { keyId: header.kid } : {}), event,
      signedBy: String(event['signedBy']).startsWith('server') ? 'server' : 'uploader',
      ...(req.actor === undefined ? {} : { actor: req.actor }), ...(req.userId === undefined ? {} : { uploadedBy: req.userId }),
    };
  };

  if (!isPackage(req.body)) {
    const { key, version, hardwareClass } = rawImageAccepted(keys, req);
    // Signed under the class lock, with the next sequence number.
    return insertSignedFirmware(db, {
      hardwareClass, version,
      build: (highest, live) => {
        const bytes = Buffer.from(signPackage({
          payload: req.body, key, sequence: (highest ?? 0) + 1, vendorId: DEFAULT_VENDOR_ID, classId: hardwareClass, version,
        }));
        const { header, payload } = parsePackage(bytes);
        return row(bytes, header, payload, { signedBy: `server:${kidHex(key.kid)}` }, highest, live);
      },
    });
  }

  const { header, payload, signer } = await checkedPackage(keys, req);
  const m = header.manifest;
  return insertSignedFirmware(db, {
    hardwareClass: m.classId, version: m.version,
    // A revocation of the signer waits for this upload (and then revokes its image), or went first and refuses it.
    check: (tx) => keys.holdSigner(tx, signer.kid),
    build: (highest, live) => {
      // Anti-rollback: strictly above the class's highest (SUIT's sequence number rule).
      if (highest === null || m.sequence > highest || live.length > 0) return row(req.body, header, payload, { signedBy: 'uploader' }, highest, live);
      if (!req.force) {
        throw new UploadError('FERRY_UPLOAD_ROLLBACK', `sequence number ${m.sequence} is not above ${highest}, the highest for hardware class ${m.classId}; `
          + 'sign the image with a higher --sequence, or add ?force=true to store it anyway');
      }
      log.warn({ hardwareClass: m.classId, version: m.version, sequence: m.sequence, highestSequence: highest }, 'firmware rollback forced');
      return row(req.body, header, payload, { signedBy: 'uploader', forced: true, highestSequence: highest }, highest, live);
    },
  });
}

/**
 * The download path serves images from memory; one larger than the whole image cache could not be
 * held there, so it is refused up front, with both settings named, rather than served slowly.
 */
function refuseBeyondCache(size: number, cacheBytes: number | undefined): void {
  if (cacheBytes === undefined || size <= cacheBytes) return;
  const mib = (n: number): string => `${(n / 1048576).toFixed(n % 1048576 === 0 ? 0 : 1)} MiB`;
  throw new UploadError('FERRY_UPLOAD_OVER_CACHE', `the image devices would receive is ${size} bytes (${mib(size)}), more than the whole image cache `
    + `(--image-cache-mb / FERRY_IMAGE_CACHE_MB, ${mib(cacheBytes)}) can hold; start the server with a larger --image-cache-mb, `
    + 'or keep --max-upload-mb / FERRY_MAX_UPLOAD_MB at or below it');
}

/** A package: verified, with a payload, and its manifest agrees with the query. */
async function checkedPackage(keys: KeyRegistry, req: UploadRequest): Promise<{ header: PackageHeader; payload: Uint8Array; signer: TrustAnchor }> {
  const { header, payload } = parsePackage(req.body); // a malformed package is reported as such even on a server without keys
  const trust = await keys.trustFor(header.kid);
  refuseDeadKey(header, trust.dead);
  if (trust.anchors.length === 0) {
    throw new UploadError('FERRY_UPLOAD_NO_TRUSTED_KEYS', 'no trusted keys are configured: start the server with --trusted-keys FILE (a public key from ferry keygen), or add one with ferry keys add');
  }
  const signer = verifyManifestSignature(header, trust.anchors);
  checkPayload(header, payload);
  const m = header.manifest;
  if (m.payloadSize === 0) throw new UploadError('FERRY_UPLOAD_EMPTY', 'the package\'s payload is empty');
  if (req.version !== undefined && req.version !== m.version) {
    throw new UploadError('FERRY_UPLOAD_QUERY_MISMATCH', `the query says version ${req.version}, the package's manifest says ${m.version}; leave the query out or make them agree`);
  }
  if (req.hardwareClass !== undefined && req.hardwareClass !== m.classId) {
    throw new UploadError('FERRY_UPLOAD_QUERY_MISMATCH', `the query says hardwareClass ${req.hardwareClass}, the package's manifest says class ${m.classId}; leave the query out or make them agree`);
  }
  return { header, payload, signer };
}

/** A package whose signature verifies with a revoked or expired key of the registry: refused, naming the key. */
function refuseDeadKey(header: PackageHeader, dead: Trust['dead']): void {
  for (const { key, why } of dead) {
    try {
      verifyManifestSignature(header, [key]);
    } catch {
      continue; // not signed by this key: judged against the live ones
    }
    throw deadKeyError(key, why);
  }
}

/** A raw image is taken only with a signing key, a version and a class. */
function rawImageAccepted(keys: KeyRegistry, req: UploadRequest): { key: SigningKey; version: string; hardwareClass: string } {
  const key = keys.signingKey;
  if (key === undefined) {
    throw new UploadError('FERRY_UPLOAD_UNSIGNED', 'this is a raw image, not a signed package (it does not start with FRY1): sign it with '
      + '"ferry sign --key KEY --image FILE --version V --class C --out PKG" and upload the package, or start the server with --signing-key to have raw images signed on upload');
  }
  if (req.version === undefined || req.hardwareClass === undefined) {
    throw new UploadError('FERRY_UPLOAD_QUERY_MISSING', 'a raw image needs ?version= and ?hardwareClass= (a signed package carries them in its manifest)');
  }
  return { key, version: req.version, hardwareClass: req.hardwareClass };
}
