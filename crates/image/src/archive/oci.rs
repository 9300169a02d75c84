//! OCI image layouts (image-spec `image-layout.md`): reading a layout's `index.json` into image
//! plans, following nested indexes to the host platform. The JSON types are [`crate::oci`]'s.

use super::load::{ImagePlan, LayerPlan};
use super::spool::Spool;
use super::{ArchiveError, Result, ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME};
use crate::digest::Digest;
use crate::oci::media_types as mt;
use crate::oci::{Descriptor, ImageIndex, ImageManifest};
use crate::reference::Reference;

/// How deep nested indexes may go.
const MAX_INDEX_DEPTH: usize = 8;

/// `oci-layout` as Docker writes it (note the space after the colon).
pub(crate) const OCI_LAYOUT: &str = r#"{"imageLayoutVersion": "1.0.0"}"#;

/// The host platform's OS and architecture, as Go names them.
fn host_platform() -> (&'static str, &'static str) {
    ("linux", crate::oci::host_architecture())
}

/// The tag a top-level index entry names, if any (see the module docs of `archive` for the rule).
fn descriptor_tag(d: &Descriptor) -> Option<Reference> {
    let ann = d.annotations.as_ref()?;
    let full = |key: &str| {
        ann.get(key).and_then(|n| Reference::parse(n).ok()).filter(|r| r.tag().is_some() && r.digest().is_none())
    };
    full(ANNOTATION_IMAGE_NAME).or_else(|| full(ANNOTATION_REF_NAME))
}

struct Walker<'a> {
    spool: &'a Spool,
    plans: Vec<ImagePlan>,
}

