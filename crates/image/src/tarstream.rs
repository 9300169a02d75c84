//! A bounded, streaming tar entry reader for untrusted archives.
//!
//! [`TarStream`] owns the underlying reader and walks it entry by entry. The `tar` crate parses the
//! headers (ustar, GNU long names/links, PAX extended headers), but only ever sees the bytes of one
//! entry's metadata at a time: for every entry a fresh [`tar::Archive`] is built on a budgeted
//! reader, asked for exactly one entry, and dropped. Every byte it reads is therefore header, PAX or
//! GNU long-name metadata, and once that exceeds [`METADATA_LIMIT`] the read fails, so a 64 MiB PAX
//! record is rejected after at most about 1 MiB has been buffered. The entry's data is then read by
//! [`TarEntry`] straight from the underlying reader, counted against the entry's size, so an archive
//! that ends early is an error naming the entry, never a silent short file.
//!
//! Nothing here touches the filesystem; see [`crate::unpack`] for that. Formats: POSIX.1-2001
//! `pax` (IEEE Std 1003.1, `pax` utility, "ustar Interchange Format" and "pax Extended Header") and
//! GNU tar's `L`/`K` long-name extensions. GNU sparse entries are rejected.

use std::io::{self, Read};
use std::path::PathBuf;

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

/// Most bytes of header, PAX and GNU long-name metadata accepted for one entry.
pub const METADATA_LIMIT: u64 = 1024 * 1024;

const BLOCK: u64 = 512;

/// What went wrong while reading a tar archive; every variant names the entry concerned.
#[derive(Debug, thiserror::Error)]
pub enum TarStreamError {
    /// A header (or the PAX/GNU metadata in front of it) could not be parsed or read.
    #[error("bad tar header after {after} (archive offset {offset}): {source}")]
    Header {
        /// The path of the previous entry, or `start of archive`.
        after: String,
        /// Offset in the archive at which the header begins.
        offset: u64,
        /// What the parser reported.
        source: io::Error,
    },
    /// The metadata in front of one entry is larger than [`METADATA_LIMIT`].
    #[error("tar metadata after {after} (archive offset {offset}) exceeds {limit} bytes")]
    MetadataTooLarge {
        /// The path of the previous entry, or `start of archive`.
        after: String,
        /// Offset in the archive at which the header begins.
        offset: u64,
        /// The limit.
        limit: u64,
    },
    /// The archive ended in the middle of an entry's data or padding.
    #[error("truncated archive: entry {path} ends after {read} of {size} bytes")]
    Truncated {
        /// The entry's path.
        path: String,
        /// How many data bytes were available.
        read: u64,
        /// The size the header announced.
        size: u64,
    },
    /// Reading an entry's data failed.
    #[error("reading data of tar entry {path}: {source}")]
    Read {
        /// The entry's path.
        path: String,
        /// The underlying error.
        source: io::Error,
    },
    /// A GNU sparse entry, which this reader does not support.
    #[error("unsupported gnu sparse tar entry {path}")]
    Sparse {
        /// The entry's path.
        path: String,
    },
}

/// The type of a tar entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// Regular file (`0`, NUL, or contiguous `7`).
    File,
    /// Directory (`5`, or an old-style regular entry whose name ends in `/`).
    Dir,
    /// Symbolic link (`2`).
    Symlink,
    /// Hard link to an earlier entry (`1`).
    Hardlink,
    /// Character device (`3`).
    Char,
    /// Block device (`4`).
    Block,
    /// Named pipe (`6`).
    Fifo,
    /// Anything else, e.g. a PAX global header (`g`); the type flag byte.
    Other(u8),
}

/// Owned metadata of the current entry.
#[derive(Debug, Clone)]
struct EntryMeta {
    path: Vec<u8>,
    link: Option<Vec<u8>>,
    kind: EntryKind,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    mtime_nsec: u32,
    size: u64,
    dev_major: u32,
    dev_minor: u32,
    xattrs: Vec<(String, Vec<u8>)>,
}

