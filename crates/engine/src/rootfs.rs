//! The container's root filesystem: one overlayfs mount at
//! `containers/<id>/rootfs` with the image's layer directories as lowers
//! (topmost first), and `upper/` and `work/` beside it. When the mount
//! options would not fit in one page, the lowers are reached through short
//! numbered symlinks in `containers/<id>/l/` and the mount is made with
//! relative paths from that directory.

use std::path::{Path, PathBuf};

/// Errors mounting or unmounting.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("{op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },
    #[error("mounting overlay at {path}: {source}")]
    Mount { path: PathBuf, source: rustix::io::Errno },
    #[error("unmounting {path}: {source}")]
    Unmount { path: PathBuf, source: rustix::io::Errno },
    #[error(transparent)]
    Store(#[from] skiff_image::StoreError),
}

const PAGE: usize = 4096;

/// Whether something is mounted at `path` (its device differs from its parent's).
pub fn is_mounted(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let (Ok(a), Some(Ok(b))) = (std::fs::metadata(path), path.parent().map(std::fs::metadata)) else {
        return false;
    };
    a.dev() != b.dev()
}

/// Mounts the overlay for a container directory; `layers` base first. Idempotent.
pub fn mount(dir: &Path, layers: &[PathBuf], read_only: bool) -> Result<PathBuf, RootfsError> {
    mount_with(dir, layers, read_only, false)
}

/// [`mount`], optionally `volatile`: overlayfs then never syncs the upper
/// filesystem (not even when unmounted, which otherwise flushes the whole
/// host filesystem holding the store). Only for `--rm` containers, whose
/// writable layer is thrown away at exit anyway: after a host crash a
/// volatile upper layer cannot be trusted (overlayfs refuses to mount it
/// again until `work/incompat/volatile` is removed).
pub fn mount_with(dir: &Path, layers: &[PathBuf], read_only: bool, volatile: bool) -> Result<PathBuf, RootfsError> {
    let io = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| RootfsError::Io { op, path, source }
    };
    let target = dir.join("rootfs");
    let (upper, work) = (dir.join("upper"), dir.join("work"));
    for d in [&target, &upper, &work] {
        std::fs::create_dir_all(d).map_err(io("create", d))?;
    }
    if is_mounted(&target) {
        return Ok(target);
    }
    let mut lowers: Vec<PathBuf> = layers.iter().rev().cloned().collect();
    if lowers.is_empty() {
        let empty = dir.join("empty");
        std::fs::create_dir_all(&empty).map_err(io("create", &empty))?;
        lowers.push(empty);
    }
    let joined = |ls: &[PathBuf]| ls.iter().map(|p| p.to_string_lossy().into_owned()).collect::<Vec<_>>().join(":");
    let extra = if volatile { ",volatile" } else { "" };
    if volatile {
        // Left by an earlier volatile mount of this directory (a crash): the
        // layer is disposable, so mount it again rather than fail.
        let _ = std::fs::remove_dir_all(work.join("incompat"));
    }
    let full = format!("lowerdir={},upperdir={},workdir={}{extra}", joined(&lowers), upper.display(), work.display());
    let mut back_to = None;
    let data = if full.len() < PAGE - 64 {
        full
    } else {
        // Short links: l/0, l/1, ... and paths relative to the container directory.
        let l = dir.join("l");
        let _ = std::fs::remove_dir_all(&l);
        std::fs::create_dir_all(&l).map_err(io("create", &l))?;
        let mut short = Vec::new();
        for (i, p) in lowers.iter().enumerate() {
            let link = l.join(i.to_string());
            std::os::unix::fs::symlink(p, &link).map_err(io("symlink", &link))?;
            short.push(PathBuf::from(format!("l/{i}")));
        }
        back_to = Some(std::env::current_dir().map_err(io("getcwd", dir))?);
        std::env::set_current_dir(dir).map_err(io("chdir", dir))?;
        format!("lowerdir={},upperdir=upper,workdir=work{extra}", joined(&short))
    };
    let mut flags = rustix::mount::MountFlags::empty();
    if read_only {
        flags |= rustix::mount::MountFlags::RDONLY;
    }
    let data = std::ffi::CString::new(data).map_err(|e| RootfsError::Io {
        op: "encode mount options for",
        path: target.clone(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
    })?;
    let mounted = rustix::mount::mount("overlay", &target, "overlay", flags, Some(data.as_c_str()));
    if let Some(cwd) = back_to {
        std::env::set_current_dir(&cwd).map_err(io("chdir", &cwd))?;
    }
    mounted.map_err(|source| RootfsError::Mount { path: target.clone(), source })?;
    Ok(target)
}

