//! A container's filesystem from the host: `export` (a tar of the merged
//! root), `diff` (what the container changed, from the overlay's upper dir)
//! and `cp` of trees and tar streams, every container path resolved through
//! `openat2(RESOLVE_IN_ROOT)` and every step relative to an open directory,
//! so symlinks in the container cannot lead outside its root.

use crate::container::Container;
use crate::lifecycle::EngineError;
use crate::rootfs;
use skiff_image::Store;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

type Result<T> = std::result::Result<T, EngineError>;

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> EngineError + 'a {
    move |source| EngineError::Io { op, path: path.to_path_buf(), source }
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

/// How `cp` treats ownership: Docker's default gives what it creates to the copying user (root),
/// `-a` keeps the source's uid and gid.
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyOptions {
    /// `-a`: keep uid and gid.
    pub archive: bool,
    /// `-L`: follow a symlink named as the source (never one inside a copied tree).
    pub follow_link: bool,
}

fn errno_io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(rustix::io::Errno) -> EngineError + 'a {
    move |e| EngineError::Io { op, path: path.to_path_buf(), source: e.into() }
}

/// Files with several links met in a copy, by (device, inode) of the source: where the first copy
/// went (its directory and name), so the others become hard links to it, as in the source.
type Links = std::collections::HashMap<(u64, u64), (Rc<OwnedFd>, std::ffi::OsString)>;

/// A directory to copy into, shareable with [`Links`].
fn dest_dir(f: std::fs::File) -> Rc<OwnedFd> {
    Rc::new(OwnedFd::from(f))
}

