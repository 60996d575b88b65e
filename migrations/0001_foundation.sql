-- Devices, firmware images, update jobs and the event log (the audit trail).

CREATE TABLE devices (
  id               bigserial PRIMARY KEY,
  endpoint         text NOT NULL UNIQUE,                 -- LwM2M endpoint client name (ep=)
  registration_id  text UNIQUE,                          -- current /rd/<id>; NULL once de-registered
  status           text NOT NULL DEFAULT 'registered'
                   CHECK (status IN ('registered', 'expired', 'deregistered')),
  lifetime         integer NOT NULL CHECK (lifetime > 0), -- seconds (lt=)
  lwm2m_version    text NOT NULL DEFAULT '1.0',
  binding          text NOT NULL DEFAULT 'U',
  queue_mode       boolean NOT NULL DEFAULT false,
  sms_number       text,
  object_links     text NOT NULL DEFAULT '',             -- the registration's link-format payload
  address          text,                                 -- UDP source the device registered from
  port             integer,
  manufacturer     text,                                 -- /3/0/0
  model_number     text,                                 -- /3/0/1
  hardware_version text,                                 -- /3/0/18
  firmware_version text,                                 -- /3/0/3
  hardware_class   text,
  registered_at    timestamptz NOT NULL DEFAULT now(),
  last_seen        timestamptz NOT NULL DEFAULT now(),
  expires_at       timestamptz NOT NULL
);
CREATE INDEX devices_expiry ON devices (expires_at) WHERE status = 'registered';

CREATE TABLE firmware_images (
  id             bigserial PRIMARY KEY,
  version        text NOT NULL,
  hardware_class text NOT NULL,
  size           integer NOT NULL CHECK (size > 0),
  sha256         text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  payload        bytea NOT NULL,
  manifest       bytea,                                  -- signed manifest, when the image came as a package
  delivery       text NOT NULL DEFAULT 'package' CHECK (delivery IN ('package', 'payload')),
  created_at     timestamptz NOT NULL DEFAULT now(),
  UNIQUE (hardware_class, version)
);

CREATE TABLE device_updates (
  id               bigserial PRIMARY KEY,
  device_id        bigint NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
  firmware_id      bigint NOT NULL REFERENCES firmware_images (id),
  state            text NOT NULL DEFAULT 'queued'
                   CHECK (state IN ('queued', 'sent', 'downloading', 'downloaded', 'updating',
                                    'succeeded', 'failed', 'cancelled')),
  result_code      integer,                              -- Object 5 Update Result (/5/0/5)
  reason           text,
  reported_version text,                                 -- /3/0/3 read after the update
  version_mismatch boolean NOT NULL DEFAULT false,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  deadline         timestamptz,                          -- silent past this: failed, reason timeout
  finished_at      timestamptz
);
-- One update in flight per device.
CREATE UNIQUE INDEX device_updates_one_active ON device_updates (device_id)
  WHERE state NOT IN ('succeeded', 'failed', 'cancelled');
CREATE INDEX device_updates_deadline ON device_updates (deadline)
  WHERE state NOT IN ('succeeded', 'failed', 'cancelled');

CREATE TABLE events (
  id         bigserial PRIMARY KEY,
  at         timestamptz NOT NULL DEFAULT now(),
  actor      text NOT NULL DEFAULT 'engine',             -- 'engine', 'device', 'api'
  kind       text NOT NULL,                              -- e.g. 'registration.created', 'update.state'
  device_id  bigint REFERENCES devices (id) ON DELETE SET NULL,
  update_id  bigint REFERENCES device_updates (id) ON DELETE SET NULL,
  data       jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX events_device ON events (device_id, id);
CREATE INDEX events_update ON events (update_id, id);
