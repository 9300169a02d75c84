//! `docker load`: reads an archive once, verifies every image in it, then records them.
//!
//! Nothing is recorded until every config, blob digest and layer DiffID of every image in the
//! archive has been checked: the spooled files are anonymous, so an error anywhere leaves the
//! store as it was.

use super::spool::{Spool, SpoolData, Spooled};
use super::{docker, oci, ArchiveError, Result, MAX_JSON_SIZE};
use crate::blob::{CopyError, FinishedBlob};
use crate::compression::{decompress, Compression};
use crate::config::ImageConfig;
use crate::digest::Digest;
use crate::layer_scan::scan_layer;
use crate::oci::media_types::OCI_LAYER;
use crate::reference::Reference;
use crate::store::{LayerBlob, NewImage, NewLayer, Store};
use std::collections::HashMap;
use std::io::Read;

/// How to load.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The archive as the user named it (a file name, or `-`/`stdin`), used in messages.
    pub source_name: String,
}

impl LoadOptions {
    pub fn new(source_name: &str) -> LoadOptions {
        LoadOptions { source_name: source_name.to_string() }
    }
}

/// A tag set by a load.
#[derive(Debug, Clone)]
pub struct LoadedTag {
    pub reference: Reference,
    /// The image this tag pointed at before, when it moved.
    pub replaced: Option<Digest>,
}

/// One image recorded by a load.
#[derive(Debug, Clone)]
pub struct LoadedImage {
    pub id: Digest,
    pub tags: Vec<LoadedTag>,
    /// The image was already in the store.
    pub existed: bool,
}

/// What a load did, image by image in archive order.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    pub images: Vec<LoadedImage>,
}

impl LoadReport {
    /// The lines `docker load` prints, in its order: per tag an optional rename notice, then
    /// `Loaded image: NAME:TAG`; `Loaded image ID: sha256:...` for an untagged image.
    pub fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        for img in &self.images {
            for t in &img.tags {
                if let Some(prev) = &t.replaced {
                    out.push(format!(
                        "The image {} already exists, renaming the old one with ID {prev} to empty string",
                        t.reference.familiar()
                    ));
                }
                out.push(format!("Loaded image: {}", t.reference.familiar()));
            }
            if img.tags.is_empty() {
                out.push(format!("Loaded image ID: {}", img.id));
            }
        }
        out
    }
}

/// A layer as an archive's manifest names it.
#[derive(Debug, Clone)]
pub(crate) struct LayerPlan {
    /// The path as the manifest gives it (for messages).
    pub entry: String,
    /// The regular file it resolves to inside the archive.
    pub resolved: String,
    /// Digest the stored (possibly compressed) blob must have: from a descriptor or a blob name.
    pub expected_digest: Option<Digest>,
    pub expected_size: Option<u64>,
}

/// An image as an archive's manifest describes it, before anything is checked.
#[derive(Debug, Clone)]
pub(crate) struct ImagePlan {
    pub config_entry: String,
    pub config: String,
    pub expected_config: Option<(Digest, Option<u64>)>,
    pub layers: Vec<LayerPlan>,
    pub tags: Vec<Reference>,
    pub parent: Option<Digest>,
}

impl ImagePlan {
    pub fn same_layers(&self, other: &[LayerPlan]) -> bool {
        self.layers.len() == other.len() && self.layers.iter().zip(other).all(|(a, b)| a.resolved == b.resolved)
    }
}

/// A verified image, ready to record.
struct Checked {
    config: Vec<u8>,
    id: Digest,
    history: serde_json::Value,
    /// (diff id, Docker size, blob already in the store).
    layers: Vec<(Digest, u64, Option<Digest>)>,
    tags: Vec<Reference>,
    parent: Option<Digest>,
}

/// Reports bytes read from the raw input.
struct Progress<'a> {
    inner: &'a mut dyn Read,
    progress: &'a mut dyn FnMut(u64),
}

impl Read for Progress<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            (self.progress)(n as u64);
        }
        Ok(n)
    }
}

