-- What a registration's link-format payload says, parsed: the alternate root path, the content
-- formats the client announced (ct on the root link) and its objects, instances and versions.
ALTER TABLE devices ADD COLUMN root_path text NOT NULL DEFAULT '/';
ALTER TABLE devices ADD COLUMN content_formats integer[] NOT NULL DEFAULT '{}';
ALTER TABLE devices ADD COLUMN objects jsonb NOT NULL DEFAULT '[]';