impl EntryMeta {
    fn display_path(&self) -> String {
        String::from_utf8_lossy(&self.path).into_owned()
    }
}

/// State of the entry being read: its metadata and how much of its data and padding is left.
struct Current {
    meta: EntryMeta,
    remaining: u64,
    padding: u64,
}

/// Reads tar entries one at a time from an untrusted stream with bounded memory.
pub struct TarStream<R: Read> {
    reader: R,
    offset: u64,
    current: Option<Current>,
    last_path: Option<String>,
    done: bool,
}

/// A reader that lets at most `limit` bytes through, then fails and remembers it did.
struct Budgeted<'a, R: Read> {
    inner: &'a mut R,
    used: u64,
    limit: u64,
    exceeded: bool,
}

impl<R: Read> Read for Budgeted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.used >= self.limit {
            self.exceeded = true;
            return Err(io::Error::other("tar metadata too large"));
        }
        let room = (self.limit - self.used).min(buf.len() as u64) as usize;
        let n = self.inner.read(&mut buf[..room])?;
        self.used += n as u64;
        Ok(n)
    }
}

impl<R: Read> TarStream<R> {
    /// Wraps `reader`, which must be positioned at the start of a tar archive.
    pub fn new(reader: R) -> Self {
        TarStream {
            reader,
            offset: 0,
            current: None,
            last_path: None,
            done: false,
        }
    }

    /// Bytes of the archive consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Gives back the underlying reader.
    pub fn into_inner(self) -> R {
        self.reader
    }

    /// The next entry, or `None` at the end of the archive. Drains the previous entry's unread data first.
    pub fn next_entry(&mut self) -> Result<Option<TarEntry<'_, R>>, TarStreamError> {
        self.drain_current()?;
        if self.done {
            return Ok(None);
        }
        let Some(meta) = self.read_meta()? else {
            self.done = true;
            return Ok(None);
        };
        let size = meta.size;
        self.last_path = Some(meta.display_path());
        self.current = Some(Current {
            meta,
            remaining: size,
            padding: (BLOCK - size % BLOCK) % BLOCK,
        });
        let TarStream {
            reader,
            offset,
            current,
            ..
        } = self;
        let cur = current.as_mut().expect("just set");
        Ok(Some(TarEntry {
            meta: &cur.meta,
            remaining: &mut cur.remaining,
            reader,
            offset,
        }))
    }

    /// Reads and discards everything left in the underlying reader, including the end-of-archive
    /// blocks and any record padding, so a digest computed over the stream covers all of it.
    /// Returns how many bytes were discarded after the last entry.
    pub fn drain_to_end(&mut self) -> Result<u64, TarStreamError> {
        self.drain_current()?;
        self.done = true;
        let mut buf = [0u8; 16 * 1024];
        let mut total = 0u64;
        loop {
            match self.reader.read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(n) => {
                    total += n as u64;
                    self.offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(TarStreamError::Read {
                        path: "end of archive".to_string(),
                        source,
                    })
                }
            }
        }
    }

    /// Reads and discards what is left of the current entry (data and block padding).
    fn drain_current(&mut self) -> Result<(), TarStreamError> {
        let Some(cur) = self.current.take() else {
            return Ok(());
        };
        let mut buf = [0u8; 16 * 1024];
        let total = cur.remaining + cur.padding;
        let mut left = total;
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            let n = match self.reader.read(&mut buf[..want]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(TarStreamError::Read {
                        path: cur.meta.display_path(),
                        source: e,
                    })
                }
            };
            if n == 0 {
                let consumed = total - left;
                let data_read = cur.meta.size - cur.remaining + consumed.min(cur.remaining);
                return Err(TarStreamError::Truncated {
                    path: cur.meta.display_path(),
                    read: data_read,
                    size: cur.meta.size,
                });
            }
            left -= n as u64;
            self.offset += n as u64;
        }
        Ok(())
    }

    /// Parses the headers of the next entry with the `tar` crate, within the metadata budget.
    fn read_meta(&mut self) -> Result<Option<EntryMeta>, TarStreamError> {
        let after = self
            .last_path
            .clone()
            .unwrap_or_else(|| "start of archive".to_string());
        let start = self.offset;
        let mut archive = tar::Archive::new(Budgeted {
            inner: &mut self.reader,
            used: 0,
            // Room for the header blocks themselves on top of the metadata payload.
            limit: METADATA_LIMIT + 16 * BLOCK,
            exceeded: false,
        });
        let parsed = parse_one(&mut archive);
        let budget = archive.into_inner();
        self.offset += budget.used;
        if budget.exceeded {
            return Err(TarStreamError::MetadataTooLarge {
                after,
                offset: start,
                limit: METADATA_LIMIT,
            });
        }
        match parsed {
            Ok(Some(meta)) => {
                if meta.kind == EntryKind::Other(b'S') {
                    return Err(TarStreamError::Sparse {
                        path: meta.display_path(),
                    });
                }
                Ok(Some(meta))
            }
            Ok(None) => Ok(None),
            Err(source) => Err(TarStreamError::Header {
                after,
                offset: start,
                source,
            }),
        }
    }
}

