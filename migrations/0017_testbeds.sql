-- What testbed evidence a release of a hardware class needs before an approver may approve it.
-- A class with no row here gets the defaults: one device, an hour's soak, every device succeeded,
-- any security mode. require_credentials: only devices that registered over DTLS with a
-- pre-shared key (security_mode 'psk') count, so a lab device on plain CoAP proves nothing.
CREATE TABLE testbed_policies (
  hardware_class       text PRIMARY KEY,
  min_devices          integer NOT NULL DEFAULT 1 CHECK (min_devices BETWEEN 1 AND 100000),
  soak_seconds         integer NOT NULL DEFAULT 3600 CHECK (soak_seconds BETWEEN 0 AND 2592000),
  min_success_rate     double precision NOT NULL DEFAULT 1.0 CHECK (min_success_rate >= 0 AND min_success_rate <= 1),
  require_credentials  boolean NOT NULL DEFAULT false,
  updated_at           timestamptz NOT NULL DEFAULT now(),
  updated_by           text NOT NULL
);