/// The init layers' directory names start with this; the number is their version, so a skiff
/// that changes the contents makes new ones beside the old.
const INIT_LAYER: &str = "init-layer-2";

/// Directories and empty files every container mounts over at run time (the runtime's default
/// mounts and the engine's /etc binds).
const INIT_DIRS: [&str; 4] = ["proc", "sys", "dev", "etc"];
const INIT_FILES: [&str; 3] = ["etc/hosts", "etc/hostname", "etc/resolv.conf"];

/// A directory's mode, owner and modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DirMeta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: (i64, i64),
}

impl DirMeta {
    const DEFAULT: DirMeta = DirMeta { mode: 0o755, uid: 0, gid: 0, mtime: (0, 0) };
}

/// What the image shows at `rel` (`""` for the root): the metadata of the directory in the topmost
/// layer with an entry there, if that entry is a directory (not a file, a symlink or a whiteout).
fn image_dir_meta(layers: &[PathBuf], rel: &str) -> Option<DirMeta> {
    use std::os::unix::fs::MetadataExt;
    let m = layers.iter().rev().find_map(|l| std::fs::symlink_metadata(l.join(rel)).ok())?;
    m.is_dir().then(|| DirMeta {
        mode: m.mode() & 0o7777,
        uid: m.uid(),
        gid: m.gid(),
        mtime: (m.mtime(), m.mtime_nsec()),
    })
}

/// Like Docker's init layer: a read-only layer mounted above the image's layers, holding the mount
/// points the runtime mounts over (`/proc`, `/sys`, `/dev` and the `/etc/hosts`, `/etc/hostname`,
/// `/etc/resolv.conf` files). The mount targets then already exist when a container starts, so its
/// writable layer is not touched (no directory copied up, no inode made and deleted per container),
/// and what the image had there (a symlink, a file) is shadowed by a plain directory or file, as in
/// Docker. Being the topmost lower layer, its directories (the root, /etc, ...) are what the
/// container sees of them and what a copy-up copies: they carry the image's own mode, owner and
/// modification time, where the image has those directories. Layers are shared by every image with
/// the same such metadata (named by a digest of it), made once in the store's temporary directory
/// and renamed into place.
pub fn init_layer(store_root: &Path, tmp_dir: &Path, image_layers: &[PathBuf]) -> Result<PathBuf, RootfsError> {
    let (metas, dest) = init_layer_of(store_root, image_layers);
    if dest.is_dir() {
        return Ok(dest);
    }
    let io = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| RootfsError::Io { op, path, source }
    };
    let parent = store_root.join("init-layers");
    for d in [tmp_dir, parent.as_path()] {
        std::fs::create_dir_all(d).map_err(io("create", d))?;
    }
    let tmp = tmp_dir.join(format!("{INIT_LAYER}.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let build = || -> Result<(), RootfsError> {
        use std::os::unix::fs::PermissionsExt;
        for (d, _) in &metas {
            std::fs::create_dir_all(tmp.join(d)).map_err(io("create", &tmp.join(d)))?;
        }
        for f in INIT_FILES {
            let p = tmp.join(f);
            std::fs::write(&p, b"").map_err(io("create", &p))?;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).map_err(io("chmod", &p))?;
        }
        // Deepest first, so setting a directory's time is not undone by changes inside it.
        for (d, m) in metas.iter().rev() {
            let p = tmp.join(d);
            std::os::unix::fs::chown(&p, Some(m.uid), Some(m.gid)).map_err(io("chown", &p))?;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m.mode)).map_err(io("chmod", &p))?;
            if *m != DirMeta::DEFAULT {
                let t = rustix::fs::Timespec { tv_sec: m.mtime.0, tv_nsec: m.mtime.1 as _ };
                let times = rustix::fs::Timestamps { last_access: t, last_modification: t };
                rustix::fs::utimensat(rustix::fs::CWD, &p, &times, rustix::fs::AtFlags::empty())
                    .map_err(|e| RootfsError::Io { op: "set times of", path: p.clone(), source: e.into() })?;
            }
        }
        Ok(())
    };
    let built = build().and_then(|()| std::fs::rename(&tmp, &dest).map_err(io("rename into place", &dest)));
    if built.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
        // Another process may have put its own in place first.
        if dest.is_dir() {
            return Ok(dest);
        }
    }
    built.map(|()| dest)
}

