//! The image store: image records, references and layers over the content
//! store and the metadata database.
//!
//! Writers stage blobs first (anonymous files, see [`crate::blob`]), then
//! [`Store::commit_image`] checks them against the config and, in one
//! transaction, records the image and links the blobs under their digests.
//! Deletion removes records in one transaction and the files they no longer
//! need afterwards (see [`Store::collect_garbage`]), so no record ever points to
//! a missing file and an interrupted deletion only leaves unreferenced files.

use crate::blob::{BlobDir, BlobError, FinishedBlob};
use crate::config::{self, ConfigError, ImageConfig, MAX_CONFIG_SIZE};
use crate::db::{Db, DbError};
use crate::digest::Digest;
use crate::reference::{Reference, ReferenceError};
use rusqlite::{params, OptionalExtension};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Errors from the image store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("metadata database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error("{op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },
    #[error("No such image: {0}")]
    NoSuchImage(String),
    #[error("ambiguous image id prefix {0:?}: it matches more than one image")]
    Ambiguous(String),
    #[error("invalid image {what}: {reason}")]
    InvalidImage { what: String, reason: String },
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("store {path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// What kind of failure this is (see [`crate::errdefs`]).
    pub fn kind(&self) -> crate::ErrorKind {
        use crate::ErrorKind;
        match self {
            StoreError::NoSuchImage(_) => ErrorKind::NotFound,
            StoreError::Reference(_) | StoreError::Ambiguous(_) | StoreError::InvalidImage { .. } => {
                ErrorKind::InvalidArgument
            }
            StoreError::Conflict(_) => ErrorKind::Conflict,
            StoreError::Db(_)
            | StoreError::Sql(_)
            | StoreError::Blob(_)
            | StoreError::Config(_)
            | StoreError::Io { .. }
            | StoreError::Corrupt { .. } => ErrorKind::System,
        }
    }
}

/// A layer blob handed to [`Store::commit_image`].
pub enum LayerBlob {
    /// A new, uncompressed layer tar (its digest is the DiffID).
    Staged(FinishedBlob),
    /// A new compressed layer blob as a registry sent it (its digest is the layer digest,
    /// `NewLayer::media_type` says how it is compressed). The caller has checked that it
    /// decompresses to `NewLayer::diff_id` (pull does so while streaming).
    StagedCompressed(FinishedBlob),
    /// A blob the store already has.
    Existing(Digest),
}

/// One layer of an image being committed.
pub struct NewLayer {
    pub diff_id: Digest,
    pub blob: LayerBlob,
    /// Docker's layer size (see [`crate::layer_scan`]).
    pub size: u64,
    pub media_type: String,
}

/// An image to record: its config bytes, layers (base first) and tags.
pub struct NewImage {
    pub config: Vec<u8>,
    pub layers: Vec<NewLayer>,
    pub tags: Vec<Reference>,
    pub parent: Option<Digest>,
    /// Name used in error messages (the archive or file the image came from).
    pub source: String,
}

/// What committing an image did.
#[derive(Debug, Clone)]
pub struct Committed {
    pub id: Digest,
    /// Tags that moved here from another image: (tag, previous image).
    pub retagged: Vec<(Reference, Digest)>,
    /// True when the image was already in the store.
    pub existed: bool,
}

/// A layer as the store records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRecord {
    pub chain_id: Digest,
    pub diff_id: Digest,
    pub blob: Digest,
    pub media_type: String,
    pub size: u64,
}

/// An image as the store records it.
#[derive(Debug, Clone)]
pub struct ImageRecord {
    pub id: Digest,
    pub created: Option<String>,
    pub size: u64,
    pub parent: Option<Digest>,
    pub added: String,
    pub last_tag_time: Option<String>,
    pub tags: Vec<Reference>,
    pub digests: Vec<Reference>,
}

/// One step of a removal, as `docker rmi` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoveEvent {
    Untagged(String),
    Deleted(Digest),
}

/// What garbage collection freed.
#[derive(Debug, Clone, Default)]
pub struct GcStats {
    pub layers: Vec<Digest>,
    pub blobs: Vec<Digest>,
    pub bytes: u64,
}

/// The store under a root directory.
pub struct Store {
    root: PathBuf,
    blobs: BlobDir,
    db: Db,
}

pub(crate) fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io { op, path: path.to_path_buf(), source }
}

