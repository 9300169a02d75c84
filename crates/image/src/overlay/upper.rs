//! An overlay upper directory (a container's or a RUN step's changes) as an OCI layer: its
//! entries in walk order, parents first and each directory sorted by name, overlay whiteouts
//! (`0:0` character devices) turned into `.wh.NAME` files and opaque directories into a
//! `.wh..wh..opq` entry right after the directory, as Docker's overlay2 driver writes them
//! (moby `pkg/archive`, `overlayWhiteoutConverter`). Files linked more than once become hard
//! links to the first path; xattrs travel except overlay's own. Written by [`crate::layer_tar`].
//!
//! Spec: OCI image spec `layer.md` §"Whiteouts"
//! (<https://github.com/opencontainers/image-spec/blob/main/layer.md#whiteouts>).

use super::markers::{is_opaque, is_overlay_xattr, is_whiteout, whiteout_name, WHITEOUT_OPAQUE, WHITEOUT_PREFIX};
use crate::layer_tar::{EntryData, LayerEntry, TarWriter};
use std::collections::HashMap;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Errors turning an upper directory into a layer.
#[derive(Debug, thiserror::Error)]
pub enum UpperError {
    #[error("{op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: io::Error },
    #[error("writing layer: {0}")]
    Write(io::Error),
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> UpperError + 'a {
    move |source| UpperError::Io { op, path: path.to_path_buf(), source }
}

fn read_xattrs(p: &Path) -> Vec<(String, Vec<u8>)> {
    let mut names = vec![0u8; 4096];
    let Ok(n) = rustix::fs::llistxattr(p, &mut names[..]) else { return Vec::new() };
    let mut out = Vec::new();
    for name in names[..n].split(|&b| b == 0).filter(|s| !s.is_empty()) {
        let Ok(name) = std::str::from_utf8(name) else { continue };
        if is_overlay_xattr(name) {
            continue;
        }
        if !(name.starts_with("security.") || name.starts_with("user.") || name.starts_with("trusted.")) {
            continue;
        }
        let mut val = vec![0u8; 65536];
        if let Ok(len) = rustix::fs::lgetxattr(p, name, &mut val[..]) {
            val.truncate(len);
            out.push((name.to_string(), val));
        }
    }
    out.sort();
    out
}

/// Converts an overlay upper directory into layer entries (OCI whiteouts, hard links kept),
/// leaving out `exclude`d paths (relative, `/`-separated)
/// and everything under them: the mount points a runtime created for a
/// container (`dev`, `proc`, `etc/hosts`, ...), which Docker keeps in a
/// separate init layer so they never reach a commit.
pub fn upper_to_entries_excluding(upper: &Path, exclude: &[String]) -> Result<Vec<LayerEntry>, UpperError> {
    let mut out = Vec::new();
    let mut inodes: HashMap<(u64, u64), String> = HashMap::new();
    walk_upper(upper, "", &mut out, &mut inodes)?;
    if !exclude.is_empty() {
        let ex: Vec<&str> = exclude.iter().map(|e| e.trim_matches('/')).collect();
        // A whiteout stands for the path it deletes.
        let target = |p: &str| -> String {
            let (dir, base) = match p.rsplit_once('/') {
                Some((d, b)) => (Some(d), b),
                None => (None, p),
            };
            match base.strip_prefix(WHITEOUT_PREFIX).filter(|n| !n.starts_with(WHITEOUT_PREFIX)) {
                Some(n) => dir.map(|d| format!("{d}/{n}")).unwrap_or_else(|| n.to_string()),
                None => p.to_string(),
            }
        };
        out.retain(|e| {
            let t = target(&e.path);
            !ex.iter().any(|x| t == *x || t.starts_with(&format!("{x}/")))
        });
        // A directory left empty that holds an excluded path was made for those mount
        // points (Docker keeps such directories in the init layer, under the container's).
        let holders: Vec<String> = ex
            .iter()
            .flat_map(|x| {
                let mut v = Vec::new();
                let mut p = *x;
                while let Some((parent, _)) = p.rsplit_once('/') {
                    v.push(parent.to_string());
                    p = parent;
                }
                v
            })
            .collect();
        loop {
            let before = out.len();
            let paths: Vec<String> = out.iter().map(|e| e.path.clone()).collect();
            out.retain(|e| {
                let empty = !paths.iter().any(|p| p.starts_with(&format!("{}/", e.path)));
                !(e.data == EntryData::Dir && empty && holders.contains(&e.path))
            });
            if out.len() == before {
                break;
            }
        }
    }
    Ok(out)
}

