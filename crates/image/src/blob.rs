//! The content store: `blobs/sha256/<hex>`, written through [`BlobWriter`].
//!
//! A writer hashes while it writes into an anonymous `O_TMPFILE` inode in the
//! blob directory, so a crash at any moment leaves nothing behind; publishing
//! links the finished inode under its digest (`linkat`), which is atomic and
//! never replaces an existing blob (content addressing makes a present blob
//! identical). The store publishes inside its metadata transaction, so a blob
//! file never appears without the record that owns it, save for a crash between
//! the link and the commit: that leaves an unreferenced file which `system
//! check` reports and `--repair` removes.

use crate::digest::{Digest, Hasher, ThreadedHasher, HASH_CHUNK};
use rustix::fs::{AtFlags, Mode, OFlags};
use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// Errors from writing or reading blobs.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("{op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: io::Error },
    #[error("digest mismatch for {what}: expected {expected}, got {found}")]
    DigestMismatch { what: String, expected: Digest, found: Digest },
    #[error("size mismatch for {what}: expected {expected} bytes, got {found}")]
    SizeMismatch { what: String, expected: u64, found: u64 },
    #[error("blob {0} is not in the store")]
    Missing(Digest),
    #[error("{what} is larger than the {limit} bytes allowed")]
    TooLarge { what: String, limit: u64 },
}

pub type Result<T, E = BlobError> = std::result::Result<T, E>;

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> BlobError + 'a {
    move |source| BlobError::Io { op, path: path.to_path_buf(), source }
}

/// The `blobs/sha256` directory.
#[derive(Debug, Clone)]
pub struct BlobDir {
    dir: PathBuf,
}

impl BlobDir {
    pub fn new(dir: PathBuf) -> BlobDir {
        BlobDir { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, d: &Digest) -> PathBuf {
        self.dir.join(d.hex())
    }

    pub fn exists(&self, d: &Digest) -> bool {
        self.path(d).exists()
    }

    pub fn open(&self, d: &Digest) -> Result<File> {
        let p = self.path(d);
        File::open(&p).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                BlobError::Missing(d.clone())
            } else {
                BlobError::Io { op: "open", path: p, source: e }
            }
        })
    }

    /// Reads a small blob whole, refusing more than `limit` bytes.
    pub fn read_limited(&self, d: &Digest, limit: u64) -> Result<Vec<u8>> {
        let f = self.open(d)?;
        let len = f.metadata().map_err(io_err("stat", &self.path(d)))?.len();
        if len > limit {
            return Err(BlobError::TooLarge { what: format!("blob {d}"), limit });
        }
        let mut data = Vec::with_capacity(len as usize);
        use std::io::Read;
        f.take(limit + 1).read_to_end(&mut data).map_err(io_err("read", &self.path(d)))?;
        Ok(data)
    }

    /// Starts a new anonymous blob in this directory.
    pub fn writer(&self) -> Result<BlobWriter> {
        let fd = rustix::fs::open(
            &self.dir,
            OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )
        .map_err(|e| BlobError::Io {
            op: "create temporary blob in",
            path: self.dir.clone(),
            source: e.into(),
        })?;
        Ok(BlobWriter {
            file: File::from(fd),
            sink: HashSink::Inline(Hasher::new()),
            len: 0,
            buf: Vec::with_capacity(CHUNK),
            dir: self.dir.clone(),
        })
    }

    /// Links a finished blob under its name; a present blob is left as is.
    pub(crate) fn publish(&self, blob: &FinishedBlob) -> Result<()> {
        let target = self.path(&blob.digest);
        let proc_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&blob.file));
        match rustix::fs::linkat(rustix::fs::CWD, proc_path.as_str(), rustix::fs::CWD, &target, AtFlags::SYMLINK_FOLLOW)
        {
            Ok(()) => Ok(()),
            Err(rustix::io::Errno::EXIST) => Ok(()),
            Err(e) => Err(BlobError::Io { op: "publish blob", path: target, source: e.into() }),
        }
    }

    /// Removes a blob file (the caller has made sure no record needs it).
    pub(crate) fn remove(&self, d: &Digest) -> Result<()> {
        let p = self.path(d);
        match std::fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(BlobError::Io { op: "remove", path: p, source: e }),
        }
    }
}

/// Writes one blob, hashing as it goes. Dropping it discards the data.
///
/// Large blobs are hashed on a second thread while the caller's thread writes:
/// sha256 and the copy into the page cache then overlap, which roughly halves
/// the time to take in a layer on a machine with two cores or more.
pub struct BlobWriter {
    file: File,
    sink: HashSink,
    len: u64,
    buf: Vec<u8>,
    dir: PathBuf,
}

