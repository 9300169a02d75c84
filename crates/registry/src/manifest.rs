//! Manifests and indexes as registries serve them (Docker schema 2, Docker
//! manifest lists, OCI manifests and indexes), and platform choice.
//!
//! Parsing refuses what Docker refuses: schema 1, and documents that are both
//! an index and a manifest (CVE-2021-41190). Platform choice follows moby's
//! `filterManifests`: entries without a platform match anything, unknown
//! media types are skipped, an exact variant is preferred.

use media_types as mt;
use skiff_image::oci::normalise_arch;
pub use skiff_image::oci::{media_types, Descriptor, ImageIndex, ImageManifest, Platform};

/// What a pull asks for, in preference order.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// Largest manifest accepted (containerd's limit).
pub const MAX_MANIFEST_SIZE: u64 = 4 * 1048 * 1048;

/// Why a manifest is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{what}: invalid manifest: {reason}")]
    Invalid { what: String, reason: String },
    #[error("{what}: unsupported manifest media type {media_type:?}")]
    Unsupported { what: String, media_type: String },
    #[error("{what}: Docker Image manifest version 2, schema 1 is deprecated and not supported")]
    Schema1 { what: String },
    #[error("no matching manifest for {wanted} in the manifest list entries")]
    NoMatchingPlatform { wanted: String },
}

/// A parsed manifest document.
#[allow(clippy::large_enum_variant)] // one per pull; boxing buys nothing
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    Image(ImageManifest),
    Index(ImageIndex),
}

/// Parses a manifest document; `content_type` is the response's `Content-Type`.
pub fn parse(bytes: &[u8], content_type: Option<&str>, what: &str) -> Result<Manifest, ManifestError> {
    let invalid = |reason: String| ManifestError::Invalid { what: what.to_string(), reason };
    let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
    let body_type = v.get("mediaType").and_then(|m| m.as_str()).map(str::to_string);
    let ct = content_type.map(|c| c.split(';').next().unwrap_or("").trim().to_string()).filter(|c| !c.is_empty());
    if v.get("schemaVersion").and_then(|s| s.as_u64()) == Some(1)
        || [body_type.as_deref(), ct.as_deref()]
            .iter()
            .any(|t| matches!(t, Some(mt::DOCKER_SCHEMA1_SIGNED | mt::DOCKER_SCHEMA1)))
    {
        return Err(ManifestError::Schema1 { what: what.to_string() });
    }
    let has_manifests = v.get("manifests").is_some();
    let has_image = v.get("layers").is_some() || v.get("config").is_some();
    if has_manifests && has_image {
        return Err(invalid("document has both manifests and layers/config".into()));
    }
    // The body's mediaType, when present, must agree with the Content-Type (and decides).
    let kind = body_type.clone().or(ct.clone()).unwrap_or_default();
    if let (Some(b), Some(c)) = (&body_type, &ct) {
        let generic = c == "application/json" || c == "application/octet-stream" || c == "text/plain";
        if b != c && !generic {
            return Err(invalid(format!("mediaType {b:?} does not match Content-Type {c:?}")));
        }
    }
    let index = match kind.as_str() {
        mt::OCI_INDEX | mt::DOCKER_LIST => true,
        mt::OCI_MANIFEST | mt::DOCKER_MANIFEST => false,
        "" | "application/json" | "application/octet-stream" => has_manifests,
        other => return Err(ManifestError::Unsupported { what: what.to_string(), media_type: other.to_string() }),
    };
    if index != has_manifests {
        return Err(invalid(format!("mediaType {kind:?} does not match the document")));
    }
    if index {
        let i: ImageIndex = serde_json::from_value(v).map_err(|e| invalid(e.to_string()))?;
        if i.schema_version != 2 {
            return Err(invalid(format!("schemaVersion {} is not 2", i.schema_version)));
        }
        Ok(Manifest::Index(i))
    } else {
        let m: ImageManifest = serde_json::from_value(v).map_err(|e| invalid(e.to_string()))?;
        if m.schema_version != 2 {
            return Err(invalid(format!("schemaVersion {} is not 2", m.schema_version)));
        }
        Ok(Manifest::Image(m))
    }
}

fn variant_rank(want: &Platform, got: Option<&str>) -> Option<u32> {
    let norm = |v: Option<&str>| -> Option<String> {
        match (want.architecture.as_str(), v) {
            ("arm64", None | Some("")) => Some("v8".into()),
            (_, Some("")) => None,
            (_, v) => v.map(str::to_string),
        }
    };
    let got = norm(got);
    match norm(want.variant.as_deref()) {
        Some(w) => {
            if got.as_deref() == Some(w.as_str()) {
                Some(0)
            } else if want.architecture == "arm" && got.is_some() && got.as_deref() < Some(w.as_str()) {
                // arm/v7 runs v6 and v5 images.
                Some(1)
            } else {
                None
            }
        }
        None => Some(if got.is_none() { 0 } else { 1 }),
    }
}

