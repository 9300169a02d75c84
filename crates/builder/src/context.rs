//! The build context: a directory (or a tar on stdin, extracted to scratch),
//! filtered by `.dockerignore`; resolving COPY/ADD sources in it (globs,
//! symlinks kept inside the context, paths outside refused), and the content
//! hashes Docker's classic builder puts in history (`file:<hash>`,
//! `dir:<hash>`, `multi:<hash>`) and uses as cache keys.

use crate::ignore::{clean, glob_match, IgnoreMatcher};
use sha2::{Digest as _, Sha256};
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Errors about the context.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("{op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: io::Error },
    #[error("forbidden path outside the build context: {0} ()")]
    Outside(String),
    #[error("file not found in build context or excluded by .dockerignore: stat {0}: file does not exist")]
    NotFound(String),
    #[error("no source files were specified")]
    NoMatch(String),
    #[error("unable to prepare context: {0}")]
    Prepare(String),
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ContextError + 'a {
    move |source| ContextError::Io { op, path: path.to_path_buf(), source }
}

/// A build context on disk.
pub struct BuildContext {
    root: PathBuf,
    ignore: IgnoreMatcher,
    /// Scratch directory to remove on drop (a context that came as a tar).
    owned: Option<PathBuf>,
    /// (device, inode) → the first context path with it, for files with several links
    /// (Docker's context tar stores the later ones as hard links).
    links: std::sync::OnceLock<std::collections::HashMap<(u64, u64), String>>,
}

