//! The image store's tables in the metadata database (owner `image`): blobs, layers, images,
//! their layer lists and references, with their migrations (see [`crate::db::Db::migrate`]).
//!
//! Migration 1 is these tables exactly as format 1 databases have them (`CREATE ... IF NOT
//! EXISTS`), so a store made before owners migrated their own tables is taken over as it is.
//! The store also reads the engine's `containers` table, which pins images (see `crate::gc`).

/// The owner name of these tables in `schema_versions`.
pub const OWNER: &str = "image";

/// Oldest first. Never change one that has shipped: add the next.
pub const MIGRATIONS: &[&str] = &["
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
"];

#[cfg(test)]
mod tests {
    use crate::Store;

    #[test]
    fn a_store_made_before_owner_migrations_opens_with_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for sub in ["blobs/sha256", "layers", "tmp", "containers"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        let digest = format!("sha256:{}", "a".repeat(64));
        {
            // What skiff wrote before: one schema, user_version 1, WAL.
            let conn = rusqlite::Connection::open(root.join("skiff.db")).unwrap();
            conn.pragma_update(None, "journal_mode", "WAL").unwrap();
            conn.execute_batch(include_str!("../tests/format-1-schema.sql")).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute("INSERT INTO blobs(digest, size) VALUES (?1, 2)", [&digest]).unwrap();
            conn.execute("INSERT INTO images(id, size, added) VALUES (?1, 0, '2026-01-01T00:00:00Z')", [&digest])
                .unwrap();
            conn.execute(
                "INSERT INTO refs(name, image_id, kind) VALUES ('docker.io/library/old:1', ?1, 'tag')",
                [&digest],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO containers(id, name, image_id, created) VALUES ('c1', 'old', ?1, '2026-01-01T00:00:00Z')",
                [&digest],
            )
            .unwrap();
        }
        for _ in 0..2 {
            let store = Store::open(root).unwrap();
            let db = store.db();
            assert_eq!(db.schema_version(super::OWNER).unwrap(), 1);
            let counts: (i64, i64, i64, i64) = db
                .read(|tx| {
                    tx.query_row(
                        "SELECT (SELECT COUNT(*) FROM blobs), (SELECT COUNT(*) FROM images), (SELECT COUNT(*) FROM refs), (SELECT COUNT(*) FROM containers)",
                        [],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                    )
                    .map_err(crate::StoreError::from)
                })
                .unwrap();
            assert_eq!(counts, (1, 1, 1, 1), "every row survives, the engine's too");
            let version: i64 = rusqlite::Connection::open(root.join("skiff.db"))
                .unwrap()
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .unwrap();
            assert_eq!(version, 2);
            // The old container still pins its image.
            assert!(store.remove(&digest, false).unwrap_err().to_string().contains("must be forced"));
        }
    }
}
