//! Layer tars written the way Docker writes them: a list of [`LayerEntry`]s (COPY/ADD layers,
//! an overlay upper directory, see [`crate::overlay::upper`]) as a tar stream.
//!
//! Output is deterministic: entries in the order given (or sorted by path, parents first, by
//! [`write_entries`]), times from the files (seconds), owners as given, USTAR headers with PAX
//! records for long or non-ASCII names and for extended attributes, the file type bits in the
//! mode field as Go's `archive/tar` writes them for Docker (`fillGo18FileTypeBits`).
//! Formats: POSIX.1-2001 `pax` (<https://pubs.opengroup.org/onlinepubs/9699919799/utilities/pax.html>),
//! OCI image spec `layer.md` (<https://github.com/opencontainers/image-spec/blob/main/layer.md>).

use crate::overlay::markers::WHITEOUT_PREFIX;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

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
        let type_bits = if base.starts_with(WHITEOUT_PREFIX.as_bytes()) || typeflag == b'x' {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_records_count_themselves() {
        let r = pax_record("path", b"abc");
        assert_eq!(r, b"12 path=abc\n");
        let long = vec![b'x'; 95];
        let r = pax_record("path", &long);
        assert_eq!(r.len().to_string(), String::from_utf8_lossy(&r[..3]));
    }
}