/// Loads every image of an archive (any format in the module docs) into `store`.
/// `progress` gets the number of archive bytes read as they are read.
pub fn load(
    store: &Store,
    input: &mut dyn Read,
    opts: &LoadOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<LoadReport> {
    let archive = opts.source_name.as_str();
    let mut counted = Progress { inner: input, progress };
    let (_, mut plain) =
        decompress(&mut counted).map_err(|source| ArchiveError::Input { archive: archive.to_string(), source })?;
    let mut spool = Spool::read(archive, &mut plain, store.blobs())?;
    let plans = if spool.contains("manifest.json") {
        docker::plans(&spool)?
    } else if spool.contains("index.json") {
        oci::plans(&spool)?
    } else {
        return Err(ArchiveError::NoManifest { archive: archive.to_string() });
    };

    // Verify everything first.
    let mut prepared: HashMap<String, (Digest, u64)> = HashMap::new();
    let mut staged: HashMap<Digest, FinishedBlob> = HashMap::new();
    let mut checked = Vec::with_capacity(plans.len());
    for plan in plans {
        checked.push(check_image(store, &mut spool, plan, &mut prepared, &mut staged)?);
    }

    // Parents: only when valid per Docker's rule, and recorded before their children.
    let ids: Vec<Digest> = checked.iter().map(|c| c.id.clone()).collect();
    for i in 0..checked.len() {
        let Some(p) = checked[i].parent.clone() else { continue };
        let parent_history = match checked.iter().find(|c| c.id == p) {
            Some(c) => Some(c.history.clone()),
            None => store.image(&p).ok().and_then(|_| store.config_bytes(&p).ok()).and_then(|b| history_of(&b).ok()),
        };
        let valid = parent_history.is_some_and(|ph| valid_parent(&checked[i].history, &ph));
        if !valid {
            checked[i].parent = None;
        }
    }
    let mut order: Vec<usize> = Vec::with_capacity(checked.len());
    while order.len() < checked.len() {
        let before = order.len();
        for (i, c) in checked.iter().enumerate() {
            if order.contains(&i) {
                continue;
            }
            let waits = c
                .parent
                .as_ref()
                .is_some_and(|p| ids.iter().enumerate().any(|(j, id)| id == p && j != i && !order.contains(&j)));
            if !waits {
                order.push(i);
            }
        }
        if order.len() == before {
            // A parent cycle: drop the links and record in archive order.
            for c in checked.iter_mut() {
                c.parent = None;
            }
        }
    }

    let mut results: Vec<Option<LoadedImage>> = vec![None; checked.len()];
    let mut checked: Vec<Option<Checked>> = checked.into_iter().map(Some).collect();
    for i in order {
        let c = checked[i].take().expect("each image is recorded once");
        let layers = c
            .layers
            .into_iter()
            .map(|(diff_id, size, existing)| {
                let blob = match existing {
                    Some(d) => LayerBlob::Existing(d),
                    None => match staged.remove(&diff_id) {
                        Some(b) => LayerBlob::Staged(b),
                        // Staged by an earlier layer or image of this load.
                        None => LayerBlob::Existing(diff_id.clone()),
                    },
                };
                NewLayer { diff_id, blob, size, media_type: OCI_LAYER.into() }
            })
            .collect();
        let committed = store.commit_image(NewImage {
            config: c.config,
            layers,
            tags: c.tags.clone(),
            parent: c.parent,
            source: archive.to_string(),
        })?;
        let tags = c
            .tags
            .into_iter()
            .map(|reference| {
                let replaced = committed.retagged.iter().find(|(r, _)| r == &reference).map(|(_, d)| d.clone());
                LoadedTag { reference, replaced }
            })
            .collect();
        results[i] = Some(LoadedImage { id: committed.id, tags, existed: committed.existed });
    }
    Ok(LoadReport { images: results.into_iter().flatten().collect() })
}

fn history_of(config: &[u8]) -> std::result::Result<serde_json::Value, serde_json::Error> {
    let v: serde_json::Value = serde_json::from_slice(config)?;
    Ok(v.get("history").cloned().unwrap_or(serde_json::Value::Null))
}

/// Docker's `checkValidParent`: the child's history is the parent's plus exactly one entry.
fn valid_parent(child: &serde_json::Value, parent: &serde_json::Value) -> bool {
    let empty = Vec::new();
    let c = child.as_array().unwrap_or(&empty);
    let p = parent.as_array().unwrap_or(&empty);
    if c.is_empty() && p.is_empty() {
        return true;
    }
    c.len() == p.len() + 1 && p.iter().zip(c).all(|(a, b)| a == b)
}

fn check_image(
    store: &Store,
    spool: &mut Spool,
    plan: ImagePlan,
    prepared: &mut HashMap<String, (Digest, u64)>,
    staged: &mut HashMap<Digest, FinishedBlob>,
) -> Result<Checked> {
    let archive = spool.archive.clone();
    let config = spool.json(&plan.config)?;
    let id = Digest::of(&config);
    if let Some((expected, size)) = &plan.expected_config {
        if &id != expected {
            return Err(ArchiveError::Digest {
                archive,
                entry: plan.config_entry,
                expected: expected.clone(),
                found: id,
            });
        }
        if let Some(size) = size {
            if *size != config.len() as u64 {
                return Err(ArchiveError::Size {
                    archive,
                    entry: plan.config_entry,
                    expected: *size,
                    found: config.len() as u64,
                });
            }
        }
    }
    debug_assert!(config.len() as u64 <= MAX_JSON_SIZE);
    let what = format!("{archive}: {}", plan.config_entry);
    let cfg = ImageConfig::parse(&config, &what).map_err(|e| ArchiveError::Invalid {
        archive: archive.clone(),
        entry: plan.config_entry.clone(),
        reason: e.to_string(),
    })?;
    let diff_ids = &cfg.rootfs.diff_ids;
    if diff_ids.len() != plan.layers.len() {
        return Err(ArchiveError::LayerCount {
            archive,
            config: plan.config_entry,
            expected: diff_ids.len(),
            found: plan.layers.len(),
        });
    }
    let chain = Digest::chain_ids(diff_ids);
    let mut layers = Vec::with_capacity(diff_ids.len());
    for (i, lp) in plan.layers.iter().enumerate() {
        if let Some(rec) = store.layer(&chain[i])? {
            // Docker skips layers it already has.
            layers.push((rec.diff_id, rec.size, Some(rec.blob)));
            continue;
        }
        let (diff_id, size) = match prepared.get(&lp.resolved) {
            Some(p) => p.clone(),
            None => {
                let blob = prepare_layer(store, spool, lp)?;
                let d = blob.digest.clone();
                check_diff_id(&archive, lp, i, &diff_ids[i], &d)?;
                // Only a layer with the right content is worth scanning.
                let size = scan_layer(blob.file())
                    .map_err(|source| ArchiveError::Layer {
                        archive: archive.clone(),
                        entry: lp.entry.clone(),
                        source,
                    })?
                    .size;
                prepared.insert(lp.resolved.clone(), (d.clone(), size));
                staged.entry(d.clone()).or_insert(blob);
                (d, size)
            }
        };
        check_diff_id(&archive, lp, i, &diff_ids[i], &diff_id)?;
        layers.push((diff_id, size, None));
    }
    Ok(Checked {
        history: history_of(&config).unwrap_or(serde_json::Value::Null),
        config,
        id,
        layers,
        tags: plan.tags,
        parent: plan.parent,
    })
}

/// Checks a layer blob against what names it, and makes an uncompressed, hashed blob of it.
fn prepare_layer(store: &Store, spool: &mut Spool, lp: &LayerPlan) -> Result<FinishedBlob> {
    let archive = spool.archive.clone();
    let f: &Spooled = spool.get(&lp.resolved)?;
    if let Some(expected) = &lp.expected_digest {
        if &f.digest != expected {
            return Err(ArchiveError::Digest {
                archive,
                entry: lp.entry.clone(),
                expected: expected.clone(),
                found: f.digest.clone(),
            });
        }
    }
    if let Some(expected) = lp.expected_size {
        if f.size != expected {
            return Err(ArchiveError::Size { archive, entry: lp.entry.clone(), expected, found: f.size });
        }
    }
    let decompress_err =
        |source| ArchiveError::Decompress { archive: archive.clone(), entry: lp.entry.clone(), source };
    let head = f.head().map_err(decompress_err)?;
    let plain_file = Compression::detect(&head) == Compression::None && matches!(f.data, SpoolData::File(_));
    let blob = match plain_file {
        true => {
            // Already an uncompressed blob: use the spooled file itself.
            let Some(Spooled { data: SpoolData::File(b), .. }) = spool.take(&lp.resolved) else {
                unreachable!("checked above")
            };
            b
        }
        false => {
            let mut w = store.blobs().writer()?;
            let reader = f.reader().map_err(decompress_err)?;
            let (_, mut plain) = decompress(reader).map_err(decompress_err)?;
            w.copy_from(&mut plain, &mut |_| {}).map_err(|err| match err {
                CopyError::Read(e) => decompress_err(e),
                CopyError::Write(e) => ArchiveError::Blob(e),
            })?;
            w.finish()?
        }
    };
    Ok(blob)
}

fn check_diff_id(archive: &str, lp: &LayerPlan, index: usize, expected: &Digest, found: &Digest) -> Result<()> {
    if expected != found {
        return Err(ArchiveError::DiffId {
            archive: archive.to_string(),
            entry: lp.entry.clone(),
            index,
            expected: expected.clone(),
            found: found.clone(),
        });
    }
    Ok(())
}
