-- Alerts: a campaign that paused itself, an update stalled past its timeout, a device that reported
-- an integrity failure. Each row is also the state of its webhook delivery, so a restart resumes
-- pending deliveries: webhook is 'none' (no webhook configured when it was raised), 'pending'
-- (next attempt at next_attempt_at; a claimed attempt pushes it out by a lease), 'delivered' or
-- 'failed' (given up: a 4xx, or the attempts ran out; last_error says why).
-- campaign_id is a plain bigint: campaigns may be deleted, the alert stays.
CREATE TABLE alerts (
  id              bigserial PRIMARY KEY,
  at              timestamptz NOT NULL DEFAULT now(),
  kind            text NOT NULL,                         -- 'campaign.paused', 'update.stalled', 'update.integrity'
  severity        text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
  campaign_id     bigint,
  device_id       bigint REFERENCES devices (id) ON DELETE SET NULL,
  update_id       bigint REFERENCES device_updates (id) ON DELETE SET NULL,
  message         text NOT NULL,
  data            jsonb NOT NULL DEFAULT '{}',
  acknowledged_at timestamptz,
  webhook         text NOT NULL DEFAULT 'none' CHECK (webhook IN ('none', 'pending', 'delivered', 'failed')),
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz,
  delivered_at    timestamptz,
  last_error      text
);
CREATE INDEX alerts_kind ON alerts (kind, id);
CREATE INDEX alerts_at ON alerts (at);
CREATE INDEX alerts_pending ON alerts (next_attempt_at) WHERE webhook = 'pending';
