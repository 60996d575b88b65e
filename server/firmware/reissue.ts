/**
 * A re-issue: a version the class already has live, uploaded again. It is taken when it is the
 * same firmware signed anew — the payload digest its manifest carries equals that of every live
 * image of the class and version — with a sequence number above the class's highest, so devices
 * that have run something newer (and whose anti-rollback refuses the first signing) take it. It is
 * stored beside the original (reissue_of) and inherits its release state: an approved or
 * deprecated original gives an approved re-issue (the same firmware needs no second approval); a
 * revoked one cannot be re-issued. Anything else of that version is a duplicate. Pure: the stored
 * manifests in, the decision out.
 */
import { readManifest } from '../../protocols/package.ts';
import { DuplicateVersionError, UploadError } from '../errors.ts';
import type { LiveRelease } from '../store/firmware.ts';
import type { ReleaseState } from '../store/rows.ts';

export interface Reissue {
  /** The original image (the lineage's first). */
  of: number;
  state: ReleaseState;
  /** The original's state it comes from. */
  inheritedFrom: ReleaseState;
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** The re-issue `live` (non-empty) allows for a manifest with this digest and sequence, or the refusal. */
export function reissueOf(o: {
  hardwareClass: string; version: string; payloadDigest: Uint8Array; sequence: number; highest: number | null; live: readonly LiveRelease[];
}): Reissue {
  const digest = hex(o.payloadDigest);
  for (const image of o.live) {
    const theirs = image.manifest === null ? null : hex(readManifest(image.manifest).payloadDigest);
    if (theirs !== digest) {
      throw new DuplicateVersionError(o.hardwareClass, o.version, theirs === null
        ? `image ${image.id} has no signed manifest to compare payloads with`
        : `image ${image.id} has another payload (SHA-256 ${theirs}, this package's is ${digest}); only the same payload may be re-issued`);
    }
  }
  const original = o.live.find((i) => i.reissueOf === null) ?? o.live[0]!;
  const of = original.reissueOf ?? original.id;
  const revoked = o.live.find((i) => i.state === 'revoked');
  if (revoked) {
    throw new UploadError('FERRY_UPLOAD_REISSUE_REVOKED', `version ${o.version} of class ${o.hardwareClass} (image ${revoked.id}) is revoked: `
      + 'a revoked release cannot be re-issued; upload a fixed version instead');
  }
  if (o.highest !== null && o.sequence <= o.highest) {
    throw new DuplicateVersionError(o.hardwareClass, o.version, `image ${of} has this payload; to re-issue it, sign it again with a sequence number `
      + `above ${o.highest}, the class's highest (this package has ${o.sequence}): ferry sign --sequence N where N > ${o.highest}`);
  }
  const inheritedFrom = original.state;
  const approved = o.live.some((i) => i.state === 'approved' || i.state === 'deprecated');
  return { of, state: approved ? 'approved' : 'uploaded', inheritedFrom };
}
