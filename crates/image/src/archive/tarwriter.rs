//! Where `save` puts an image layout: a tar stream (docker-archive, oci-archive) or a directory
//! (OCI layout on disk). Tar entries are ustar headers as Go's `archive/tar` writes them for short
//! names: uid/gid 0, mode 0644 for files and 0755 for directories; data is copied with a large buffer.

use super::{ArchiveError, Result};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Destination of an image layout.
pub(crate) trait LayoutSink {
    fn dir(&mut self, path: &str, mtime: u64) -> Result<()>;
    fn file(&mut self, path: &str, data: &[u8], mtime: u64) -> Result<()>;
    /// Copies exactly `size` bytes of `src` (from its start).
    fn copy(&mut self, path: &str, src: &mut File, size: u64, mtime: u64) -> Result<()>;
    /// A relative symlink inside the layout (how docker-archives share one layer's bytes).
    fn symlink(&mut self, path: &str, target: &str, mtime: u64) -> Result<()>;
    /// Copies exactly `size` bytes from a stream (e.g. a layer being decompressed).
    fn copy_reader(&mut self, path: &str, src: &mut dyn Read, size: u64, mtime: u64) -> Result<()>;
    fn finish(&mut self) -> Result<()>;
}

/// A tar stream.
pub(crate) struct TarSink<'a> {
    out: &'a mut dyn Write,
    buf: Vec<u8>,
    progress: &'a mut dyn FnMut(u64),
}

impl<'a> TarSink<'a> {
    pub fn new(out: &'a mut dyn Write, progress: &'a mut dyn FnMut(u64)) -> Self {
        TarSink { out, buf: vec![0u8; 1 << 20], progress }
    }

    fn header(&mut self, path: &str, kind: tar::EntryType, mode: u32, size: u64, mtime: u64) -> Result<()> {
        self.header_with_link(path, kind, mode, size, mtime, None)
    }

    fn header_with_link(
        &mut self,
        path: &str,
        kind: tar::EntryType,
        mode: u32,
        size: u64,
        mtime: u64,
        link: Option<&str>,
    ) -> Result<()> {
        let mut h = tar::Header::new_ustar();
        h.set_path(path).map_err(|e| ArchiveError::Output(std::io::Error::other(format!("tar entry {path}: {e}"))))?;
        if let Some(target) = link {
            h.set_link_name(target)
                .map_err(|e| ArchiveError::Output(std::io::Error::other(format!("tar entry {path}: {e}"))))?;
        }
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(size);
        h.set_mtime(mtime);
        h.set_cksum();
        self.write(h.as_bytes())
    }

    fn write(&mut self, data: &[u8]) -> Result<()> {
        self.out.write_all(data).map_err(ArchiveError::Output)?;
        (self.progress)(data.len() as u64);
        Ok(())
    }

    fn pad(&mut self, size: u64) -> Result<()> {
        let pad = ((512 - size % 512) % 512) as usize;
        if pad > 0 {
            self.write(&[0u8; 512][..pad])?;
        }
        Ok(())
    }
}

impl LayoutSink for TarSink<'_> {
    fn dir(&mut self, path: &str, mtime: u64) -> Result<()> {
        self.header(&format!("{path}/"), tar::EntryType::Directory, 0o755, 0, mtime)
    }

    fn file(&mut self, path: &str, data: &[u8], mtime: u64) -> Result<()> {
        self.header(path, tar::EntryType::Regular, 0o644, data.len() as u64, mtime)?;
        self.write(data)?;
        self.pad(data.len() as u64)
    }

    fn copy(&mut self, path: &str, src: &mut File, size: u64, mtime: u64) -> Result<()> {
        self.copy_reader(path, src, size, mtime)
    }

    fn copy_reader(&mut self, path: &str, src: &mut dyn Read, size: u64, mtime: u64) -> Result<()> {
        self.header(path, tar::EntryType::Regular, 0o644, size, mtime)?;
        let mut left = size;
        let mut buf = std::mem::take(&mut self.buf);
        let res = (|| {
            while left > 0 {
                let want = left.min(buf.len() as u64) as usize;
                let n = match src.read(&mut buf[..want]) {
                    Ok(0) => {
                        return Err(ArchiveError::Output(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            format!("blob for {path} is shorter than its recorded {size} bytes"),
                        )))
                    }
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(ArchiveError::Output(e)),
                };
                self.write(&buf[..n])?;
                left -= n as u64;
            }
            Ok(())
        })();
        self.buf = buf;
        res?;
        self.pad(size)
    }

    fn symlink(&mut self, path: &str, target: &str, mtime: u64) -> Result<()> {
        self.header_with_link(path, tar::EntryType::Symlink, 0o777, 0, mtime, Some(target))
    }

    fn finish(&mut self) -> Result<()> {
        self.write(&[0u8; 1024])?;
        self.out.flush().map_err(ArchiveError::Output)
    }
}

/// A directory (created here; an existing one must be empty).
pub(crate) struct DirSink {
    root: PathBuf,
}

impl DirSink {
    pub fn create(root: &Path) -> Result<DirSink> {
        let io = |op, source| ArchiveError::Io { op, path: root.to_path_buf(), source };
        match std::fs::read_dir(root) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(ArchiveError::DirNotEmpty(root.to_path_buf()));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(root).map_err(|e| io("create directory", e))?;
            }
            Err(e) => return Err(io("read directory", e)),
        }
        Ok(DirSink { root: root.to_path_buf() })
    }
}

impl LayoutSink for DirSink {
    fn dir(&mut self, path: &str, _mtime: u64) -> Result<()> {
        let p = self.root.join(path);
        std::fs::create_dir_all(&p).map_err(|source| ArchiveError::Io { op: "create directory", path: p, source })
    }

    fn file(&mut self, path: &str, data: &[u8], _mtime: u64) -> Result<()> {
        let p = self.root.join(path);
        std::fs::write(&p, data).map_err(|source| ArchiveError::Io { op: "write", path: p, source })
    }

    fn copy(&mut self, path: &str, src: &mut File, size: u64, _mtime: u64) -> Result<()> {
        // File to file: std uses copy_file_range where it can (kept generic for that).
        write_exact(&self.root.join(path), src, size, "blob shorter than recorded")
    }

    fn symlink(&mut self, path: &str, target: &str, _mtime: u64) -> Result<()> {
        let p = self.root.join(path);
        std::os::unix::fs::symlink(target, &p).map_err(|source| ArchiveError::Io {
            op: "create symlink",
            path: p,
            source,
        })
    }

    fn copy_reader(&mut self, path: &str, src: &mut dyn Read, size: u64, _mtime: u64) -> Result<()> {
        write_exact(&self.root.join(path), src, size, "layer shorter than counted")
    }

    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Creates `p` and copies exactly `size` bytes of `src` into it.
fn write_exact<R: Read>(p: &Path, src: R, size: u64, short: &'static str) -> Result<()> {
    let mut dst = File::create(p).map_err(|source| ArchiveError::Io { op: "create", path: p.to_path_buf(), source })?;
    let n = std::io::copy(&mut src.take(size), &mut dst).map_err(|source| ArchiveError::Io {
        op: "write",
        path: p.to_path_buf(),
        source,
    })?;
    if n != size {
        return Err(ArchiveError::Io {
            op: "write",
            path: p.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::UnexpectedEof, short),
        });
    }
    Ok(())
}