fn walk_upper(
    dir: &Path,
    rel: &str,
    out: &mut Vec<LayerEntry>,
    inodes: &mut HashMap<(u64, u64), String>,
) -> Result<(), UpperError> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map_err(io_err("read directory", dir))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(io_err("read directory", dir))?;
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    for name in names {
        let real = dir.join(&name);
        let name = name.to_string_lossy().into_owned();
        let path = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
        let meta = std::fs::symlink_metadata(&real).map_err(io_err("stat", &real))?;
        if is_whiteout(&meta) {
            let wh = if rel.is_empty() { whiteout_name(&name) } else { format!("{rel}/{}", whiteout_name(&name)) };
            // As Docker's overlay converter writes them: a 0600 empty file.
            out.push(LayerEntry {
                path: wh,
                data: EntryData::Bytes(Vec::new()),
                mode: 0o600,
                uid: u64::from(meta.uid()),
                gid: u64::from(meta.gid()),
                mtime: meta.mtime(),
                xattrs: Vec::new(),
            });
            continue;
        }
        let mut e = LayerEntry::from_fs(path.clone(), &real, &meta).map_err(io_err("read", &real))?;
        e.xattrs = read_xattrs(&real);
        if meta.is_file() && meta.nlink() > 1 {
            let key = (meta.dev(), meta.ino());
            if let Some(first) = inodes.get(&key) {
                e.data = EntryData::Hardlink(first.clone());
            } else {
                inodes.insert(key, path.clone());
            }
        }
        let is_dir = meta.is_dir();
        out.push(e);
        if is_dir {
            if is_opaque(&real) {
                out.push(LayerEntry {
                    path: format!("{path}/{WHITEOUT_OPAQUE}"),
                    data: EntryData::Bytes(Vec::new()),
                    mode: meta.mode() & 0o777,
                    uid: u64::from(meta.uid()),
                    gid: u64::from(meta.gid()),
                    mtime: 0,
                    xattrs: Vec::new(),
                });
            }
            walk_upper(&real, &path, out, inodes)?;
        }
    }
    Ok(())
}

/// Writes an overlay upper directory as an OCI layer tar.
pub fn upper_to_tar<W: Write>(upper: &Path, w: W) -> Result<W, UpperError> {
    upper_to_tar_excluding(upper, w, &[])
}