/// Copies the entry `name` of directory `sdir` to `dname` in directory `ddir`, a directory with
/// everything below it. Every step is relative to an open directory and never follows a symlink,
/// so a tree on either side cannot lead the copy anywhere else; `shown` names the source in errors.
fn copy_entry(
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
                return Err(EngineError::Sys(format!(
                    "cannot overwrite non-directory {} with directory {}",
                    dname.to_string_lossy(),
                    shown.display()
                )));
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
            return Err(EngineError::Sys(format!(
                "cannot overwrite directory {} with non-directory {}",
                dname.to_string_lossy(),
                shown.display()
            )));
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

fn uid(n: u32) -> rustix::fs::Uid {
    rustix::fs::Uid::from_raw(n)
}

fn gid(n: u32) -> rustix::fs::Gid {
    rustix::fs::Gid::from_raw(n)
}

/// Where `cp` puts a source named `src_name` given the destination as the user wrote it, following
/// Docker's rules: into an existing directory under its own name (for a directory source ending in
/// `/.`, its contents into the directory itself), else as the destination path itself, whose
/// parent must exist. Returns (parent directory path, name in it).
fn destination(
    dest: &str,
    dest_is_dir: bool,
    dest_exists: bool,
    src_name: &std::ffi::OsStr,
    contents_only: bool,
) -> Result<(String, std::ffi::OsString)> {
    if dest_is_dir && !contents_only {
        let parent = dest.trim_end_matches('/');
        return Ok((if parent.is_empty() { "/".into() } else { parent.into() }, src_name.to_os_string()));
    }
    if !dest_exists && dest.ends_with('/') {
        return Err(EngineError::Sys(format!("destination directory {dest} does not exist")));
    }
    Ok(split_last(dest))
}

/// "a/b/c" -> ("a/b", "c"); "c" -> (".", "c"); "/c" -> ("/", "c").
fn split_last(path: &str) -> (String, std::ffi::OsString) {
    let p = path.trim_end_matches('/');
    let p = p.strip_suffix("/.").unwrap_or(p);
    match p.rsplit_once('/') {
        Some(("", n)) => ("/".into(), n.into()),
        Some((d, n)) => (d.into(), n.into()),
        None if p.is_empty() => ("/".into(), ".".into()),
        None => (".".into(), p.into()),
    }
}

/// The source of a copy out of the container: its directory (opened inside the root) and name;
/// with `-L`, what a symlink named as the source leads to, resolved inside the root.
fn source(
    store: &Store,
    c: &Container,
    src: &str,
    o: CopyOptions,
) -> Result<(std::os::fd::OwnedFd, std::ffi::OsString)> {
    use rustix::fs::OFlags;
    let root = mounted_root(store, c)?;
    let (sparent, sname) = split_last(src);
    let sdir = open_in_root(&root, &sparent, OFlags::RDONLY | OFlags::DIRECTORY, 0)
        .map_err(|e| EngineError::Sys(format!("Could not find the file {src} in container {}: {e}", c.name)))?;
    if !o.follow_link {
        return Ok((sdir.into(), sname));
    }
    // -L: the source itself may be a symlink; resolve it inside the root, then copy what it names.
    let f = open_in_root(&root, src, OFlags::PATH, 0)?;
    let real = std::fs::read_link(format!("/proc/self/fd/{}", f.as_raw_fd())).map_err(io("resolve", Path::new(src)))?;
    let rel =
        real.strip_prefix(&root).map_err(|_| EngineError::Sys(format!("{src} resolves outside the container")))?;
    let (p, n) = split_last(&format!("/{}", rel.display()));
    Ok((open_in_root(&root, &p, OFlags::RDONLY | OFlags::DIRECTORY, 0)?.into(), n))
}

/// `docker cp CONTAINER:SRC DEST`: a file, a directory tree, a symlink or a special file, from the
/// container (resolved inside its root) to the host.
pub fn copy_out(store: &Store, c: &Container, src: &str, dest: &Path, o: CopyOptions) -> Result<()> {
    let (sdir, sname) = source(store, c, src, o)?;
    let st = rustix::fs::statat(&sdir, &sname, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| EngineError::Sys(format!("Could not find the file {src} in container {}: {e}", c.name)))?;
    let src_is_dir = rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory;
    let dest_s = dest.to_string_lossy();
    let dm = std::fs::metadata(dest).ok();
    if src_is_dir && dm.as_ref().is_some_and(|m| !m.is_dir()) {
        return Err(EngineError::Sys(format!("cannot copy directory {src} to file {dest_s}")));
    }
    let contents_only = src.ends_with("/.");
    let (dparent, dname) =
        destination(&dest_s, dm.as_ref().is_some_and(|m| m.is_dir()), dm.is_some(), &sname, contents_only)?;
    let ddir = dest_dir(std::fs::File::open(&dparent).map_err(io("open", Path::new(&dparent)))?);
    copy_entry(sdir.as_fd(), &sname, &ddir, &dname, Path::new(src), o, &mut Links::new())
}

/// `docker cp CONTAINER:SRC -`: SRC (resolved inside the container's root) as a tar stream on
/// `out`, named from its own name down (`SRC/.`: its contents, the directory itself as `./`). Nothing is followed
/// inside a tree; files linked more than once inside it become hard links to the first.
pub fn copy_out_tar(store: &Store, c: &Container, src: &str, out: &mut dyn Write, o: CopyOptions) -> Result<()> {
    let (sdir, sname) = source(store, c, src, o)?;
    rustix::fs::statat(&sdir, &sname, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| EngineError::Sys(format!("Could not find the file {src} in container {}: {e}", c.name)))?;
    let top = if src.ends_with("/.") { PathBuf::from(".") } else { PathBuf::from(&sname) };
    let mut tar = tar::Builder::new(out);
    let mut w = TarWalk {
        tar: &mut tar,
        seen: std::collections::HashMap::new(),
        // Owner names as Docker's daemon writes them: the host's.
        users: skiff_image::userdb::UserDb::parse(
            &std::fs::read_to_string("/etc/passwd").unwrap_or_default(),
            &std::fs::read_to_string("/etc/group").unwrap_or_default(),
        ),
    };
    w.entry(sdir.as_fd(), &sname, &top, Path::new(src))?;
    tar.into_inner().map_err(io("write", Path::new("-")))?.flush().map_err(io("write", Path::new("-")))
}

/// A tar stream being written from a tree.
struct TarWalk<'t, 'w> {
    tar: &'t mut tar::Builder<&'w mut dyn Write>,
    /// (device, inode) of the files with several links already written, and their paths.
    seen: std::collections::HashMap<(u64, u64), PathBuf>,
    users: skiff_image::userdb::UserDb,
}

impl TarWalk<'_, '_> {
    /// Appends the entry `name` of directory `dir` as `path`, with everything below it.
    fn entry(&mut self, dir: BorrowedFd<'_>, name: &std::ffi::OsStr, path: &Path, shown: &Path) -> Result<()> {
        use rustix::fs::{AtFlags, FileType, Mode, OFlags};
        let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).map_err(errno_io("stat", shown))?;
        let ft = FileType::from_raw_mode(st.st_mode);
        let mut h = tar::Header::new_gnu();
        h.set_mode(st.st_mode & 0o7777);
        h.set_uid(st.st_uid.into());
        h.set_gid(st.st_gid.into());
        h.set_mtime(st.st_mtime.max(0) as u64);
        h.set_size(0);
        if let Some(u) = self.users.passwd.iter().find(|u| u.uid == st.st_uid) {
            let _ = h.set_username(&u.name);
        }
        if let Some(g) = self.users.groups.iter().find(|g| g.gid == st.st_gid) {
            let _ = h.set_groupname(&g.name);
        }
        let tar = &mut *self.tar;
        let written = |r: std::io::Result<()>| r.map_err(io("write", Path::new("-")));
        let nofollow = OFlags::NOFOLLOW | OFlags::CLOEXEC;
        match ft {
            FileType::Directory => {
                h.set_entry_type(tar::EntryType::Directory);
                // Directories end in "/", as Docker (and tar) name them.
                let mut named = path.as_os_str().as_bytes().to_vec();
                named.push(b'/');
                written(append_named(tar, &mut h, &named, None, std::io::empty()))?;
                let d = rustix::fs::openat(dir, name, OFlags::RDONLY | OFlags::DIRECTORY | nofollow, Mode::empty())
                    .map_err(errno_io("open", shown))?;
                for n in dir_names(d.as_fd(), shown)? {
                    self.entry(d.as_fd(), &n, &path.join(&n), &shown.join(&n))?;
                }
            }
            FileType::RegularFile => {
                let key = (st.st_dev, st.st_ino);
                if st.st_nlink > 1 {
                    if let Some(first) = self.seen.get(&key) {
                        h.set_entry_type(tar::EntryType::Link);
                        let first = first.as_os_str().as_bytes();
                        return written(append_named(
                            tar,
                            &mut h,
                            path.as_os_str().as_bytes(),
                            Some(first),
                            std::io::empty(),
                        ));
                    }
                    self.seen.insert(key, path.to_path_buf());
                }
                let f = std::fs::File::from(
                    rustix::fs::openat(dir, name, OFlags::RDONLY | nofollow, Mode::empty())
                        .map_err(errno_io("open", shown))?,
                );
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(st.st_size as u64);
                // Exactly the size stat saw, should the file change while it is read.
                let data = std::io::Read::take(f, st.st_size as u64);
                written(append_named(tar, &mut h, path.as_os_str().as_bytes(), None, data))?;
            }
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(dir, name, Vec::new()).map_err(errno_io("read link", shown))?;
                h.set_entry_type(tar::EntryType::Symlink);
                written(append_named(
                    tar,
                    &mut h,
                    path.as_os_str().as_bytes(),
                    Some(target.as_bytes()),
                    std::io::empty(),
                ))?;
            }
            other => {
                h.set_entry_type(match other {
                    FileType::CharacterDevice => tar::EntryType::Char,
                    FileType::BlockDevice => tar::EntryType::Block,
                    FileType::Fifo => tar::EntryType::Fifo,
                    // Sockets have no tar form; Docker skips them too.
                    _ => return Ok(()),
                });
                let rdev = st.st_rdev;
                written(h.set_device_major(rustix::fs::major(rdev)))?;
                written(h.set_device_minor(rustix::fs::minor(rdev)))?;
                written(append_named(tar, &mut h, path.as_os_str().as_bytes(), None, std::io::empty()))?;
            }
        }
        Ok(())
    }
}

