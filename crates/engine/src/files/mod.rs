//! A container's files from the host: `export` (a tar of the merged root), `diff` (what the
//! container changed, from the overlay's upper dir), `cp` of trees and tar streams both ways, and
//! the copy-up that fills a new volume from the image. Every container path is resolved through
//! `openat2(RESOLVE_IN_ROOT)` and every step is relative to an open directory, so symlinks in
//! the container cannot lead outside its root (`openat2(2)`; the class of CVE-2018-15664 and
//! CVE-2019-14271).

mod cp;
mod diff;
mod export;
mod tar_out;
mod tree;

pub use cp::{copy_in, copy_in_tar, copy_out};
pub use diff::{diff, Change};
pub use export::export;
pub use tar_out::copy_out_tar;
pub use tree::copy_up;

use crate::record::Container;
use crate::rootfs;
use skiff_image::ErrorKind;
use skiff_image::Store;
use std::os::fd::BorrowedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Errors of export, diff, cp and copy-up. The words of those Docker's daemon also reports are
/// Docker's (`Could not find the file ...`, `cannot copy directory ...`).
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("{op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Rootfs(#[from] crate::rootfs::RootfsError),
    #[error(transparent)]
    Store(#[from] skiff_image::StoreError),
    /// Docker's words.
    #[error("Could not find the file {path} in container {container}: {source}")]
    NoSuchFile { path: String, container: String, source: Box<dyn std::error::Error + Send + Sync> },
    #[error("{0} resolves outside the container")]
    ResolvesOutside(String),
    /// Docker's words.
    #[error("cannot copy directory {src} to file {dest}")]
    DirectoryToFile { src: String, dest: String },
    #[error("cannot overwrite non-directory {dest} with directory {src}")]
    OverwriteFile { dest: String, src: String },
    #[error("cannot overwrite directory {dest} with non-directory {src}")]
    OverwriteDirectory { dest: String, src: String },
    #[error("destination directory {0} does not exist")]
    NoDestinationDirectory(String),
    /// Docker's words.
    #[error("destination \"{container}:{dest}\" must be a directory")]
    DestinationNotDirectory { container: String, dest: String },
    #[error("too many levels of symbolic links at {0}")]
    SymlinkLoop(String),
    #[error("{path} is outside of {dest}")]
    OutsideDestination { path: PathBuf, dest: String },
}

impl FilesError {
    /// What kind of failure this is: a missing source is not found, a copy that cannot be made
    /// as asked is the caller's.
    pub fn kind(&self) -> ErrorKind {
        match self {
            FilesError::NoSuchFile { .. } => ErrorKind::NotFound,
            FilesError::Store(e) => e.kind(),
            FilesError::Io { .. } | FilesError::Rootfs(_) => ErrorKind::System,
            FilesError::ResolvesOutside(_)
            | FilesError::DirectoryToFile { .. }
            | FilesError::OverwriteFile { .. }
            | FilesError::OverwriteDirectory { .. }
            | FilesError::NoDestinationDirectory(_)
            | FilesError::DestinationNotDirectory { .. }
            | FilesError::SymlinkLoop(_)
            | FilesError::OutsideDestination { .. } => ErrorKind::InvalidArgument,
        }
    }
}

/// How `cp` treats ownership: Docker's default gives what it creates to the copying user (root),
/// `-a` keeps the source's uid and gid.
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyOptions {
    /// `-a`: keep uid and gid.
    pub archive: bool,
    /// `-L`: follow a symlink named as the source (never one inside a copied tree).
    pub follow_link: bool,
}

type Result<T> = std::result::Result<T, FilesError>;

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> FilesError + 'a {
    move |source| FilesError::Io { op, path: path.to_path_buf(), source }
}

fn errno_io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(rustix::io::Errno) -> FilesError + 'a {
    move |e| FilesError::Io { op, path: path.to_path_buf(), source: e.into() }
}

/// The bytes of the regular files under `p` (a container's writable layer: `ps -s`, prune).
pub fn dir_size(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else { return 0 };
    let mut n = 0;
    for e in rd.flatten() {
        let Ok(m) = e.metadata() else { continue };
        if m.is_dir() {
            n += dir_size(&e.path());
        } else if m.is_file() {
            n += m.len();
        }
    }
    n
}

/// Mounts the container's root (if it is not) and returns its path.
pub fn mounted_root(store: &Store, c: &Container) -> Result<PathBuf> {
    let (layers, _init_lock) = rootfs::container_layers(store, &c.image_id)?;
    Ok(rootfs::mount(&c.dir(store), &layers, false)?)
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
    .map_err(|e| FilesError::Io { op: "open", path: root.join(rel), source: e.into() })?;
    Ok(std::fs::File::from(fd))
}

/// The names in an open directory, sorted, without `.` and `..`.
fn dir_names(dir: BorrowedFd<'_>, shown: &Path) -> Result<Vec<std::ffi::OsString>> {
    let mut names = Vec::new();
    for e in rustix::fs::Dir::read_from(dir).map_err(errno_io("read", shown))? {
        let e = e.map_err(errno_io("read", shown))?;
        let n = std::ffi::OsStr::from_bytes(e.file_name().to_bytes()).to_os_string();
        if n != "." && n != ".." {
            names.push(n);
        }
    }
    names.sort();
    Ok(names)
}
