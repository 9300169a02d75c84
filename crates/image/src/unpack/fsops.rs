//! Filesystem operations relative to directory fds, resolved by the kernel inside a root.
//!
//! Every path walk goes through `openat2(2)` with `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`, so `..`
//! and absolute symlinks resolve as if the root were `/` (chroot semantics) and nothing outside it can
//! be reached. Final components are then handled with `*at` calls on the parent fd that never follow
//! a symlink in that last component.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`: every walk stays inside the root fd.
const IN_ROOT: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

/// Bytes as an `OsStr` for rustix path arguments.
pub fn os(b: &[u8]) -> &OsStr {
    OsStr::from_bytes(b)
}

/// Converts a rustix errno into `io::Error`.
pub fn ioe(e: Errno) -> io::Error {
    io::Error::from(e)
}

/// Opens `path` (cleaned, relative; empty means the root) as an `O_PATH` directory fd, resolving
/// every component inside `root`.
pub fn open_dir_in_root(root: BorrowedFd<'_>, path: &[u8]) -> Result<OwnedFd, Errno> {
    let p: &[u8] = if path.is_empty() { b"." } else { path };
    rfs::openat2(root, os(p), OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty(), IN_ROOT)
}

/// Opens `path` inside `root` as a readable directory without following a final symlink.
pub fn open_dir_rdonly_in_root(root: BorrowedFd<'_>, path: &[u8]) -> Result<OwnedFd, Errno> {
    let p: &[u8] = if path.is_empty() { b"." } else { path };
    rfs::openat2(
        root,
        os(p),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        IN_ROOT,
    )
}

/// Opens `path` inside `root` as a directory, creating missing components (mode 0755) one at a
/// time. Each component is created with `mkdirat` relative to the fd of its already-resolved
/// parent and re-resolved from the root, so a symlink met on the way resolves inside the root.
pub fn open_or_create_dir_in_root(root: BorrowedFd<'_>, path: &[u8]) -> Result<OwnedFd, Errno> {
    match open_dir_in_root(root, path) {
        Err(Errno::NOENT) => {}
        other => return other,
    }
    let mut cur = open_dir_in_root(root, b"")?;
    let mut end = 0;
    for comp in path.split(|b| *b == b'/') {
        end += comp.len();
        let prefix = &path[..end];
        end += 1;
        cur = match open_dir_in_root(root, prefix) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => {
                match rfs::mkdirat(&cur, os(comp), Mode::from_raw_mode(0o755)) {
                    // Just created by us in a verified parent, so `comp` is no symlink: set the
                    // mode explicitly, whatever the umask.
                    Ok(()) => rfs::chmodat(&cur, os(comp), Mode::from_raw_mode(0o755), AtFlags::empty())?,
                    Err(Errno::EXIST) => {}
                    Err(e) => return Err(e),
                }
                open_dir_in_root(root, prefix)?
            }
            Err(e) => return Err(e),
        };
    }
    Ok(cur)
}

/// `lstat` of `name` in `dir`; `None` when it does not exist.
pub fn lstat_at(dir: BorrowedFd<'_>, name: &[u8]) -> Result<Option<rfs::Stat>, Errno> {
    match rfs::statat(dir, os(name), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether a stat describes a directory.
pub fn is_dir(st: &rfs::Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::Directory
}

/// Removes `name` in `dir`, recursively if it is a directory, never following symlinks.
/// A missing `name` is not an error.
pub fn remove_all_at(dir: BorrowedFd<'_>, name: &[u8]) -> Result<(), Errno> {
    match rfs::unlinkat(dir, os(name), AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => return Ok(()),
        Err(Errno::ISDIR) => {}
        Err(e) => return Err(e),
    }
    let sub = rfs::openat(
        dir,
        os(name),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    for child in list_dir(sub.as_fd())? {
        remove_all_at(sub.as_fd(), &child)?;
    }
    drop(sub);
    match rfs::unlinkat(dir, os(name), AtFlags::REMOVEDIR) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The names in a directory, without `.` and `..`.
pub fn list_dir(dir: BorrowedFd<'_>) -> Result<Vec<Vec<u8>>, Errno> {
    let mut out = Vec::new();
    for ent in rfs::Dir::read_from(dir)? {
        let ent = ent?;
        let name = ent.file_name().to_bytes();
        if name != b"." && name != b".." {
            out.push(name.to_vec());
        }
    }
    Ok(out)
}

/// Sets an extended attribute on `name` in `dir` without following a final symlink, for entries
/// that cannot be opened for writing (symlinks, devices, fifos). Goes through the parent fd's
/// `/proc/self/fd` entry, which names exactly the already-resolved parent directory.
pub fn lsetxattr_at(dir: BorrowedFd<'_>, name: &[u8], key: &str, value: &[u8]) -> Result<(), Errno> {
    use std::os::fd::AsRawFd;
    let mut p = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    p.extend_from_slice(name);
    rfs::lsetxattr(os(&p), key, value, rfs::XattrFlags::empty())
}