/// Reads exactly one (non-extension) entry's headers from a fresh archive and copies its metadata out.
fn parse_one<R: Read>(archive: &mut tar::Archive<R>) -> io::Result<Option<EntryMeta>> {
    let mut entries = archive.entries()?;
    let Some(entry) = entries.next() else {
        return Ok(None);
    };
    let mut entry = entry?;
    let header = entry.header();
    let type_byte = header.entry_type().as_byte();
    let path = entry.path_bytes().into_owned();
    let link = entry.link_name_bytes().map(|l| l.into_owned());
    let kind = match type_byte {
        b'0' | b'7' => EntryKind::File,
        b'\0' if path.ends_with(b"/") => EntryKind::Dir,
        b'\0' => EntryKind::File,
        b'1' => EntryKind::Hardlink,
        b'2' => EntryKind::Symlink,
        b'3' => EntryKind::Char,
        b'4' => EntryKind::Block,
        b'5' => EntryKind::Dir,
        b'6' => EntryKind::Fifo,
        other => EntryKind::Other(other),
    };
    let old = header.as_old();
    let mode = lenient(header.mode(), &old.mode)? & 0o7777;
    let uid = lenient(header.uid(), &old.uid)?;
    let gid = lenient(header.gid(), &old.gid)?;
    let mut mtime = lenient(header.mtime(), &old.mtime)?;
    // Device numbers only mean something for device entries; other writers leave them blank.
    let (dev_major, dev_minor) = if matches!(kind, EntryKind::Char | EntryKind::Block) {
        (
            header.device_major()?.unwrap_or(0),
            header.device_minor()?.unwrap_or(0),
        )
    } else {
        (0, 0)
    };
    let size = entry.size();
    let mut mtime_nsec = 0;
    let mut xattrs = Vec::new();
    // A `g`/`x` entry returned as such would make `pax_extensions` read its data: only ask for
    // the extensions that preceded an ordinary entry.
    if !matches!(type_byte, b'g' | b'x') {
        if let Some(exts) = entry.pax_extensions()? {
            for ext in exts {
                let ext = ext?;
                let key = ext.key_bytes();
                if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                    xattrs.push((
                        String::from_utf8_lossy(name).into_owned(),
                        ext.value_bytes().to_vec(),
                    ));
                } else if key == b"mtime" {
                    if let Some((secs, nsec)) = parse_pax_time(ext.value_bytes()) {
                        mtime = secs;
                        mtime_nsec = nsec;
                    }
                }
            }
        }
    }
    Ok(Some(EntryMeta {
        path,
        link,
        kind,
        mode,
        uid,
        gid,
        mtime,
        mtime_nsec,
        size,
        dev_major,
        dev_minor,
        xattrs,
    }))
}

/// A numeric header field, where a field of only NULs and spaces means 0 (as GNU tar and Go read it).
fn lenient<T: Default>(parsed: io::Result<T>, raw: &[u8]) -> io::Result<T> {
    match parsed {
        Ok(v) => Ok(v),
        Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Ok(T::default()),
        Err(e) => Err(e),
    }
}

