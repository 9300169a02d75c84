//! The build cache: its own table in the store's database, (parent image, key)
//! → image. The key hashes the step's container config (the instruction with
//! its expanded arguments, and for COPY/ADD the content hash of the sources)
//! plus anything else the step depends on. Only images this builder committed
//! are recorded, so pulled or loaded images never serve as hits (CVE-2024-24557);
//! a recorded image that was deleted since is a miss, and its row goes the
//! next time a build commits.
//!
//! The builder owns the table and migrates it ([`MIGRATIONS`], through
//! `skiff_image::db::Db::migrate`) before its first use in a process.

use super::{BuildError, Builder};
use rusqlite::{params, OptionalExtension};
use sha2::{Digest as _, Sha256};
use skiff_image::config::{format_time, go_json, ContainerConfig};
use skiff_image::db::Db;
use skiff_image::{Digest, Store, StoreError};

/// The owner name of the builder's tables in the store's `schema_versions`.
pub const DB_OWNER: &str = "builder";

/// The builder's migrations, oldest first; one that has shipped never changes, the next is added.
/// 1: `build_cache` exactly as the builder created it on a first build before owners migrated
/// their own tables, so such a store keeps its cache.
pub const MIGRATIONS: &[&str] = &["
CREATE TABLE IF NOT EXISTS build_cache(
    parent TEXT NOT NULL,
    key TEXT NOT NULL,
    image TEXT NOT NULL,
    created TEXT NOT NULL,
    PRIMARY KEY(parent, key)
);
CREATE INDEX IF NOT EXISTS build_cache_image ON build_cache(image);
"];

/// The store's database with the cache table migrated (checked once per process).
fn db(store: &Store) -> Result<&Db, StoreError> {
    store.db().migrate(DB_OWNER, MIGRATIONS)?;
    Ok(store.db())
}

/// The image recorded for (`parent`, `key`), if that image still exists.
fn lookup(store: &Store, parent: &str, key: &str) -> Result<Option<Digest>, StoreError> {
    let hit: Option<String> = db(store)?.read(|tx| {
        tx.query_row(
            "SELECT c.image FROM build_cache c JOIN images i ON i.id = c.image WHERE c.parent = ?1 AND c.key = ?2",
            params![parent, key],
            |r| r.get(0),
        )
        .optional()
        .map_err(StoreError::from)
    })?;
    Ok(hit.and_then(|h| Digest::parse(&h).ok()))
}

/// Records (`parent`, `key`) → `image`; with `prune`, first drops the rows whose image was deleted.
fn record(store: &Store, parent: &str, key: &str, image: &Digest, prune: bool) -> Result<(), StoreError> {
    let now = format_time(&chrono::Utc::now());
    db(store)?.write(|tx| {
        if prune {
            tx.execute(
                "DELETE FROM build_cache WHERE NOT EXISTS (SELECT 1 FROM images i WHERE i.id = build_cache.image)",
                [],
            )?;
        }
        tx.execute(
            "INSERT OR REPLACE INTO build_cache(parent, key, image, created) VALUES (?1, ?2, ?3, ?4)",
            params![parent, key, image.to_string(), now],
        )?;
        Ok(())
    })
}

impl Builder<'_> {
    pub(super) fn cache_get(&mut self, parent: &str, key: &str) -> Result<Option<Digest>, BuildError> {
        if self.opts.no_cache {
            return Ok(None);
        }
        Ok(lookup(self.store, parent, key)?)
    }

    /// Records a step's image; the first record of a build also drops stale rows.
    pub(super) fn cache_put(&mut self, parent: &str, key: &str, image: &Digest) -> Result<(), BuildError> {
        record(self.store, parent, key, image, !self.cache_pruned)?;
        self.cache_pruned = true;
        Ok(())
    }

    pub(super) fn cache_key(parent: &str, cc: &ContainerConfig, extra: &str) -> String {
        let mut h = Sha256::new();
        h.update(parent.as_bytes());
        h.update(b"\n");
        h.update(go_json(&serde_json::to_value(cc).expect("config serialises")).as_bytes());
        h.update(b"\n");
        h.update(extra.as_bytes());
        hex::encode(h.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_made_before_owner_migrations_keeps_its_cache() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let (kept, gone) = (format!("sha256:{}", "1".repeat(64)), format!("sha256:{}", "2".repeat(64)));
        {
            // The layout skiff wrote before: the image crate's one schema (user_version 1), and the
            // cache table as a first build created it.
            let conn = rusqlite::Connection::open(root.join("skiff.db")).unwrap();
            conn.pragma_update(None, "journal_mode", "WAL").unwrap();
            conn.execute_batch(include_str!("../../../image/tests/format-1-schema.sql")).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS build_cache(
                    parent TEXT NOT NULL,
                    key TEXT NOT NULL,
                    image TEXT NOT NULL,
                    created TEXT NOT NULL,
                    PRIMARY KEY(parent, key)
                );
                CREATE INDEX IF NOT EXISTS build_cache_image ON build_cache(image);",
            )
            .unwrap();
            conn.execute("INSERT INTO blobs(digest, size) VALUES (?1, 2)", [&kept]).unwrap();
            conn.execute("INSERT INTO images(id, size, added) VALUES (?1, 0, '2026-01-01T00:00:00Z')", [&kept])
                .unwrap();
            for (key, image) in [("k1", &kept), ("k2", &gone)] {
                conn.execute(
                    "INSERT INTO build_cache(parent, key, image, created) VALUES ('', ?1, ?2, '2026-01-01T00:00:00Z')",
                    [key, image.as_str()],
                )
                .unwrap();
            }
        }
        let store = Store::open(root).unwrap();
        assert_eq!(lookup(&store, "", "k1").unwrap(), Some(Digest::parse(&kept).unwrap()));
        assert_eq!(lookup(&store, "", "k2").unwrap(), None, "a deleted image is a miss");
        assert_eq!(store.db().schema_version(DB_OWNER).unwrap(), 1);
        record(&store, "", "k3", &Digest::parse(&kept).unwrap(), true).unwrap();
        let rows: i64 = store
            .db()
            .read(|tx| tx.query_row("SELECT COUNT(*) FROM build_cache", [], |r| r.get(0)).map_err(StoreError::from))
            .unwrap();
        assert_eq!(rows, 2, "the deleted image's row went, the others stay");
    }
}
