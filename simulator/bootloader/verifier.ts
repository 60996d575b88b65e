/**
 * Checks a firmware image as its bytes arrive, in order, so a device never holds it whole: the
 * same check runs on a download (before anything reaches flash) and on a slot at boot.
 *
 * FRY1 packages (protocols/package.ts): the header is held in RAM until the COSE_Sign1 manifest
 * verifies on the device's own trust anchors, its class (and vendor) match, its sequence is not
 * below the device's security counter (MCUboot's rule: equal is allowed) and it fits; only then
 * are bytes `accepted`, and the payload runs through a SHA-256 checked at `finish`.
 * FRYSIM01 images (../image.ts, unsigned) are accepted only by a device without trust anchors.
 *
 * Failures carry the LwM2M Object 5 Update Result (Core, Appendix E.6, resource 5): 2 not enough
 * flash, 3 out of RAM, 5 integrity check failure, 6 unsupported package type, 8 update failed.
 */
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { DecodeError } from '../../protocols/errors.ts';
import { UpdateResult } from '../../protocols/objects.ts';
import { PACKAGE_MAGIC, PackageError, readPackageHeader, verifyManifestSignature } from '../../protocols/package.ts';
import type { PackageHeader, TrustAnchor } from '../../protocols/package.ts';
import { SIM_IMAGE_MAGIC, SimImageVerifier } from '../image.ts';

export interface DeviceIdentity {
  /** Hardware class a package must name (manifest class id). */
  classId: string;
  /** When set, the manifest's vendor id must match. */
  vendorId?: string;
  anchors: readonly TrustAnchor[];
  /** The anti-rollback counter: the sequence of the last confirmed package. */
  securityCounter: number;
  /** Largest package header held in RAM before it is verified (default 8 KiB). */
  maxHeaderBytes?: number;
}

export interface ImageInfo {
  format: 'fry1' | 'frysim01';
  version: string;
  sequence: number;
  /** Image bytes in total (header and payload). */
  size: number;
}

export type Failure = { ok: false; result: number; reason: string };
export type Verdict = { ok: true; image: ImageInfo } | Failure;

export const fail = (result: number, reason: string): Failure => ({ ok: false, result, reason });

const SIM_PREFIX = SIM_IMAGE_MAGIC.subarray(0, 4);

/** A memo of signature checks: the same manifest on the same anchors verifies the same way. */
const signatureMemo = new WeakMap<readonly TrustAnchor[], Map<string, string | true>>();

export class ImageVerifier {
  readonly #id: DeviceIdentity;
  readonly #capacity: number;
  #format: 'fry1' | 'frysim01' | undefined;
  #held: Buffer[] = [];
  #heldBytes = 0;
  #header: PackageHeader | undefined;
  #hash: Hash | undefined;
  #sim: SimImageVerifier | undefined;
  #payloadBytes = 0;
  #bytes = 0;
  #failure: Failure | undefined;

  /** `capacity`: bytes of the slot an image may fill. */
  constructor(id: DeviceIdentity, capacity: number) {
    this.#id = id;
    this.#capacity = capacity;
  }