impl Walker<'_> {
    fn invalid(&self, entry: &str, reason: String) -> ArchiveError {
        ArchiveError::Invalid { archive: self.spool.archive.clone(), entry: entry.to_string(), reason }
    }

    /// Path of a blob named by a descriptor, after checking the digest's form.
    fn blob_path(&self, d: &Descriptor, from: &str) -> Result<(String, Digest)> {
        let digest = Digest::parse(&d.digest).map_err(|e| self.invalid(from, format!("descriptor digest: {e}")))?;
        Ok((format!("blobs/sha256/{}", digest.hex()), digest))
    }

    /// Reads a JSON blob named by a descriptor and checks its digest and size.
    fn json_blob(&self, d: &Descriptor, from: &str) -> Result<(String, Vec<u8>)> {
        let (path, digest) = self.blob_path(d, from)?;
        let bytes = self.spool.json(&path)?;
        let found = Digest::of(&bytes);
        if found != digest {
            return Err(ArchiveError::Digest {
                archive: self.spool.archive.clone(),
                entry: path,
                expected: digest,
                found,
            });
        }
        if bytes.len() as u64 != d.size {
            return Err(ArchiveError::Size {
                archive: self.spool.archive.clone(),
                entry: path,
                expected: d.size,
                found: bytes.len() as u64,
            });
        }
        Ok((path, bytes))
    }

    fn walk(&mut self, d: &Descriptor, from: &str, tags: &[Reference], depth: usize) -> Result<()> {
        if depth > MAX_INDEX_DEPTH {
            return Err(self.invalid(from, format!("indexes nested more than {MAX_INDEX_DEPTH} deep")));
        }
        match d.media_type.as_str() {
            mt::OCI_MANIFEST | mt::DOCKER_MANIFEST => self.manifest(d, from, tags),
            mt::OCI_INDEX | mt::DOCKER_LIST => self.index(d, from, tags, depth),
            mt::DOCKER_SCHEMA1_SIGNED | mt::DOCKER_SCHEMA1 => Err(ArchiveError::Unsupported {
                archive: self.spool.archive.clone(),
                entry: from.to_string(),
                reason: format!("{} manifests (Docker image schema 1) are not supported", d.media_type),
            }),
            "" => {
                // No media type: decide from the document itself.
                let (path, bytes) = self.json_blob(d, from)?;
                let v: serde_json::Value =
                    serde_json::from_slice(&bytes).map_err(|e| self.invalid(&path, e.to_string()))?;
                if v.get("manifests").is_some() {
                    self.index(d, from, tags, depth)
                } else {
                    self.manifest(d, from, tags)
                }
            }
            _ => Ok(()), // unknown media types are ignored (image-spec `image-index.md`)
        }
    }

    fn index(&mut self, d: &Descriptor, from: &str, tags: &[Reference], depth: usize) -> Result<()> {
        let (path, bytes) = self.json_blob(d, from)?;
        let idx: ImageIndex = serde_json::from_slice(&bytes).map_err(|e| self.invalid(&path, e.to_string()))?;
        let (os, arch) = host_platform();
        let chosen = idx.manifests.iter().find(|m| match &m.platform {
            None => true,
            Some(p) => p.os == os && p.architecture == arch,
        });
        match chosen {
            Some(m) => self.walk(m, &path, tags, depth + 1),
            None => Err(ArchiveError::Unsupported {
                archive: self.spool.archive.clone(),
                entry: path,
                reason: format!("no matching manifest for {os}/{arch} in the manifest list entries"),
            }),
        }
    }

    fn manifest(&mut self, d: &Descriptor, from: &str, tags: &[Reference]) -> Result<()> {
        let (path, bytes) = self.json_blob(d, from)?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| self.invalid(&path, e.to_string()))?;
        if v.get("manifests").is_some() {
            // CVE-2021-41190: a document must not be both an index and a manifest.
            return Err(self.invalid(&path, "the manifest also has a \"manifests\" field".into()));
        }
        let m: ImageManifest = serde_json::from_value(v).map_err(|e| self.invalid(&path, e.to_string()))?;
        if m.schema_version != 2 {
            return Err(self.invalid(&path, format!("schemaVersion {} is not 2", m.schema_version)));
        }
        let (config, config_digest) = self.blob_path(&m.config, &path)?;
        let mut layers = Vec::with_capacity(m.layers.len());
        for l in &m.layers {
            let (lp, digest) = self.blob_path(l, &path)?;
            let resolved = self.spool.resolve(&lp)?;
            layers.push(LayerPlan { entry: lp, resolved, expected_digest: Some(digest), expected_size: Some(l.size) });
        }
        if let Some(existing) = self.plans.iter_mut().find(|p| p.config == config && p.same_layers(&layers)) {
            // Several index entries (one per tag) for one image.
            for t in tags {
                if !existing.tags.contains(t) {
                    existing.tags.push(t.clone());
                }
            }
            return Ok(());
        }
        self.plans.push(ImagePlan {
            config_entry: config.clone(),
            config: self.spool.resolve(&config)?,
            expected_config: Some((config_digest, Some(m.config.size))),
            layers,
            tags: tags.to_vec(),
            parent: None,
        });
        Ok(())
    }
}

/// Reads `oci-layout` and `index.json` into one plan per image.
pub(crate) fn plans(spool: &Spool) -> Result<Vec<ImagePlan>> {
    if spool.contains("oci-layout") {
        let bytes = spool.json("oci-layout")?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| ArchiveError::Invalid {
            archive: spool.archive.clone(),
            entry: "oci-layout".into(),
            reason: e.to_string(),
        })?;
        let version = v.get("imageLayoutVersion").and_then(|x| x.as_str()).unwrap_or_default();
        if version != "1.0.0" {
            return Err(ArchiveError::Unsupported {
                archive: spool.archive.clone(),
                entry: "oci-layout".into(),
                reason: format!("unsupported image layout version {version:?}"),
            });
        }
    }
    let bytes = spool.json("index.json")?;
    let idx: ImageIndex = serde_json::from_slice(&bytes).map_err(|e| ArchiveError::Invalid {
        archive: spool.archive.clone(),
        entry: "index.json".into(),
        reason: e.to_string(),
    })?;
    let mut w = Walker { spool, plans: Vec::new() };
    for d in &idx.manifests {
        let tags: Vec<Reference> = descriptor_tag(d).into_iter().collect();
        w.walk(d, "index.json", &tags, 0)?;
    }
    Ok(w.plans)
}