/// Picks the manifest for `want` from an index.
pub fn select(index: &ImageIndex, want: &Platform) -> Result<Descriptor, ManifestError> {
    let mut best: Option<(u32, &Descriptor)> = None;
    for d in &index.manifests {
        if !matches!(d.media_type.as_str(), mt::OCI_MANIFEST | mt::DOCKER_MANIFEST | "") {
            continue;
        }
        let rank = match &d.platform {
            None => Some(2),
            Some(p) => {
                if p.os != want.os || normalise_arch(&p.architecture) != want.architecture {
                    None
                } else {
                    variant_rank(want, p.variant.as_deref())
                }
            }
        };
        if let Some(r) = rank {
            if best.is_none_or(|(b, _)| r < b) {
                best = Some((r, d));
            }
        }
    }
    best.map(|(_, d)| d.clone()).ok_or_else(|| ManifestError::NoMatchingPlatform { wanted: want.to_string() })
}

/// Whether a layer media type is one we can unpack, and whether it is compressed.
pub fn layer_is_known(media_type: &str) -> bool {
    matches!(
        media_type,
        mt::OCI_LAYER
            | mt::OCI_LAYER_GZIP
            | mt::OCI_LAYER_ZSTD
            | mt::DOCKER_LAYER
            | mt::DOCKER_LAYER_GZIP
            | mt::DOCKER_FOREIGN_LAYER
            | mt::OCI_LAYER_NONDISTRIBUTABLE
            | mt::OCI_LAYER_NONDISTRIBUTABLE_GZIP
            | mt::OCI_LAYER_NONDISTRIBUTABLE_ZSTD
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(entries: &[(&str, &str, Option<&str>)]) -> ImageIndex {
        ImageIndex {
            schema_version: 2,
            media_type: Some(mt::OCI_INDEX.into()),
            manifests: entries
                .iter()
                .enumerate()
                .map(|(i, (os, arch, variant))| Descriptor {
                    media_type: mt::OCI_MANIFEST.into(),
                    digest: format!("sha256:{i:064}"),
                    size: 1,
                    urls: None,
                    annotations: None,
                    platform: Some(Platform {
                        os: os.to_string(),
                        architecture: arch.to_string(),
                        os_version: None,
                        variant: variant.map(str::to_string),
                    }),
                })
                .collect(),
        }
    }

    #[test]
    fn selects_platforms_as_moby_does() {
        let i = index(&[
            ("linux", "amd64", None),
            ("linux", "arm", Some("v6")),
            ("linux", "arm", Some("v7")),
            ("linux", "arm64", Some("v8")),
            ("unknown", "unknown", None),
        ]);
        let pick = |p: &str| select(&i, &Platform::parse(p).unwrap()).map(|d| d.digest.chars().last().unwrap());
        assert_eq!(pick("linux/amd64").unwrap(), '0');
        assert_eq!(pick("linux/arm/v7").unwrap(), '2');
        assert_eq!(pick("linux/arm/v6").unwrap(), '1');
        assert_eq!(pick("linux/arm64").unwrap(), '3');
        assert_eq!(pick("linux/aarch64").unwrap(), '3');
        let err = pick("linux/s390x").unwrap_err();
        assert_eq!(err.to_string(), "no matching manifest for linux/s390x in the manifest list entries");
    }

    #[test]
    fn refuses_ambiguous_and_schema1_documents() {
        let amb = br#"{"schemaVersion":2,"manifests":[],"layers":[],"config":{"digest":"sha256:0","size":1}}"#;
        assert!(matches!(parse(amb, None, "x"), Err(ManifestError::Invalid { .. })));
        let s1 = br#"{"schemaVersion":1,"name":"x","fsLayers":[]}"#;
        assert!(matches!(parse(s1, None, "x"), Err(ManifestError::Schema1 { .. })));
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"sha256:{}","size":2}},"layers":[]}}"#,
            mt::DOCKER_MANIFEST,
            mt::DOCKER_CONFIG,
            "0".repeat(64)
        );
        assert!(matches!(parse(m.as_bytes(), Some(mt::DOCKER_MANIFEST), "x"), Ok(Manifest::Image(_))));
        assert!(parse(m.as_bytes(), Some(mt::OCI_INDEX), "x").is_err());
    }
}
