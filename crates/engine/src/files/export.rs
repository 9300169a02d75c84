//! `docker export`: the merged root filesystem as a tar stream.

use super::{io, mounted_root, Result};
use crate::record::Container;
use skiff_image::Store;
use std::io::Write;

/// `docker export`: the merged root filesystem as a tar stream.
pub fn export(store: &Store, c: &Container, out: &mut dyn Write) -> Result<()> {
    let root = mounted_root(store, c)?;
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    b.mode(tar::HeaderMode::Complete);
    let entries = std::fs::read_dir(&root).map_err(io("read", &root))?;
    let mut names: Vec<_> = entries.flatten().map(|e| e.file_name()).collect();
    names.sort();
    for n in names {
        let p = root.join(&n);
        let m = std::fs::symlink_metadata(&p).map_err(io("stat", &p))?;
        if m.is_dir() {
            b.append_dir_all(&n, &p).map_err(io("archive", &p))?;
        } else {
            b.append_path_with_name(&p, &n).map_err(io("archive", &p))?;
        }
    }
    b.finish().map_err(io("archive", &root))?;
    Ok(())
}
