//! OCI content descriptors, image manifests, image indexes, platforms and the media types
//! skiff reads and writes: one definition for the archive formats (`docker save`/`load`, OCI
//! layouts) and the registry client (pull, push).
//!
//! Specs: the OCI image spec's [`descriptor.md`], [`manifest.md`], [`image-index.md`] and
//! [`media-types.md`]; Docker's [Image Manifest V2, Schema 2] (manifest lists included).
//!
//! Serialisation is what Go's image-spec structs marshal to: fields in their order, optional
//! ones left out when empty (`omitempty`), annotations as a sorted string map. The manifests
//! skiff writes (`save`, `push`) are hashed as written, so their digests depend on this order.
//! Reading is as lenient as Go's decoder where the two former copies agreed or where Docker is:
//! a missing `os`, `architecture` or `layers` is empty; unknown fields are ignored.
//!
//! [`descriptor.md`]: https://github.com/opencontainers/image-spec/blob/main/descriptor.md
//! [`manifest.md`]: https://github.com/opencontainers/image-spec/blob/main/manifest.md
//! [`image-index.md`]: https://github.com/opencontainers/image-spec/blob/main/image-index.md
//! [`media-types.md`]: https://github.com/opencontainers/image-spec/blob/main/media-types.md
//! [Image Manifest V2, Schema 2]: https://github.com/distribution/distribution/blob/main/docs/content/spec/manifest-v2-2.md

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The media types skiff recognises, by the name Go's image-spec or distribution gives them.
pub mod media_types {
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// An uncompressed layer tar: how the store records the layers it writes itself.
    pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    pub const OCI_LAYER_NONDISTRIBUTABLE: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar";
    pub const OCI_LAYER_NONDISTRIBUTABLE_GZIP: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
    pub const OCI_LAYER_NONDISTRIBUTABLE_ZSTD: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    pub const DOCKER_FOREIGN_LAYER: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
    /// Docker image schema 1, signed (refused, as Docker refuses it).
    pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
    /// Docker image schema 1, unsigned (refused too).
    pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
}

/// A content descriptor: what a blob is, its digest and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

impl Descriptor {
    /// A descriptor with only the three required fields.
    pub fn new(media_type: &str, digest: String, size: u64) -> Descriptor {
        Descriptor { media_type: media_type.to_string(), digest, size, urls: None, annotations: None, platform: None }
    }
}

/// An OS/architecture pair with an optional variant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(rename = "os.version", default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// Why a `--platform` value was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlatformError {
    /// Worded as skiff has always reported it.
    #[error("{0}: invalid manifest: platform must be os/arch[/variant]")]
    Invalid(String),
}

impl Platform {
    /// Parses `os/arch[/variant]` as `--platform` takes it.
    pub fn parse(s: &str) -> Result<Platform, PlatformError> {
        let parts: Vec<&str> = s.split('/').collect();
        if parts.len() < 2 || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(PlatformError::Invalid(s.to_string()));
        }
        Ok(Platform {
            os: parts[0].to_ascii_lowercase(),
            architecture: normalise_arch(parts[1]).to_string(),
            os_version: None,
            variant: parts.get(2).map(|v| v.to_ascii_lowercase()),
        })
    }

    /// This machine's platform (32-bit arm as `arm/v7`, as Docker assumes).
    pub fn host() -> Platform {
        let arch = host_architecture();
        Platform {
            os: "linux".into(),
            architecture: arch.into(),
            os_version: None,
            variant: if arch == "arm" { Some("v7".into()) } else { None },
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// An architecture as Go names it (`x86_64` → `amd64`, `aarch64` → `arm64`, `i386` → `386`).
pub fn normalise_arch(a: &str) -> &str {
    match a {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        "i386" => "386",
        a => a,
    }
}

/// An image manifest (Docker schema 2 or OCI).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageManifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

/// An image index (OCI) or manifest list (Docker).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageIndex {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
}

/// The host platform as Go names it (`amd64`, `arm64`, ...).
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_in_go_field_order_without_empty_fields() {
        let mut d = Descriptor::new(media_types::OCI_MANIFEST, format!("sha256:{}", "a".repeat(64)), 7);
        d.annotations = Some(BTreeMap::from([("z".to_string(), "1".to_string()), ("a".to_string(), "2".to_string())]));
        d.platform = Some(Platform { architecture: "arm".into(), os: "linux".into(), os_version: None, variant: None });
        let i = ImageIndex { schema_version: 2, media_type: None, manifests: vec![d] };
        assert_eq!(
            serde_json::to_string(&i).unwrap(),
            format!(
                r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{}","digest":"sha256:{}","size":7,"annotations":{{"a":"2","z":"1"}},"platform":{{"architecture":"arm","os":"linux"}}}}]}}"#,
                media_types::OCI_MANIFEST,
                "a".repeat(64)
            )
        );
    }

    #[test]
    fn reads_leniently_as_go_does() {
        let m: ImageManifest =
            serde_json::from_str(r#"{"schemaVersion":2,"config":{"digest":"sha256:0","size":1},"extra":1}"#).unwrap();
        assert!(m.layers.is_empty() && m.config.media_type.is_empty());
        let p: Platform = serde_json::from_str(r#"{"os":"linux"}"#).unwrap();
        assert_eq!(p.architecture, "");
    }

    #[test]
    fn parses_platform_flags() {
        assert_eq!(Platform::parse("Linux/x86_64").unwrap().to_string(), "linux/amd64");
        assert_eq!(Platform::parse("linux/arm/V7").unwrap().to_string(), "linux/arm/v7");
        assert_eq!(Platform::parse("linux").unwrap_err(), PlatformError::Invalid("linux".into()));
        assert!(Platform::parse("linux//").is_err());
    }
}
