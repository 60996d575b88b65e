-- A device provisioned before it has ever registered (its credentials made for a factory batch):
-- the provisioning makes its row, status 'provisioned'. It has had no registration, so it has no
-- lifetime, no registration time, no expiry and has never been seen: those are NULL, and only
-- then. Its Register later takes the same row (the upsert by endpoint) and fills them all; a row
-- never goes back to 'provisioned'.
ALTER TABLE devices DROP CONSTRAINT devices_status_check;
ALTER TABLE devices ADD CONSTRAINT devices_status_check
  CHECK (status IN ('registered', 'expired', 'deregistered', 'provisioned'));
ALTER TABLE devices ALTER COLUMN lifetime DROP NOT NULL;
ALTER TABLE devices ALTER COLUMN registered_at DROP NOT NULL;
ALTER TABLE devices ALTER COLUMN last_seen DROP NOT NULL;
ALTER TABLE devices ALTER COLUMN expires_at DROP NOT NULL;
ALTER TABLE devices ADD CONSTRAINT devices_registration_times CHECK (CASE WHEN status = 'provisioned'
  THEN registration_id IS NULL AND lifetime IS NULL AND registered_at IS NULL AND last_seen IS NULL AND expires_at IS NULL
  ELSE lifetime IS NOT NULL AND registered_at IS NOT NULL AND last_seen IS NOT NULL AND expires_at IS NOT NULL END);
