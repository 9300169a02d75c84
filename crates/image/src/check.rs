//! `system check`: re-verifies every blob against its digest and every record
//! against the others, and with `repair` removes what cannot be trusted.
//!
//! Problems are things that make an image unusable (a missing or corrupt blob,
//! a config whose DiffIDs disagree with its layers). Leftovers are harmless
//! remains of interrupted work (a blob linked just before a crash, scratch in
//! `tmp/`, an unpacked layer no record owns); `repair` deletes both kinds.

use crate::compression::decompress;
use crate::config::ImageConfig;
use crate::digest::{Digest, Hasher};
use crate::store::{Result, Store, StoreError};
use rusqlite::OptionalExtension;
use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::path::PathBuf;

/// What `check` found.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub blobs_checked: u64,
    pub bytes_checked: u64,
    pub images_checked: u64,
    pub problems: Vec<String>,
    pub leftovers: Vec<PathBuf>,
    pub repaired: Vec<String>,
}

impl CheckReport {
    pub fn is_consistent(&self) -> bool {
        self.problems.is_empty()
    }
}

/// sha256 and length of everything `r` yields.
fn hash_reader(mut r: impl Read) -> std::io::Result<(Digest, u64)> {
    let mut h = Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let len = h.len();
    Ok((h.finish(), len))
}

fn hash_file(path: &std::path::Path) -> std::io::Result<(Digest, u64)> {
    hash_reader(std::fs::File::open(path)?)
}

fn diff_id_of_compressed(path: &std::path::Path) -> std::io::Result<Digest> {
    let (_, r) = decompress(std::fs::File::open(path)?)?;
    Ok(hash_reader(r)?.0)
}

fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

