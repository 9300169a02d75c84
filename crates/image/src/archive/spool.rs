//! Spooling an archive read once from a stream: every regular file is kept, small ones in memory
//! (within a budget), the rest in anonymous blob files hashed while they are written; symlinks and
//! hardlinks are recorded so paths named by the archive's JSON can be resolved inside the archive
//! only, after the whole stream has been read (an entry may come before the file it points to).

use super::{ArchiveError, Result, MAX_JSON_SIZE};
use crate::blob::{BlobDir, CopyError, FinishedBlob};
use crate::digest::Digest;
use crate::tarstream::{EntryKind, TarStream};
use std::collections::HashMap;
use std::io::Read;

/// Files up to this size are kept in memory (while the budget lasts).
const SMALL_FILE: u64 = 1 << 20;
/// Total bytes of small files kept in memory.
const MEMORY_BUDGET: u64 = 64 << 20;
/// Most symlinks followed while resolving one path.
const MAX_LINKS: usize = 40;
/// Most entries an archive may have. Image archives hold a few entries per layer; a bound keeps
/// memory and open anonymous files bounded whatever the archive holds.
pub const MAX_ENTRIES: usize = 100_000;
/// Names of the top-level documents that are always JSON and are size-checked on sight.
const TOP_LEVEL_JSON: [&str; 4] = ["manifest.json", "index.json", "oci-layout", "repositories"];

/// The contents of one spooled regular file.
pub(crate) enum SpoolData {
    Mem(Vec<u8>),
    File(FinishedBlob),
}

/// One spooled regular file.
pub(crate) struct Spooled {
    pub size: u64,
    pub digest: Digest,
    pub data: SpoolData,
}

impl Spooled {
    /// A reader over the data from the start.
    pub fn reader(&self) -> std::io::Result<Box<dyn Read + '_>> {
        match &self.data {
            SpoolData::Mem(v) => Ok(Box::new(&v[..])),
            SpoolData::File(f) => Ok(Box::new(f.reopen()?)),
        }
    }

    /// The first bytes, for compression sniffing.
    pub fn head(&self) -> std::io::Result<Vec<u8>> {
        let mut buf = vec![0u8; 8];
        let n = match &self.data {
            SpoolData::Mem(v) => {
                let n = v.len().min(8);
                buf[..n].copy_from_slice(&v[..n]);
                n
            }
            SpoolData::File(f) => {
                use std::os::unix::fs::FileExt;
                let mut n = 0;
                while n < buf.len() {
                    let m = f.file().read_at(&mut buf[n..], n as u64)?;
                    if m == 0 {
                        break;
                    }
                    n += m;
                }
                n
            }
        };
        buf.truncate(n);
        Ok(buf)
    }
}

enum Link {
    /// Target as stored, relative to the link's directory (or absolute: relative to the archive root).
    Symlink(String),
    /// Target path from the archive root.
    Hardlink(String),
}

/// Everything kept from one archive stream.
pub(crate) struct Spool {
    pub archive: String,
    files: HashMap<String, Spooled>,
    links: HashMap<String, Link>,
}

