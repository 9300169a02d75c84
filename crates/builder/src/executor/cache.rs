//! The build cache: its own table in the store's database, (parent image, key)
//! → image. The key hashes the step's container config (the instruction with
//! its expanded arguments, and for COPY/ADD the content hash of the sources)
//! plus anything else the step depends on. Only images this builder committed
//! are recorded, so pulled or loaded images never serve as hits (CVE-2024-24557);
//! a recorded image that was deleted since is a miss, and its row goes the
//! next time a build commits.

use super::{BuildError, Builder};
use rusqlite::{params, OptionalExtension};
use sha2::{Digest as _, Sha256};
use skiff_image::config::{format_time, go_json, ContainerConfig};
use skiff_image::{Digest, StoreError};

impl Builder<'_> {
    /// Creates the table if needed and drops rows whose image was deleted since
    /// (once per build that commits something).
    pub(super) fn ensure_cache_table(&self) -> Result<(), BuildError> {
        self.store.db().write(|tx| {
            tx.execute_batch(
                "CREATE TABLE IF NOT EXISTS build_cache(
                    parent TEXT NOT NULL,
                    key TEXT NOT NULL,
                    image TEXT NOT NULL,
                    created TEXT NOT NULL,
                    PRIMARY KEY(parent, key)
                );
                CREATE INDEX IF NOT EXISTS build_cache_image ON build_cache(image);
                DELETE FROM build_cache WHERE NOT EXISTS (SELECT 1 FROM images i WHERE i.id = build_cache.image);",
            )
            .map_err(StoreError::from)
        })?;
        Ok(())
    }

    pub(super) fn cache_get(&mut self, parent: &str, key: &str) -> Result<Option<Digest>, BuildError> {
        if self.opts.no_cache {
            return Ok(None);
        }
        if !self.cache_table_ready {
            // Reading needs no write lock: a store without the table has no cache yet.
            let exists: bool = self.store.db().read(|tx| {
                tx.query_row(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'build_cache'",
                    [],
                    |_| Ok(()),
                )
                .optional()
                .map(|r| r.is_some())
                .map_err(StoreError::from)
            })?;
            if !exists {
                return Ok(None);
            }
            self.cache_table_ready = true;
        }
        let hit: Option<String> = self.store.db().read(|tx| {
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

    pub(super) fn cache_put(&mut self, parent: &str, key: &str, image: &Digest) -> Result<(), BuildError> {
        if !self.cache_table_ready {
            self.ensure_cache_table()?;
            self.cache_table_ready = true;
        }
        let now = format_time(&chrono::Utc::now());
        self.store.db().write(|tx| {
            tx.execute(
                "INSERT OR REPLACE INTO build_cache(parent, key, image, created) VALUES (?1, ?2, ?3, ?4)",
                params![parent, key, image.to_string(), now],
            )
            .map_err(StoreError::from)
        })?;
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