/// Chunks handed to the hashing thread; larger writes are split.
const CHUNK: usize = HASH_CHUNK;
/// Blobs below this size are hashed inline (no thread is worth starting).
const THREAD_AFTER: u64 = 4 << 20;

enum HashSink {
    Inline(Hasher),
    Thread(ThreadedHasher),
}

impl HashSink {
    fn finish(self) -> io::Result<Digest> {
        match self {
            HashSink::Inline(h) => Ok(h.finish()),
            HashSink::Thread(t) => t.finish(),
        }
    }
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The temporary file, for positioned reads of what was written (e.g. a tar scan).
    /// Call [`BlobWriter::flush_buffer`] first if you wrote through `Write` since.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Writes out buffered bytes so [`BlobWriter::file`] holds everything written.
    pub fn flush_buffer(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.file.write_all(&self.buf)?;
        let full = std::mem::take(&mut self.buf);
        match &mut self.sink {
            HashSink::Inline(h) => {
                h.update(&full);
                self.buf = full;
                self.buf.clear();
            }
            HashSink::Thread(t) => self.buf = t.update_owned(full)?,
        }
        if self.len >= THREAD_AFTER {
            if let HashSink::Inline(_) = self.sink {
                let HashSink::Inline(h) = std::mem::replace(&mut self.sink, HashSink::Inline(Hasher::new())) else {
                    unreachable!()
                };
                self.sink = HashSink::Thread(ThreadedHasher::start(h));
            }
        }
        Ok(())
    }

    /// Finishes the blob; the data is not visible under a name until the store publishes it.
    pub fn finish(mut self) -> Result<FinishedBlob> {
        self.flush_buffer().map_err(|e| BlobError::Io { op: "write blob in", path: self.dir.clone(), source: e })?;
        let size = self.len;
        let digest =
            self.sink.finish().map_err(|e| BlobError::Io { op: "hash blob in", path: self.dir.clone(), source: e })?;
        Ok(FinishedBlob { digest, size, file: self.file })
    }

    /// Finishes and checks the blob against an expected digest.
    pub fn finish_expecting(self, what: &str, expected: &Digest) -> Result<FinishedBlob> {
        let b = self.finish()?;
        if &b.digest != expected {
            return Err(BlobError::DigestMismatch {
                what: what.to_string(),
                expected: expected.clone(),
                found: b.digest,
            });
        }
        Ok(b)
    }

    /// Copies `reader` into the blob, reading straight into the writer's buffer; returns bytes
    /// copied. `progress` gets each chunk's size. Read and write failures stay apart so the
    /// caller can name its input.
    pub fn copy_from(&mut self, reader: &mut dyn io::Read, progress: &mut dyn FnMut(u64)) -> Result<u64, CopyError> {
        let mut total = 0;
        loop {
            if self.buf.len() == CHUNK {
                self.flush_buffer().map_err(|e| {
                    CopyError::Write(BlobError::Io { op: "write blob in", path: self.dir.clone(), source: e })
                })?;
            }
            let start = self.buf.len();
            self.buf.resize(CHUNK, 0);
            let n = match reader.read(&mut self.buf[start..]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    self.buf.truncate(start);
                    continue;
                }
                Err(e) => {
                    self.buf.truncate(start);
                    return Err(CopyError::Read(e));
                }
            };
            self.buf.truncate(start + n);
            if n == 0 {
                return Ok(total);
            }
            self.len += n as u64;
            total += n as u64;
            progress(n as u64);
        }
    }
}

/// A failure while copying into a blob: reading the input, or writing the blob.
#[derive(Debug)]
pub enum CopyError {
    Read(io::Error),
    Write(BlobError),
}

impl Write for BlobWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len() == CHUNK {
            self.flush_buffer()?;
        }
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.flush_buffer()
    }
}

/// A blob written and hashed but not yet published.
pub struct FinishedBlob {
    pub digest: Digest,
    pub size: u64,
    file: File,
}

impl FinishedBlob {
    /// A reader positioned at the start of the data.
    pub fn reopen(&self) -> io::Result<File> {
        let mut f = self.file.try_clone()?;
        f.seek(SeekFrom::Start(0))?;
        Ok(f)
    }

    pub fn file(&self) -> &File {
        &self.file
    }
}

impl std::fmt::Debug for FinishedBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FinishedBlob").field("digest", &self.digest).field("size", &self.size).finish()
    }
}

/// Flushes the filesystem holding `path` once (instead of an fsync per file).
pub fn syncfs(path: &Path) -> io::Result<()> {
    let f = File::open(path)?;
    rustix::fs::syncfs(f.as_fd()).map_err(io::Error::from)
}