/// Appends an entry named `name` exactly (the tar crate's own setters drop a leading "./", which
/// Docker keeps for `SRC/.`), with `link` as its link name; names longer than the header's 100
/// bytes go before it in GNU long-name entries, as GNU tar and Docker write them.
fn append_named(
    tar: &mut tar::Builder<&mut dyn Write>,
    h: &mut tar::Header,
    name: &[u8],
    link: Option<&[u8]>,
    data: impl std::io::Read,
) -> std::io::Result<()> {
    let long = |tar: &mut tar::Builder<&mut dyn Write>, kind: tar::EntryType, value: &[u8]| {
        let mut l = tar::Header::new_gnu();
        l.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
        l.set_mode(0o644);
        l.set_uid(0);
        l.set_gid(0);
        l.set_mtime(0);
        l.set_entry_type(kind);
        l.set_size(value.len() as u64 + 1);
        l.set_cksum();
        tar.append(&l, value.iter().copied().chain([0]).collect::<Vec<u8>>().as_slice())
    };
    if name.len() > 100 {
        long(tar, tar::EntryType::GNULongName, name)?;
    }
    if let Some(link) = link.filter(|l| l.len() > 100) {
        long(tar, tar::EntryType::GNULongLink, link)?;
    }
    let old = h.as_old_mut();
    old.name = [0; 100];
    old.name[..name.len().min(100)].copy_from_slice(&name[..name.len().min(100)]);
    old.linkname = [0; 100];
    if let Some(link) = link {
        old.linkname[..link.len().min(100)].copy_from_slice(&link[..link.len().min(100)]);
    }
    h.set_cksum();
    tar.append(h, data)
}

