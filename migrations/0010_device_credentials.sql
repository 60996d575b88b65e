-- DTLS pre-shared keys, one credential per device. A key is stored encrypted (AES-256-GCM under
-- the server's master key, --secrets-key-file): `key_ct` is the ciphertext with its 16-byte tag,
-- `key_nonce` its 12-byte nonce; the device's endpoint and the identity are the additional data, so
-- a ciphertext copied to another row does not decrypt. A rotation keeps the key it replaces in the
-- previous_* slot until the device has completed a handshake with the new one.
CREATE TABLE device_credentials (
  device_id          bigint PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
  identity           text NOT NULL UNIQUE,
  key_ct             bytea NOT NULL,
  key_nonce          bytea NOT NULL CHECK (length(key_nonce) = 12),
  previous_identity  text UNIQUE,
  previous_key_ct    bytea,
  previous_key_nonce bytea CHECK (length(previous_key_nonce) = 12),
  created_at         timestamptz NOT NULL DEFAULT now(),
  rotated_at         timestamptz,
  last_handshake_at  timestamptz,
  CHECK ((previous_identity IS NULL) = (previous_key_ct IS NULL) AND (previous_key_ct IS NULL) = (previous_key_nonce IS NULL))
);

-- One row (id 1): the master key's check value (an HMAC of a fixed label under it, so a server
-- started with another key is stopped before it serves), and the generation, which every change to
-- device_credentials moves, so each node can tell its cache of decrypted keys is stale.
CREATE TABLE credentials_state (
  id          integer PRIMARY KEY CHECK (id = 1),
  key_check   text CHECK (key_check ~ '^[0-9a-f]{64}$'),
  generation  bigint NOT NULL DEFAULT 0,
  changed_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO credentials_state (id) VALUES (1);
