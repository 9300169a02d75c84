//! `docker cp` between the host and a container: files, trees, symlinks and special files, and
//! tar streams into a container; every container path resolved inside its root.

use super::tree::{copy_entry, dest_dir, Links};
use super::{dir_names, errno_io, io, mounted_root, open_in_root, CopyOptions, FilesError, Result};
use crate::record::Container;
use skiff_image::Store;
use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;

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
        return Err(FilesError::NoDestinationDirectory(dest.to_string()));
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
/// Docker's "Could not find the file" for `src` in `c`, with what failed.
pub(super) fn no_such_file(src: &str, c: &Container, e: impl std::error::Error + Send + Sync + 'static) -> FilesError {
    FilesError::NoSuchFile { path: src.to_string(), container: c.name.clone(), source: Box::new(e) }
}

pub(super) fn source(
    store: &Store,
    c: &Container,
    src: &str,
    o: CopyOptions,
) -> Result<(std::os::fd::OwnedFd, std::ffi::OsString)> {
    use rustix::fs::OFlags;
    let root = mounted_root(store, c)?;
    let (sparent, sname) = split_last(src);
    let sdir =
        open_in_root(&root, &sparent, OFlags::RDONLY | OFlags::DIRECTORY, 0).map_err(|e| no_such_file(src, c, e))?;
    if !o.follow_link {
        return Ok((sdir.into(), sname));
    }
    // -L: the source itself may be a symlink; resolve it inside the root, then copy what it names.
    let f = open_in_root(&root, src, OFlags::PATH, 0)?;
    let real = std::fs::read_link(format!("/proc/self/fd/{}", f.as_raw_fd())).map_err(io("resolve", Path::new(src)))?;
    let rel = real.strip_prefix(&root).map_err(|_| FilesError::ResolvesOutside(src.to_string()))?;
    let (p, n) = split_last(&format!("/{}", rel.display()));
    Ok((open_in_root(&root, &p, OFlags::RDONLY | OFlags::DIRECTORY, 0)?.into(), n))
}

/// `docker cp CONTAINER:SRC DEST`: a file, a directory tree, a symlink or a special file, from the
/// container (resolved inside its root) to the host.
pub fn copy_out(store: &Store, c: &Container, src: &str, dest: &Path, o: CopyOptions) -> Result<()> {
    let (sdir, sname) = source(store, c, src, o)?;
    let st = rustix::fs::statat(&sdir, &sname, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| no_such_file(src, c, e))?;
    let src_is_dir = rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory;
    let dest_s = dest.to_string_lossy();
    let dm = std::fs::metadata(dest).ok();
    if src_is_dir && dm.as_ref().is_some_and(|m| !m.is_dir()) {
        return Err(FilesError::DirectoryToFile { src: src.to_string(), dest: dest_s.into_owned() });
    }
    let contents_only = src.ends_with("/.");
    let (dparent, dname) =
        destination(&dest_s, dm.as_ref().is_some_and(|m| m.is_dir()), dm.is_some(), &sname, contents_only)?;
    let ddir = dest_dir(std::fs::File::open(&dparent).map_err(io("open", Path::new(&dparent)))?);
    copy_entry(sdir.as_fd(), &sname, &ddir, &dname, Path::new(src), o, &mut Links::new())
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
        return Err(FilesError::DirectoryToFile { src: src_s.into_owned(), dest: dest.to_string() });
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
            return Err(FilesError::SymlinkLoop(dest.to_string()));
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
        Err(_) => {
            return Err(FilesError::DestinationNotDirectory { container: c.name.clone(), dest: dest.to_string() })
        }
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
            let outside = || FilesError::OutsideDestination { path: path.clone(), dest: dest.to_string() };
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
            entry.unpack_in(&scratch).map_err(|e| FilesError::Io {
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
