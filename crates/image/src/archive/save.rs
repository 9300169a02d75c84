//! `docker save`: writes images as Docker 25+ does (an OCI image layout with uncompressed layer
//! blobs named by DiffID, plus `manifest.json` and `repositories`), or as a pure OCI layout
//! (`--format oci-archive`, or a directory). Every blob is written once, however many images
//! share it; layer data is streamed from the store's blob files.

use super::docker::ManifestItem;
use super::legacy;
use super::oci::OCI_LAYOUT;
use super::tarwriter::{DirSink, LayoutSink, TarSink};
use super::{ArchiveError, Result, ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME};
use crate::compression::decompress;
use crate::config::{go_json, ImageConfig};
use crate::digest::{Digest, HashingReader};
use crate::oci::media_types as mt;
use crate::oci::{Descriptor, ImageIndex, ImageManifest, Platform};
use crate::reference::Reference;
use crate::store::{LayerRecord, Store, StoreError};
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

/// One image to save and the tags to save it under (none: saved by ID, `RepoTags` null).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveItem {
    pub id: Digest,
    pub refs: Vec<Reference>,
}

/// The layout to write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SaveFormat {
    /// Docker 25+'s docker-archive: OCI layout plus `manifest.json` and `repositories`.
    #[default]
    DockerArchive,
    /// An OCI image layout in a tar.
    OciArchive,
    /// An OCI image layout written to this directory (created; an existing one must be empty).
    OciDir(PathBuf),
}

/// Turns the names given to `docker save` into items, as Docker's `parseNames` does: `repo:tag`
/// saves that tag, a bare repository name saves all its tags, an ID (or prefix) or a digest
/// reference saves the image without tags. Names of one image are merged, in command-line order.
pub fn save_items(store: &Store, names: &[String]) -> Result<Vec<SaveItem>> {
    let mut items: Vec<SaveItem> = Vec::new();
    let mut add = |id: Digest, r: Option<Reference>| {
        let i = match items.iter().position(|it| it.id == id) {
            Some(i) => i,
            None => {
                items.push(SaveItem { id, refs: Vec::new() });
                items.len() - 1
            }
        };
        if let Some(r) = r {
            if !items[i].refs.contains(&r) {
                items[i].refs.push(r);
            }
        }
    };
    for name in names {
        // `sha256:<hex>` (or a prefix) and bare 64-hex IDs name images, never repositories.
        let is_id = name.starts_with("sha256:") || Digest::from_hex(name).is_ok();
        let parsed = if is_id { None } else { Reference::parse(name).ok() };
        match parsed {
            Some(r) if r.digest().is_none() && r.tag().is_none() => {
                let mut found = false;
                for img in store.images()? {
                    for t in img.tags.iter().filter(|t| t.name() == r.name()) {
                        add(img.id.clone(), Some(t.clone()));
                        found = true;
                    }
                }
                if !found {
                    add(store.resolve(name)?.id, None);
                }
            }
            Some(r) if r.digest().is_none() => add(store.resolve(name)?.id, Some(r)),
            _ => add(store.resolve(name)?.id, None),
        }
    }
    Ok(items)
}

/// A blob of the layout: bytes in memory, a store blob of a known length, or a compressed
/// store blob written out as the tar of that length.
enum BlobSource {
    Bytes(Vec<u8>),
    Store { digest: Digest, size: u64 },
    Decompressed { digest: Digest, size: u64 },
}

fn open_plain(store: &Store, blob: &Digest) -> Result<Box<dyn std::io::Read>> {
    let f = store.blobs().open(blob)?;
    let path = store.blobs().path(blob);
    let (_, r) = decompress(f).map_err(|source| ArchiveError::Io { op: "decompress", path, source })?;
    Ok(r)
}

/// The uncompressed length of a compressed layer blob, checked against its DiffID.
fn plain_length(store: &Store, id: &Digest, l: &LayerRecord) -> Result<u64> {
    let mut r = HashingReader::new(open_plain(store, &l.blob)?);
    let path = store.blobs().path(&l.blob);
    std::io::copy(&mut r, &mut std::io::sink()).map_err(|source| ArchiveError::Io {
        op: "decompress",
        path: path.clone(),
        source,
    })?;
    let (digest, len, _) = r.finish();
    if digest != l.diff_id {
        return Err(ArchiveError::Store(StoreError::Corrupt {
            path,
            reason: format!("image {id}: layer blob {} does not decompress to {}", l.blob, l.diff_id),
        }));
    }
    Ok(len)
}