impl Drop for BuildContext {
    fn drop(&mut self) {
        if let Some(p) = &self.owned {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

/// A source resolved in the context.
#[derive(Debug, Clone)]
pub struct Source {
    /// Path relative to the context root (`.` for the root).
    pub rel: String,
    /// The real path (symlinks resolved inside the context).
    pub real: PathBuf,
    pub meta: std::fs::Metadata,
}

impl BuildContext {
    /// A context directory; reads its `.dockerignore`.
    pub fn from_dir(root: &Path) -> Result<BuildContext, ContextError> {
        let meta = std::fs::metadata(root).map_err(|e| {
            ContextError::Prepare(format!("unable to evaluate symlinks in context path: {}: {e}", root.display()))
        })?;
        if !meta.is_dir() {
            return Err(ContextError::Prepare(format!("context must be a directory: {}", root.display())));
        }
        let root = std::fs::canonicalize(root).map_err(io_err("resolve", root))?;
        let ignore = match std::fs::read_to_string(root.join(".dockerignore")) {
            Ok(t) => IgnoreMatcher::parse(&t),
            Err(e) if e.kind() == io::ErrorKind::NotFound => IgnoreMatcher::default(),
            Err(e) => return Err(ContextError::Io { op: "read", path: root.join(".dockerignore"), source: e }),
        };
        Ok(BuildContext { root, ignore, owned: None, links: std::sync::OnceLock::new() })
    }

    /// A context sent as a tar stream, extracted into `scratch` (removed on drop).
    pub fn from_tar(input: &mut dyn Read, scratch: &Path) -> Result<BuildContext, ContextError> {
        std::fs::create_dir_all(scratch).map_err(io_err("create", scratch))?;
        let (_, plain) =
            skiff_image::compression::decompress(input).map_err(|e| ContextError::Prepare(e.to_string()))?;
        let mut ar = tar::Archive::new(plain);
        ar.set_preserve_permissions(true);
        ar.set_overwrite(true);
        let res = ar.unpack(scratch).map_err(|e| ContextError::Prepare(format!("extracting context: {e}")));
        if let Err(e) = res {
            let _ = std::fs::remove_dir_all(scratch);
            return Err(e);
        }
        let mut c = BuildContext::from_dir(scratch)?;
        c.owned = Some(scratch.to_path_buf());
        Ok(c)
    }

    /// An empty context (a Dockerfile given on stdin).
    pub fn empty(scratch: &Path) -> Result<BuildContext, ContextError> {
        std::fs::create_dir_all(scratch).map_err(io_err("create", scratch))?;
        let mut c = BuildContext::from_dir(scratch)?;
        c.owned = Some(scratch.to_path_buf());
        Ok(c)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn ignore(&self) -> &IgnoreMatcher {
        &self.ignore
    }

    /// Whether a context path is excluded by `.dockerignore`.
    pub fn excluded(&self, rel: &str) -> bool {
        rel != "." && self.ignore.excluded(rel)
    }

    /// Resolves `rel` inside the root: symlinks are followed but cannot leave it.
    fn resolve_scoped(&self, rel: &str) -> Result<PathBuf, ContextError> {
        let mut todo: Vec<String> = rel.split('/').rev().filter(|c| !c.is_empty()).map(String::from).collect();
        let mut cur: Vec<String> = Vec::new();
        let mut links = 0;
        while let Some(c) = todo.pop() {
            match c.as_str() {
                "." => continue,
                ".." => {
                    cur.pop();
                    continue;
                }
                _ => {}
            }
            cur.push(c);
            let p = self.root.join(cur.join("/"));
            match std::fs::symlink_metadata(&p) {
                Ok(m) if m.file_type().is_symlink() => {
                    links += 1;
                    if links > 255 {
                        return Err(ContextError::Io {
                            op: "resolve",
                            path: p,
                            source: io::Error::other("too many levels of symbolic links"),
                        });
                    }
                    let target = std::fs::read_link(&p).map_err(io_err("read link", &p))?;
                    let t = target.to_string_lossy().into_owned();
                    cur.pop();
                    if t.starts_with('/') {
                        cur.clear();
                    }
                    for part in t.split('/').rev().filter(|c| !c.is_empty()) {
                        todo.push(part.to_string());
                    }
                }
                _ => {}
            }
        }
        Ok(self.root.join(cur.join("/")))
    }

    /// Resolves one COPY/ADD source (a path or a glob) to the matching context entries.
    pub fn sources(&self, src: &str) -> Result<Vec<Source>, ContextError> {
        let cleaned = clean(src.trim_start_matches('/'));
        let cleaned = if cleaned.is_empty() { ".".to_string() } else { cleaned };
        if cleaned == ".." || cleaned.starts_with("../") {
            return Err(ContextError::Outside(src.to_string()));
        }
        if cleaned.contains(['*', '?', '[']) {
            let mut out = Vec::new();
            for s in self.walk(".")? {
                if s.rel != "." && glob_match(cleaned.as_bytes(), s.rel.as_bytes()) {
                    out.push(s);
                }
            }
            if out.is_empty() {
                return Err(ContextError::NoMatch(src.to_string()));
            }
            // A directory matched by the glob brings its contents; drop its children matched separately.
            let dirs: Vec<String> = out.iter().filter(|s| s.meta.is_dir()).map(|s| format!("{}/", s.rel)).collect();
            out.retain(|s| !dirs.iter().any(|d| s.rel.starts_with(d.as_str())));
            return Ok(out);
        }
        if self.excluded(&cleaned) {
            return Err(ContextError::NotFound(cleaned));
        }
        let real = self.resolve_scoped(&cleaned)?;
        let meta = std::fs::metadata(&real).map_err(|_| ContextError::NotFound(cleaned.clone()))?;
        Ok(vec![Source { rel: cleaned, real, meta }])
    }

    /// Every non-excluded entry at and under `rel` (a resolved directory or file), sorted, parents first.
    pub fn walk(&self, rel: &str) -> Result<Vec<Source>, ContextError> {
        let real = if rel == "." { self.root.clone() } else { self.resolve_scoped(rel)? };
        let meta = std::fs::symlink_metadata(&real).map_err(io_err("stat", &real))?;
        let mut out = Vec::new();
        let is_dir = meta.is_dir();
        out.push(Source { rel: rel.to_string(), real: real.clone(), meta });
        if is_dir {
            self.walk_dir(&real, rel, &mut out)?;
        }
        Ok(out)
    }

    fn walk_dir(&self, dir: &Path, rel: &str, out: &mut Vec<Source>) -> Result<(), ContextError> {
        let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(dir)
            .map_err(io_err("read directory", dir))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(io_err("read directory", dir))?;
        names.sort();
        for n in names {
            let name = n.to_string_lossy().into_owned();
            let child_rel = if rel == "." { name.clone() } else { format!("{rel}/{name}") };
            let real = dir.join(&n);
            let meta = std::fs::symlink_metadata(&real).map_err(io_err("stat", &real))?;
            let excluded = self.excluded(&child_rel);
            if meta.is_dir() {
                if excluded && !self.ignore.has_exceptions() {
                    continue;
                }
                if !excluded {
                    out.push(Source { rel: child_rel.clone(), real: real.clone(), meta });
                }
                self.walk_dir(&real, &child_rel, out)?;
            } else if !excluded {
                out.push(Source { rel: child_rel, real, meta });
            }
        }
        Ok(())
    }
}

/// Whose view of a file the hash takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashFlavor {
    /// A context file: Docker hashes the context tar's headers (owner 0:0, no names, permission bits).
    Context,
    /// A file of an image (`COPY --from`): the file's own header (owner and the host's names
    /// for it, file type bits in the mode), as the daemon's lazy source computes it.
    Image,
}

fn host_name(db: &str, id: u32) -> String {
    static CACHE: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    let (passwd, group) = CACHE.get_or_init(|| {
        (
            std::fs::read_to_string("/etc/passwd").unwrap_or_default(),
            std::fs::read_to_string("/etc/group").unwrap_or_default(),
        )
    });
    let text = if db == "passwd" { passwd } else { group };
    text.lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 3 && f[2] == id.to_string()).then(|| f[0].to_string())
        })
        .unwrap_or_default()
}

