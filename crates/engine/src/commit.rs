//! `docker commit`: the container's changes (its overlay upper dir, with
//! overlay whiteouts turned back into `.wh.` files) become a new layer on top
//! of its image, with the container's command and environment in the config.

use crate::container::Container;
use crate::lifecycle::{self, EngineError};
use skiff_image::changes::apply_changes;
use skiff_image::config::{format_time, History};
use skiff_image::layer_scan::scan_layer;
use skiff_image::oci::media_types::OCI_LAYER;
use skiff_image::store::{LayerBlob, NewImage, NewLayer};
use skiff_image::{Digest, Reference, Store};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

type Result<T> = std::result::Result<T, EngineError>;

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

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> EngineError + 'a {
    move |source| EngineError::Io { op, path: path.to_path_buf(), source }
}

fn opaque(p: &Path) -> bool {
    let mut buf = [0u8; 4];
    matches!(rustix::fs::lgetxattr(p, "trusted.overlay.opaque", &mut buf), Ok(n) if n >= 1 && buf[0] == b'y')
}

fn whiteout_header(name: &Path) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(0);
    h.set_mode(0o600);
    h.set_mtime(0);
    let _ = h.set_path(name);
    h.set_cksum();
    h
}

/// Writes the upper dir `upper` as a layer tar in Docker's whiteout format.
fn tar_upper<W: std::io::Write>(b: &mut tar::Builder<W>, upper: &Path, rel: &Path) -> Result<()> {
    let dir = upper.join(rel);
    let mut entries: Vec<_> = std::fs::read_dir(&dir).map_err(io("read", &dir))?.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let r = rel.join(e.file_name());
        let m = std::fs::symlink_metadata(&path).map_err(io("stat", &path))?;
        if m.file_type().is_char_device() && m.rdev() == 0 {
            let wh = rel.join(format!(".wh.{}", e.file_name().to_string_lossy()));
            b.append(&whiteout_header(&wh), std::io::empty()).map_err(io("archive", &path))?;
            continue;
        }
        b.append_path_with_name(&path, &r).map_err(io("archive", &path))?;
        if m.is_dir() {
            if opaque(&path) {
                b.append(&whiteout_header(&r.join(".wh..wh..opq")), std::io::empty()).map_err(io("archive", &path))?;
            }
            tar_upper(b, upper, &r)?;
        }
    }
    Ok(())
}

/// Commits the container's changes as a new image; returns its id.
pub fn commit(store: &Store, c: &Container, o: &CommitOptions) -> Result<Digest> {
    let image_id = Digest::parse(&c.image_id).map_err(|e| EngineError::Sys(e.to_string()))?;
    let base = store.config(&image_id)?;
    let upper = c.dir(store).join("upper");
    let freeze = o.pause && matches!(lifecycle::status(store, c), crate::state::Status::Running { .. });
    if freeze {
        lifecycle::cgroup(&c.id)?.freeze()?;
    }
    let written = (|| -> Result<skiff_image::blob::FinishedBlob> {
        let w = store.blobs().writer()?;
        let mut b = tar::Builder::new(w);
        b.follow_symlinks(false);
        b.mode(tar::HeaderMode::Complete);
        if upper.exists() {
            tar_upper(&mut b, &upper, Path::new(""))?;
        }
        let w = b.into_inner().map_err(io("archive", &upper))?;
        Ok(w.finish()?)
    })();
    if freeze {
        let _ = lifecycle::cgroup(&c.id)?.thaw();
    }
    let layer = written?;
    let scan = scan_layer(layer.file()).map_err(|e| EngineError::Sys(format!("new layer: {e}")))?;
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
    apply_changes(&mut run, &o.changes).map_err(|e| EngineError::Sys(e.to_string()))?;
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