/// `docker cp SRC CONTAINER:DEST`: a file, a directory tree, a symlink or a special file from the
/// host into the container, every destination path resolved inside the container's root.
pub fn copy_in(store: &Store, c: &Container, src: &Path, dest: &str, o: CopyOptions) -> Result<()> {
    use rustix::fs::OFlags;
    let root = mounted_root(store, c)?;
    let src_s = src.to_string_lossy();
    let src_path =
        if o.follow_link { std::fs::canonicalize(src).map_err(io("resolve", src))? } else { src.to_path_buf() };
    let (sparent, sname) = split_last(&src_path.to_string_lossy());
    let sdir = std::fs::File::open(&sparent).map_err(io("open", Path::new(&sparent)))?;
    let sm = std::fs::symlink_metadata(&src_path).map_err(io("stat", src))?;
    let dir_probe = open_in_root(&root, dest, OFlags::RDONLY | OFlags::DIRECTORY, 0);
    let exists = dir_probe.is_ok() || open_in_root(&root, dest, OFlags::PATH | OFlags::NOFOLLOW, 0).is_ok();
    if sm.is_dir() && exists && dir_probe.is_err() {
        return Err(EngineError::Sys(format!("cannot copy directory {src_s} to file {dest}")));
    }
    let (mut dparent, mut dname) = destination(dest, dir_probe.is_ok(), exists, &sname, src_s.ends_with("/."))?;
    // A destination that is a symlink is written through, as Docker does: what it names, resolved
    // inside the root (a link climbing out stops at the root), even when that does not exist yet.
    let mut hops = 0;
    let ddir = loop {
        let ddir = open_in_root(&root, &dparent, OFlags::RDONLY | OFlags::DIRECTORY, 0)?;
        let st = rustix::fs::statat(&ddir, &dname, rustix::fs::AtFlags::SYMLINK_NOFOLLOW);
        if !st.is_ok_and(|st| rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Symlink) {
            break ddir;
        }
        hops += 1;
        if hops > 40 {
            return Err(EngineError::Sys(format!("too many levels of symbolic links at {dest}")));
        }
        let target =
            rustix::fs::readlinkat(&ddir, &dname, Vec::new()).map_err(errno_io("read link", Path::new(dest)))?;
        let target = target.to_string_lossy();
        let next = if target.starts_with('/') { target.into_owned() } else { format!("{dparent}/{target}") };
        (dparent, dname) = split_last(&next);
    };
    copy_entry(sdir.as_fd(), &sname, &dest_dir(ddir), &dname, src, o, &mut Links::new())
}

