-- Release governance, the parts every piece of it shares.
--
-- Named users: each API token belongs to one. A user holds a set of roles; a token carries one of
-- them (or a level below one it holds). `approver` is a role of its own, beside the levels
-- viewer < operator < admin: the user who approves a release must not be the user who uploaded it.
CREATE TABLE users (
  id           bigserial PRIMARY KEY,
  name         text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9._@-]{1,64}$'),
  roles        text[] NOT NULL CHECK (roles <@ ARRAY['viewer', 'operator', 'admin', 'approver']::text[]),
  created_at   timestamptz NOT NULL DEFAULT now(),
  created_by   text NOT NULL,
  disabled_at  timestamptz
);

ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check CHECK (role IN ('viewer', 'operator', 'admin', 'approver'));
ALTER TABLE api_tokens ADD COLUMN user_id bigint REFERENCES users (id);

-- Tokens made before users existed: each name becomes a user holding the roles of its tokens.
INSERT INTO users (name, roles, created_by)
  SELECT name, array_agg(DISTINCT role), 'migration' FROM api_tokens GROUP BY name;
UPDATE api_tokens t SET user_id = u.id FROM users u WHERE u.name = t.name;
ALTER TABLE api_tokens ALTER COLUMN user_id SET NOT NULL;
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- A release's life: uploaded → testing (a testbed campaign runs it) → approved (by an approver who
-- did not upload it, with testbed evidence) → deprecated or revoked. Images stored before this
-- existed had reached devices with no approval step: they count as approved.
ALTER TABLE firmware_images ADD COLUMN state text NOT NULL DEFAULT 'approved'
  CHECK (state IN ('uploaded', 'testing', 'approved', 'deprecated', 'revoked'));
ALTER TABLE firmware_images ALTER COLUMN state SET DEFAULT 'uploaded';
ALTER TABLE firmware_images ADD COLUMN state_changed_at timestamptz;
ALTER TABLE firmware_images ADD COLUMN uploaded_by bigint REFERENCES users (id);   -- NULL: before users
-- Who signed the manifest: the release machine (a package uploaded signed) or this server (a raw
-- image signed with --signing-key, a lab mode).
ALTER TABLE firmware_images ADD COLUMN signed_by text NOT NULL DEFAULT 'uploader' CHECK (signed_by IN ('uploader', 'server'));

-- Testbed devices are marked by an operator (a device cannot declare itself one); a testbed
-- campaign claims only them.
ALTER TABLE devices ADD COLUMN testbed boolean NOT NULL DEFAULT false;
ALTER TABLE campaigns ADD COLUMN testbed boolean NOT NULL DEFAULT false;
