//! Helpers shared by the unpack integration tests: a raw layer-tar writer and an outside-world
//! snapshot to prove nothing beyond the destination changed.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use skiff_image::unpack::{unpack_layer, UnpackError, UnpackOptions, UnpackStats, WhiteoutMode};

/// One entry of a hand-written layer.
pub enum E<'a> {
    Dir(&'a str, u32),
    File(&'a str, &'a [u8], u32),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    Fifo(&'a str, u32),
}

/// Writes a tar header field by field, with no validation of names, so archives the `tar`
/// crate's builder refuses (`..`, absolute names) can be made.
pub fn raw_header(name: &[u8], kind: tar::EntryType, link: &[u8], mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    {
        let old = h.as_old_mut();
        assert!(name.len() <= old.name.len() && link.len() <= old.linkname.len());
        old.name[..name.len()].copy_from_slice(name);
        old.linkname[..link.len()].copy_from_slice(link);
    }
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_600_000_000);
    h.set_size(size);
    h.set_cksum();
    h
}

pub fn layer(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let (h, data): (tar::Header, &[u8]) = match e {
            E::Dir(n, m) => (raw_header(n.as_bytes(), tar::EntryType::Directory, b"", *m, 0), b""),
            E::File(n, d, m) => (raw_header(n.as_bytes(), tar::EntryType::Regular, b"", *m, d.len() as u64), d),
            E::Symlink(n, t) => (raw_header(n.as_bytes(), tar::EntryType::Symlink, t.as_bytes(), 0o777, 0), b""),
            E::Hardlink(n, t) => (raw_header(n.as_bytes(), tar::EntryType::Link, t.as_bytes(), 0o644, 0), b""),
            E::Fifo(n, m) => (raw_header(n.as_bytes(), tar::EntryType::Fifo, b"", *m, 0), b""),
        };
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

/// A temporary directory holding `dest/` (the unpack root) and a `victim/` beside it.
pub struct Sandbox {
    pub tmp: tempfile::TempDir,
    pub dest: PathBuf,
    pub victim: PathBuf,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("dest");
        let victim = tmp.path().join("victim");
        std::fs::create_dir(&dest).unwrap();
        std::fs::create_dir_all(victim.join("dir")).unwrap();
        std::fs::write(victim.join("file"), b"original").unwrap();
        std::fs::set_permissions(victim.join("file"), std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        Sandbox { tmp, dest, victim }
    }

    /// Everything in the sandbox outside `dest`: path → (mode, uid, gid, content or link target).
    pub fn outside(&self) -> BTreeMap<PathBuf, (u32, u32, u32, Vec<u8>)> {
        let mut out = BTreeMap::new();
        snapshot(self.tmp.path(), &self.dest, &mut out);
        out
    }

    /// Applies the layers in order, stopping at the first error.
    pub fn apply(&self, layers: &[Vec<u8>], mode: WhiteoutMode) -> Result<UnpackStats, UnpackError> {
        let opts = UnpackOptions { whiteouts: mode, max_bytes: None, preserve_owner: true };
        let mut last = UnpackStats::default();
        for l in layers {
            last = unpack_layer(&l[..], &self.dest, &opts)?;
        }
        Ok(last)
    }
}

fn snapshot(dir: &Path, skip: &Path, out: &mut BTreeMap<PathBuf, (u32, u32, u32, Vec<u8>)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p == skip {
            continue;
        }
        let md = std::fs::symlink_metadata(&p).unwrap();
        let content = if md.file_type().is_symlink() {
            std::os::unix::ffi::OsStrExt::as_bytes(std::fs::read_link(&p).unwrap().as_os_str()).to_vec()
        } else if md.is_file() {
            std::fs::read(&p).unwrap()
        } else {
            Vec::new()
        };
        out.insert(p.clone(), (md.mode(), md.uid(), md.gid(), content));
        if md.is_dir() {
            snapshot(&p, skip, out);
        }
    }
}
