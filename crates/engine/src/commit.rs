//! `docker commit`: the container's changes (its overlay upper dir, written as
//! an OCI layer by [`skiff_image::overlay::upper`]) become a new layer on top
//! of its image, with the container's command and environment in the config.

use crate::error::{io, CommitError, EngineError, Result};
use crate::record::Container;
use skiff_image::change_instructions::apply_changes;
use skiff_image::config::{format_time, History};
use skiff_image::layer_scan::scan_layer;
use skiff_image::layer_tar::TarWriter;
use skiff_image::oci::media_types::OCI_LAYER;
use skiff_image::overlay::{upper_to_tar, UpperError};
use skiff_image::store::{LayerBlob, NewImage, NewLayer};
use skiff_image::{Digest, Reference};
use std::path::Path;

/// `commit` options.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    pub reference: Option<Reference>,
    pub author: Option<String>,
    pub message: Option<String>,
    /// Dockerfile instructions (`CMD`, `ENV`, ...) applied to the config.
    pub changes: Vec<String>,
    /// Freeze a running container while its changes are read.
    pub pause: bool,
}

/// The upper dir's conversion failed: as an I/O error naming the file (or the upper dir).
fn upper_err(upper: &Path) -> impl FnOnce(UpperError) -> EngineError + '_ {
    move |e| match e {
        UpperError::Io { op, path, source } => EngineError::Io { op, path, source },
        UpperError::Write(source) => EngineError::Io { op: "archive", path: upper.to_path_buf(), source },
    }
}

impl crate::Engine {
    /// `docker commit`: the container's changes as a new image; returns its id.
    pub fn commit(&self, c: &Container, o: &CommitOptions) -> Result<Digest> {
        commit(self, c, o)
    }
}

fn commit(engine: &crate::Engine, c: &Container, o: &CommitOptions) -> Result<Digest> {
    let store = engine.store();
    let image_id = c.image_id.clone();
    let base = store.config(&image_id)?;
    let upper = c.dir(store).join("upper");
    let freeze = o.pause && matches!(engine.status(c), crate::state::Status::Running { .. });
    if freeze {
        engine.cgroup(&c.id)?.freeze()?;
    }
    let written = (|| -> Result<skiff_image::blob::FinishedBlob> {
        let w = store.blobs().writer()?;
        let w = if upper.exists() {
            upper_to_tar(&upper, w).map_err(upper_err(&upper))?
        } else {
            TarWriter::new(w).finish().map_err(io("archive", &upper))?
        };
        Ok(w.finish()?)
    })();
    if freeze {
        let _ = engine.cgroup(&c.id)?.thaw();
    }
    let layer = written?;
    let scan = scan_layer(layer.file()).map_err(|source| CommitError::Layer { id: c.id.clone(), source })?;
    let mut cfg = base.clone();
    let mut run = base.config.clone().unwrap_or_default();
    if !c.opts.cmd.is_empty() || c.opts.entrypoint.is_some() {
        run.cmd = Some(c.opts.cmd.clone()).filter(|v| !v.is_empty());
    }
    if let Some(e) = &c.opts.entrypoint {
        run.entrypoint = (!e.is_empty()).then(|| vec![e.clone()]);
    }
    let mut env = run.env.clone().unwrap_or_default();
    for e in &c.opts.env {
        crate::spec::replace_or_append(&mut env, e);
    }
    run.env = (!env.is_empty()).then_some(env);
    if let Some(w) = &c.opts.workdir {
        run.working_dir = w.clone();
    }
    if let Some(u) = &c.opts.user {
        run.user = u.clone();
    }
    apply_changes(&mut run, &o.changes).map_err(CommitError::from)?;
    let now = format_time(&chrono::Utc::now());
    cfg.config = Some(run);
    cfg.container = c.id.clone();
    cfg.created = Some(now.clone());
    cfg.author = o.author.clone().unwrap_or_default();
    cfg.comment = o.message.clone().unwrap_or_default();
    cfg.rootfs.diff_ids.push(layer.digest.clone());
    cfg.history.push(History {
        created: Some(now),
        created_by: Some(c.command()),
        author: o.author.clone(),
        comment: o.message.clone(),
        empty_layer: false,
    });
    let mut layers: Vec<NewLayer> = store
        .image_layers(&image_id)?
        .into_iter()
        .map(|l| NewLayer {
            diff_id: l.diff_id,
            blob: LayerBlob::Existing(l.blob),
            size: l.size,
            media_type: l.media_type,
        })
        .collect();
    layers.push(NewLayer {
        diff_id: layer.digest.clone(),
        blob: LayerBlob::Staged(layer),
        size: scan.size,
        media_type: OCI_LAYER.into(),
    });
    let committed = store.commit_image(NewImage {
        config: cfg.to_docker_bytes(),
        layers,
        tags: o.reference.iter().cloned().collect(),
        parent: Some(image_id),
        source: format!("container {}", c.id),
    })?;
    Ok(committed.id)
}