pub(crate) fn digest_col(s: String) -> rusqlite::Result<Digest> {
    Digest::parse(&s)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

fn now_rfc3339() -> String {
    config::format_time(&chrono::Utc::now())
}

impl Store {
    /// Opens the store at `root`, creating it (mode 0700) if needed.
    pub fn open(root: &Path) -> Result<Store> {
        use std::os::unix::fs::DirBuilderExt;
        // The database is created last, so its presence means the layout is complete.
        if !root.join("skiff.db").exists() {
            let mut b = std::fs::DirBuilder::new();
            b.recursive(true).mode(0o700);
            for sub in ["", "blobs/sha256", "layers", "tmp", "containers"] {
                let p = root.join(sub);
                b.create(&p).map_err(io_err("create directory", &p))?;
            }
        }
        let db = Db::open(&root.join("skiff.db"))?;
        db.migrate(crate::schema::OWNER, crate::schema::MIGRATIONS)?;
        Ok(Store { root: root.to_path_buf(), blobs: BlobDir::new(root.join("blobs/sha256")), db })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blobs(&self) -> &BlobDir {
        &self.blobs
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Directory for the unpacked layer with this chain ID.
    pub fn layer_dir(&self, chain_id: &Digest) -> PathBuf {
        self.root.join("layers").join(chain_id.hex())
    }

    /// Scratch space for one operation (removed by the caller; stale ones by `system check --repair`).
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Whether a layer with this chain ID is recorded.
    pub fn layer(&self, chain_id: &Digest) -> Result<Option<LayerRecord>> {
        self.db.read(|tx| {
            tx.query_row(
                "SELECT l.diff_id, l.blob, b.media_type, l.size FROM layers l JOIN blobs b ON b.digest = l.blob
                 WHERE l.chain_id = ?1",
                [chain_id.to_string()],
                |r| {
                    Ok(LayerRecord {
                        chain_id: chain_id.clone(),
                        diff_id: digest_col(r.get(0)?)?,
                        blob: digest_col(r.get(1)?)?,
                        media_type: r.get(2)?,
                        size: r.get::<_, i64>(3)? as u64,
                    })
                },
            )
            .optional()
            .map_err(StoreError::from)
        })
    }

    /// Records an image. Checks the layers against the config's `rootfs.diff_ids`,
    /// then publishes staged blobs and records everything in one transaction.
    pub fn commit_image(&self, img: NewImage) -> Result<Committed> {
        let id = Digest::of(&img.config);
        if img.config.len() as u64 > MAX_CONFIG_SIZE {
            return Err(StoreError::InvalidImage {
                what: img.source.clone(),
                reason: format!("config is larger than {MAX_CONFIG_SIZE} bytes"),
            });
        }
        let cfg = ImageConfig::parse(&img.config, &img.source)?;
        if cfg.rootfs.diff_ids.len() != img.layers.len() {
            return Err(StoreError::InvalidImage {
                what: img.source.clone(),
                reason: format!(
                    "invalid manifest, layers length mismatch: config has {} diff_ids, {} layers given",
                    cfg.rootfs.diff_ids.len(),
                    img.layers.len()
                ),
            });
        }
        for (i, (want, layer)) in cfg.rootfs.diff_ids.iter().zip(&img.layers).enumerate() {
            if want != &layer.diff_id {
                return Err(StoreError::InvalidImage {
                    what: img.source.clone(),
                    reason: format!("invalid diffID for layer {i}: expected {want:?}, got {:?}", layer.diff_id),
                });
            }
            if let LayerBlob::Staged(b) = &layer.blob {
                if b.digest != layer.diff_id {
                    return Err(StoreError::InvalidImage {
                        what: img.source.clone(),
                        reason: format!("invalid diffID for layer {i}: expected {want:?}, got {:?}", b.digest),
                    });
                }
            }
        }
        let chain = Digest::chain_ids(&cfg.rootfs.diff_ids);
        let size: u64 = img.layers.iter().map(|l| l.size).sum();
        // Stage the config like any blob, so it is published in the same way.
        let mut w = self.blobs.writer()?;
        std::io::Write::write_all(&mut w, &img.config).map_err(io_err("write config blob in", self.blobs.dir()))?;
        let config_blob = w.finish()?;
        let created = cfg.created.clone();
        let now = now_rfc3339();
        self.db.write(|tx| {
            let existed: bool =
                tx.query_row("SELECT 1 FROM images WHERE id = ?1", [id.to_string()], |_| Ok(())).optional()?.is_some();
            self.publish_blob(tx, &config_blob, crate::oci::media_types::OCI_CONFIG)?;
            for (i, layer) in img.layers.iter().enumerate() {
                let blob = match &layer.blob {
                    LayerBlob::Staged(b) | LayerBlob::StagedCompressed(b) => {
                        self.publish_blob(tx, b, &layer.media_type)?;
                        b.digest.clone()
                    }
                    LayerBlob::Existing(d) => {
                        let ok = tx
                            .query_row("SELECT 1 FROM blobs WHERE digest = ?1", [d.to_string()], |_| Ok(()))
                            .optional()?
                            .is_some();
                        if !ok {
                            return Err(StoreError::Blob(BlobError::Missing(d.clone())));
                        }
                        d.clone()
                    }
                };
                tx.execute(
                    "INSERT OR IGNORE INTO layers(chain_id, diff_id, parent, blob, size) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        chain[i].to_string(),
                        layer.diff_id.to_string(),
                        i.checked_sub(1).map(|p| chain[p].to_string()),
                        blob.to_string(),
                        layer.size as i64
                    ],
                )?;
            }
            if !existed {
                tx.execute(
                    "INSERT INTO images(id, created, size, parent, added) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![id.to_string(), created, size as i64, img.parent.as_ref().map(|p| p.to_string()), now],
                )?;
                for (i, c) in chain.iter().enumerate() {
                    tx.execute(
                        "INSERT INTO image_layers(image_id, idx, chain_id) VALUES (?1, ?2, ?3)",
                        params![id.to_string(), i as i64, c.to_string()],
                    )?;
                }
            } else if let Some(p) = &img.parent {
                tx.execute(
                    "UPDATE images SET parent = ?2 WHERE id = ?1 AND parent IS NULL",
                    params![id.to_string(), p.to_string()],
                )?;
            }
            let mut retagged = Vec::new();
            for t in &img.tags {
                if let Some(prev) = Self::set_ref(tx, t, &id, &now)? {
                    retagged.push((t.clone(), prev));
                }
            }
            Ok(Committed { id: id.clone(), retagged, existed })
        })
    }

    fn publish_blob(&self, tx: &rusqlite::Transaction<'_>, b: &FinishedBlob, media_type: &str) -> Result<()> {
        let known = tx
            .query_row("SELECT 1 FROM blobs WHERE digest = ?1", [b.digest.to_string()], |_| Ok(()))
            .optional()?
            .is_some();
        if !known {
            tx.execute(
                "INSERT INTO blobs(digest, size, media_type) VALUES (?1, ?2, ?3)",
                params![b.digest.to_string(), b.size as i64, media_type],
            )?;
        }
        // Linking is idempotent: a file already there has the same content.
        self.blobs.publish(b)?;
        Ok(())
    }

    /// Points `r` at `id`; returns the image it pointed at before, if another.
    fn set_ref(tx: &rusqlite::Transaction<'_>, r: &Reference, id: &Digest, now: &str) -> Result<Option<Digest>> {
        let kind = if r.digest().is_some() { "digest" } else { "tag" };
        let prev: Option<String> =
            tx.query_row("SELECT image_id FROM refs WHERE name = ?1", [r.to_string()], |row| row.get(0)).optional()?;
        tx.execute(
            "INSERT INTO refs(name, image_id, kind) VALUES (?1, ?2, ?3)
             ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id",
            params![r.to_string(), id.to_string(), kind],
        )?;
        tx.execute("UPDATE images SET last_tag_time = ?2 WHERE id = ?1", params![id.to_string(), now])?;
        match prev {
            Some(p) if p != id.to_string() => Ok(Some(digest_col(p)?)),
            _ => Ok(None),
        }
    }

    /// `docker tag`: points `r` at the image `id`.
    pub fn tag(&self, id: &Digest, r: &Reference) -> Result<Option<Digest>> {
        let now = now_rfc3339();
        self.db.write(|tx| {
            let exists =
                tx.query_row("SELECT 1 FROM images WHERE id = ?1", [id.to_string()], |_| Ok(())).optional()?.is_some();
            if !exists {
                return Err(StoreError::NoSuchImage(id.to_string()));
            }
            Self::set_ref(tx, r, id, &now)
        })
    }

    /// Finds an image by reference, full ID or unique ID prefix.
    pub fn resolve(&self, name: &str) -> Result<ImageRecord> {
        let id = self.db.read(|tx| Self::resolve_id(tx, name))?;
        self.image(&id)
    }

    pub(crate) fn resolve_id(tx: &rusqlite::Transaction<'_>, name: &str) -> Result<Digest> {
        if let Ok(r) = Reference::parse_with_default_tag(name) {
            let hit: Option<String> = tx
                .query_row("SELECT image_id FROM refs WHERE name = ?1", [r.to_string()], |row| row.get(0))
                .optional()?;
            if let Some(id) = hit {
                return Ok(digest_col(id)?);
            }
        }
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        if !hex.is_empty() && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
            let mut stmt = tx.prepare("SELECT id FROM images WHERE id >= ?1 AND id < ?2 LIMIT 2")?;
            let lo = format!("sha256:{hex}");
            let hi = format!("sha256:{hex}\u{7f}");
            let ids: Vec<String> = stmt.query_map([lo, hi], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            match ids.len() {
                1 => return Ok(digest_col(ids.into_iter().next().unwrap())?),
                0 => {}
                _ => return Err(StoreError::Ambiguous(name.to_string())),
            }
        }
        let shown = match Reference::parse_with_default_tag(name) {
            Ok(r) => r.familiar(),
            Err(_) => name.to_string(),
        };
        Err(StoreError::NoSuchImage(shown))
    }

    /// One image's record.
    pub fn image(&self, id: &Digest) -> Result<ImageRecord> {
        let mut all = self.db.read(|tx| Self::load_images(tx, Some(id)))?;
        all.pop().ok_or_else(|| StoreError::NoSuchImage(id.to_string()))
    }

    /// Every image, newest first (as `docker images` sorts them).
    pub fn images(&self) -> Result<Vec<ImageRecord>> {
        self.db.read(|tx| Self::load_images(tx, None))
    }

    fn load_images(tx: &rusqlite::Transaction<'_>, only: Option<&Digest>) -> Result<Vec<ImageRecord>> {
        let filter = only.map(|d| d.to_string());
        let mut stmt = tx.prepare(
            "SELECT id, created, size, parent, added, last_tag_time FROM images
             WHERE ?1 IS NULL OR id = ?1 ORDER BY created DESC, id",
        )?;
        let mut out: Vec<ImageRecord> = stmt
            .query_map([&filter], |r| {
                Ok(ImageRecord {
                    id: digest_col(r.get(0)?)?,
                    created: r.get(1)?,
                    size: r.get::<_, i64>(2)? as u64,
                    parent: r.get::<_, Option<String>>(3)?.map(digest_col).transpose()?,
                    added: r.get(4)?,
                    last_tag_time: r.get(5)?,
                    tags: Vec::new(),
                    digests: Vec::new(),
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        // Ordered map: a few comparisons of 71-byte ids cost less than hashing them with SipHash.
        let mut idx: BTreeMap<String, usize> = BTreeMap::new();
        for (i, img) in out.iter().enumerate() {
            idx.insert(img.id.to_string(), i);
        }
        let mut stmt =
            tx.prepare("SELECT name, image_id, kind FROM refs WHERE ?1 IS NULL OR image_id = ?1 ORDER BY name")?;
        let rows = stmt
            .query_map([&filter], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?;
        for row in rows {
            let (name, image, kind) = row?;
            let Some(&i) = idx.get(&image) else { continue };
            let Ok(r) = Reference::parse(&name) else { continue };
            if kind == "digest" {
                out[i].digests.push(r);
            } else {
                out[i].tags.push(r);
            }
        }
        Ok(out)
    }

    /// The layers of an image, base first.
    pub fn image_layers(&self, id: &Digest) -> Result<Vec<LayerRecord>> {
        self.db.read(|tx| {
            let mut stmt = tx.prepare(
                "SELECT il.chain_id, l.diff_id, l.blob, b.media_type, l.size FROM image_layers il
                 JOIN layers l ON l.chain_id = il.chain_id JOIN blobs b ON b.digest = l.blob
                 WHERE il.image_id = ?1 ORDER BY il.idx",
            )?;
            let rows = stmt.query_map([id.to_string()], |r| {
                Ok(LayerRecord {
                    chain_id: digest_col(r.get(0)?)?,
                    diff_id: digest_col(r.get(1)?)?,
                    blob: digest_col(r.get(2)?)?,
                    media_type: r.get(3)?,
                    size: r.get::<_, i64>(4)? as u64,
                })
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(StoreError::from)
        })
    }

    /// The exact config bytes of an image.
    pub fn config_bytes(&self, id: &Digest) -> Result<Vec<u8>> {
        Ok(self.blobs.read_limited(id, MAX_CONFIG_SIZE)?)
    }

    /// The parsed config of an image.
    pub fn config(&self, id: &Digest) -> Result<ImageConfig> {
        let bytes = self.config_bytes(id)?;
        Ok(ImageConfig::parse(&bytes, &id.to_string())?)
    }

    /// Images whose parent is `id`.
    pub fn children(&self, id: &Digest) -> Result<Vec<Digest>> {
        self.db.read(|tx| {
            let mut stmt = tx.prepare("SELECT id FROM images WHERE parent = ?1")?;
            let ids = stmt.query_map([id.to_string()], |r| digest_col(r.get(0)?))?;
            ids.collect::<rusqlite::Result<Vec<_>>>().map_err(StoreError::from)
        })
    }

    /// References grouped for `docker save`'s `repositories` file: familiar repo → tag → image.
    pub fn repositories_for(&self, images: &[(Digest, Vec<Reference>)]) -> BTreeMap<String, BTreeMap<String, Digest>> {
        let mut out: BTreeMap<String, BTreeMap<String, Digest>> = BTreeMap::new();
        for (id, refs) in images {
            for r in refs {
                if let Some(t) = r.tag() {
                    out.entry(r.familiar_name()).or_default().insert(t.to_string(), id.clone());
                }
            }
        }
        out
    }
}
