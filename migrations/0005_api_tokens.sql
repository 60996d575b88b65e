-- Bearer tokens for the admin API. Only the SHA-256 of a token is kept (a token is 32 random bytes,
-- so a plain digest is enough, as GitHub and Stripe do); `prefix` is its first characters, shown
-- in listings so an operator can tell tokens apart. A revoked token stays, for the audit log.
CREATE TABLE api_tokens (
  id            bigserial PRIMARY KEY,
  name          text NOT NULL,
  role          text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
  token_hash    text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
  prefix        text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  created_by    text NOT NULL,                         -- 'token:<name>', 'config' or 'first-start'
  last_used_at  timestamptz,
  revoked_at    timestamptz
);
-- A name means one live token (it is what the audit log records).
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;

-- Firmware is deleted softly: device_updates.firmware_id keeps pointing at the row (the history
-- stays whole), the bytes go. A deleted version may be uploaded again, so (class, version) is
-- unique among live images only; sequence numbers of deleted images still count for anti-rollback.
ALTER TABLE firmware_images ADD COLUMN deleted_at timestamptz;
ALTER TABLE firmware_images DROP CONSTRAINT firmware_images_hardware_class_version_key;
CREATE UNIQUE INDEX firmware_images_live_version ON firmware_images (hardware_class, version) WHERE deleted_at IS NULL;

-- The audit log, filtered by actor and kind, newest first.
CREATE INDEX events_actor ON events (actor, id);
CREATE INDEX events_kind ON events (kind text_pattern_ops, id);

-- The devices list, filtered by status, version, class and last contact.
CREATE INDEX devices_last_seen ON devices (last_seen, id);
