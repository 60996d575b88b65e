-- Campaigns: one signed image rolled out to a target (hardware class, tags, current versions,
-- explicit endpoints) under a policy (waves, soak, concurrency, failure threshold, retries,
-- maintenance window, delivery, severity). target and policy are the API's JSON, validated there.
-- Device tags, so a target can name groups of devices.
ALTER TABLE devices ADD COLUMN tags text[] NOT NULL DEFAULT '{}';
-- The Ferry node that holds the device's UDP binding (its last Register or Update went there):
-- only that node sends it commands, so two nodes never drive one device at once.
ALTER TABLE devices ADD COLUMN owner_node text;
CREATE INDEX devices_tags ON devices USING gin (tags);

CREATE TABLE campaigns (
  id            bigserial PRIMARY KEY,
  name          text NOT NULL,
  firmware_id   bigint NOT NULL REFERENCES firmware_images (id),
  target        jsonb NOT NULL,            -- {hardwareClass, tags, firmwareVersions, endpoints}
  policy        jsonb NOT NULL,            -- {waves, soakSeconds, concurrency, failureThreshold, retries, window, delivery, severity}
  state         text NOT NULL DEFAULT 'draft'
                CHECK (state IN ('draft', 'scheduled', 'running', 'paused', 'completed', 'aborted')),
  current_wave  integer NOT NULL DEFAULT 0,  -- 0 until started, then 1 … number of waves
  wave_done_at  timestamptz,                 -- the current wave finished: its soak time runs from here
  acked_failed  integer NOT NULL DEFAULT 0,  -- failures of the current wave an operator resumed past
  pause_reason  text,
  start_at      timestamptz,                 -- scheduled: started by the first tick past this
  created_by    text NOT NULL DEFAULT 'api',
  created_at    timestamptz NOT NULL DEFAULT now(),
  started_at    timestamptz,
  finished_at   timestamptz
);
CREATE INDEX campaigns_live ON campaigns (state) WHERE state IN ('scheduled', 'running', 'paused');

-- Which campaign an update belongs to, and what the campaign asked of the engine.
ALTER TABLE device_updates ADD COLUMN campaign_id bigint REFERENCES campaigns (id) ON DELETE SET NULL;
ALTER TABLE device_updates ADD COLUMN requested_delivery text CHECK (requested_delivery IN ('pull', 'push'));
ALTER TABLE device_updates ADD COLUMN severity integer CHECK (severity BETWEEN 0 AND 2);  -- /5/0/11
CREATE INDEX device_updates_campaign ON device_updates (campaign_id, device_id) WHERE campaign_id IS NOT NULL;

CREATE TABLE campaign_devices (
  campaign_id     bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
  device_id       bigint NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
  wave            integer NOT NULL CHECK (wave >= 1),
  state           text NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'claimed', 'in_progress', 'succeeded', 'failed', 'skipped',
                                   'cancelled', 'deferred')),
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz,
  update_id       bigint REFERENCES device_updates (id) ON DELETE SET NULL,
  result_code     integer,                 -- the last attempt's Update Result (/5/0/5)
  reason          text,
  claimed_by      text,                    -- node id holding the lease
  claimed_until   timestamptz,
  joined_late     boolean NOT NULL DEFAULT false,
  -- True while the campaign is running or paused and the device is not skipped: one such row a device.
  active          boolean NOT NULL DEFAULT true,
  PRIMARY KEY (campaign_id, device_id)
);
-- A device cannot be in two running campaigns.
CREATE UNIQUE INDEX campaign_devices_one_active ON campaign_devices (device_id) WHERE active;
CREATE INDEX campaign_devices_work ON campaign_devices (campaign_id, state, wave, device_id);
