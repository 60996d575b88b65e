-- The registry of trusted package keys: the public keys firmware packages may be signed by.
--
-- A key added through the API (source 'api') has a validity period and can be revoked; a key the
-- server reads from a file at start-up (--trusted-keys, and the public half of --signing-key;
-- source 'file') is recorded here so it is listed and named, and is managed by its file: it is
-- neither revoked nor limited here. kid is the COSE key id (the first 8 bytes of SHA-256 over the
-- SubjectPublicKeyInfo), what firmware_images.key_id holds: one key per kid.
CREATE TABLE trusted_keys (
  id             bigserial PRIMARY KEY,
  name           text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9._@-]{1,64}$'),
  alg            text NOT NULL CHECK (alg IN ('ed25519', 'es256')),
  kid            bytea NOT NULL UNIQUE,
  public_key     bytea NOT NULL,
  not_before     timestamptz NOT NULL DEFAULT now(),
  not_after      timestamptz,
  revoked_at     timestamptz,
  revoke_reason  text,
  revoked_by     text,
  source         text NOT NULL CHECK (source IN ('api', 'file')),
  created_by     text NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  -- Moved on every change: servers sharing the database reload their trust anchors when it moves.
  updated_at     timestamptz NOT NULL DEFAULT now(),
  CHECK (not_after IS NULL OR not_after > not_before),
  CHECK (source = 'api' OR (revoked_at IS NULL AND not_after IS NULL)),
  CHECK ((revoked_at IS NULL) = (revoke_reason IS NULL))
);

-- The images a key signed (listing counts them; revoking the key revokes them).
CREATE INDEX firmware_images_key_id ON firmware_images (key_id) WHERE key_id IS NOT NULL;
