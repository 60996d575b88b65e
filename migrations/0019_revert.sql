-- Reverting a campaign: what each device ran before an update, releases re-issued under a higher
-- sequence number, and which campaign a revert campaign undoes.
--
-- The device's firmware version when the update was made, and the release it was (the original
-- image of that class and version, when Ferry holds one): a revert takes the device back there.
ALTER TABLE device_updates ADD COLUMN from_version text;
ALTER TABLE device_updates ADD COLUMN from_firmware_id bigint REFERENCES firmware_images (id);

-- A re-issue: the same payload as a live image of the same class and version, signed again with a
-- higher sequence number, so devices that ran something newer take the old firmware back (their
-- anti-rollback refuses the first signing). It points at the original; several may share one.
ALTER TABLE firmware_images ADD COLUMN reissue_of bigint REFERENCES firmware_images (id);
CREATE INDEX firmware_images_reissues ON firmware_images (reissue_of) WHERE reissue_of IS NOT NULL;
-- One live original per class and version; re-issues stand beside it.
DROP INDEX firmware_images_live_version;
CREATE UNIQUE INDEX firmware_images_live_version ON firmware_images (hardware_class, version)
  WHERE deleted_at IS NULL AND reissue_of IS NULL;

-- The campaign a revert campaign undoes, and the release it takes devices back to.
ALTER TABLE campaigns ADD COLUMN reverts bigint REFERENCES campaigns (id);
ALTER TABLE campaigns ADD COLUMN revert_of_release text;
CREATE INDEX campaigns_reverts ON campaigns (reverts) WHERE reverts IS NOT NULL;
-- A campaign that paused itself with autoRevert reverts once its updates in flight have finished
-- (so none lands on the release being taken back after the revert chose its devices); any move
-- out of paused (resumed, aborted, reverted) clears it.
ALTER TABLE campaigns ADD COLUMN revert_pending boolean NOT NULL DEFAULT false;
