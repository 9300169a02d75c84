//! Layer tars the builder writes: COPY/ADD layers from a list of entries, and
//! the overlay upper directory of a RUN (or commit) converted to an OCI layer
//! (whiteout character devices `0:0` → `.wh.<name>`, opaque directories →
//! `.wh..wh..opq`).
//!
//! Output is deterministic: entries sorted by path (parents first), times
//! from the files (seconds), owners as given, USTAR headers with PAX records
//! for long names and extended attributes, as Go's `archive/tar` writes them.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Errors writing a layer.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("{op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: io::Error },
    #[error("writing layer: {0}")]
    Write(io::Error),
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> LayerError + 'a {
    move |source| LayerError::Io { op, path: path.to_path_buf(), source }
}

/// What an entry is, and where its content comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryData {
    Dir,
    /// A regular file read from this path.
    File(PathBuf),
    /// A regular file with these bytes.
    Bytes(Vec<u8>),
    Symlink(Vec<u8>),
    /// A hard link to another entry of the layer (its path).
    Hardlink(String),
    Fifo,
    Char(u32, u32),
    Block(u32, u32),
}

/// One entry of a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerEntry {
    /// Path in the image, relative (no leading or trailing `/`).
    pub path: String,
    pub data: EntryData,
    /// Permission bits with setuid/setgid/sticky (`0o7777`).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Seconds since the epoch.
    pub mtime: i64,
    pub xattrs: Vec<(String, Vec<u8>)>,
}

impl LayerEntry {
    /// An entry described by a file's metadata (content read later from `real` for files).
    pub fn from_fs(path: String, real: &Path, meta: &std::fs::Metadata) -> io::Result<LayerEntry> {
        let ft = meta.file_type();
        let data = if ft.is_dir() {
            EntryData::Dir
        } else if ft.is_symlink() {
            EntryData::Symlink(std::fs::read_link(real)?.as_os_str().as_bytes().to_vec())
        } else if ft.is_fifo() {
            EntryData::Fifo
        } else if ft.is_char_device() {
            EntryData::Char(major(meta.rdev()), minor(meta.rdev()))
        } else if ft.is_block_device() {
            EntryData::Block(major(meta.rdev()), minor(meta.rdev()))
        } else if ft.is_socket() {
            return Err(io::Error::new(io::ErrorKind::Unsupported, "sockets cannot be stored in a layer"));
        } else {
            EntryData::File(real.to_path_buf())
        };
        Ok(LayerEntry {
            path,
            data,
            mode: meta.mode() & 0o7777,
            uid: u64::from(meta.uid()),
            gid: u64::from(meta.gid()),
            mtime: meta.mtime(),
            xattrs: Vec::new(),
        })
    }
}

fn major(dev: u64) -> u32 {
    (((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0x0000_0fff)) as u32
}

fn minor(dev: u64) -> u32 {
    (((dev >> 12) & 0xffff_ff00) | (dev & 0x0000_00ff)) as u32
}

/// Writes tar entries the way Go's `archive/tar` does for Docker layers.
pub struct TarWriter<W: Write> {
    w: W,
}

fn octal(field: &mut [u8], v: u64) -> bool {
    let digits = field.len() - 1;
    let s = format!("{v:0digits$o}");
    if s.len() > digits {
        return false;
    }
    field[..digits].copy_from_slice(s.as_bytes());
    field[digits] = 0;
    true
}

fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    // "%d %s=%s\n" where %d counts the whole record, itself included.
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut n = body + 1;
    while n.to_string().len() + body != n {
        n = n.to_string().len() + body;
    }
    let mut r = format!("{n} {key}=").into_bytes();
    r.extend_from_slice(value);
    r.push(b'\n');
    r
}

impl<W: Write> TarWriter<W> {
    pub fn new(w: W) -> TarWriter<W> {
        TarWriter { w }
    }