/// The classic builder's per-entry hash of a context file (tarsum v1 header fields, then content).
pub fn entry_hash(name: &str, real: &Path, meta: &std::fs::Metadata) -> Result<String, ContextError> {
    entry_hash_as(name, real, meta, HashFlavor::Context)
}

/// The classic builder's per-entry hash, for a context or an image file.
pub fn entry_hash_as(
    name: &str,
    real: &Path,
    meta: &std::fs::Metadata,
    flavor: HashFlavor,
) -> Result<String, ContextError> {
    let ft = meta.file_type();
    let (typeflag, link, size, type_bits) = if ft.is_dir() {
        ('5', String::new(), 0, 0o040000)
    } else if ft.is_symlink() {
        ('2', std::fs::read_link(real).map_err(io_err("read link", real))?.to_string_lossy().into_owned(), 0, 0o120000)
    } else if ft.is_file() {
        ('0', String::new(), meta.len(), 0o100000)
    } else {
        ('6', String::new(), 0, 0o010000)
    };
    let name = if ft.is_dir() && !name.ends_with('/') { format!("{name}/") } else { name.to_string() };
    let (mode, uid, gid, uname, gname) = match flavor {
        HashFlavor::Context => (meta.mode() & 0o7777, 0, 0, String::new(), String::new()),
        HashFlavor::Image => (
            (meta.mode() & 0o7777) | type_bits,
            meta.uid(),
            meta.gid(),
            host_name("passwd", meta.uid()),
            host_name("group", meta.gid()),
        ),
    };
    let mut h = Sha256::new();
    for (k, v) in [
        ("name", name.as_str()),
        ("mode", &mode.to_string()),
        ("uid", &uid.to_string()),
        ("gid", &gid.to_string()),
        ("size", &size.to_string()),
        ("typeflag", &typeflag.to_string()),
        ("linkname", &link),
        ("uname", &uname),
        ("gname", &gname),
        ("devmajor", "0"),
        ("devminor", "0"),
    ] {
        h.update(k.as_bytes());
        h.update(v.as_bytes());
    }
    if ft.is_file() && size > 0 {
        let mut f = std::fs::File::open(real).map_err(io_err("open", real))?;
        io::copy(&mut f, &mut h).map_err(io_err("read", real))?;
    }
    Ok(hex::encode(h.finalize()))
}

/// The hash of a context tar's hard-link entry: its header, no content.
fn hardlink_hash(name: &str, meta: &std::fs::Metadata, target: &str) -> String {
    let mut h = Sha256::new();
    for (k, v) in [
        ("name", name),
        ("mode", &(meta.mode() & 0o7777).to_string()),
        ("uid", "0"),
        ("gid", "0"),
        ("size", "0"),
        ("typeflag", "1"),
        ("linkname", target),
        ("uname", ""),
        ("gname", ""),
        ("devmajor", "0"),
        ("devminor", "0"),
    ] {
        h.update(k.as_bytes());
        h.update(v.as_bytes());
    }
    hex::encode(h.finalize())
}

/// `prefix:` + sha256 of the comma-joined strings (Docker's `hashStringSlice`).
pub fn hash_strings(prefix: &str, items: &[String]) -> String {
    format!("{prefix}:{}", hex::encode(Sha256::digest(items.join(",").as_bytes())))
}

impl BuildContext {
    /// For a file with several links: the context path this one is a hard link to
    /// (the first in the context's walk order), if it is not that first one itself.
    pub fn hardlink_target(&self, rel: &str, meta: &std::fs::Metadata) -> Option<String> {
        if !meta.is_file() || meta.nlink() < 2 {
            return None;
        }
        let map = self.links.get_or_init(|| {
            let mut m = std::collections::HashMap::new();
            for e in self.walk(".").unwrap_or_default() {
                if e.meta.is_file() && e.meta.nlink() > 1 {
                    m.entry((e.meta.dev(), e.meta.ino())).or_insert(e.rel);
                }
            }
            m
        });
        map.get(&(meta.dev(), meta.ino())).filter(|first| first.as_str() != rel).cloned()
    }

    fn context_entry_hash(&self, rel: &str, real: &Path, meta: &std::fs::Metadata) -> Result<String, ContextError> {
        match self.hardlink_target(rel, meta) {
            Some(first) => Ok(hardlink_hash(rel, meta, &first)),
            None => entry_hash(rel, real, meta),
        }
    }

