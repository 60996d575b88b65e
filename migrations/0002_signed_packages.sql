-- Signed firmware packages (FRY1: a COSE_Sign1 manifest, then the payload). Each image keeps what
-- its manifest says: the sequence number (anti-rollback, monotonic per hardware class), the vendor
-- id and the key that signed it; hardware_class is the manifest's class id, manifest holds the
-- COSE_Sign1 bytes, payload the bytes a device receives (the whole package, or only the payload
-- when delivery = 'payload'). Images stored before signing existed have NULLs here.
ALTER TABLE firmware_images ADD COLUMN sequence bigint CHECK (sequence >= 0);
ALTER TABLE firmware_images ADD COLUMN vendor_id text;
ALTER TABLE firmware_images ADD COLUMN key_id bytea;                 -- COSE kid of the signing key
-- An upload compares its sequence number with the class's highest.
CREATE INDEX firmware_images_class_sequence ON firmware_images (hardware_class, sequence);