  /** True once bytes may be written to flash (a verified header, or an unsigned simulator image). */
  get accepted(): boolean {
    return this.#failure === undefined && (this.#header !== undefined || this.#sim !== undefined);
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** The size the transfer announces (Size2 / Size1): a package that cannot fit fails now. */
  announce(total: number): Failure | undefined {
    if (total > this.#capacity) this.#failure ??= fail(UpdateResult.NOT_ENOUGH_FLASH, `the package is ${total} bytes, ${this.#capacity} fit`);
    return this.#failure;
  }

  /** Feeds the next bytes; returns the failure once one is certain (and on every later call). */
  update(chunk: Buffer): Failure | undefined {
    if (this.#failure !== undefined) return this.#failure;
    this.#bytes += chunk.length;
    if (this.#bytes > this.#capacity) return (this.#failure = fail(UpdateResult.NOT_ENOUGH_FLASH, `the package is larger than the ${this.#capacity} bytes that fit`));
    if (this.#sim !== undefined) return this.#updateSim(chunk);
    if (this.#header !== undefined) return this.#updatePayload(chunk);
    this.#held.push(chunk);
    this.#heldBytes += chunk.length;
    const prefix = this.#held.length === 1 ? chunk : Buffer.concat(this.#held, this.#heldBytes);
    this.#held = [prefix];
    this.#failure = this.#format === undefined ? this.#pickFormat(prefix) : undefined;
    if (this.#failure !== undefined || this.#format === undefined) return this.#failure;
    if (this.#format === 'frysim01') {
      this.#sim = new SimImageVerifier();
      this.#held = [];
      this.#bytes -= prefix.length;
      return this.update(prefix);
    }
    return this.#readHeader(prefix);
  }

  /** The verdict, once every byte has been fed. */
  finish(): Verdict {
    if (this.#failure !== undefined) return this.#failure;
    if (this.#sim !== undefined) {
      const v = this.#sim.finish();
      if (v.ok) return { ok: true, image: { format: 'frysim01', version: v.version, sequence: 0, size: this.#bytes } };
      return v.reason === 'integrity'
        ? fail(UpdateResult.INTEGRITY_CHECK_FAILURE, 'SHA-256 of the image body does not match its header')
        : fail(UpdateResult.UNSUPPORTED_PACKAGE_TYPE, 'not a simulator image');
    }
    const h = this.#header;
    if (h === undefined || this.#hash === undefined) return fail(UpdateResult.INTEGRITY_CHECK_FAILURE, `the package ends inside its header (${this.#bytes} bytes)`);
    const m = h.manifest;
    if (this.#payloadBytes !== m.payloadSize) return fail(UpdateResult.INTEGRITY_CHECK_FAILURE, `the payload has ${this.#payloadBytes} bytes, the manifest says ${m.payloadSize}`);
    if (!this.#hash.digest().equals(m.payloadDigest)) return fail(UpdateResult.INTEGRITY_CHECK_FAILURE, 'the payload does not match the SHA-256 digest in the manifest');
    return { ok: true, image: { format: 'fry1', version: m.version, sequence: m.sequence, size: h.headerLength + m.payloadSize } };
  }

  #pickFormat(prefix: Buffer): Failure | undefined {
    const n = Math.min(prefix.length, 4);
    const starts = (magic: Uint8Array): boolean => prefix.subarray(0, n).equals(Buffer.from(magic.subarray(0, n)));
    const fry1 = starts(PACKAGE_MAGIC);
    const sim = starts(SIM_PREFIX);
    if (!fry1 && !sim) return fail(UpdateResult.UNSUPPORTED_PACKAGE_TYPE, 'not a Ferry package (no FRY1 magic)');
    if (n < 4) return undefined;
    if (fry1) this.#format = 'fry1';
    else if (this.#id.anchors.length > 0) return fail(UpdateResult.UNSUPPORTED_PACKAGE_TYPE, 'an unsigned simulator image, and this device only takes signed packages');
    else this.#format = 'frysim01';
    return undefined;
  }

  #readHeader(prefix: Buffer): Failure | undefined {
    let read;
    try {
      read = readPackageHeader(prefix);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      return (this.#failure = fail(UpdateResult.INTEGRITY_CHECK_FAILURE, `bad package header: ${err.reason}`));
    }
    if ('need' in read) {
      const limit = this.#id.maxHeaderBytes ?? 8192;
      if (read.need > limit) return (this.#failure = fail(UpdateResult.OUT_OF_RAM, `the package header needs ${read.need} bytes of RAM, ${limit} are free`));
      return undefined;
    }
    const header = read.header;
    const refused = this.#checkManifest(header);
    if (refused !== undefined) return (this.#failure = refused);
    this.#header = header;
    this.#hash = createHash('sha256');
    this.#held = [];
    return this.#updatePayload(prefix.subarray(header.headerLength));
  }

  #checkManifest(header: PackageHeader): Failure | undefined {
    const m = header.manifest;
    const signature = verifyMemo(header, this.#id.anchors);
    if (signature !== true) return signature;
    if (m.classId !== this.#id.classId) return fail(UpdateResult.UNSUPPORTED_PACKAGE_TYPE, `the package is for class ${m.classId}, this device is ${this.#id.classId}`);
    if (this.#id.vendorId !== undefined && m.vendorId !== this.#id.vendorId) return fail(UpdateResult.UNSUPPORTED_PACKAGE_TYPE, `the package is from vendor ${m.vendorId}, not ${this.#id.vendorId}`);
    if (m.sequence < this.#id.securityCounter) return fail(UpdateResult.UPDATE_FAILED, `rollback refused: sequence ${m.sequence} is below the security counter ${this.#id.securityCounter}`);
    const size = header.headerLength + m.payloadSize;
    if (size > this.#capacity) return fail(UpdateResult.NOT_ENOUGH_FLASH, `the package is ${size} bytes, ${this.#capacity} fit`);
    return undefined;
  }

  #updatePayload(chunk: Buffer): Failure | undefined {
    const size = this.#header?.manifest.payloadSize ?? 0;
    this.#payloadBytes += chunk.length;
    if (this.#payloadBytes > size) return (this.#failure = fail(UpdateResult.INTEGRITY_CHECK_FAILURE, `more than the ${size} payload bytes the manifest says`));
    this.#hash?.update(chunk);
    return undefined;
  }

  #updateSim(chunk: Buffer): Failure | undefined {
    this.#sim?.update(chunk);
    if (this.#sim?.plausible === false) return (this.#failure = fail(UpdateResult.UNSUPPORTED_PACKAGE_TYPE, 'not a simulator image (bad magic)'));
    return undefined;
  }
}

/** verifyManifestSignature, remembered per anchor list and manifest: true, or the failure. */
function verifyMemo(header: PackageHeader, anchors: readonly TrustAnchor[]): true | Failure {
  let memo = signatureMemo.get(anchors);
  if (memo === undefined) signatureMemo.set(anchors, (memo = new Map()));
  const key = Buffer.from(header.coseBytes).toString('base64');
  const known = memo.get(key);
  if (known !== undefined) return known === true ? true : fail(UpdateResult.INTEGRITY_CHECK_FAILURE, known);
  try {
    verifyManifestSignature(header, anchors);
    memo.set(key, true);
    return true;
  } catch (err) {
    if (!(err instanceof PackageError) && !(err instanceof DecodeError)) throw err;
    const result = err instanceof PackageError && err.code === 'unsupported-alg' ? UpdateResult.UNSUPPORTED_PACKAGE_TYPE : UpdateResult.INTEGRITY_CHECK_FAILURE;
    if (result !== UpdateResult.INTEGRITY_CHECK_FAILURE) return fail(result, err.reason);
    memo.set(key, err.reason);
    return fail(result, err.reason);
  }
}