struct Plan {
    /// hex → (source, mtime); a BTreeMap so entries come out in name order, as Docker's do.
    blobs: BTreeMap<String, (BlobSource, u64)>,
    /// The legacy layout (docker-archive only): `<config-hex>.json` copies of the configs, and
    /// `<v1id>/` directories whose `layer.tar` links to the layer's blob.
    legacy_configs: BTreeMap<String, (Vec<u8>, u64)>,
    legacy_layers: BTreeMap<String, LegacyLayer>,
    index: Vec<Descriptor>,
    manifest: Vec<ManifestItem>,
    repositories: BTreeMap<String, BTreeMap<String, String>>,
}

struct LegacyLayer {
    json: Vec<u8>,
    diff_hex: String,
    mtime: u64,
}

fn marshal<T: serde::Serialize>(v: &T) -> Vec<u8> {
    go_json(&serde_json::to_value(v).expect("layout JSON serialises")).into_bytes()
}

fn plan(store: &Store, items: &[SaveItem]) -> Result<Plan> {
    let mut p = Plan {
        blobs: BTreeMap::new(),
        legacy_configs: BTreeMap::new(),
        legacy_layers: BTreeMap::new(),
        index: Vec::new(),
        manifest: Vec::new(),
        repositories: BTreeMap::new(),
    };
    let saved: HashSet<&Digest> = items.iter().map(|i| &i.id).collect();
    for item in items {
        let config = store.config_bytes(&item.id)?;
        let cfg = ImageConfig::parse(&config, &item.id.to_string()).map_err(StoreError::from)?;
        let created = cfg.created_time().map(|t| t.timestamp().max(0) as u64).unwrap_or(0);
        let layers = store.image_layers(&item.id)?;
        let mut layer_descs = Vec::with_capacity(layers.len());
        let v1 = legacy::v1_layers(&cfg);
        let layer_paths: Vec<String> = v1.iter().map(|l| format!("{}/layer.tar", l.id)).collect();
        for (l, diff) in v1.iter().zip(&cfg.rootfs.diff_ids) {
            p.legacy_layers.entry(l.id.clone()).or_insert(LegacyLayer {
                json: l.json.clone(),
                diff_hex: diff.hex().to_string(),
                mtime: created,
            });
        }
        p.legacy_configs.entry(item.id.hex().to_string()).or_insert((config.clone(), created));
        for l in &layers {
            let (src, size) = if l.blob == l.diff_id {
                let path = store.blobs().path(&l.blob);
                let size = std::fs::metadata(&path)
                    .map_err(|source| ArchiveError::Io { op: "stat", path: path.clone(), source })?
                    .len();
                (BlobSource::Store { digest: l.blob.clone(), size }, size)
            } else {
                // A pulled layer kept compressed: saved as its tar, decompressed while written.
                // The tar header needs the length first, so count it in a first pass.
                let size = plain_length(store, &item.id, l)?;
                (BlobSource::Decompressed { digest: l.blob.clone(), size }, size)
            };
            p.blobs.entry(l.diff_id.hex().to_string()).or_insert((src, created));
            layer_descs.push(Descriptor::new(mt::OCI_LAYER, l.diff_id.to_string(), size));
        }
        let config_size = config.len() as u64;
        p.blobs.entry(item.id.hex().to_string()).or_insert((BlobSource::Bytes(config), created));
        let manifest = marshal(&ImageManifest {
            schema_version: 2,
            media_type: Some(mt::OCI_MANIFEST.into()),
            config: Descriptor::new(mt::OCI_CONFIG, item.id.to_string(), config_size),
            layers: layer_descs,
        });
        let manifest_digest = Digest::of(&manifest);
        let manifest_size = manifest.len() as u64;
        p.blobs.entry(manifest_digest.hex().to_string()).or_insert((BlobSource::Bytes(manifest), 0));
        let platform = Platform {
            architecture: cfg.architecture.clone(),
            os: cfg.os.clone(),
            os_version: None,
            variant: cfg.variant.clone(),
        };
        let desc = |annotations| Descriptor {
            media_type: mt::OCI_MANIFEST.into(),
            digest: manifest_digest.to_string(),
            size: manifest_size,
            urls: None,
            annotations,
            platform: Some(platform.clone()),
        };
        let tags: Vec<&Reference> = item.refs.iter().filter(|r| r.tag().is_some() && r.digest().is_none()).collect();
        for r in &tags {
            let tag = r.tag().unwrap_or_default();
            let ann = BTreeMap::from([
                (ANNOTATION_IMAGE_NAME.to_string(), r.to_string()),
                (ANNOTATION_REF_NAME.to_string(), tag.to_string()),
            ]);
            p.index.push(desc(Some(ann)));
            if let Some(top) = v1.last() {
                p.repositories.entry(r.familiar_name()).or_default().insert(tag.to_string(), top.id.clone());
            }
        }
        if tags.is_empty() {
            p.index.push(desc(None));
        }
        let parent = store.image(&item.id)?.parent.filter(|parent| saved.contains(parent));
        p.manifest.push(ManifestItem {
            config: format!("{}.json", item.id.hex()),
            repo_tags: if tags.is_empty() { None } else { Some(tags.iter().map(|r| r.familiar()).collect()) },
            layers: layer_paths,
            parent: parent.map(|d| d.to_string()),
        });
    }
    Ok(p)
}

