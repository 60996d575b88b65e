-- Firmware is fetched by an unguessable name (a v4 UUID's 122 random bits, as 32 hex digits), never by
-- its counting id: a Package URI reveals one image to the device it was written to, and no other.
-- Images stored before keep working at /fw/<id> for the updates already under way (the server
-- serves that form only to a device with an update of that image), and get a name for new ones.
ALTER TABLE firmware_images ADD COLUMN download_name text;
UPDATE firmware_images SET download_name = replace(gen_random_uuid()::text, '-', '') WHERE download_name IS NULL;
ALTER TABLE firmware_images ALTER COLUMN download_name SET DEFAULT replace(gen_random_uuid()::text, '-', '');
ALTER TABLE firmware_images ALTER COLUMN download_name SET NOT NULL;
ALTER TABLE firmware_images ADD CONSTRAINT firmware_images_download_name_key UNIQUE (download_name);

-- How the device's registration reached the server (LwM2M Security Mode): over a DTLS session with
-- a pre-shared key, or over plain CoAP. Requests to the device go back the same way, and a
-- registration made over DTLS is updated or ended only over a session of the same device.
ALTER TABLE devices ADD COLUMN security_mode text NOT NULL DEFAULT 'nosec' CHECK (security_mode IN ('nosec', 'psk'));
