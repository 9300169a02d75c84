//! Image archives: `docker save` / `docker load` and OCI image layouts.
//!
//! Reading ([`load`]) accepts, from a plain or gzip/zstd/xz-compressed stream that is read once:
//! - the legacy docker-archive of Docker ≤ 24 (`<id>.json`, `<v1id>/layer.tar`, `manifest.json`,
//!   `repositories`; `layer.tar` may be a symlink to another layer inside the archive),
//! - Docker 25+'s archive (`manifest.json` pointing into `blobs/sha256/`, plus an OCI layout),
//! - archives from Docker's containerd store (`manifest.json` naming gzip/zstd-compressed blobs),
//! - Podman's docker-archive flavour (`<diffid>.tar` layers, symlinked from `<v1id>/layer.tar`),
//! - a pure OCI image layout in a tar (`oci-layout`, `index.json`, `blobs/`), nested indexes included.
//!
//! `manifest.json` is preferred when present (Docker's graphdriver loader), else `index.json`.
//! Image names in an OCI layout come from the descriptor annotations: `io.containerd.image.name`
//! when present; else `org.opencontainers.image.ref.name` when it is a full reference with a tag
//! (`localhost/features:1.0`, as Podman writes); a bare tag such as `1.0` (as skopeo writes for
//! `oci:dir:1.0`) names no repository, so that image is loaded untagged and reported by ID, which
//! is also what Podman does with a ref name that is not a valid image name.
//!
//! Writing ([`save`]) produces Docker 25's layout: an OCI image layout whose layer blobs are the
//! uncompressed layer tars named by DiffID, plus `manifest.json` and `repositories`, so both old
//! Docker (which opens whatever `manifest.json` names) and OCI tools read it; each blob is stored once.
//! Formats: Docker image spec v1.2 (`image/spec/v1.2.md` in moby), OCI image-spec `image-layout.md`.

mod docker;
mod legacy;
mod load;
mod oci;
mod save;
mod spool;
mod tarwriter;

pub use load::{load, LoadOptions, LoadReport, LoadedImage, LoadedTag};
pub use save::{save, save_items, save_to_dir, SaveFormat, SaveItem};
pub use spool::MAX_ENTRIES;

use crate::blob::BlobError;
use crate::digest::Digest;
use crate::layer_scan::ScanError;
use crate::store::StoreError;
use crate::tarstream::TarStreamError;
use std::path::PathBuf;

/// Largest JSON document (manifest.json, index.json, an OCI manifest or a config) read from an
/// archive; checked against the tar header before any byte is read (containerd CVE-2023-25153).
pub const MAX_JSON_SIZE: u64 = 20 << 20;

/// Annotation holding the full image name (containerd, Docker 25+).
pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";
/// OCI annotation holding the reference name (Docker writes the tag only).
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Errors from loading or saving an archive. Variants name the archive and the entry concerned.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{archive}: {source}")]
    Tar { archive: String, source: TarStreamError },
    #[error("{archive}: reading input: {source}")]
    Input { archive: String, source: std::io::Error },
    #[error("{archive}: invalid archive entry name {entry:?}: {reason}")]
    EntryName { archive: String, entry: String, reason: &'static str },
    #[error("{archive}: {entry} is {size} bytes, more than the {limit} bytes allowed")]
    TooLarge { archive: String, entry: String, size: u64, limit: u64 },
    #[error("invalid archive: does not contain a manifest.json")]
    NoManifest { archive: String },
    #[error("{archive}: invalid {entry}: {reason}")]
    Invalid { archive: String, entry: String, reason: String },
    #[error("{archive}: {path:?} {reason}")]
    Path { archive: String, path: String, reason: &'static str },
    #[error("{archive}: {entry}: digest mismatch: expected {expected}, got {found}")]
    Digest { archive: String, entry: String, expected: Digest, found: Digest },
    #[error("{archive}: {entry}: size mismatch: descriptor says {expected} bytes, the blob has {found}")]
    Size { archive: String, entry: String, expected: u64, found: u64 },
    #[error("{archive}: {config}: invalid manifest, layers length mismatch: the config has {expected} diff_ids, the manifest {found} layers")]
    LayerCount { archive: String, config: String, expected: usize, found: usize },
    #[error("{archive}: {entry}: invalid diffID for layer {index}: expected \"{expected}\", got \"{found}\"")]
    DiffId { archive: String, entry: String, index: usize, expected: Digest, found: Digest },
    #[error("{archive}: {entry}: decompressing layer: {source}")]
    Decompress { archive: String, entry: String, source: std::io::Error },
    #[error("{archive}: {entry}: {source}")]
    Layer { archive: String, entry: String, source: ScanError },
    #[error("{archive}: {entry}: {reason}")]
    Unsupported { archive: String, entry: String, reason: String },
    #[error("{op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },
    #[error("writing archive: {0}")]
    Output(std::io::Error),
    #[error("{0}: the directory exists and is not empty")]
    DirNotEmpty(PathBuf),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type Result<T, E = ArchiveError> = std::result::Result<T, E>;
