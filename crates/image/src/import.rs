//! `docker import`: a tar stream (plain or compressed) becomes a one-layer image.
//!
//! Like Docker, the layer keeps the tar bytes as given (after decompression),
//! so importing the same tar gives the same DiffID Docker gives. The config is
//! what Docker's `image_import.go` writes: the `--change` run config, the
//! message as comment, one history entry without `created_by`.

use crate::blob::{BlobError, CopyError};
use crate::change_instructions::{apply_changes, ChangeError};
use crate::compression::decompress;
use crate::config::{format_time, ContainerConfig, History, ImageConfig, RootFs};
use crate::layer_scan::{scan_layer, ScanError};
use crate::oci::media_types::OCI_LAYER;
use crate::reference::Reference;
use crate::store::{Committed, LayerBlob, NewImage, NewLayer, Store, StoreError};
use std::io::Read;

/// Errors from `import`.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("import {source_name}: {reason}")]
    Input { source_name: String, reason: String },
    #[error("import {source_name}: {err}")]
    Layer { source_name: String, err: ScanError },
    #[error(transparent)]
    Change(#[from] ChangeError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What to import and how to describe it.
pub struct ImportOptions {
    /// Where the tar came from, as the user named it (`-` for stdin).
    pub source_name: String,
    pub changes: Vec<String>,
    pub message: Option<String>,
    pub tag: Option<Reference>,
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl ImportOptions {
    pub fn new(source_name: &str) -> ImportOptions {
        ImportOptions {
            source_name: source_name.to_string(),
            changes: Vec::new(),
            message: None,
            tag: None,
            os: "linux".into(),
            architecture: crate::oci::host_architecture().into(),
            variant: None,
        }
    }
}

/// Imports a tar stream as a one-layer image.
pub fn import(
    store: &Store,
    input: &mut dyn Read,
    opts: &ImportOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<Committed, ImportError> {
    // Validate the changes before reading anything.
    let mut run_config = ContainerConfig::default();
    apply_changes(&mut run_config, &opts.changes)?;
    let input_err =
        |e: std::io::Error| ImportError::Input { source_name: opts.source_name.clone(), reason: e.to_string() };
    let (_, mut plain) = decompress(input).map_err(input_err)?;
    let mut w = store.blobs().writer()?;
    w.copy_from(&mut plain, progress).map_err(|e| match e {
        CopyError::Read(e) => input_err(e),
        CopyError::Write(e) => {
            ImportError::Input { source_name: opts.source_name.clone(), reason: format!("writing layer: {e}") }
        }
    })?;
    if w.is_empty() {
        // A producer that failed upstream leaves an empty pipe: that is no tar, not an empty layer.
        return Err(ImportError::Input {
            source_name: opts.source_name.clone(),
            reason: "the input is empty: expected a tar archive".into(),
        });
    }
    let layer = w.finish()?;
    let scan =
        scan_layer(layer.file()).map_err(|err| ImportError::Layer { source_name: opts.source_name.clone(), err })?;
    let now = format_time(&chrono::Utc::now());
    // Docker's CLI streams files as the request body, so the daemon names them `-` too;
    // only URLs are named in the comment.
    let shown = if opts.source_name.contains("://") { opts.source_name.as_str() } else { "-" };
    let comment = opts.message.clone().unwrap_or_else(|| format!("Imported from {shown}"));
    let cfg = ImageConfig {
        architecture: opts.architecture.clone(),
        comment: comment.clone(),
        config: Some(run_config),
        container_config: Some(ContainerConfig::default()),
        created: Some(now.clone()),
        history: vec![History { created: Some(now), comment: Some(comment), ..Default::default() }],
        os: opts.os.clone(),
        rootfs: RootFs { kind: "layers".into(), diff_ids: vec![layer.digest.clone()] },
        variant: opts.variant.clone(),
        ..Default::default()
    };
    let committed = store.commit_image(NewImage {
        config: cfg.to_docker_bytes(),
        layers: vec![NewLayer {
            diff_id: layer.digest.clone(),
            blob: LayerBlob::Staged(layer),
            size: scan.size,
            media_type: OCI_LAYER.into(),
        }],
        tags: opts.tag.iter().cloned().collect(),
        parent: None,
        source: opts.source_name.clone(),
    })?;
    Ok(committed)
}