/// Writes an overlay upper directory as an OCI layer tar, leaving out `exclude`d paths.
pub fn upper_to_tar_excluding<W: Write>(upper: &Path, w: W, exclude: &[String]) -> Result<W, UpperError> {
    let entries = upper_to_entries_excluding(upper, exclude)?;
    // Walk order already puts parents first and is sorted per directory; keep it
    // (a BTreeMap would move `.wh..wh..opq` ahead of its siblings only by byte order).
    let mut t = TarWriter::new(w);
    for e in &entries {
        t.append(e).map_err(UpperError::Write)?;
    }
    t.finish().map_err(UpperError::Write)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overlay::markers::OPAQUE_XATTR;

    fn list(tar_bytes: &[u8]) -> Vec<(String, tar::EntryType, u64, u32, Option<String>)> {
        let mut ar = tar::Archive::new(tar_bytes);
        ar.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    String::from_utf8(e.path_bytes().to_vec()).unwrap(),
                    h.entry_type(),
                    h.size().unwrap(),
                    h.mode().unwrap(),
                    e.link_name().unwrap().map(|l| l.to_string_lossy().into_owned()),
                )
            })
            .collect()
    }

    #[test]
    fn upper_dir_becomes_oci_layer() {
        let t = tempfile::tempdir().unwrap();
        let up = t.path();
        std::fs::create_dir_all(up.join("etc/opq")).unwrap();
        std::fs::write(up.join("etc/new.conf"), b"x=1\n").unwrap();
        std::fs::write(up.join("etc/opq/only"), b"o").unwrap();
        std::fs::hard_link(up.join("etc/new.conf"), up.join("hl")).unwrap();
        std::os::unix::fs::symlink("/etc/new.conf", up.join("link")).unwrap();
        let long = "d".repeat(120);
        std::fs::create_dir_all(up.join(&long)).unwrap();
        std::fs::write(up.join(&long).join("f"), b"deep").unwrap();
        rustix::fs::mknodat(rustix::fs::CWD, up.join("gone"), rustix::fs::FileType::CharacterDevice, 0o644.into(), 0)
            .unwrap();
        rustix::fs::lsetxattr(up.join("etc/opq"), OPAQUE_XATTR, b"y", rustix::fs::XattrFlags::empty()).unwrap();
        let bytes = upper_to_tar(up, Vec::new()).unwrap();
        let l = list(&bytes);
        let names: Vec<&str> = l.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            names,
            vec![
                &format!("{long}/") as &str,
                &format!("{long}/f"),
                "etc/",
                "etc/new.conf",
                "etc/opq/",
                "etc/opq/.wh..wh..opq",
                "etc/opq/only",
                ".wh.gone",
                "hl",
                "link",
            ]
        );
        let hl = l.iter().find(|e| e.0 == "hl").unwrap();
        assert_eq!(hl.1, tar::EntryType::Link);
        assert_eq!(hl.4.as_deref(), Some("etc/new.conf"));
        let link = l.iter().find(|e| e.0 == "link").unwrap();
        assert_eq!(link.4.as_deref(), Some("/etc/new.conf"));
        let get = |n: &str| l.iter().find(|e| e.0 == n).unwrap().clone();
        // Modes as Docker writes them (facts: features.docker.tar's layers).
        assert_eq!(get(".wh.gone").1, tar::EntryType::Regular);
        assert_eq!(get(".wh.gone").3, 0o600);
        assert_eq!(get("etc/opq/.wh..wh..opq").3, 0o755);
        assert_eq!(get("etc/").3, 0o40755);
        assert_eq!(get("link").3, 0o120777);
        // Runtime mount points can be left out.
        let ex = upper_to_entries_excluding(up, &["etc/opq".to_string(), "gone".to_string()]).unwrap();
        let names: Vec<&str> = ex.iter().map(|e| e.path.as_str()).collect();
        assert!(!names.iter().any(|n| n.starts_with("etc/opq") || *n == ".wh.gone"), "{names:?}");
        assert!(names.contains(&"etc/new.conf"));
        // A directory that only held excluded mount points goes too; one with other content stays.
        std::fs::create_dir_all(up.join("mnt/sub")).unwrap();
        std::fs::write(up.join("mnt/sub/hosts"), "").unwrap();
        let ex = upper_to_entries_excluding(up, &["mnt/sub/hosts".to_string(), "etc/new.conf".to_string()]).unwrap();
        let names: Vec<&str> = ex.iter().map(|e| e.path.as_str()).collect();
        assert!(!names.iter().any(|n| n.starts_with("mnt")), "{names:?}");
        assert!(names.contains(&"etc") && names.contains(&"etc/opq"), "{names:?}");
        std::fs::remove_dir_all(up.join("mnt")).unwrap();
        // Deterministic: the same tree gives the same bytes.
        assert_eq!(bytes, upper_to_tar(up, Vec::new()).unwrap());
        // And the image crate's scanner accepts it and sizes it as Docker does.
        let f = tempfile::tempfile().unwrap();
        let mut f2 = f.try_clone().unwrap();
        f2.write_all(&bytes).unwrap();
        let scan = crate::layer_scan::scan_layer(&f).unwrap();
        assert_eq!(scan.size, 4 + 1 + 4 + "/etc/new.conf".len() as u64);
    }
}