impl Store {
    /// Verifies the whole store; with `repair`, removes damaged images and leftovers.
    pub fn check(&self, repair: bool) -> Result<CheckReport> {
        let mut report = CheckReport::default();
        // 1. The database itself.
        let (integrity, fk_problems) = self.db().read(|tx| {
            let integrity: String = tx.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
            let mut stmt = tx.prepare("PRAGMA foreign_key_check")?;
            let fk: Vec<String> = stmt
                .query_map([], |r| {
                    Ok(format!(
                        "{} row {} references a missing {}",
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?
                    ))
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok::<_, StoreError>((integrity, fk))
        })?;
        if integrity != "ok" {
            report.problems.push(format!("metadata database: {integrity}"));
        }
        report.problems.extend(fk_problems);
        // 2. Every blob: present, right size, right digest (hashed on all cores).
        let blobs: Vec<(String, i64, String)> = self.db().read(|tx| {
            let mut stmt = tx.prepare("SELECT digest, size, media_type FROM blobs ORDER BY digest")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(StoreError::from)
        })?;
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(8);
        let chunk = blobs.len().div_ceil(threads).max(1);
        let results: Vec<(String, Option<String>, u64)> = std::thread::scope(|s| {
            let handles: Vec<_> = blobs
                .chunks(chunk)
                .map(|part| {
                    s.spawn(move || {
                        part.iter()
                            .map(|(d, size, _)| {
                                let digest = Digest::parse(d);
                                let Ok(digest) = digest else {
                                    return (d.clone(), Some(format!("blob record {d:?} is not a digest")), 0);
                                };
                                let path = self.blobs().path(&digest);
                                match hash_file(&path) {
                                    Err(e) => (d.clone(), Some(format!("blob {d}: {e}")), 0),
                                    Ok((found, len)) if found != digest => (
                                        d.clone(),
                                        Some(format!("blob {d} is corrupt: its content hashes to {found}")),
                                        len,
                                    ),
                                    Ok((_, len)) if len != *size as u64 => (
                                        d.clone(),
                                        Some(format!("blob {d} is {len} bytes, the record says {size}")),
                                        len,
                                    ),
                                    Ok((_, len)) => (d.clone(), None, len),
                                }
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().expect("check thread")).collect()
        });
        let mut bad_blobs: BTreeSet<String> = BTreeSet::new();
        for (d, problem, len) in results {
            report.blobs_checked += 1;
            report.bytes_checked += len;
            if let Some(p) = problem {
                report.problems.push(p);
                bad_blobs.insert(d);
            }
        }
        // 3. Layers: an uncompressed blob is named by its DiffID; a compressed one must decompress to it.
        let layers: Vec<(String, String, String, String)> = self.db().read(|tx| {
            let mut stmt = tx.prepare(
                "SELECT l.chain_id, l.diff_id, l.blob, b.media_type FROM layers l JOIN blobs b ON b.digest = l.blob",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(StoreError::from)
        })?;
        let mut bad_layers: BTreeSet<String> = BTreeSet::new();
        for (chain, diff, blob, _media) in &layers {
            if bad_blobs.contains(blob) {
                bad_layers.insert(chain.clone());
                continue;
            }
            if blob != diff {
                let Ok(bd) = Digest::parse(blob) else { continue };
                match diff_id_of_compressed(&self.blobs().path(&bd)) {
                    Ok(found) if found.to_string() == *diff => {}
                    Ok(found) => {
                        report
                            .problems
                            .push(format!("layer {chain}: blob {blob} unpacks to {found}, expected DiffID {diff}"));
                        bad_layers.insert(chain.clone());
                    }
                    Err(e) => {
                        report.problems.push(format!("layer {chain}: blob {blob}: {e}"));
                        bad_layers.insert(chain.clone());
                    }
                }
            }
        }
        // 4. Images: config parses, DiffIDs and ChainIDs agree with the layer records.
        let images: Vec<String> = self.db().read(|tx| {
            let mut stmt = tx.prepare("SELECT id FROM images ORDER BY id")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(StoreError::from)
        })?;
        let mut bad_images: BTreeSet<String> = BTreeSet::new();
        for id in &images {
            report.images_checked += 1;
            let Ok(digest) = Digest::parse(id) else {
                report.problems.push(format!("image record {id:?} is not a digest"));
                bad_images.insert(id.clone());
                continue;
            };
            if bad_blobs.contains(id) {
                bad_images.insert(id.clone());
                continue;
            }
            let cfg = match self
                .config_bytes(&digest)
                .map_err(|e| e.to_string())
                .and_then(|b| ImageConfig::parse(&b, id).map_err(|e| e.to_string()))
            {
                Ok(c) => c,
                Err(e) => {
                    report.problems.push(format!("image {id}: {e}"));
                    bad_images.insert(id.clone());
                    continue;
                }
            };
            let recorded = self.image_layers(&digest)?;
            let want_chain = Digest::chain_ids(&cfg.rootfs.diff_ids);
            let got: Vec<(Digest, Digest)> = recorded.iter().map(|l| (l.chain_id.clone(), l.diff_id.clone())).collect();
            let want: Vec<(Digest, Digest)> = want_chain.into_iter().zip(cfg.rootfs.diff_ids.iter().cloned()).collect();
            if got != want {
                report
                    .problems
                    .push(format!("image {id}: its layer records do not match the config's rootfs.diff_ids"));
                bad_images.insert(id.clone());
                continue;
            }
            if let Some(l) = recorded.iter().find(|l| bad_layers.contains(&l.chain_id.to_string())) {
                report.problems.push(format!("image {id}: layer {} is damaged", l.chain_id));
                bad_images.insert(id.clone());
            }
        }
        // 5. Leftovers: files no record owns.
        let known: HashMap<String, ()> =
            blobs.iter().map(|(d, _, _)| (d.trim_start_matches("sha256:").to_string(), ())).collect();
        let known_layers: HashMap<String, ()> =
            layers.iter().map(|(c, _, _, _)| (c.trim_start_matches("sha256:").to_string(), ())).collect();
        let mut orphan_blobs = Vec::new();
        for entry in std::fs::read_dir(self.blobs().dir()).map_err(|e| StoreError::Io {
            op: "list",
            path: self.blobs().dir().to_path_buf(),
            source: e,
        })? {
            let Ok(entry) = entry else { continue };
            let name = entry.file_name().to_string_lossy().into_owned();
            if !known.contains_key(&name) {
                report.leftovers.push(entry.path());
                orphan_blobs.push(name);
            }
        }
        if let Ok(rd) = std::fs::read_dir(self.root().join("layers")) {
            for entry in rd.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !known_layers.contains_key(&name) && !name.starts_with('.') {
                    report.leftovers.push(entry.path());
                }
            }
        }
        if let Ok(rd) = std::fs::read_dir(self.tmp_dir()) {
            for entry in rd.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let owner = name.rsplit('-').next().and_then(|p| p.parse::<u32>().ok());
                if owner.is_none_or(|p| !pid_alive(p)) {
                    report.leftovers.push(entry.path());
                }
            }
        }
        if !repair {
            return Ok(report);
        }
        // Repair: drop damaged images (and the tags naming them), then collect garbage.
        if !bad_images.is_empty() {
            self.db().write(|tx| {
                for id in &bad_images {
                    tx.execute("DELETE FROM refs WHERE image_id = ?1", [id])?;
                    tx.execute("DELETE FROM image_layers WHERE image_id = ?1", [id])?;
                    tx.execute("DELETE FROM images WHERE id = ?1", [id])?;
                    report.repaired.push(format!("removed damaged image {id}"));
                }
                Ok::<_, StoreError>(())
            })?;
        }
        if !bad_layers.is_empty() || !bad_blobs.is_empty() {
            self.db().write(|tx| {
                for c in &bad_layers {
                    let used =
                        tx.query_row("SELECT 1 FROM image_layers WHERE chain_id = ?1", [c], |_| Ok(())).optional()?;
                    if used.is_none() {
                        tx.execute("DELETE FROM layers WHERE chain_id = ?1", [c])?;
                    }
                }
                Ok::<_, StoreError>(())
            })?;
        }
        let gc = self.collect_garbage()?;
        for d in &gc.blobs {
            report.repaired.push(format!("removed unreferenced blob {d}"));
        }
        // Leftover files: remove under the write lock after re-checking no record claims them now.
        self.db().write(|tx| {
            for name in &orphan_blobs {
                let claimed = tx
                    .query_row("SELECT 1 FROM blobs WHERE digest = ?1", [format!("sha256:{name}")], |_| Ok(()))
                    .optional()?;
                if claimed.is_none() {
                    let p = self.blobs().dir().join(name);
                    if std::fs::remove_file(&p).is_ok() {
                        report.repaired.push(format!("removed leftover {}", p.display()));
                    }
                }
            }
            Ok::<_, StoreError>(())
        })?;
        for p in report.leftovers.clone() {
            if p.starts_with(self.blobs().dir()) || !p.exists() {
                continue;
            }
            let r = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
            if r.is_ok() {
                report.repaired.push(format!("removed leftover {}", p.display()));
            }
        }
        Ok(report)
    }
}
