//! Applying one layer tar stream onto a directory, safely: [`LayerUnpacker`] and [`unpack_layer`].
//!
//! Implements the OCI image spec's layer changeset semantics (`layer.md`: entries, hardlinks,
//! whiteouts and opaque directories) either onto a merged tree ([`WhiteoutMode::Apply`]) or as an
//! overlayfs lower directory ([`WhiteoutMode::Overlay`]: whiteout = char device 0:0, opaque =
//! `trusted.overlay.opaque=y`).
//!
//! Safety: nothing outside `dest` is ever created, changed or deleted, whatever the tar says. `dest`
//! is opened once as a directory fd; each entry's parent directory is resolved by the kernel with
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` (symlinks, absolute or not, resolve as if
//! `dest` were `/`), and the final component is handled with `*at` calls on that parent fd that
//! never follow it: a file is replaced, not written through, a symlink is never chmod-ed through.
//! Names are cleaned lexically first; names and hardlink targets that still escape are errors.
//!
//! On error the destination is left partially written: callers unpack into a fresh temporary
//! directory, delete it on failure and rename it into place on success. Nothing is fsync-ed here;
//! the store syncs the filesystem once per layer.

mod error;
mod fsops;
mod names;
mod whiteout;

pub use error::UnpackError;

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags, FileType, Gid, Mode, OFlags, Timespec, Timestamps, Uid};
use rustix::io::Errno;

use crate::overlay::markers::{self, Whiteout, WHITEOUT_META_PREFIX};
use crate::tarstream::{EntryKind, TarEntry, TarStream};
use fsops::{ioe, os};

/// How whiteout entries are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhiteoutMode {
    /// Store the layer as an overlayfs lower directory: a whiteout becomes a 0:0 character device
    /// and an opaque marker becomes the `trusted.overlay.opaque=y` xattr on its directory.
    Overlay,
    /// Apply the layer onto a merged tree: `.wh.NAME` deletes `NAME` (recursively) and
    /// `.wh..wh..opq` removes the directory's pre-existing children.
    Apply,
}

/// Options for [`unpack_layer`].
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    /// How whiteouts are handled.
    pub whiteouts: WhiteoutMode,
    /// Fail once the regular files of the layer would exceed this many bytes.
    pub max_bytes: Option<u64>,
    /// Set owners from the tar (needs root); otherwise files belong to the caller.
    pub preserve_owner: bool,
}

impl Default for UnpackOptions {
    /// Apply mode, no size limit, owners preserved when running as root.
    fn default() -> Self {
        UnpackOptions {
            whiteouts: WhiteoutMode::Apply,
            max_bytes: None,
            preserve_owner: rustix::process::geteuid().is_root(),
        }
    }
}

/// What an unpack did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnpackStats {
    /// Tar entries processed (including whiteouts and skipped entries).
    pub entries: u64,
    /// Bytes of regular file data written.
    pub bytes: u64,
}

use error::{fs_err, io_err, read_err, Result};

/// Applies `reader`, an uncompressed layer tar, onto `dest` (an existing directory).
///
/// On error `dest` is left partially written and the caller must delete it; see the module docs.
pub fn unpack_layer<R: Read>(reader: R, dest: &Path, opts: &UnpackOptions) -> Result<UnpackStats> {
    LayerUnpacker::new(dest, opts.clone())?.unpack(reader)
}

/// Size of the data copy buffer.
const COPY_BUF: usize = 1024 * 1024;

/// Applies one layer tar stream onto a destination directory.
pub struct LayerUnpacker {
    root: OwnedFd,
    opts: UnpackOptions,
    /// The last parent directory resolved, by cleaned path.
    parent: Option<(Vec<u8>, OwnedFd)>,
    /// Apply mode: cleaned paths this layer created (and their ancestors), kept by opaque markers.
    touched: HashSet<Vec<u8>>,
    /// Directory mtimes to set once all their children are written.
    dir_times: Vec<(Vec<u8>, Timestamps)>,
    buf: Vec<u8>,
    stats: UnpackStats,
}

/// The metadata of one entry, copied out of the tar entry.
struct Meta {
    display: String,
    mode: u32,
    uid: u64,
    gid: u64,
    times: Timestamps,
    xattrs: Vec<(String, Vec<u8>)>,
}

impl LayerUnpacker {
    /// Opens `dest` (which must exist and be a directory) for unpacking.
    pub fn new(dest: &Path, opts: UnpackOptions) -> Result<Self> {
        let root = rfs::open(dest, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| UnpackError::Dest { path: dest.to_path_buf(), source: ioe(e) })?;
        Ok(LayerUnpacker {
            root,
            opts,
            parent: None,
            touched: HashSet::new(),
            dir_times: Vec::new(),
            buf: Vec::new(),
            stats: UnpackStats::default(),
        })
    }

    /// Applies every entry of the tar stream, then sets directory mtimes. Reads the stream to its
    /// end, so a digest computed over `reader` covers all of it.
    pub fn unpack<R: Read>(mut self, reader: R) -> Result<UnpackStats> {
        self.buf = vec![0u8; COPY_BUF];
        let mut stream = TarStream::new(reader);
        while let Some(mut entry) = stream.next_entry()? {
            self.stats.entries += 1;
            self.apply_entry(&mut entry)?;
        }
        stream.drain_to_end()?;
        self.finish_dir_times()?;
        Ok(self.stats)
    }

    fn apply_entry<R: Read>(&mut self, entry: &mut TarEntry<'_, R>) -> Result<()> {
        let display = entry.display_path();
        let kind = entry.kind();
        if let EntryKind::Other(flag) = kind {
            tracing::debug!(path = %entry.display_path(), flag, "skipping tar entry of unsupported type");
            return Ok(());
        }
        let path =
            names::clean(entry.path_bytes()).ok_or_else(|| UnpackError::InvalidName { name: display.clone() })?;
        let meta = Meta {
            display,
            mode: entry.mode(),
            uid: entry.uid(),
            gid: entry.gid(),
            times: timestamps(entry.mtime(), entry.mtime_nsec()),
            xattrs: entry.xattrs(),
        };
        if path.is_empty() {
            if kind != EntryKind::Dir {
                return Err(UnpackError::InvalidName { name: meta.display });
            }
            return self.apply_root_dir(&meta);
        }
        let (parent, name) = names::split(&path);
        // Entries under a `.wh..wh.` directory (AUFS's hardlink store `.wh..wh.plnk`) are
        // whiteout metadata too.
        if parent.split(|b| *b == b'/').any(|c| c.starts_with(WHITEOUT_META_PREFIX.as_bytes())) {
            return Ok(());
        }
        match markers::whiteout(name) {
            Whiteout::None => {}
            Whiteout::Meta => return Ok(()),
            Whiteout::Invalid => {
                return Err(UnpackError::InvalidWhiteout { path: meta.display });
            }
            Whiteout::Opaque => return self.opaque(parent, &meta),
            Whiteout::Remove(target) => return self.whiteout(parent, target, &meta),
        }
        if self.opts.whiteouts == WhiteoutMode::Apply {
            self.touch(&path);
        }
        let pfd = self.take_parent(parent, &meta.display)?;
        let res = match kind {
            EntryKind::Dir => self.make_dir(pfd.as_fd(), &path, name, &meta),
            EntryKind::File => self.make_file(pfd.as_fd(), name, &meta, entry),
            EntryKind::Symlink => {
                let target = entry.link_name_bytes().unwrap_or_default().to_vec();
                self.make_symlink(pfd.as_fd(), name, &target, &meta)
            }
            EntryKind::Hardlink => {
                let target = entry.link_name_bytes().unwrap_or_default().to_vec();
                self.make_hardlink(pfd.as_fd(), &path, name, &target, &meta)
            }
            EntryKind::Char | EntryKind::Block | EntryKind::Fifo => {
                let ft = match kind {
                    EntryKind::Char => FileType::CharacterDevice,
                    EntryKind::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                let dev = rfs::makedev(entry.device_major(), entry.device_minor());
                self.make_node(pfd.as_fd(), name, ft, dev, &meta)
            }
            EntryKind::Other(_) => Ok(None),
        };
        match res {
            // A directory entry hands back its own fd: the next entries are most likely inside it.
            Ok(Some(dir_fd)) => self.parent = Some((path, dir_fd)),
            Ok(None) => self.put_parent(parent, pfd),
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Records `path` and its ancestors as written by this layer.
    fn touch(&mut self, path: &[u8]) {
        let mut p = path;
        while self.touched.insert(p.to_vec()) {
            match p.iter().rposition(|b| *b == b'/') {
                Some(i) => p = &p[..i],
                None => break,
            }
        }
    }

    /// The fd of `parent` (created with mode 0755 if missing), from the cache when possible.
    fn take_parent(&mut self, parent: &[u8], display: &str) -> Result<OwnedFd> {
        if let Some((p, _)) = &self.parent {
            if p == parent {
                return Ok(self.parent.take().expect("checked").1);
            }
        }
        fsops::open_or_create_dir_in_root(self.root.as_fd(), parent)
            .map_err(|e| fs_err(display, "opening parent directory", e))
    }

    fn put_parent(&mut self, parent: &[u8], fd: OwnedFd) {
        self.parent = Some((parent.to_vec(), fd));
    }

    /// Forgets the cached parent; called whenever something is removed, since the cached path
    /// may no longer lead to the cached directory.
    fn invalidate_parent(&mut self) {
        self.parent = None;
    }

    /// Makes room for a new non-directory (`dir_ok == false`) or directory at `name`: removes an
    /// existing entry unless it is a directory and a directory is wanted. Returns whether an
    /// existing directory was kept.
    fn clear_slot(&mut self, dir: BorrowedFd<'_>, name: &[u8], dir_ok: bool, m: &Meta) -> Result<bool> {
        let st = fsops::lstat_at(dir, name).map_err(|e| fs_err(&m.display, "lstat", e))?;
        match st {
            None => Ok(false),
            Some(st) if fsops::is_dir(&st) && dir_ok => Ok(true),
            Some(st) => {
                // The cached parent's path may have led through what is removed here.
                self.invalidate_parent();
                if fsops::is_dir(&st) {
                    fsops::remove_all_at(dir, name)
                        .map_err(|e| fs_err(&m.display, "removing existing directory", e))?;
                } else {
                    rfs::unlinkat(dir, os(name), AtFlags::empty())
                        .map_err(|e| fs_err(&m.display, "removing existing entry", e))?;
                }
                Ok(false)
            }
        }
    }

    fn apply_root_dir(&mut self, m: &Meta) -> Result<()> {
        let root = self.root.try_clone().map_err(|e| io_err(&m.display, "dup", e))?;
        self.set_fd_meta(root.as_fd(), m)?;
        self.dir_times.push((Vec::new(), m.times.clone()));
        Ok(())
    }

    fn make_dir(&mut self, pfd: BorrowedFd<'_>, path: &[u8], name: &[u8], m: &Meta) -> Result<Option<OwnedFd>> {
        match rfs::mkdirat(pfd, os(name), Mode::from_raw_mode(0o700)) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                if !self.clear_slot(pfd, name, true, m)? {
                    rfs::mkdirat(pfd, os(name), Mode::from_raw_mode(0o700))
                        .map_err(|e| fs_err(&m.display, "mkdir", e))?;
                }
            }
            Err(e) => return Err(fs_err(&m.display, "mkdir", e)),
        }
        let fd = rfs::openat(
            pfd,
            os(name),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| fs_err(&m.display, "opening directory", e))?;
        self.set_fd_meta(fd.as_fd(), m)?;
        self.dir_times.push((path.to_vec(), m.times.clone()));
        Ok(Some(fd))
    }

    fn make_file<R: Read>(
        &mut self,
        pfd: BorrowedFd<'_>,
        name: &[u8],
        m: &Meta,
        data: &mut TarEntry<'_, R>,
    ) -> Result<Option<OwnedFd>> {
        let size = data.size();
        if let Some(limit) = self.opts.max_bytes {
            if self.stats.bytes.saturating_add(size) > limit {
                return Err(UnpackError::TooLarge { path: m.display.clone(), limit });
            }
        }
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mode = Mode::from_raw_mode(0o600);
        let fd = match rfs::openat(pfd, os(name), flags, mode) {
            Ok(fd) => fd,
            Err(Errno::EXIST) => {
                self.clear_slot(pfd, name, false, m)?;
                rfs::openat(pfd, os(name), flags, mode).map_err(|e| fs_err(&m.display, "create", e))?
            }
            Err(e) => return Err(fs_err(&m.display, "create", e)),
        };
        let mut file = File::from(fd);
        let mut written = 0u64;
        loop {
            let n = match data.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(read_err(&m.display, source)),
            };
            file.write_all(&self.buf[..n]).map_err(|e| io_err(&m.display, "write", e))?;
            written += n as u64;
        }
        self.stats.bytes += written;
        self.set_fd_meta(file.as_fd(), m)?;
        rfs::futimens(&file, &m.times.clone()).map_err(|e| fs_err(&m.display, "set mtime", e))?;
        Ok(None)
    }

    fn make_symlink(&mut self, pfd: BorrowedFd<'_>, name: &[u8], target: &[u8], m: &Meta) -> Result<Option<OwnedFd>> {
        match rfs::symlinkat(os(target), pfd, os(name)) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                self.clear_slot(pfd, name, false, m)?;
                rfs::symlinkat(os(target), pfd, os(name)).map_err(|e| fs_err(&m.display, "symlink", e))?;
            }
            Err(e) => return Err(fs_err(&m.display, "symlink", e)),
        }
        self.set_at_meta(pfd, name, m, false)?;
        Ok(None)
    }

    fn make_hardlink(
        &mut self,
        pfd: BorrowedFd<'_>,
        path: &[u8],
        name: &[u8],
        target: &[u8],
        m: &Meta,
    ) -> Result<Option<OwnedFd>> {
        let invalid = || UnpackError::InvalidHardlinkTarget {
            path: m.display.clone(),
            target: String::from_utf8_lossy(target).into_owned(),
        };
        let tpath = names::clean(target).ok_or_else(invalid)?;
        if tpath.is_empty() {
            return Err(invalid());
        }
        if tpath == path {
            return Ok(None);
        }
        let (tparent, tname) = names::split(&tpath);
        let tfd = fsops::open_dir_in_root(self.root.as_fd(), tparent)
            .map_err(|e| fs_err(&m.display, "opening hardlink target directory", e))?;
        // linkat without AT_SYMLINK_FOLLOW links the target itself, even when it is a symlink.
        match rfs::linkat(&tfd, os(tname), pfd, os(name), AtFlags::empty()) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                self.clear_slot(pfd, name, false, m)?;
                rfs::linkat(&tfd, os(tname), pfd, os(name), AtFlags::empty())
                    .map_err(|e| fs_err(&m.display, "hardlink", e))?;
            }
            Err(e) => return Err(fs_err(&m.display, "hardlink", e)),
        }
        // The link shares its target's inode, which already carries its metadata.
        Ok(None)
    }

    fn make_node(
        &mut self,
        pfd: BorrowedFd<'_>,
        name: &[u8],
        ft: FileType,
        dev: rfs::Dev,
        m: &Meta,
    ) -> Result<Option<OwnedFd>> {
        let mode = Mode::from_raw_mode(0o600);
        match rfs::mknodat(pfd, os(name), ft, mode, dev) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                self.clear_slot(pfd, name, false, m)?;
                rfs::mknodat(pfd, os(name), ft, mode, dev).map_err(|e| fs_err(&m.display, "mknod", e))?;
            }
            Err(e) => return Err(fs_err(&m.display, "mknod", e)),
        }
        self.set_at_meta(pfd, name, m, true)?;
        Ok(None)
    }

    /// Owner, mode (after owner, so setuid/setgid survive) and xattrs of an open file or directory.
    fn set_fd_meta(&self, fd: BorrowedFd<'_>, m: &Meta) -> Result<()> {
        if self.opts.preserve_owner {
            let (uid, gid) = ids(m)?;
            rfs::fchown(fd, Some(uid), Some(gid)).map_err(|e| fs_err(&m.display, "chown", e))?;
        }
        rfs::fchmod(fd, Mode::from_raw_mode(m.mode)).map_err(|e| fs_err(&m.display, "chmod", e))?;
        for (key, value) in &m.xattrs {
            if markers::is_overlay_xattr(key) {
                continue;
            }
            let res = rfs::fsetxattr(fd, key.as_str(), value, rfs::XattrFlags::empty());
            xattr_result(res, key, m)?;
        }
        Ok(())
    }

    /// Metadata of a symlink (`chmod == false`) or a device/fifo node just created at `name`.
    fn set_at_meta(&self, pfd: BorrowedFd<'_>, name: &[u8], m: &Meta, chmod: bool) -> Result<()> {
        if self.opts.preserve_owner {
            let (uid, gid) = ids(m)?;
            rfs::chownat(pfd, os(name), Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| fs_err(&m.display, "lchown", e))?;
        }
        if chmod {
            // `name` was created by mknodat just above, in a directory only this unpacker writes,
            // so it is not a symlink: fchmodat cannot be redirected by it.
            rfs::chmodat(pfd, os(name), Mode::from_raw_mode(m.mode), AtFlags::empty())
                .map_err(|e| fs_err(&m.display, "chmod", e))?;
        }
        for (key, value) in &m.xattrs {
            if markers::is_overlay_xattr(key) {
                continue;
            }
            xattr_result(fsops::lsetxattr_at(pfd, name, key, value), key, m)?;
        }
        rfs::utimensat(pfd, os(name), &m.times, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| fs_err(&m.display, "set mtime", e))?;
        Ok(())
    }

    /// Sets directory mtimes now that their contents are final.
    fn finish_dir_times(&mut self) -> Result<()> {
        self.invalidate_parent();
        for (path, times) in &self.dir_times {
            let fd = match fsops::open_dir_rdonly_in_root(self.root.as_fd(), path) {
                Ok(fd) => fd,
                // Removed or replaced by a later entry.
                Err(Errno::NOENT) | Err(Errno::NOTDIR) | Err(Errno::LOOP) => continue,
                Err(e) => return Err(fs_err(&String::from_utf8_lossy(path), "opening directory", e)),
            };
            rfs::futimens(&fd, times).map_err(|e| fs_err(&String::from_utf8_lossy(path), "set mtime", e))?;
        }
        Ok(())
    }
}

/// Unsupported or forbidden xattrs are skipped with a warning (as moby does); others fail.
fn xattr_result(res: std::result::Result<(), Errno>, key: &str, m: &Meta) -> Result<()> {
    match res {
        Ok(()) => Ok(()),
        Err(e) if e == Errno::OPNOTSUPP || e == Errno::PERM => {
            tracing::warn!(path = %m.display, xattr = key, error = %e, "skipping xattr");
            Ok(())
        }
        Err(e) => Err(fs_err(&m.display, "setxattr", e)),
    }
}

fn ids(m: &Meta) -> Result<(Uid, Gid)> {
    let bad = |what: &str| UnpackError::Io {
        path: m.display.clone(),
        op: "chown",
        source: io::Error::new(io::ErrorKind::InvalidData, format!("{what} out of range")),
    };
    let uid = u32::try_from(m.uid).ok().filter(|u| *u != u32::MAX).ok_or_else(|| bad("uid"))?;
    let gid = u32::try_from(m.gid).ok().filter(|g| *g != u32::MAX).ok_or_else(|| bad("gid"))?;
    Ok((Uid::from_raw(uid), Gid::from_raw(gid)))
}

fn timestamps(secs: u64, nsec: u32) -> Timestamps {
    let t = Timespec { tv_sec: i64::try_from(secs).unwrap_or(i64::MAX), tv_nsec: nsec.into() };
    Timestamps { last_access: t, last_modification: t }
}