/// `docker cp - CONTAINER:DEST`: the tar stream `input` (plain, gzip, xz or zstd) extracted into
/// DEST, an existing directory inside the container. The archive is first unpacked into the
/// store's scratch space (tar's own checks keep every entry inside it), then copied in as `cp`
/// copies a tree, every step inside the container's root; existing directories are merged.
/// What it creates belongs to root unless `-a`, which keeps the archive's uid and gid.
pub fn copy_in_tar(
    store: &Store,
    c: &Container,
    input: &mut dyn std::io::Read,
    dest: &str,
    o: CopyOptions,
) -> Result<()> {
    use rustix::fs::OFlags;
    let root = mounted_root(store, c)?;
    let ddir = match open_in_root(&root, dest, OFlags::RDONLY | OFlags::DIRECTORY, 0) {
        Ok(d) => d,
        Err(_) => return Err(EngineError::Sys(format!("destination \"{}:{dest}\" must be a directory", c.name))),
    };
    let scratch = store.tmp_dir().join(format!("cp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).map_err(io("create", &scratch))?;
    let result = (|| {
        let stdin = Path::new("the tar stream on stdin");
        let (_, plain) = skiff_image::compression::decompress(input).map_err(io("read", stdin))?;
        let mut archive = tar::Archive::new(plain);
        archive.set_preserve_permissions(true);
        archive.set_preserve_mtime(true);
        archive.set_preserve_ownerships(o.archive);
        archive.set_unpack_xattrs(false);
        for entry in archive.entries().map_err(io("read", stdin))? {
            let mut entry = entry.map_err(io("read", stdin))?;
            let path = entry.path().map_err(io("read", stdin))?.into_owned();
            // tar would skip an entry that climbs out; Docker refuses the stream. So are entries
            // that would go through a symlink the stream made to somewhere outside it, and hard
            // links to a path outside it (the tar crate refuses both too, but says so only in words).
            let outside = || EngineError::Sys(format!("{} is outside of {dest}", path.display()));
            if path.components().any(|c| c == std::path::Component::ParentDir) {
                return Err(outside());
            }
            if !lands_inside(&scratch, path.parent().unwrap_or(Path::new(""))) {
                return Err(outside());
            }
            if entry.header().entry_type() == tar::EntryType::Link {
                let target = entry.link_name().map_err(io("read", stdin))?.unwrap_or_default().into_owned();
                let climbs = target.components().any(|c| c == std::path::Component::ParentDir);
                if target.is_absolute() || climbs || !lands_inside(&scratch, &target) {
                    return Err(outside());
                }
            }
            entry.unpack_in(&scratch).map_err(|e| EngineError::Io {
                op: "extract",
                path: format!("{} from the tar stream on stdin", path.display()).into(),
                source: e,
            })?;
        }
        let unpacked = std::fs::File::open(&scratch).map_err(io("open", &scratch))?;
        let keep = CopyOptions { archive: true, follow_link: false };
        let (ddir, mut links) = (dest_dir(ddir), Links::new());
        for n in dir_names(unpacked.as_fd(), &scratch)? {
            copy_entry(unpacked.as_fd(), &n, &ddir, &n, Path::new(&n), keep, &mut links)?;
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

/// Whether `rel` under `dir` stays inside `dir` once the symlinks on its way (as far as it exists)
/// are followed; a dangling symlink on the way could lead anywhere, so it does not.
fn lands_inside(dir: &Path, rel: &Path) -> bool {
    let Ok(base) = dir.canonicalize() else { return false };
    let mut p = dir.join(rel);
    loop {
        if let Ok(real) = p.canonicalize() {
            return real.starts_with(&base);
        }
        if p.symlink_metadata().is_ok() || !p.pop() {
            return false;
        }
    }
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
