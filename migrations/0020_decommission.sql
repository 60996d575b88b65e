-- A decommissioned device: taken out of the fleet for good (scrapped, returned, stolen). Its row
-- stays, as updates, campaign memberships and the audit log point to it; its credentials are
-- deleted and a Register under its endpoint name is refused. It has no registration, but keeps
-- the times of its last one (or none, when it was decommissioned while still provisioned).
ALTER TABLE devices DROP CONSTRAINT devices_status_check;
ALTER TABLE devices ADD CONSTRAINT devices_status_check
  CHECK (status IN ('registered', 'expired', 'deregistered', 'provisioned', 'decommissioned'));
ALTER TABLE devices DROP CONSTRAINT devices_registration_times;
ALTER TABLE devices ADD CONSTRAINT devices_registration_times CHECK (CASE
  WHEN status = 'provisioned'
  THEN registration_id IS NULL AND lifetime IS NULL AND registered_at IS NULL AND last_seen IS NULL AND expires_at IS NULL
  WHEN status = 'decommissioned' THEN registration_id IS NULL
  ELSE lifetime IS NOT NULL AND registered_at IS NOT NULL AND last_seen IS NOT NULL AND expires_at IS NOT NULL END);
ALTER TABLE devices ADD COLUMN decommissioned_at timestamptz;
ALTER TABLE devices ADD COLUMN decommission_reason text;
ALTER TABLE devices ADD CONSTRAINT devices_decommissioned CHECK ((status = 'decommissioned') = (decommissioned_at IS NOT NULL));