    /// The history hash of one resolved source: `file:<hash>` or `dir:<hash>`.
    pub fn source_hash(&self, s: &Source) -> Result<String, ContextError> {
        if !s.meta.is_dir() {
            return Ok(format!("file:{}", self.followed_hash(&s.rel)?));
        }
        let mut sums = Vec::new();
        for e in self.walk(&s.rel)? {
            if e.rel == "." {
                continue; // the context root has no sum of its own
            }
            sums.push(if e.meta.file_type().is_symlink() {
                self.followed_hash(&e.rel)?
            } else {
                self.context_entry_hash(&e.rel, &e.real, &e.meta)?
            });
        }
        sums.sort();
        Ok(hash_strings("dir", &sums))
    }

    /// Docker hashes what a path leads to: a symlink counts as its target's
    /// entry (followed inside the context); one leading nowhere in the context
    /// counts as its own path string.
    fn followed_hash(&self, rel: &str) -> Result<String, ContextError> {
        let real = self.resolve_scoped(rel)?;
        let target = real.strip_prefix(&self.root).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        if target.is_empty() || self.excluded(&target) {
            return Ok(rel.to_string());
        }
        match std::fs::symlink_metadata(&real) {
            Ok(m) => self.context_entry_hash(&target, &real, &m),
            Err(_) => Ok(rel.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_hello_hash_matches_docker_history() {
        // Docker's history for `COPY hello.sh ...` names file:4efbe6a8...; the file was 0755 when Docker built it.
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/features-context/hello.sh");
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("hello.sh");
        std::fs::copy(&fixture, &p).unwrap();
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let c = BuildContext::from_dir(t.path()).unwrap();
        let s = c.sources("hello.sh").unwrap();
        assert_eq!(
            c.source_hash(&s[0]).unwrap(),
            "file:4efbe6a87781e6c602b74fefaa34c820fbbe2c222a5192bd3be849eff3b3a714"
        );
    }

    #[test]
    fn directory_hashes_match_docker() {
        // `COPY <dir> /x` history hashes observed from Docker 20.10.24 (the peer) for these trees.
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let mode =
            |p: &Path, m: u32| std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(m)).unwrap();
        std::fs::create_dir(r.join("e")).unwrap();
        mode(&r.join("e"), 0o755);
        std::fs::create_dir(r.join("d")).unwrap();
        mode(&r.join("d"), 0o755);
        std::fs::write(r.join("d/f"), "hi\n").unwrap();
        mode(&r.join("d/f"), 0o644);
        std::fs::create_dir(r.join("l")).unwrap();
        mode(&r.join("l"), 0o755);
        std::os::unix::fs::symlink("x", r.join("l/ln")).unwrap();
        let c = BuildContext::from_dir(r).unwrap();
        let h = |p: &str| c.source_hash(&c.sources(p).unwrap()[0]).unwrap();
        assert_eq!(h("e"), "dir:69ff4685aad8f0db08cad4b9b508f82b88656971c0205e274a09344be1233beb");
        assert_eq!(h("d"), "dir:4b68799503adfd3ed6f7d016b64df302ac1f26a6c88336a6fd4c9d658db3cabb");
        // A symlink leading nowhere counts as its path.
        assert_eq!(h("l"), "dir:c2013e6e8292b2f4a69e6d3a65559e66d7f7d69ad32f1c98a4ce22bed15da03d");
    }

    #[test]
    fn sources_globs_ignore_and_escapes() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("src/sub")).unwrap();
        std::fs::write(r.join("a.txt"), "a").unwrap();
        std::fs::write(r.join("b.txt"), "b").unwrap();
        std::fs::write(r.join("secret.key"), "k").unwrap();
        std::fs::write(r.join("src/sub/x"), "x").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", r.join("abs-link")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", r.join("up-link")).unwrap();
        std::fs::write(r.join(".dockerignore"), "*.key\n").unwrap();
        let c = BuildContext::from_dir(r).unwrap();
        let g: Vec<String> = c.sources("*.txt").unwrap().into_iter().map(|s| s.rel).collect();
        assert_eq!(g, vec!["a.txt", "b.txt"]);
        assert!(matches!(c.sources("secret.key"), Err(ContextError::NotFound(_))));
        assert!(matches!(c.sources("*.key"), Err(ContextError::NoMatch(_))));
        assert!(matches!(c.sources("../x"), Err(ContextError::Outside(_))));
        assert!(matches!(c.sources("src/../../x"), Err(ContextError::Outside(_))));
        // Symlinks resolve inside the context: /etc/passwd means <context>/etc/passwd.
        assert!(matches!(c.sources("abs-link"), Err(ContextError::NotFound(_))));
        let up = c.sources("up-link");
        assert!(up.is_err() || up.unwrap()[0].real.starts_with(c.root()));
        let w: Vec<String> = c.walk(".").unwrap().into_iter().map(|s| s.rel).collect();
        assert!(!w.contains(&"secret.key".to_string()));
        assert!(w.contains(&"src/sub/x".to_string()));
    }
}
