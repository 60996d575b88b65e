-- The audit log made tamper-evident (server/audit/chain.ts): each event, once sealed, has a
-- sequence number and a link, HMAC-SHA256 under a key the database never holds over the row's
-- content and the link before it. The chain's head and the boundary of what was archived live in
-- audit_chain; signed checkpoints of the head in audit_checkpoints; archived events in events_archive.

ALTER TABLE events ADD COLUMN seq bigint;   -- position in the chain; NULL until sealed
ALTER TABLE events ADD COLUMN link text;    -- 64 hex digits; NULL until sealed
CREATE UNIQUE INDEX events_seq ON events (seq) WHERE seq IS NOT NULL;
CREATE INDEX events_unsealed ON events (id) WHERE seq IS NULL;

-- An event's update id is part of what is sealed: a purged device's updates (deleted with it)
-- must not rewrite the events naming them, so the reference becomes a plain number.
ALTER TABLE events DROP CONSTRAINT IF EXISTS events_update_id_fkey;

CREATE TABLE audit_chain (
  id         smallint PRIMARY KEY CHECK (id = 1),        -- one row
  seq        bigint NOT NULL,                            -- the head: last sequence number sealed
  link       text NOT NULL,                              -- and its link
  keyed      boolean,                                    -- set by the first seal: HMAC (true) or plain SHA-256
  key_check  text,                                       -- HMAC of a fixed label under the audit key (keyed chains)
  base_seq   bigint NOT NULL,                            -- events up to here were archived
  base_link  text NOT NULL,                              -- the link of base_seq: verification starts from it
  base_mac   text                                        -- the boundary, signed; NULL while nothing was archived
);

CREATE TABLE audit_checkpoints (
  id    bigserial PRIMARY KEY,
  seq   bigint NOT NULL,
  link  text NOT NULL,
  at    text NOT NULL,                                   -- ISO 8601, as signed
  mac   text NOT NULL
);
CREATE INDEX audit_checkpoints_seq ON audit_checkpoints (seq);

CREATE TABLE events_archive (
  id          bigint PRIMARY KEY,
  at          timestamptz NOT NULL,
  actor       text NOT NULL,
  kind        text NOT NULL,
  device_id   bigint,
  update_id   bigint,
  data        jsonb NOT NULL,
  endpoint    text,
  seq         bigint NOT NULL UNIQUE,
  link        text NOT NULL,
  archived_at timestamptz NOT NULL DEFAULT now()
);