fn write_layout(store: &Store, p: Plan, docker: bool, sink: &mut dyn LayoutSink) -> Result<()> {
    sink.dir("blobs", 0)?;
    sink.dir("blobs/sha256", 0)?;
    for (hex, (src, mtime)) in &p.blobs {
        let path = format!("blobs/sha256/{hex}");
        match src {
            BlobSource::Bytes(b) => sink.file(&path, b, *mtime)?,
            BlobSource::Store { digest, size } => {
                let mut f = store.blobs().open(digest)?;
                sink.copy(&path, &mut f, *size, *mtime)?;
            }
            BlobSource::Decompressed { digest, size } => {
                let mut r = open_plain(store, digest)?;
                sink.copy_reader(&path, &mut r, *size, *mtime)?;
            }
        }
    }
    if docker {
        // The seeds' layout beside the OCI one; layer bytes are stored once, under blobs/.
        for (hex, (bytes, mtime)) in &p.legacy_configs {
            sink.file(&format!("{hex}.json"), bytes, *mtime)?;
        }
        for (id, l) in &p.legacy_layers {
            sink.dir(id, l.mtime)?;
            sink.file(&format!("{id}/VERSION"), legacy::VERSION, l.mtime)?;
            sink.file(&format!("{id}/json"), &l.json, l.mtime)?;
            sink.symlink(&format!("{id}/layer.tar"), &format!("../blobs/sha256/{}", l.diff_hex), l.mtime)?;
        }
    }
    let index = marshal(&ImageIndex { schema_version: 2, media_type: Some(mt::OCI_INDEX.into()), manifests: p.index });
    sink.file("index.json", &index, 0)?;
    if docker {
        let mut manifest = marshal(&p.manifest);
        manifest.push(b'\n');
        sink.file("manifest.json", &manifest, 0)?;
    }
    sink.file("oci-layout", OCI_LAYOUT.as_bytes(), 0)?;
    if docker && !p.repositories.is_empty() {
        let mut repos = marshal(&p.repositories);
        repos.push(b'\n');
        sink.file("repositories", &repos, 0)?;
    }
    sink.finish()
}

/// Saves `items` in `format` to `out`. For [`SaveFormat::OciDir`] the layout goes to that
/// directory and `out` is not used. `progress` gets the number of bytes written as they are written.
pub fn save(
    store: &Store,
    items: &[SaveItem],
    format: &SaveFormat,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> Result<()> {
    match format {
        SaveFormat::OciDir(dir) => save_to_dir(store, items, dir),
        SaveFormat::DockerArchive | SaveFormat::OciArchive => {
            let p = plan(store, items)?;
            let mut sink = TarSink::new(out, progress);
            write_layout(store, p, *format == SaveFormat::DockerArchive, &mut sink)
        }
    }
}

/// Writes `items` as an OCI image layout into `dir` (created; an existing one must be empty).
pub fn save_to_dir(store: &Store, items: &[SaveItem], dir: &Path) -> Result<()> {
    let p = plan(store, items)?;
    let mut sink = DirSink::create(dir)?;
    write_layout(store, p, false, &mut sink)
}
