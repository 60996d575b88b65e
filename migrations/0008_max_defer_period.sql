-- LwM2M 1.1 Object 5 resource 13, Maximum Defer Period (seconds), as the device reported it when
-- its update started (read with Delivery Method). A campaign waits it out before retrying a
-- deferred update: by then the device has installed the package itself, or may be asked again.
ALTER TABLE device_updates ADD COLUMN max_defer_seconds integer CHECK (max_defer_seconds >= 0);
