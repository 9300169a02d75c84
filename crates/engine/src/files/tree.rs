//! Copying a tree between two open directories without ever following a symlink on either side
//! (the engine of `cp` and of a volume's copy-up), hard links kept as links.

use super::{dir_names, errno_io, io, open_in_root, CopyOptions, FilesError, Result};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::rc::Rc;

/// Files with several links met in a copy, by (device, inode) of the source: where the first copy
/// went (its directory and name), so the others become hard links to it, as in the source.
pub(super) type Links = std::collections::HashMap<(u64, u64), (Rc<OwnedFd>, std::ffi::OsString)>;

/// A directory to copy into, shareable with [`Links`].
pub(super) fn dest_dir(f: std::fs::File) -> Rc<OwnedFd> {
    Rc::new(OwnedFd::from(f))
}

/// Copies the entry `name` of directory `sdir` to `dname` in directory `ddir`, a directory with
/// everything below it. Every step is relative to an open directory and never follows a symlink,
/// so a tree on either side cannot lead the copy anywhere else; `shown` names the source in errors.
pub(super) fn copy_entry(
    sdir: BorrowedFd<'_>,
    name: &std::ffi::OsStr,
    ddir: &Rc<OwnedFd>,
    dname: &std::ffi::OsStr,
    shown: &Path,
    o: CopyOptions,
    links: &mut Links,
) -> Result<()> {
    use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timestamps};
    let st = rustix::fs::statat(sdir, name, AtFlags::SYMLINK_NOFOLLOW).map_err(errno_io("stat", shown))?;
    let ft = FileType::from_raw_mode(st.st_mode);
    let mode = Mode::from_raw_mode(st.st_mode & 0o7777);
    let times = Timestamps {
        last_access: rustix::fs::Timespec { tv_sec: st.st_atime as _, tv_nsec: st.st_atime_nsec as _ },
        last_modification: rustix::fs::Timespec { tv_sec: st.st_mtime as _, tv_nsec: st.st_mtime_nsec as _ },
    };
    let existing = rustix::fs::statat(&**ddir, dname, AtFlags::SYMLINK_NOFOLLOW).ok();
    let existing_dir = existing.as_ref().is_some_and(|e| FileType::from_raw_mode(e.st_mode) == FileType::Directory);
    let nofollow = OFlags::NOFOLLOW | OFlags::CLOEXEC;
    // The copy made, open when it is a directory or a regular file: its mode, owner and times go
    // through the fd; others (symlinks, fifos, devices) by name without following.
    let made: Option<Rc<OwnedFd>> = match ft {
        FileType::Directory => {
            if existing.is_some() && !existing_dir {
                return Err(FilesError::OverwriteFile {
                    dest: dname.to_string_lossy().into_owned(),
                    src: shown.display().to_string(),
                });
            }
            if !existing_dir {
                rustix::fs::mkdirat(&**ddir, dname, Mode::from_raw_mode(0o700)).map_err(errno_io("create", shown))?;
            }
            let s = rustix::fs::openat(sdir, name, OFlags::RDONLY | OFlags::DIRECTORY | nofollow, Mode::empty())
                .map_err(errno_io("open", shown))?;
            let d = rustix::fs::openat(&**ddir, dname, OFlags::RDONLY | OFlags::DIRECTORY | nofollow, Mode::empty())
                .map_err(errno_io("open the destination of", shown))?;
            let d = Rc::new(d);
            for n in dir_names(s.as_fd(), shown)? {
                copy_entry(s.as_fd(), &n, &d, &n, &shown.join(&n), o, links)?;
            }
            Some(d)
        }
        _ if existing_dir => {
            return Err(FilesError::OverwriteDirectory {
                dest: dname.to_string_lossy().into_owned(),
                src: shown.display().to_string(),
            });
        }
        FileType::RegularFile => {
            let key = (st.st_dev, st.st_ino);
            if let Some((first_dir, first_name)) = links.get(&key).filter(|_| st.st_nlink > 1) {
                if existing.is_some() {
                    rustix::fs::unlinkat(&**ddir, dname, AtFlags::empty()).map_err(errno_io("replace", shown))?;
                }
                // Another name of a file already copied: a hard link, as in the source.
                let linked = rustix::fs::linkat(&**first_dir, first_name, &**ddir, dname, AtFlags::empty());
                if linked.is_ok() {
                    return Ok(());
                }
            }
            let mut src = std::fs::File::from(
                rustix::fs::openat(sdir, name, OFlags::RDONLY | nofollow, Mode::empty())
                    .map_err(errno_io("open", shown))?,
            );
            // Replaced, not rewritten: the old file may have other names that must keep their data.
            if existing.is_some() {
                rustix::fs::unlinkat(&**ddir, dname, AtFlags::empty()).map_err(errno_io("replace", shown))?;
            }
            let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | nofollow;
            let mut dst = std::fs::File::from(
                rustix::fs::openat(&**ddir, dname, flags, Mode::from_raw_mode(0o600))
                    .map_err(errno_io("create", shown))?,
            );
            std::io::copy(&mut src, &mut dst).map_err(io("copy", shown))?;
            if st.st_nlink > 1 {
                links.insert(key, (Rc::clone(ddir), dname.to_os_string()));
            }
            Some(Rc::new(dst.into()))
        }
        _ => {
            if existing.is_some() {
                rustix::fs::unlinkat(&**ddir, dname, AtFlags::empty()).map_err(errno_io("replace", shown))?;
            }
            if ft == FileType::Symlink {
                let target = rustix::fs::readlinkat(sdir, name, Vec::new()).map_err(errno_io("read link", shown))?;
                rustix::fs::symlinkat(target.as_c_str(), &**ddir, dname).map_err(errno_io("create", shown))?;
            } else {
                rustix::fs::mknodat(&**ddir, dname, ft, mode, st.st_rdev as _).map_err(errno_io("create", shown))?;
            }
            None
        }
    };
    let (owner, group) = (Some(uid(st.st_uid)), Some(gid(st.st_gid)));
    match made {
        Some(fd) => {
            // Owner first: a chown clears the setuid and setgid bits the mode then sets.
            if o.archive {
                rustix::fs::fchown(&fd, owner, group).map_err(errno_io("chown", shown))?;
            }
            rustix::fs::fchmod(&fd, mode).map_err(errno_io("chmod", shown))?;
            rustix::fs::futimens(&fd, &times).map_err(errno_io("set times of", shown))?;
        }
        None => {
            if o.archive {
                rustix::fs::chownat(&**ddir, dname, owner, group, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(errno_io("chown", shown))?;
            }
            rustix::fs::utimensat(&**ddir, dname, &times, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(errno_io("set times of", shown))?;
        }
    }
    Ok(())
}

fn uid(n: u32) -> rustix::fs::Uid {
    rustix::fs::Uid::from_raw(n)
}

fn gid(n: u32) -> rustix::fs::Gid {
    rustix::fs::Gid::from_raw(n)
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
    let Ok(dir) = open_in_root(root, dest, OFlags::RDONLY | OFlags::DIRECTORY, 0) else { return Ok(()) };
    let m = dir.metadata().map_err(io("stat", Path::new(dest)))?;
    std::os::unix::fs::chown(volume, Some(m.uid()), Some(m.gid())).map_err(io("chown", volume))?;
    std::fs::set_permissions(volume, std::os::unix::fs::PermissionsExt::from_mode(m.mode() & 0o7777))
        .map_err(io("chmod", volume))?;
    let vol = std::fs::File::open(volume).map_err(io("open", volume))?;
    let keep = CopyOptions { archive: true, follow_link: false };
    let (vol, mut links) = (dest_dir(vol), Links::new());
    for n in dir_names(dir.as_fd(), Path::new(dest))? {
        copy_entry(dir.as_fd(), &n, &vol, &n, &Path::new(dest).join(&n), keep, &mut links)?;
    }
    Ok(())
}
