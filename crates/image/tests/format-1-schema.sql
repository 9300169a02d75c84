-- Every table of a format 1 skiff database (user_version 1), exactly as skiff created them
-- before each crate migrated its own tables (the builder's build_cache came later, on a first
-- build). Frozen: the image, engine and builder tests build old stores from it to check that
-- their owners' migrations take such a store over without losing a row. Never edit it.
CREATE TABLE IF NOT EXISTS blobs(
    digest TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    media_type TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS layers(
    chain_id TEXT PRIMARY KEY,
    diff_id TEXT NOT NULL,
    parent TEXT,
    blob TEXT NOT NULL REFERENCES blobs(digest),
    size INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS layers_blob ON layers(blob);
CREATE TABLE IF NOT EXISTS images(
    id TEXT PRIMARY KEY REFERENCES blobs(digest),
    created TEXT,
    size INTEGER NOT NULL,
    parent TEXT,
    added TEXT NOT NULL,
    last_tag_time TEXT
);
CREATE INDEX IF NOT EXISTS images_parent ON images(parent);
CREATE TABLE IF NOT EXISTS image_layers(
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    chain_id TEXT NOT NULL REFERENCES layers(chain_id),
    PRIMARY KEY(image_id, idx)
);
CREATE INDEX IF NOT EXISTS image_layers_chain ON image_layers(chain_id);
CREATE TABLE IF NOT EXISTS refs(
    name TEXT PRIMARY KEY,
    image_id TEXT NOT NULL REFERENCES images(id),
    kind TEXT NOT NULL CHECK (kind IN ('tag', 'digest'))
);
CREATE INDEX IF NOT EXISTS refs_image ON refs(image_id);
CREATE TABLE IF NOT EXISTS containers(
    id TEXT PRIMARY KEY,
    name TEXT UNIQUE NOT NULL,
    image_id TEXT NOT NULL,
    created TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'created',
    config TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS containers_image ON containers(image_id);
