-- Devices that left long ago and hold nothing (no update, no tag) are purged after a retention
-- period; their history must survive them. Each event about a device keeps the device's endpoint
-- name as text, filled here from devices for the events already written; events.device_id already
-- becomes NULL when its device is deleted (ON DELETE SET NULL, 0001), so no event blocks a purge.
ALTER TABLE events ADD COLUMN endpoint text;
UPDATE events e SET endpoint = d.endpoint FROM devices d WHERE d.id = e.device_id;
-- The audit log filtered by endpoint, a purged device's events included.
CREATE INDEX events_endpoint ON events (endpoint, id) WHERE endpoint IS NOT NULL;
