//! A container's filesystem from the host: `export` (a tar of the merged
//! root), `diff` (what the container changed, from the overlay's upper dir)
//! and `cp` of single files through `openat2(RESOLVE_IN_ROOT)`, so symlinks
//! in the container cannot lead outside its root.

use crate::container::Container;
use crate::lifecycle::EngineError;
use crate::rootfs;
use skiff_image::Store;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

type Result<T> = std::result::Result<T, EngineError>;

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> EngineError + 'a {
    move |source| EngineError::Io { op, path: path.to_path_buf(), source }
}

/// Mounts the container's root (if it is not) and returns its path.
pub fn mounted_root(store: &Store, c: &Container) -> Result<PathBuf> {
    let layers = rootfs::container_layers(store, &c.image_id)?;
    Ok(rootfs::mount(&c.dir(store), &layers, false)?)
}

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
        if m.file_type().is_char_device() && m.rdev() == 0 {
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
    let image_id = skiff_image::Digest::parse(&c.image_id).map_err(|e| EngineError::Sys(e.to_string()))?;
    let layers = store.unpacked_layers(&image_id)?;
    let upper = c.dir(store).join("upper");
    let mut out = Vec::new();
    if upper.exists() {
        walk(&upper, Path::new(""), &layers, &mut out)?;
    }
    Ok(out)
}

/// Opens `path` inside `root`, resolving every component (symlinks and
/// `..` included) as if `root` were `/`.
fn open_in_root(root: &Path, path: &str, flags: rustix::fs::OFlags, mode: u32) -> Result<std::fs::File> {
    let dir = std::fs::File::open(root).map_err(io("open", root))?;
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    let fd = rustix::fs::openat2(
        &dir,
        rel,
        flags | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::from_raw_mode(mode),
        rustix::fs::ResolveFlags::IN_ROOT | rustix::fs::ResolveFlags::NO_MAGICLINKS,
    )
    .map_err(|e| EngineError::Io { op: "open", path: root.join(rel), source: e.into() })?;
    Ok(std::fs::File::from(fd))
}

/// `docker cp CONTAINER:SRC DEST` for a regular file.
pub fn copy_out(store: &Store, c: &Container, src: &str, dest: &Path) -> Result<()> {
    let root = mounted_root(store, c)?;
    let mut f = open_in_root(&root, src, rustix::fs::OFlags::RDONLY, 0)?;
    let m = f.metadata().map_err(io("stat", Path::new(src)))?;
    if !m.is_file() {
        return Err(EngineError::Sys(format!("copying {src}: only regular files can be copied yet")));
    }
    let dest =
        if dest.is_dir() { dest.join(Path::new(src).file_name().unwrap_or_default()) } else { dest.to_path_buf() };
    let mut out = std::fs::File::create(&dest).map_err(io("create", &dest))?;
    std::io::copy(&mut f, &mut out).map_err(io("copy to", &dest))?;
    let _ = std::fs::set_permissions(&dest, std::os::unix::fs::PermissionsExt::from_mode(m.mode() & 0o7777));
    Ok(())
}

/// `docker cp SRC CONTAINER:DEST` for a regular file.
pub fn copy_in(store: &Store, c: &Container, src: &Path, dest: &str) -> Result<()> {
    let root = mounted_root(store, c)?;
    let mut f = std::fs::File::open(src).map_err(io("open", src))?;
    let m = f.metadata().map_err(io("stat", src))?;
    if !m.is_file() {
        return Err(EngineError::Sys(format!("copying {}: only regular files can be copied yet", src.display())));
    }
    // A destination that is a directory in the container receives the file under its own name.
    let target = match open_in_root(&root, dest, rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY, 0) {
        Ok(_) => format!("{}/{}", dest.trim_end_matches('/'), src.file_name().unwrap_or_default().to_string_lossy()),
        Err(_) => dest.to_string(),
    };
    use rustix::fs::OFlags;
    let mut out = open_in_root(&root, &target, OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC, m.mode() & 0o7777)?;
    std::io::copy(&mut f, &mut out).map_err(io("copy from", src))?;
    Ok(())
}

fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    for e in std::fs::read_dir(src)? {
        let e = e?;
        let (from, to) = (e.path(), dst.join(e.file_name()));
        let m = std::fs::symlink_metadata(&from)?;
        let ft = m.file_type();
        if ft.is_dir() {
            std::fs::create_dir(&to)?;
            copy_tree(&from, &to)?;
        } else if ft.is_file() {
            std::fs::copy(&from, &to)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)?;
        } else {
            continue;
        }
        std::os::unix::fs::lchown(&to, Some(m.uid()), Some(m.gid()))?;
        if !ft.is_symlink() {
            std::fs::set_permissions(&to, std::os::unix::fs::PermissionsExt::from_mode(m.mode() & 0o7777))?;
        }
    }
    Ok(())
}

/// Docker's copy-up: a volume that is still empty gets what the image has at
/// its mount point (contents, owner and mode), so `VOLUME /data` after a
/// `chown` keeps working. The mount point is resolved inside `root` (openat2
/// RESOLVE_IN_ROOT) and the copy never follows a symlink.
pub fn copy_up(root: &Path, dest: &str, volume: &Path) -> Result<()> {
    let empty = std::fs::read_dir(volume).map(|mut d| d.next().is_none()).unwrap_or(false);
    if !empty {
        return Ok(());
    }
    use rustix::fs::OFlags;
    let Ok(dir) = open_in_root(root, dest, OFlags::PATH | OFlags::DIRECTORY, 0) else { return Ok(()) };
    let src = PathBuf::from(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&dir)));
    let m = std::fs::metadata(&src).map_err(io("stat", Path::new(dest)))?;
    std::os::unix::fs::chown(volume, Some(m.uid()), Some(m.gid())).map_err(io("chown", volume))?;
    std::fs::set_permissions(volume, std::os::unix::fs::PermissionsExt::from_mode(m.mode() & 0o7777))
        .map_err(io("chmod", volume))?;
    copy_tree(&src, volume).map_err(io("copy up into", volume))
}