    fn header(name: &[u8], typeflag: u8, e: &LayerEntry, size: u64, link: &[u8]) -> ([u8; 512], bool) {
        let mut h = [0u8; 512];
        let mut fits = name.len() <= 100 && link.len() <= 100;
        let n = name.len().min(100);
        h[..n].copy_from_slice(&name[..n]);
        // Docker's archive writes the file type bits into the mode field too
        // (`fillGo18FileTypeBits`); its whiteout markers carry permissions only.
        let base = name.rsplit(|&b| b == b'/').find(|s| !s.is_empty()).unwrap_or(b"");
        let type_bits = if base.starts_with(b".wh.") || typeflag == b'x' {
            0
        } else {
            match e.data {
                EntryData::Dir => 0o040000,
                EntryData::File(_) | EntryData::Bytes(_) | EntryData::Hardlink(_) => 0o100000,
                EntryData::Symlink(_) => 0o120000,
                EntryData::Fifo => 0o010000,
                EntryData::Char(..) => 0o020000,
                EntryData::Block(..) => 0o060000,
            }
        };
        fits &= octal(&mut h[100..108], u64::from(e.mode | type_bits));
        fits &= octal(&mut h[108..116], e.uid);
        fits &= octal(&mut h[116..124], e.gid);
        fits &= octal(&mut h[124..136], size);
        fits &= octal(&mut h[136..148], e.mtime.max(0) as u64);
        h[156] = typeflag;
        let l = link.len().min(100);
        h[157..157 + l].copy_from_slice(&link[..l]);
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        let (maj, min) = match e.data {
            EntryData::Char(a, b) | EntryData::Block(a, b) => (a, b),
            _ => (0, 0),
        };
        octal(&mut h[329..337], u64::from(maj));
        octal(&mut h[337..345], u64::from(min));
        (h, fits)
    }

    fn checksum(h: &mut [u8; 512]) {
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        let s = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(s.as_bytes());
    }

    fn pad(&mut self, size: u64) -> io::Result<()> {
        let rem = (512 - (size % 512) as usize) % 512;
        self.w.write_all(&[0u8; 512][..rem])
    }

    /// Appends one entry; file content comes from `EntryData`.
    pub fn append(&mut self, e: &LayerEntry) -> io::Result<()> {
        let mut name = e.path.clone().into_bytes();
        let (typeflag, link): (u8, Vec<u8>) = match &e.data {
            EntryData::Dir => {
                name.push(b'/');
                (b'5', Vec::new())
            }
            EntryData::File(_) | EntryData::Bytes(_) => (b'0', Vec::new()),
            EntryData::Symlink(t) => (b'2', t.clone()),
            EntryData::Hardlink(t) => (b'1', t.clone().into_bytes()),
            EntryData::Fifo => (b'6', Vec::new()),
            EntryData::Char(..) => (b'3', Vec::new()),
            EntryData::Block(..) => (b'4', Vec::new()),
        };
        let mut file = None;
        let size = match &e.data {
            EntryData::File(p) => {
                let f = File::open(p)?;
                let len = f.metadata()?.len();
                file = Some(f);
                len
            }
            EntryData::Bytes(b) => b.len() as u64,
            _ => 0,
        };
        let (mut h, fits) = Self::header(&name, typeflag, e, size, &link);
        if !fits || !e.xattrs.is_empty() || !name.is_ascii() || !link.is_ascii() {
            let mut records = Vec::new();
            if name.len() > 100 || !name.is_ascii() {
                records.extend(pax_record("path", &name));
            }
            if link.len() > 100 || !link.is_ascii() {
                records.extend(pax_record("linkpath", &link));
            }
            if size >= 0o77777777777 {
                records.extend(pax_record("size", size.to_string().as_bytes()));
            }
            for (k, v) in &e.xattrs {
                records.extend(pax_record(&format!("SCHILY.xattr.{k}"), v));
            }
            if !records.is_empty() {
                let base = name.rsplit(|&b| b == b'/').find(|s| !s.is_empty()).unwrap_or(b"x");
                let mut pax_name = b"PaxHeaders.0/".to_vec();
                pax_name.extend_from_slice(base);
                pax_name.truncate(100);
                let mut pe = e.clone();
                pe.data = EntryData::Bytes(Vec::new());
                let (mut ph, _) = Self::header(&pax_name, b'x', &pe, records.len() as u64, b"");
                Self::checksum(&mut ph);
                self.w.write_all(&ph)?;
                self.w.write_all(&records)?;
                self.pad(records.len() as u64)?;
            }
        }
        Self::checksum(&mut h);
        self.w.write_all(&h)?;
        match (&e.data, file) {
            (EntryData::File(p), Some(f)) => {
                let n = io::copy(&mut f.take(size), &mut self.w)?;
                if n != size {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("{} changed size while being read", p.display()),
                    ));
                }
            }
            (EntryData::Bytes(b), _) => self.w.write_all(b)?,
            _ => {}
        }
        self.pad(size)
    }

    /// Writes the end-of-archive marker and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.w.write_all(&[0u8; 1024])?;
        Ok(self.w)
    }
}

