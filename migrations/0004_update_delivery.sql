-- How each update's package reached the device (LwM2M Object 5 resource 9, Delivery Method, read
-- when the update starts): 'pull' (the device fetched the Package URI) or 'push' (the server wrote
-- /5/0/0 with Block1). NULL until decided, and for updates made before this column.
ALTER TABLE device_updates ADD COLUMN delivery text CHECK (delivery IN ('pull', 'push'));