/// Parses a PAX time value `SECONDS[.FRACTION]`; negative times are clamped to 0.
fn parse_pax_time(v: &[u8]) -> Option<(u64, u32)> {
    let s = std::str::from_utf8(v).ok()?;
    if s.starts_with('-') {
        return Some((0, 0));
    }
    let (secs, frac) = match s.split_once('.') {
        Some((a, b)) => (a, b),
        None => (s, ""),
    };
    let secs: u64 = secs.parse().ok()?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut digits: String = frac.chars().take(9).collect();
    while digits.len() < 9 {
        digits.push('0');
    }
    Some((secs, digits.parse().ok()?))
}

/// One entry of a [`TarStream`]; reading it yields the entry's data.
pub struct TarEntry<'a, R> {
    meta: &'a EntryMeta,
    remaining: &'a mut u64,
    reader: &'a mut R,
    offset: &'a mut u64,
}

impl<R> TarEntry<'_, R> {
    /// The entry's path as stored (PAX `path` and GNU long names honoured), bytes mapped to a path
    /// without any cleaning.
    pub fn path(&self) -> Result<PathBuf, TarStreamError> {
        Ok(PathBuf::from(OsString::from_vec(self.meta.path.clone())))
    }

    /// The raw bytes of the entry's path.
    pub fn path_bytes(&self) -> &[u8] {
        &self.meta.path
    }

    /// The entry's path for messages (lossy UTF-8).
    pub fn display_path(&self) -> String {
        self.meta.display_path()
    }

    /// Link target of a symlink or hardlink (PAX `linkpath` and GNU long links honoured).
    pub fn link_name(&self) -> Option<PathBuf> {
        self.meta
            .link
            .as_ref()
            .map(|l| PathBuf::from(OsString::from_vec(l.clone())))
    }

    /// Raw bytes of the link target.
    pub fn link_name_bytes(&self) -> Option<&[u8]> {
        self.meta.link.as_deref()
    }

    /// The entry's type.
    pub fn kind(&self) -> EntryKind {
        self.meta.kind
    }

    /// Permission bits including setuid/setgid/sticky (`mode & 0o7777`).
    pub fn mode(&self) -> u32 {
        self.meta.mode
    }

    /// Owner uid (PAX `uid` honoured).
    pub fn uid(&self) -> u64 {
        self.meta.uid
    }

    /// Owner gid (PAX `gid` honoured).
    pub fn gid(&self) -> u64 {
        self.meta.gid
    }

    /// Modification time in seconds since the epoch (PAX `mtime` honoured).
    pub fn mtime(&self) -> u64 {
        self.meta.mtime
    }

    /// Nanoseconds part of the modification time, when a PAX `mtime` gives one, else 0.
    pub fn mtime_nsec(&self) -> u32 {
        self.meta.mtime_nsec
    }

    /// Size of the entry's data (PAX `size` honoured).
    pub fn size(&self) -> u64 {
        self.meta.size
    }

    /// Device major number (0 when absent).
    pub fn device_major(&self) -> u32 {
        self.meta.dev_major
    }

    /// Device minor number (0 when absent).
    pub fn device_minor(&self) -> u32 {
        self.meta.dev_minor
    }

    /// Extended attributes from PAX `SCHILY.xattr.NAME` records, in archive order.
    pub fn xattrs(&self) -> Vec<(String, Vec<u8>)> {
        self.meta.xattrs.clone()
    }
}

