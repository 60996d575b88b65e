-- Vulnerabilities and compliance.
--
-- A firmware version of a hardware class marked vulnerable by an operator, with the advisories
-- that say so (CVE-…, GHSA-…) and how bad it is; past `deadline`, devices still running it raise a
-- compliance.vulnerable alert, at most once a day per version (`alerted_at`, claimed by the sweep
-- that raises it). The version is free text: a device may report one that was never uploaded.
CREATE TABLE vulnerable_versions (
  id              bigserial PRIMARY KEY,
  hardware_class  text NOT NULL,
  version         text NOT NULL,
  advisories      text[] NOT NULL CHECK (cardinality(advisories) > 0),
  severity        text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
  deadline        timestamptz,
  note            text,
  marked_at       timestamptz NOT NULL DEFAULT now(),
  marked_by       text NOT NULL,                          -- the user's name
  alerted_at      timestamptz,
  UNIQUE (hardware_class, version)
);

-- Per hardware class: the lowest release devices may run (ordered by the package sequence number),
-- the releases they may run (NULL: the class's images in state 'approved'), and after how many
-- days without contact a device counts as stale. A class without a row has no minimum, the
-- approved images, and 30 days.
CREATE TABLE compliance_policies (
  id                 bigserial PRIMARY KEY,
  hardware_class     text NOT NULL UNIQUE,
  minimum_version    text,
  approved_versions  text[],
  stale_days         integer NOT NULL DEFAULT 30 CHECK (stale_days BETWEEN 1 AND 3650),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  updated_by         text NOT NULL
);

-- The report groups devices by class and version; the alert sweep counts those of one version.
CREATE INDEX devices_class_version ON devices (hardware_class, firmware_version);