/// Writes entries (sorted by path, a later entry for a path replacing an earlier one) as a tar.
/// Files read from disk that share an inode are written once, the later paths as hard links to the first.
pub fn write_entries<W: Write>(entries: Vec<LayerEntry>, w: W) -> io::Result<W> {
    let mut sorted: BTreeMap<String, LayerEntry> = BTreeMap::new();
    for e in entries {
        sorted.insert(e.path.clone(), e);
    }
    let mut seen: HashMap<(u64, u64), String> = HashMap::new();
    let mut t = TarWriter::new(w);
    for e in sorted.values_mut() {
        if let EntryData::File(p) = &e.data {
            let m = std::fs::metadata(p)?;
            if m.nlink() > 1 {
                match seen.get(&(m.dev(), m.ino())) {
                    Some(first) => e.data = EntryData::Hardlink(first.clone()),
                    None => {
                        seen.insert((m.dev(), m.ino()), e.path.clone());
                    }
                }
            }
        }
        t.append(e)?;
    }
    t.finish()
}

fn read_xattrs(p: &Path) -> Vec<(String, Vec<u8>)> {
    let mut names = vec![0u8; 4096];
    let Ok(n) = rustix::fs::llistxattr(p, &mut names[..]) else { return Vec::new() };
    let mut out = Vec::new();
    for name in names[..n].split(|&b| b == 0).filter(|s| !s.is_empty()) {
        let Ok(name) = std::str::from_utf8(name) else { continue };
        // Overlay's own attributes never go into a layer.
        if name.starts_with("trusted.overlay.") || name.starts_with("user.overlay.") {
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

/// Whether a directory carries overlay's opaque marker.
pub fn is_opaque(p: &Path) -> bool {
    for key in ["trusted.overlay.opaque", "user.overlay.opaque"] {
        let mut v = [0u8; 4];
        if let Ok(n) = rustix::fs::lgetxattr(p, key, &mut v[..]) {
            if &v[..n] == b"y" {
                return true;
            }
        }
    }
    false
}

/// Whether a file is an overlay whiteout (a character device 0:0).
pub fn is_whiteout(meta: &std::fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// Converts an overlay upper directory into layer entries (OCI whiteouts, hard links kept).
pub fn upper_to_entries(upper: &Path) -> Result<Vec<LayerEntry>, LayerError> {
    upper_to_entries_excluding(upper, &[])
}

/// Like [`upper_to_entries`], leaving out `exclude`d paths (relative, `/`-separated)
/// and everything under them: the mount points a runtime created for a
/// container (`dev`, `proc`, `etc/hosts`, ...), which Docker keeps in a
/// separate init layer so they never reach a commit.
pub fn upper_to_entries_excluding(upper: &Path, exclude: &[String]) -> Result<Vec<LayerEntry>, LayerError> {
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
            match base.strip_prefix(".wh.").filter(|n| !n.starts_with(".wh.")) {
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
) -> Result<(), LayerError> {
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
            let wh = if rel.is_empty() { format!(".wh.{name}") } else { format!("{rel}/.wh.{name}") };
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
                    path: format!("{path}/.wh..wh..opq"),
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
pub fn upper_to_tar<W: Write>(upper: &Path, w: W) -> Result<W, LayerError> {
    upper_to_tar_excluding(upper, w, &[])
}

/// Writes an overlay upper directory as an OCI layer tar, leaving out `exclude`d paths.
pub fn upper_to_tar_excluding<W: Write>(upper: &Path, w: W, exclude: &[String]) -> Result<W, LayerError> {
    let entries = upper_to_entries_excluding(upper, exclude)?;
    // Walk order already puts parents first and is sorted per directory; keep it
    // (a BTreeMap would move `.wh..wh..opq` ahead of its siblings only by byte order).
    let mut t = TarWriter::new(w);
    for e in &entries {
        t.append(e).map_err(LayerError::Write)?;
    }
    t.finish().map_err(LayerError::Write)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        rustix::fs::lsetxattr(up.join("etc/opq"), "trusted.overlay.opaque", b"y", rustix::fs::XattrFlags::empty())
            .unwrap();
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
        let scan = skiff_image::layer_scan::scan_layer(&f).unwrap();
        assert_eq!(scan.size, 4 + 1 + 4 + "/etc/new.conf".len() as u64);
    }

    #[test]
    fn pax_records_count_themselves() {
        let r = pax_record("path", b"abc");
        assert_eq!(r, b"12 path=abc\n");
        let long = vec![b'x'; 95];
        let r = pax_record("path", &long);
        assert_eq!(r.len().to_string(), String::from_utf8_lossy(&r[..3]));
    }
}