/// Cleans an archive path: no leading `/` or `./`, `.` and empty components dropped, `..` applied.
/// `None` when `..` would leave the archive root.
pub(crate) fn clean_path(p: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

impl Spool {
    /// Reads the whole tar stream, keeping every regular file and link.
    pub fn read(archive: &str, input: &mut dyn Read, blobs: &BlobDir) -> Result<Spool> {
        let tar_err = |source| ArchiveError::Tar { archive: archive.to_string(), source };
        let mut spool = Spool { archive: archive.to_string(), files: HashMap::new(), links: HashMap::new() };
        let mut mem_used = 0u64;
        let mut ts = TarStream::new(input);
        let mut count = 0usize;
        while let Some(mut e) = ts.next_entry().map_err(tar_err)? {
            let shown = e.display_path();
            count += 1;
            if count > MAX_ENTRIES {
                return Err(ArchiveError::Invalid {
                    archive: archive.to_string(),
                    entry: shown,
                    reason: format!("the archive has more than {MAX_ENTRIES} entries, more than any image archive"),
                });
            }
            let Ok(raw) = std::str::from_utf8(e.path_bytes()) else {
                continue; // JSON can only name UTF-8 paths
            };
            let name = clean_path(raw).ok_or_else(|| ArchiveError::EntryName {
                archive: archive.to_string(),
                entry: shown.clone(),
                reason: "it points outside the archive",
            })?;
            if name.is_empty() {
                continue;
            }
            match e.kind() {
                EntryKind::File => {}
                EntryKind::Symlink | EntryKind::Hardlink => {
                    let target =
                        e.link_name_bytes().and_then(|b| std::str::from_utf8(b).ok()).unwrap_or_default().to_string();
                    let link = if e.kind() == EntryKind::Symlink {
                        Link::Symlink(target)
                    } else {
                        Link::Hardlink(clean_path(&target).ok_or_else(|| ArchiveError::EntryName {
                            archive: archive.to_string(),
                            entry: shown.clone(),
                            reason: "its hardlink target points outside the archive",
                        })?)
                    };
                    spool.files.remove(&name);
                    spool.links.insert(name, link);
                    continue;
                }
                _ => continue,
            }
            let size = e.size();
            let base = name.rsplit('/').next().unwrap_or(&name);
            if TOP_LEVEL_JSON.contains(&name.as_str()) && size > MAX_JSON_SIZE {
                return Err(ArchiveError::TooLarge {
                    archive: archive.to_string(),
                    entry: shown,
                    size,
                    limit: MAX_JSON_SIZE,
                });
            }
            // Legacy per-layer metadata is never needed (loading goes by manifest.json).
            if name.contains('/') && (base == "json" || base == "VERSION") && !name.starts_with("blobs/") {
                continue;
            }
            let spooled = if size <= SMALL_FILE && mem_used + size <= MEMORY_BUDGET {
                let mut data = Vec::with_capacity(size as usize);
                (&mut e).take(size).read_to_end(&mut data).map_err(|err| unwrap_tar_io(archive, &shown, err))?;
                mem_used += size;
                Spooled { size, digest: Digest::of(&data), data: SpoolData::Mem(data) }
            } else {
                let mut w = blobs.writer()?;
                w.copy_from(&mut e, &mut |_| {}).map_err(|err| match err {
                    CopyError::Read(err) => unwrap_tar_io(archive, &shown, err),
                    CopyError::Write(err) => ArchiveError::Blob(err),
                })?;
                let b = w.finish()?;
                Spooled { size: b.size, digest: b.digest.clone(), data: SpoolData::File(b) }
            };
            spool.links.remove(&name);
            if let Some(old) = spool.files.insert(name, spooled) {
                if matches!(old.data, SpoolData::Mem(_)) {
                    mem_used -= old.size;
                }
            }
        }
        ts.drain_to_end().map_err(tar_err)?;
        Ok(spool)
    }

    /// Whether the archive has a regular file (or a link to one) at `path`.
    pub fn contains(&self, path: &str) -> bool {
        self.resolve(path).is_ok()
    }

    /// Resolves `path` (as named by the archive's JSON) to a regular file of the archive, following
    /// symlinks and hardlinks inside the archive only.
    pub fn resolve(&self, path: &str) -> Result<String> {
        let err = |reason| ArchiveError::Path { archive: self.archive.clone(), path: path.to_string(), reason };
        // Components still to walk, in reverse order (next one last).
        let mut todo: Vec<String> = path.split('/').rev().map(str::to_string).collect();
        let mut done: Vec<String> = Vec::new();
        let mut followed = 0;
        while let Some(c) = todo.pop() {
            match c.as_str() {
                "" | "." => continue,
                ".." => {
                    if done.pop().is_none() {
                        return Err(err("points outside the archive"));
                    }
                    continue;
                }
                _ => done.push(c),
            }
            let here = done.join("/");
            let Some(link) = self.links.get(&here) else { continue };
            followed += 1;
            if followed > MAX_LINKS {
                return Err(err("has too many levels of symbolic links"));
            }
            done.pop();
            let target = match link {
                Link::Symlink(t) => {
                    if t.starts_with('/') {
                        done.clear();
                    }
                    t.clone()
                }
                Link::Hardlink(t) => {
                    done.clear();
                    t.clone()
                }
            };
            todo.extend(target.split('/').rev().map(str::to_string));
        }
        let full = done.join("/");
        if self.files.contains_key(&full) {
            Ok(full)
        } else {
            Err(err("is not a file in the archive"))
        }
    }

    /// The spooled file at `path` (resolved).
    pub fn get(&self, path: &str) -> Result<&Spooled> {
        let p = self.resolve(path)?;
        Ok(&self.files[&p])
    }

    /// Removes and returns the spooled file at an already resolved path.
    pub fn take(&mut self, resolved: &str) -> Option<Spooled> {
        self.files.remove(resolved)
    }

    /// Reads a JSON document whole, refusing one larger than [`MAX_JSON_SIZE`] before reading it.
    pub fn json(&self, path: &str) -> Result<Vec<u8>> {
        let f = self.get(path)?;
        if f.size > MAX_JSON_SIZE {
            return Err(ArchiveError::TooLarge {
                archive: self.archive.clone(),
                entry: path.to_string(),
                size: f.size,
                limit: MAX_JSON_SIZE,
            });
        }
        match &f.data {
            SpoolData::Mem(v) => Ok(v.clone()),
            SpoolData::File(_) => {
                let mut out = Vec::with_capacity(f.size as usize);
                f.reader()
                    .and_then(|mut r| r.read_to_end(&mut out))
                    .map_err(|source| ArchiveError::Input { archive: self.archive.clone(), source })?;
                Ok(out)
            }
        }
    }
}

/// Turns an io error from a tar entry read back into the tar error it carries, if any.
fn unwrap_tar_io(archive: &str, entry: &str, err: std::io::Error) -> ArchiveError {
    let source = match err.into_inner() {
        Some(inner) => match inner.downcast::<crate::tarstream::TarStreamError>() {
            Ok(t) => *t,
            Err(other) => {
                crate::tarstream::TarStreamError::Read { path: entry.to_string(), source: std::io::Error::other(other) }
            }
        },
        None => crate::tarstream::TarStreamError::Read {
            path: entry.to_string(),
            source: std::io::Error::other("read failed"),
        },
    };
    ArchiveError::Tar { archive: archive.to_string(), source }
}

#[cfg(test)]
mod tests {
    use super::clean_path;

    #[test]
    fn cleans_paths() {
        assert_eq!(clean_path("./blobs/sha256/x").as_deref(), Some("blobs/sha256/x"));
        assert_eq!(clean_path("/a/./b/../c").as_deref(), Some("a/c"));
        assert_eq!(clean_path("../../etc/passwd"), None);
        assert_eq!(clean_path("./").as_deref(), Some(""));
    }
}