impl<R: Read> Read for TarEntry<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if *self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = (*self.remaining).min(buf.len() as u64) as usize;
        let n = self.reader.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                TarStreamError::Truncated {
                    path: self.meta.display_path(),
                    read: self.meta.size - *self.remaining,
                    size: self.meta.size,
                },
            ));
        }
        *self.remaining -= n as u64;
        *self.offset += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(path: &str, kind: tar::EntryType, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_path(path).unwrap();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        h
    }

    fn collect(data: &[u8]) -> Result<Vec<(String, EntryKind, Vec<u8>)>, TarStreamError> {
        let mut ts = TarStream::new(data);
        let mut out = Vec::new();
        while let Some(mut e) = ts.next_entry()? {
            let mut buf = Vec::new();
            e.read_to_end(&mut buf)
                .map_err(|source| TarStreamError::Read {
                    path: e.display_path(),
                    source,
                })?;
            out.push((e.display_path(), e.kind(), buf));
        }
        Ok(out)
    }

    #[test]
    fn reads_normal_archive_and_drains_unread_data() {
        let mut b = tar::Builder::new(Vec::new());
        b.append(&header("dir/", tar::EntryType::Directory, 0), &[][..])
            .unwrap();
        b.append(&header("dir/a", tar::EntryType::Regular, 5), &b"hello"[..])
            .unwrap();
        b.append(
            &header("dir/b", tar::EntryType::Regular, 700),
            &[7u8; 700][..],
        )
        .unwrap();
        let mut l = header("dir/l", tar::EntryType::Symlink, 0);
        l.set_link_name("a").unwrap();
        l.set_cksum();
        b.append(&l, &[][..]).unwrap();
        let data = b.into_inner().unwrap();

        let got = collect(&data).unwrap();
        assert_eq!(got.len(), 4);
        assert_eq!(got[0].0, "dir/");
        assert_eq!(got[0].1, EntryKind::Dir);
        assert_eq!(got[1].2, b"hello");
        assert_eq!(got[2].2, vec![7u8; 700]);
        assert_eq!(got[3].1, EntryKind::Symlink);

        // Skipping data without reading it still lands on the next header.
        let mut ts = TarStream::new(&data[..]);
        let mut names = Vec::new();
        while let Some(e) = ts.next_entry().unwrap() {
            names.push(e.display_path());
            if e.kind() == EntryKind::Symlink {
                assert_eq!(e.link_name().unwrap(), PathBuf::from("a"));
            }
        }
        assert_eq!(names, ["dir/", "dir/a", "dir/b", "dir/l"]);
        // The stream stops at the first zero block; the rest is drained on request.
        assert_eq!(ts.offset(), data.len() as u64 - 512);
        assert_eq!(ts.drain_to_end().unwrap(), 512);
        assert_eq!(ts.offset(), data.len() as u64);
    }

    #[test]
    fn gnu_long_names_and_links() {
        let long = format!("{}/{}", "d".repeat(120), "f".repeat(120));
        let target = format!("{}/{}", "t".repeat(150), "x");
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o600);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, &long, &b"abc"[..]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "sym", &target).unwrap();
        let data = b.into_inner().unwrap();

        let mut ts = TarStream::new(&data[..]);
        let e = ts.next_entry().unwrap().unwrap();
        assert_eq!(e.path().unwrap(), PathBuf::from(&long));
        assert_eq!(e.mode(), 0o600);
        let e = ts.next_entry().unwrap().unwrap();
        assert_eq!(e.link_name().unwrap(), PathBuf::from(&target));
        assert!(ts.next_entry().unwrap().is_none());
    }

    fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
        // "LEN key=value\n" where LEN counts itself.
        let body_len = 1 + key.len() + 1 + value.len() + 1;
        let mut len = body_len + 1;
        while format!("{len}").len() + body_len != len {
            len += 1;
        }
        let mut out = format!("{len} {key}=").into_bytes();
        out.extend_from_slice(value);
        out.push(b'\n');
        out
    }

    fn append_pax(b: &mut tar::Builder<Vec<u8>>, records: &[u8]) {
        let mut h = tar::Header::new_ustar();
        h.set_path("PaxHeaders/x").unwrap();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_size(records.len() as u64);
        h.set_cksum();
        b.append(&h, records).unwrap();
    }

    #[test]
    fn pax_path_times_owner_and_xattrs() {
        let name = "ünïcødé/".repeat(20) + "name.txt";
        let mut recs = pax_record("path", name.as_bytes());
        recs.extend(pax_record("mtime", b"1700000000.123456789"));
        recs.extend(pax_record("uid", b"3000000"));
        recs.extend(pax_record(
            "SCHILY.xattr.security.capability",
            b"\x01\x00\x00\x02",
        ));
        recs.extend(pax_record("SCHILY.xattr.user.note", b"hi"));
        let mut b = tar::Builder::new(Vec::new());
        append_pax(&mut b, &recs);
        let mut h = tar::Header::new_ustar();
        h.set_path("short").unwrap();
        h.set_size(2);
        h.set_mode(0o4755);
        h.set_cksum();
        b.append(&h, &b"ok"[..]).unwrap();
        let data = b.into_inner().unwrap();

        let mut ts = TarStream::new(&data[..]);
        let mut e = ts.next_entry().unwrap().unwrap();
        assert_eq!(e.path().unwrap(), PathBuf::from(&name));
        assert_eq!(e.mtime(), 1_700_000_000);
        assert_eq!(e.mtime_nsec(), 123_456_789);
        assert_eq!(e.uid(), 3_000_000);
        assert_eq!(e.mode(), 0o4755);
        assert_eq!(
            e.xattrs(),
            vec![
                (
                    "security.capability".to_string(),
                    b"\x01\x00\x00\x02".to_vec()
                ),
                ("user.note".to_string(), b"hi".to_vec()),
            ]
        );
        let mut s = String::new();
        e.read_to_string(&mut s).unwrap();
        assert_eq!(s, "ok");
        assert!(ts.next_entry().unwrap().is_none());
    }

    #[test]
    fn truncated_data_is_an_error_naming_the_entry() {
        let mut b = tar::Builder::new(Vec::new());
        b.append(
            &header("a", tar::EntryType::Regular, 1000),
            &[1u8; 1000][..],
        )
        .unwrap();
        let data = b.into_inner().unwrap();
        let cut = &data[..512 + 300];

        // Reading the data hits the end.
        let mut ts = TarStream::new(cut);
        let mut e = ts.next_entry().unwrap().unwrap();
        let err = io::copy(&mut e, &mut io::sink()).unwrap_err();
        assert!(err.to_string().contains("entry a"), "{err}");
        assert!(err.to_string().contains("truncated"), "{err}");

        // Skipping the data hits it too.
        let mut ts = TarStream::new(cut);
        ts.next_entry().unwrap().unwrap();
        let err = ts.next_entry().err().expect("truncated");
        assert!(
            matches!(err, TarStreamError::Truncated { ref path, read: 300, size: 1000 } if path == "a"),
            "{err}"
        );

        // Ending inside the padding after the data is also truncation.
        let cut = &data[..512 + 1000];
        let mut ts = TarStream::new(cut);
        ts.next_entry().unwrap().unwrap();
        assert!(matches!(
            ts.next_entry(),
            Err(TarStreamError::Truncated { .. })
        ));

        // Ending inside a header.
        let err = collect(&data[..100]).unwrap_err();
        assert!(matches!(err, TarStreamError::Header { .. }), "{err}");
    }

    #[test]
    fn bad_checksum_is_an_error() {
        let mut b = tar::Builder::new(Vec::new());
        b.append(&header("a", tar::EntryType::Regular, 1), &b"x"[..])
            .unwrap();
        b.append(&header("b", tar::EntryType::Regular, 1), &b"y"[..])
            .unwrap();
        let mut data = b.into_inner().unwrap();
        data[1024 + 1] ^= 0x20; // corrupt the second header's name
        let err = collect(&data).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("after a"), "{msg}");
        assert!(msg.contains("checksum"), "{msg}");
    }

    /// Go CVE-2022-2879 class: a huge PAX record must fail without being buffered.
    #[test]
    fn huge_pax_record_is_rejected_with_bounded_memory() {
        struct Huge {
            header: Vec<u8>,
            pos: u64,
            total: u64,
        }
        impl Read for Huge {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.pos >= self.total {
                    return Ok(0);
                }
                let n = (self.total - self.pos).min(buf.len() as u64) as usize;
                for (i, b) in buf[..n].iter_mut().enumerate() {
                    let p = self.pos as usize + i;
                    *b = if p < self.header.len() {
                        self.header[p]
                    } else {
                        b'a'
                    };
                }
                self.pos += n as u64;
                Ok(n)
            }
        }
        let size: u64 = 64 * 1024 * 1024;
        let mut h = tar::Header::new_ustar();
        h.set_path("PaxHeaders/x").unwrap();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_size(size);
        h.set_cksum();
        let mut header = h.as_bytes().to_vec();
        header.extend_from_slice(format!("{} comment=", size).as_bytes());
        let mut src = Huge {
            header,
            pos: 0,
            total: 512 + size + 2048,
        };
        let mut ts = TarStream::new(&mut src);
        let err = ts.next_entry().err().expect("oversized metadata");
        assert!(
            matches!(err, TarStreamError::MetadataTooLarge { .. }),
            "{err}"
        );
        // Only about the budget was consumed, not the 64 MiB record.
        assert!(src.pos <= 2 * METADATA_LIMIT, "read {} bytes", src.pos);
    }

    /// TARmageddon (CVE-2025-62518) class: the PAX `size` wins over the ustar size, so data that
    /// looks like a header inside the entry is never parsed as a smuggled entry.
    #[test]
    fn pax_size_overrides_ustar_size() {
        let mut inner = tar::Builder::new(Vec::new());
        inner
            .append(&header("smuggled", tar::EntryType::Regular, 1), &b"s"[..])
            .unwrap();
        let inner = inner.into_inner().unwrap();
        let inner = &inner[..1024];
        let mut b = tar::Builder::new(Vec::new());
        append_pax(&mut b, &pax_record("size", b"1024"));
        let mut data = b.into_inner().unwrap();
        data.truncate(data.len() - 1024); // drop the end-of-archive blocks
        let h = header("outer", tar::EntryType::Regular, 0);
        data.extend_from_slice(h.as_bytes());
        data.extend_from_slice(inner);
        data.extend_from_slice(&[0u8; 1024]);
        let got = collect(&data).unwrap();
        assert_eq!(
            got.len(),
            1,
            "{:?}",
            got.iter().map(|g| &g.0).collect::<Vec<_>>()
        );
        assert_eq!(got[0].0, "outer");
        assert_eq!(got[0].2.len(), 1024);
    }

    #[test]
    fn global_pax_header_is_an_other_entry() {
        let mut b = tar::Builder::new(Vec::new());
        let recs = pax_record("comment", b"git archive");
        let mut h = tar::Header::new_ustar();
        h.set_path("pax_global_header").unwrap();
        h.set_entry_type(tar::EntryType::XGlobalHeader);
        h.set_size(recs.len() as u64);
        h.set_cksum();
        b.append(&h, &recs[..]).unwrap();
        b.append(&header("f", tar::EntryType::Regular, 1), &b"z"[..])
            .unwrap();
        let got = collect(&b.into_inner().unwrap()).unwrap();
        assert_eq!(got[0].1, EntryKind::Other(b'g'));
        assert_eq!(got[1].0, "f");
        assert_eq!(got[1].2, b"z");
    }

    #[test]
    fn reads_fixture_docker_archive() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures/features.docker.tar");
        let f = std::fs::File::open(&path).unwrap();
        let mut ts = TarStream::new(io::BufReader::new(f));
        let mut layers = 0;
        let mut manifest = String::new();
        while let Some(mut e) = ts.next_entry().unwrap() {
            let p = e.display_path();
            if p.ends_with("/layer.tar") {
                layers += 1;
                // Each layer is itself a tar the stream can walk.
                let mut inner = TarStream::new(&mut e);
                let mut n = 0;
                while inner.next_entry().unwrap().is_some() {
                    n += 1;
                }
                assert!(n > 0);
            } else if p == "manifest.json" {
                e.read_to_string(&mut manifest).unwrap();
            }
        }
        assert_eq!(layers, 4);
        assert!(manifest.contains("\"Layers\""));
    }
}