/// The directory metadata an image's init layer carries, and the layer's path (named by them).
fn init_layer_of(store_root: &Path, image_layers: &[PathBuf]) -> (Vec<(&'static str, DirMeta)>, PathBuf) {
    let metas: Vec<(&str, DirMeta)> = std::iter::once("")
        .chain(INIT_DIRS)
        .map(|d| (d, image_dir_meta(image_layers, d).unwrap_or(DirMeta::DEFAULT)))
        .collect();
    let key = format!("{metas:?}");
    let name = format!("{INIT_LAYER}-{}", &skiff_image::Digest::of(key.as_bytes()).hex()[..16]);
    (metas, store_root.join("init-layers").join(name))
}

/// A lock on the store's init layers: held shared from making a container's init layer until its
/// overlay is mounted, exclusive while unused layers are collected, so a layer about to be
/// mounted is never taken away.
pub fn init_layers_lock(store_root: &Path, exclusive: bool) -> Result<std::fs::File, RootfsError> {
    // Beside the directory, which holds nothing but layers.
    let p = store_root.join("init-layers.lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .map_err(|source| RootfsError::Io { op: "open", path: p.clone(), source })?;
    let how =
        if exclusive { rustix::fs::FlockOperation::LockExclusive } else { rustix::fs::FlockOperation::LockShared };
    rustix::fs::flock(&f, how).map_err(|e| RootfsError::Io { op: "lock", path: p, source: e.into() })?;
    Ok(f)
}

/// A container's lower layers: the image's, base first, then the init layer; and the shared
/// [`init_layers_lock`], to hold until the overlay is mounted.
pub fn container_layers(
    store: &skiff_image::Store,
    image_id: &skiff_image::Digest,
) -> Result<(Vec<PathBuf>, std::fs::File), RootfsError> {
    let mut layers = store.unpacked_layers(image_id)?;
    let lock = init_layers_lock(store.root(), false)?;
    let init = init_layer(store.root(), &store.tmp_dir(), &layers)?;
    layers.push(init);
    Ok((layers, lock))
}

/// Removes the init layers no container of `images` (the image ids of every container in the
/// store) uses; returns how many. Layers of an earlier naming scheme are left alone (a container
/// started by an earlier skiff may have one mounted). Nothing is removed when an image's layers
/// cannot be read: its init layer could not be told apart.
pub fn collect_init_layers<'a>(
    store: &skiff_image::Store,
    images: impl IntoIterator<Item = &'a skiff_image::Digest>,
) -> Result<usize, RootfsError> {
    let _lock = init_layers_lock(store.root(), true)?;
    let mut keep = std::collections::HashSet::new();
    for image_id in images {
        let Ok(layers) = store.unpacked_layers(image_id) else { return Ok(0) };
        keep.insert(init_layer_of(store.root(), &layers).1);
    }
    let mut removed = 0;
    let prefix = format!("{INIT_LAYER}-");
    for e in std::fs::read_dir(store.root().join("init-layers")).into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().starts_with(&prefix) && !keep.contains(&e.path()) {
            std::fs::remove_dir_all(e.path()).map_err(|source| RootfsError::Io {
                op: "remove",
                path: e.path(),
                source,
            })?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Unmounts the overlay (lazily, so a straggling process cannot pin it).
pub fn unmount(dir: &Path) -> Result<(), RootfsError> {
    let target = dir.join("rootfs");
    if !is_mounted(&target) {
        return Ok(());
    }
    rustix::mount::unmount(&target, rustix::mount::UnmountFlags::DETACH)
        .map_err(|source| RootfsError::Unmount { path: target, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Needs root (overlayfs). Many long lower paths go through the short links.
    #[test]
    fn many_layers_exceeding_a_page() {
        let t = tempfile::tempdir().unwrap();
        let mut layers = Vec::new();
        for i in 0..60 {
            let l = t.path().join(format!("layer-{i:03}-{}", "x".repeat(80)));
            std::fs::create_dir_all(&l).unwrap();
            std::fs::write(l.join(format!("f{i}")), format!("{i}")).unwrap();
            std::fs::write(l.join("top"), format!("{i}")).unwrap();
            layers.push(l);
        }
        let dir = t.path().join("c");
        std::fs::create_dir_all(&dir).unwrap();
        let cwd = std::env::current_dir().unwrap();
        let root = mount(&dir, &layers, false).unwrap();
        assert_eq!(std::env::current_dir().unwrap(), cwd);
        assert!(is_mounted(&root));
        assert_eq!(std::fs::read_to_string(root.join("f0")).unwrap(), "0");
        assert_eq!(std::fs::read_to_string(root.join("f59")).unwrap(), "59");
        // The last layer given (the image's topmost) wins.
        assert_eq!(std::fs::read_to_string(root.join("top")).unwrap(), "59");
        std::fs::write(root.join("new"), "n").unwrap();
        assert!(dir.join("upper/new").exists());
        unmount(&dir).unwrap();
        assert!(!is_mounted(&root));
    }
}
