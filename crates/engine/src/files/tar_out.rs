//! `docker cp CONTAINER:SRC -`: a tree inside a container as a tar stream, written as Docker's
//! daemon writes it (owner names from the host, directories ending in `/`, GNU long names).

use super::cp::{no_such_file, source};
use super::CopyOptions;
use super::{dir_names, errno_io, io, Result};
use crate::record::Container;
use skiff_image::Store;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// `docker cp CONTAINER:SRC -`: SRC (resolved inside the container's root) as a tar stream on
/// `out`, named from its own name down (`SRC/.`: its contents, the directory itself as `./`). Nothing is followed
/// inside a tree; files linked more than once inside it become hard links to the first.
pub fn copy_out_tar(store: &Store, c: &Container, src: &str, out: &mut dyn Write, o: CopyOptions) -> Result<()> {
    let (sdir, sname) = source(store, c, src, o)?;
    rustix::fs::statat(&sdir, &sname, rustix::fs::AtFlags::SYMLINK_NOFOLLOW).map_err(|e| no_such_file(src, c, e))?;
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
