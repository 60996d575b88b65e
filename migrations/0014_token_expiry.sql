-- An API token may expire: past expires_at it is refused as it would be revoked, but with its own
-- answer (FERRY_TOKEN_EXPIRED), so its holder knows to ask for a new one rather than suspect a
-- revocation. NULL: it never expires (the configured admin token and the first-start one).
ALTER TABLE api_tokens ADD COLUMN expires_at timestamptz;
