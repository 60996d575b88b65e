/**
 * A release's state changes, in the database: approve (four-eyes and testbed evidence), deprecate,
 * revoke (through halt.ts, which also pauses the campaigns rolling it out), and the automatic
 * uploaded → testing when a testbed campaign starts with it. Each is one transaction with its
 * firmware.state_changed event {firmwareId, version, hardwareClass, from, to, reason, user}. The
 * rules are release-rules.ts's and evidence.ts's; this file only applies them.
 */
import type { AlertSink } from '../alerts/kinds.ts';
import { FirmwareNotFoundError } from '../errors.ts';
import type { Db, Queryable } from '../store/db.ts';
import { recordEvent } from '../store/events.ts';
import { getFirmware } from '../store/firmware.ts';
import type { FirmwareImage, ReleaseState } from '../store/rows.ts';
import { evidenceFacts } from '../store/testbed.ts';
import { judgeEvidence, type Evidence } from './evidence.ts';
import { revokeReleases } from './halt.ts';
import { fourEyesRefusal, refuse, transitionRefusal, TRANSITIONS, type ReleaseAction } from './release-rules.ts';

export interface ReleaseChange {
  firmwareId: number;
  reason?: string | undefined;
  /** 'token:<name>' through the API, 'engine' for the automatic change. */
  actor: string;
  /** The user behind the token (named in the event) and its id (the four-eyes rule). */
  user?: string | undefined;
  userId?: number | undefined;
}

/** The image, locked for the change; a 404 when there is none (or it was deleted). */
async function lockedImage(q: Queryable, id: number): Promise<FirmwareImage> {
  await q.query('SELECT id FROM firmware_images WHERE id = $1 AND deleted_at IS NULL FOR UPDATE', [id]);
  const image = await getFirmware(q, id);
  if (!image) throw new FirmwareNotFoundError(`no firmware image ${id}`);
  return image;
}

/** Moves `image` to `to` with its event, inside a transaction; extra goes into the event's data (a campaign id). */
export async function moveRelease(q: Queryable, image: FirmwareImage, to: ReleaseState, c: Omit<ReleaseChange, 'firmwareId' | 'userId'>, extra: Record<string, unknown> = {}): Promise<void> {
  await q.query('UPDATE firmware_images SET state = $2, state_changed_at = now() WHERE id = $1', [image.id, to]);
  await recordEvent(q, {
    kind: 'firmware.state_changed', actor: c.actor,
    data: {
      firmwareId: image.id, version: image.version, hardwareClass: image.hardwareClass, from: image.state, to,
      ...(c.reason ? { reason: c.reason } : {}), ...(c.user ? { user: c.user } : {}), ...extra,
    },
  });
}

/** A testbed campaign starts with an image still `uploaded`: it is testing now (inside the start's transaction). */
export async function startTesting(q: Queryable, image: FirmwareImage, campaignId: number, actor: string): Promise<void> {
  if (image.state !== 'uploaded') return;
  await moveRelease(q, image, TRANSITIONS.test.to, { actor, reason: `testbed campaign ${campaignId} started` }, { campaignId });
}

/** The image's testbed evidence, judged now. */
export async function releaseEvidence(q: Queryable, id: number): Promise<Evidence> {
  const image = await getFirmware(q, id);
  if (!image) throw new FirmwareNotFoundError(`no firmware image ${id}`);
  return judgeEvidence(await evidenceFacts(q, image));
}

/**
 * Approve or deprecate: refused (ReleaseError) when the state does not allow it; approval also when
 * the approver uploaded the image, or its testbed evidence falls short (the message lists what).
 */
export async function changeRelease(db: Db, action: Exclude<ReleaseAction, 'test' | 'revoke'>, c: ReleaseChange): Promise<FirmwareImage> {
  await db.transaction(async (tx) => {
    const image = await lockedImage(tx, c.firmwareId);
    refuse(transitionRefusal(image, action));
    if (action === 'approve') {
      refuse(fourEyesRefusal(image, c.userId, c.user));
      const evidence = judgeEvidence(await evidenceFacts(tx, image));
      if (!evidence.sufficient) {
        refuse({ code: 'FERRY_RELEASE_NO_EVIDENCE', message: `firmware image ${image.id} (${image.version}) lacks testbed evidence: ${evidence.missing.join('; ')}` });
      }
    }
    await moveRelease(tx, image, TRANSITIONS[action].to, c);
  });
  return (await getFirmware(db, c.firmwareId))!;
}

/** Revoke: any state but revoked; the campaigns rolling it out pause, with alerts (halt.ts). */
export async function revokeRelease(db: Db, alerts: AlertSink | undefined, c: ReleaseChange & { reason: string }): Promise<{ image: FirmwareImage; pausedCampaigns: number[] }> {
  const image = await getFirmware(db, c.firmwareId);
  if (!image) throw new FirmwareNotFoundError(`no firmware image ${c.firmwareId}`);
  refuse(transitionRefusal(image, 'revoke'));
  const halted = await revokeReleases(db, alerts, { firmwareIds: [image.id], reason: c.reason, actor: c.actor, user: c.user });
  if (halted.revoked.length === 0) refuse(transitionRefusal({ ...image, state: 'revoked' }, 'revoke'));
  return { image: (await getFirmware(db, image.id))!, pausedCampaigns: halted.paused };
}
