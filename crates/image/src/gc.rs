//! Removing images (`rmi`, `image prune`) and collecting what no image needs any more.
//!
//! Records go in one transaction; files go afterwards, under the write lock and only
//! after re-checking that no writer recorded the same content again meanwhile. An
//! interrupted removal therefore leaves at most unreferenced files, which `system check`
//! reports and `--repair` removes.

use crate::digest::Digest;
use crate::reference::Reference;
use crate::store::{digest_col, io_err, GcStats, RemoveEvent, Result, Store, StoreError};
use rusqlite::OptionalExtension;
use std::collections::HashSet;

/// Whether the engine's `containers` table exists. Its rows pin the images they name
/// (`image_id`) against removal; skiff-engine creates and migrates it, so a store no container
/// was ever recorded in has none yet, and nothing is pinned. Only this file reads it.
fn has_containers(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<bool> {
    tx.query_row("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'containers'", [], |_| Ok(()))
        .optional()
        .map(|r| r.is_some())
}

/// Ids of the containers that use image `id`.
fn containers_using(tx: &rusqlite::Transaction<'_>, id: &Digest) -> rusqlite::Result<Vec<String>> {
    if !has_containers(tx)? {
        return Ok(Vec::new());
    }
    let mut stmt = tx.prepare("SELECT id FROM containers WHERE image_id = ?1")?;
    let rows = stmt.query_map([id.to_string()], |r| r.get(0))?;
    rows.collect()
}

impl Store {
    /// `docker rmi NAME|ID [-f]`: untags and/or deletes, as Docker decides.
    pub fn remove(&self, name: &str, force: bool) -> Result<Vec<RemoveEvent>> {
        let mut events = Vec::new();
        self.db().write(|tx| {
            let id = Self::resolve_id(tx, name)?;
            let by_ref = Reference::parse_with_default_tag(name).ok().filter(|r| {
                tx.query_row("SELECT 1 FROM refs WHERE name = ?1", [r.to_string()], |_| Ok(()))
                    .optional()
                    .ok()
                    .flatten()
                    .is_some()
            });
            let refs: Vec<String> = {
                let mut stmt = tx.prepare("SELECT name FROM refs WHERE image_id = ?1 ORDER BY name")?;
                let rows = stmt.query_map([id.to_string()], |r| r.get(0))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            let users = containers_using(tx, &id)?;
            let familiar = |n: &str| Reference::parse(n).map(|r| r.familiar()).unwrap_or_else(|_| n.to_string());
            if let Some(r) = by_ref {
                // By name: untag; delete only if that was the last reference.
                let remaining = refs.len() - 1;
                if remaining == 0 && !users.is_empty() && !force {
                    return Err(StoreError::Conflict(format!(
                        "unable to remove repository reference \"{}\" (must force) - container {} is using its referenced image {}",
                        familiar(&r.to_string()),
                        &users[0][..12.min(users[0].len())],
                        id.short()
                    )));
                }
                tx.execute("DELETE FROM refs WHERE name = ?1", [r.to_string()])?;
                events.push(RemoveEvent::Untagged(familiar(&r.to_string())));
                if remaining > 0 || !users.is_empty() {
                    return Ok(());
                }
            } else {
                // By ID.
                if !users.is_empty() && !force {
                    return Err(StoreError::Conflict(format!(
                        "unable to delete {} (must be forced) - image is being used by stopped container {}",
                        id.short(),
                        &users[0][..12.min(users[0].len())]
                    )));
                }
                let repos: HashSet<String> =
                    refs.iter().filter_map(|n| Reference::parse(n).ok()).map(|r| r.name()).collect();
                if repos.len() > 1 && !force {
                    return Err(StoreError::Conflict(format!(
                        "unable to delete {} (must be forced) - image is referenced in multiple repositories",
                        id.short()
                    )));
                }
                for n in &refs {
                    tx.execute("DELETE FROM refs WHERE name = ?1", [n])?;
                    events.push(RemoveEvent::Untagged(familiar(n)));
                }
                if !users.is_empty() {
                    return Ok(()); // forced: untagged, kept for the container
                }
            }
            Self::delete_image_and_dangling_parents(tx, &id, &mut events)
        })?;
        self.collect_garbage()?;
        Ok(events)
    }

    fn delete_image_and_dangling_parents(
        tx: &rusqlite::Transaction<'_>,
        id: &Digest,
        events: &mut Vec<RemoveEvent>,
    ) -> Result<()> {
        let mut current = Some(id.clone());
        let mut first = true;
        while let Some(id) = current.take() {
            let children: i64 =
                tx.query_row("SELECT COUNT(*) FROM images WHERE parent = ?1", [id.to_string()], |r| r.get(0))?;
            if children > 0 {
                if first {
                    return Err(StoreError::Conflict(format!(
                        "unable to delete {} (cannot be forced) - image has dependent child images",
                        id.short()
                    )));
                }
                break;
            }
            if !first {
                // A parent goes only when nothing else holds it.
                let refs: i64 =
                    tx.query_row("SELECT COUNT(*) FROM refs WHERE image_id = ?1", [id.to_string()], |r| r.get(0))?;
                if refs > 0 || !containers_using(tx, &id)?.is_empty() {
                    break;
                }
            }
            let parent: Option<String> = tx
                .query_row("SELECT parent FROM images WHERE id = ?1", [id.to_string()], |r| r.get(0))
                .optional()?
                .flatten();
            let chains: Vec<String> = {
                let mut stmt = tx.prepare("SELECT chain_id FROM image_layers WHERE image_id = ?1 ORDER BY idx DESC")?;
                let rows = stmt.query_map([id.to_string()], |r| r.get(0))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            tx.execute("DELETE FROM image_layers WHERE image_id = ?1", [id.to_string()])?;
            tx.execute("DELETE FROM images WHERE id = ?1", [id.to_string()])?;
            events.push(RemoveEvent::Deleted(id.clone()));
            for c in chains {
                let used: i64 =
                    tx.query_row("SELECT COUNT(*) FROM image_layers WHERE chain_id = ?1", [&c], |r| r.get(0))?;
                if used == 0 {
                    events.push(RemoveEvent::Deleted(digest_col(c)?));
                }
            }
            current = parent.map(digest_col).transpose()?;
            first = false;
        }
        Ok(())
    }

    /// Removes untagged images no container uses (`image prune`), or with `all`
    /// every image no container uses. Returns the events and bytes reclaimed.
    pub fn prune(&self, all: bool) -> Result<(Vec<RemoveEvent>, u64)> {
        let mut events = Vec::new();
        let before = self.layer_bytes()?;
        self.db().write(|tx| {
            loop {
                // Leaves first: images without children, unused by containers.
                let unused = if has_containers(tx)? {
                    "AND NOT EXISTS (SELECT 1 FROM containers c WHERE c.image_id = i.id)"
                } else {
                    ""
                };
                let untagged = if all { "" } else { "AND NOT EXISTS (SELECT 1 FROM refs r WHERE r.image_id = i.id)" };
                let sql = format!(
                    "SELECT id FROM images i WHERE NOT EXISTS (SELECT 1 FROM images ch WHERE ch.parent = i.id) {untagged} {unused}"
                );
                let ids: Vec<String> = {
                    let mut stmt = tx.prepare(&sql)?;
                    let rows = stmt.query_map([], |r| r.get(0))?;
                    rows.collect::<rusqlite::Result<_>>()?
                };
                if ids.is_empty() {
                    break;
                }
                for id in ids {
                    let refs: Vec<String> = {
                        let mut stmt = tx.prepare("SELECT name FROM refs WHERE image_id = ?1 ORDER BY name")?;
                        let rows = stmt.query_map([&id], |r| r.get(0))?;
                        rows.collect::<rusqlite::Result<_>>()?
                    };
                    for n in refs {
                        tx.execute("DELETE FROM refs WHERE name = ?1", [&n])?;
                        events.push(RemoveEvent::Untagged(
                            Reference::parse(&n).map(|r| r.familiar()).unwrap_or(n.clone()),
                        ));
                    }
                    let id = digest_col(id)?;
                    // Prune deletes exactly the chosen images; parents are considered on the next pass.
                    let parent_events_start = events.len();
                    let chains: Vec<String> = {
                        let mut stmt =
                            tx.prepare("SELECT chain_id FROM image_layers WHERE image_id = ?1 ORDER BY idx DESC")?;
                        let rows = stmt.query_map([id.to_string()], |r| r.get(0))?;
                        rows.collect::<rusqlite::Result<_>>()?
                    };
                    tx.execute("DELETE FROM image_layers WHERE image_id = ?1", [id.to_string()])?;
                    tx.execute("DELETE FROM images WHERE id = ?1", [id.to_string()])?;
                    events.insert(parent_events_start, RemoveEvent::Deleted(id));
                    for c in chains {
                        let used: i64 =
                            tx.query_row("SELECT COUNT(*) FROM image_layers WHERE chain_id = ?1", [&c], |r| r.get(0))?;
                        if used == 0 {
                            events.push(RemoveEvent::Deleted(digest_col(c)?));
                        }
                    }
                }
                if !all {
                    // Untagged parents of pruned images are dangling now too: loop.
                    continue;
                }
            }
            Ok::<_, StoreError>(())
        })?;
        self.collect_garbage()?;
        let after = self.layer_bytes()?;
        Ok((events, before.saturating_sub(after)))
    }

    /// Total size of all recorded layers (each counted once).
    pub fn layer_bytes(&self) -> Result<u64> {
        self.db().read(|tx| {
            tx.query_row("SELECT COALESCE(SUM(size), 0) FROM layers", [], |r| r.get::<_, i64>(0))
                .map(|v| v as u64)
                .map_err(StoreError::from)
        })
    }

    /// Deletes layer and blob records nothing needs, then their files.
    pub fn collect_garbage(&self) -> Result<GcStats> {
        let mut stats = GcStats::default();
        self.db().write(|tx| {
            let mut stmt = tx.prepare(
                "SELECT chain_id, size FROM layers l WHERE NOT EXISTS (SELECT 1 FROM image_layers il WHERE il.chain_id = l.chain_id)",
            )?;
            let rows: Vec<(String, i64)> =
                stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
            for (c, size) in rows {
                tx.execute("DELETE FROM layers WHERE chain_id = ?1", [&c])?;
                stats.bytes += size as u64;
                stats.layers.push(digest_col(c)?);
            }
            let mut stmt = tx.prepare(
                "SELECT digest FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM images i WHERE i.id = b.digest)
                 AND NOT EXISTS (SELECT 1 FROM layers l WHERE l.blob = b.digest)",
            )?;
            let rows: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            for d in rows {
                tx.execute("DELETE FROM blobs WHERE digest = ?1", [&d])?;
                stats.blobs.push(digest_col(d)?);
            }
            Ok::<_, StoreError>(())
        })?;
        if stats.layers.is_empty() && stats.blobs.is_empty() {
            return Ok(stats);
        }
        // Files go under the write lock, after re-checking that no writer has
        // recorded the same content again in between.
        self.db().write(|tx| {
            for d in &stats.blobs {
                let back =
                    tx.query_row("SELECT 1 FROM blobs WHERE digest = ?1", [d.to_string()], |_| Ok(())).optional()?;
                if back.is_none() {
                    self.blobs().remove(d)?;
                }
            }
            for c in &stats.layers {
                let back =
                    tx.query_row("SELECT 1 FROM layers WHERE chain_id = ?1", [c.to_string()], |_| Ok(())).optional()?;
                if back.is_none() {
                    self.remove_layer_dir(c)?;
                }
            }
            Ok::<_, StoreError>(())
        })?;
        Ok(stats)
    }

    /// Removes an unpacked layer directory: renamed away first, so a crash
    /// midway leaves only scratch the next check removes.
    fn remove_layer_dir(&self, chain: &Digest) -> Result<()> {
        let dir = self.layer_dir(chain);
        if !dir.exists() {
            return Ok(());
        }
        let trash = self.tmp_dir().join(format!("rm-{}-{}", chain.short(), std::process::id()));
        std::fs::rename(&dir, &trash).map_err(io_err("move away", &dir))?;
        std::fs::remove_dir_all(&trash).map_err(io_err("remove", &trash))
    }
}
