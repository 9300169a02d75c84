//! `docker diff`: what a container changed against its image, read from the overlay's upper
//! directory (a whiteout, a 0:0 character device, is a deletion).

use super::{io, Result};
use crate::record::Container;
use skiff_image::Store;
use std::path::{Path, PathBuf};

/// One `docker diff` line: `A`, `C` or `D` and the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: char,
    pub path: String,
}

fn in_lower(layers: &[PathBuf], rel: &Path) -> bool {
    layers.iter().any(|l| std::fs::symlink_metadata(l.join(rel)).is_ok())
}

fn walk(upper: &Path, rel: &Path, layers: &[PathBuf], out: &mut Vec<Change>) -> Result<()> {
    let dir = upper.join(rel);
    let mut entries: Vec<_> = std::fs::read_dir(&dir).map_err(io("read", &dir))?.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let r = rel.join(e.file_name());
        let m = e.metadata().map_err(io("stat", &e.path()))?;
        let path = format!("/{}", r.display());
        if skiff_image::overlay::is_whiteout(&m) {
            out.push(Change { kind: 'D', path });
            continue;
        }
        let kind = if in_lower(layers, &r) { 'C' } else { 'A' };
        out.push(Change { kind, path });
        if m.is_dir() {
            walk(upper, &r, layers, out)?;
        }
    }
    Ok(())
}

/// `docker diff`: the container's changes against its image.
pub fn diff(store: &Store, c: &Container) -> Result<Vec<Change>> {
    let layers = store.unpacked_layers(&c.image_id)?;
    let upper = c.dir(store).join("upper");
    let mut out = Vec::new();
    if upper.exists() {
        walk(&upper, Path::new(""), &layers, &mut out)?;
    }
    Ok(out)
}
