//! The docker-archive `manifest.json` (Docker image spec v1.2 "combined format", moby
//! `image/tarexport`): reading it into image plans, and the entry type `save` writes.

use super::load::{ImagePlan, LayerPlan};
use super::spool::Spool;
use super::{ArchiveError, Result};
use crate::digest::Digest;
use crate::reference::Reference;
use serde::{Deserialize, Serialize};

/// One image in `manifest.json`. Keys are capitalised as Docker writes them.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ManifestItem {
    #[serde(rename = "Config")]
    pub config: String,
    #[serde(rename = "RepoTags")]
    pub repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    pub layers: Vec<String>,
    #[serde(rename = "Parent", default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

/// The digest a file's name promises: `blobs/sha256/<hex>` or a legacy `<hex>.json` config.
pub(crate) fn digest_from_name(path: &str) -> Option<Digest> {
    if let Some(hex) = path.strip_prefix("blobs/sha256/") {
        return Digest::from_hex(hex).ok();
    }
    let base = path.rsplit('/').next().unwrap_or(path);
    base.strip_suffix(".json").and_then(|hex| Digest::from_hex(hex).ok())
}

/// Reads `manifest.json` into one plan per image.
pub(crate) fn plans(spool: &Spool) -> Result<Vec<ImagePlan>> {
    let invalid = |reason: String| ArchiveError::Invalid {
        archive: spool.archive.clone(),
        entry: "manifest.json".into(),
        reason,
    };
    let bytes = spool.json("manifest.json")?;
    let items: Option<Vec<ManifestItem>> = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
    let items = items.ok_or_else(|| invalid("the manifest is null".into()))?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let config = spool.resolve(&item.config)?;
        let mut tags = Vec::new();
        for t in item.repo_tags.unwrap_or_default() {
            let r = Reference::parse(&t).map_err(|e| invalid(format!("image {i}: invalid tag {t:?}: {e}")))?;
            if r.tag().is_none() || r.digest().is_some() {
                return Err(invalid(format!("image {i}: invalid tag {t:?}")));
            }
            tags.push(r);
        }
        let parent = match item.parent.as_deref() {
            None | Some("") => None,
            Some(p) => Some(Digest::parse(p).map_err(|e| invalid(format!("image {i}: invalid parent: {e}")))?),
        };
        let mut layers = Vec::with_capacity(item.layers.len());
        for l in &item.layers {
            let resolved = spool.resolve(l)?;
            layers.push(LayerPlan {
                entry: l.clone(),
                expected_digest: resolved.strip_prefix("blobs/sha256/").and_then(|h| Digest::from_hex(h).ok()),
                expected_size: None,
                resolved,
            });
        }
        out.push(ImagePlan {
            expected_config: digest_from_name(&config).map(|d| (d, None)),
            config_entry: item.config,
            config,
            layers,
            tags,
            parent,
        });
    }
    Ok(out)
}
