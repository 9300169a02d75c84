//! A read-only merged view of an image's unpacked layers, as overlayfs would show them, without
//! mounting anything: a whiteout (`0:0` character device) hides the path in lower layers, an
//! opaque directory hides the lower directories' children. Looking a path up, following
//! symlinks inside the image (`..` stops at its root), reading a file, listing a directory and
//! walking a tree: what the builder needs for `COPY --from`, `--chown` and WORKDIR, and the
//! engine for an image's `/etc/passwd`.
//!
//! Semantics: overlayfs (<https://docs.kernel.org/filesystems/overlayfs.html>, "whiteouts and
//! opaque directories"); the layers are stored as [`crate::snapshot`] unpacks them.

use super::markers::{is_opaque, is_whiteout};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A read-only merged view of overlay-format layer directories, given base first.
#[derive(Debug, Clone, Default)]
pub struct MergedView {
    layers: Vec<PathBuf>,
}

fn components(path: &str) -> Vec<&str> {
    path.split('/').filter(|c| !c.is_empty() && *c != ".").collect()
}

impl MergedView {
    pub fn new(layers: Vec<PathBuf>) -> MergedView {
        MergedView { layers }
    }

    /// The real path of the entry visible at `path` (not following symlinks), if any.
    pub fn lookup(&self, path: &str) -> Option<PathBuf> {
        let comps = components(path);
        if comps.is_empty() {
            return self.layers.last().cloned();
        }
        for layer in self.layers.iter().rev() {
            let mut p = layer.clone();
            let mut opaque_above = false;
            for (i, c) in comps.iter().enumerate() {
                p.push(c);
                let Ok(m) = std::fs::symlink_metadata(&p) else { break };
                if is_whiteout(&m) {
                    return None;
                }
                if i == comps.len() - 1 {
                    return Some(p);
                }
                if !m.is_dir() {
                    return None;
                }
                if is_opaque(&p) {
                    opaque_above = true;
                }
            }
            if opaque_above {
                return None;
            }
        }
        None
    }

    /// Follows symlinks (within the image) to the final entry.
    pub fn resolve(&self, path: &str) -> Option<(String, PathBuf)> {
        let joined = self.follow(path, false)?;
        self.lookup(&joined).map(|p| (joined, p))
    }

    /// `path` (absolute) through the image's symlinks where they exist, taken as it is past them
    /// (a destination that is yet to be made); `None` for a symlink loop.
    pub fn resolve_lenient(&self, path: &str) -> Option<String> {
        self.follow(path, true).map(|p| format!("/{p}"))
    }

    /// The path (relative to the root) `path` leads to through symlinks, which resolve within the
    /// image (`..` stops at its root). A missing component ends the walk (`None`) unless
    /// `lenient`; a symlink loop always does.
    fn follow(&self, path: &str, lenient: bool) -> Option<String> {
        let mut todo: Vec<String> = components(path).into_iter().rev().map(String::from).collect();
        let mut cur: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(c) = todo.pop() {
            if c == ".." {
                cur.pop();
                continue;
            }
            cur.push(c);
            let Some(real) = self.lookup(&cur.join("/")) else {
                if lenient {
                    continue;
                }
                return None;
            };
            if let Ok(target) = std::fs::read_link(&real) {
                hops += 1;
                if hops > 255 {
                    return None;
                }
                cur.pop();
                let t = target.to_string_lossy().into_owned();
                if t.starts_with('/') {
                    cur.clear();
                }
                for part in components(&t).into_iter().rev() {
                    todo.push(part.to_string());
                }
            }
        }
        Some(cur.join("/"))
    }

    /// Reads a file (following symlinks), if present.
    pub fn read(&self, path: &str) -> Option<Vec<u8>> {
        let (_, real) = self.resolve(path)?;
        std::fs::read(real).ok()
    }

    /// The merged children of a directory: name → real path.
    pub fn list(&self, dir: &str) -> BTreeMap<String, PathBuf> {
        let comps = components(dir);
        let mut seen: BTreeMap<String, Option<PathBuf>> = BTreeMap::new();
        for layer in self.layers.iter().rev() {
            let mut p = layer.clone();
            let mut hidden = false;
            let mut present = true;
            let mut opaque_above = false;
            for c in &comps {
                p.push(c);
                match std::fs::symlink_metadata(&p) {
                    Err(_) => {
                        present = false;
                        break;
                    }
                    Ok(m) if is_whiteout(&m) || !m.is_dir() => {
                        hidden = true;
                        break;
                    }
                    Ok(_) => {
                        if is_opaque(&p) {
                            opaque_above = true;
                        }
                    }
                }
            }
            if hidden {
                break;
            }
            if present {
                if let Ok(rd) = std::fs::read_dir(&p) {
                    for e in rd.flatten() {
                        let name = e.file_name().to_string_lossy().into_owned();
                        if seen.contains_key(&name) {
                            continue;
                        }
                        let real = e.path();
                        let wh = std::fs::symlink_metadata(&real).map(|m| is_whiteout(&m)).unwrap_or(false);
                        seen.insert(name, if wh { None } else { Some(real) });
                    }
                }
            }
            if opaque_above {
                break;
            }
        }
        seen.into_iter().filter_map(|(k, v)| v.map(|p| (k, p))).collect()
    }

    /// Every entry under `path` (which must be visible), parents first: (path relative to `path`, real path).
    pub fn walk(&self, path: &str) -> Vec<(String, PathBuf)> {
        let mut out = Vec::new();
        self.walk_into(path, "", &mut out);
        out
    }

    fn walk_into(&self, base: &str, rel: &str, out: &mut Vec<(String, PathBuf)>) {
        let full = if rel.is_empty() { base.to_string() } else { format!("{}/{rel}", base.trim_end_matches('/')) };
        for (name, real) in self.list(&full) {
            let child = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            let is_dir = std::fs::symlink_metadata(&real).map(|m| m.is_dir()).unwrap_or(false);
            out.push((child.clone(), real));
            if is_dir {
                self.walk_into(base, &child, out);
            }
        }
    }

    /// Whether `path` is an existing directory in the view (following symlinks).
    pub fn is_dir(&self, path: &str) -> bool {
        self.resolve(path).and_then(|(_, real)| std::fs::metadata(real).ok()).is_some_and(|m| m.is_dir())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overlay::markers::OPAQUE_XATTR;

    #[test]
    fn merged_view_honours_whiteouts_and_opaque_dirs() {
        let t = tempfile::tempdir().unwrap();
        let (l1, l2) = (t.path().join("l1"), t.path().join("l2"));
        for d in ["etc", "data/keep", "opq"] {
            std::fs::create_dir_all(l1.join(d)).unwrap();
        }
        std::fs::write(l1.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\nredis:x:999:999::/data:/bin/false\n")
            .unwrap();
        std::fs::write(l1.join("data/keep/a"), "a").unwrap();
        std::fs::write(l1.join("data/gone"), "g").unwrap();
        std::fs::write(l1.join("opq/x"), "x").unwrap();
        std::fs::create_dir_all(l2.join("data")).unwrap();
        std::fs::create_dir_all(l2.join("opq")).unwrap();
        std::fs::write(l2.join("opq/z"), "z").unwrap();
        rustix::fs::mknodat(rustix::fs::CWD, l2.join("data/gone"), rustix::fs::FileType::CharacterDevice, 0.into(), 0)
            .unwrap();
        rustix::fs::lsetxattr(l2.join("opq"), OPAQUE_XATTR, b"y", rustix::fs::XattrFlags::empty()).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", l2.join("pw")).unwrap();
        let v = MergedView::new(vec![l1, l2]);
        assert!(v.lookup("/data/keep/a").is_some());
        assert!(v.lookup("/data/gone").is_none());
        assert!(v.lookup("/opq/x").is_none());
        assert!(v.lookup("/opq/z").is_some());
        assert_eq!(v.list("/opq").keys().collect::<Vec<_>>(), vec!["z"]);
        assert_eq!(v.list("/data").keys().collect::<Vec<_>>(), vec!["keep"]);
        let pw = String::from_utf8(v.read("/pw").unwrap()).unwrap();
        assert_eq!(crate::userdb::UserDb::parse(&pw, "").user("redis").map(|u| u.uid), Some(999));
        assert!(v.is_dir("/data"));
        let names: Vec<String> = v.walk("/").into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, vec!["data", "data/keep", "data/keep/a", "etc", "etc/passwd", "opq", "opq/z", "pw"]);
    }

    #[test]
    fn symlinks_resolve_inside_the_image_strictly_or_leniently() {
        let t = tempfile::tempdir().unwrap();
        let l = t.path().join("l");
        std::fs::create_dir_all(l.join("usr/lib")).unwrap();
        std::os::unix::fs::symlink("usr/lib", l.join("lib")).unwrap();
        std::os::unix::fs::symlink("../../../../lib", l.join("usr/up")).unwrap();
        std::os::unix::fs::symlink("loop", l.join("loop")).unwrap();
        let v = MergedView::new(vec![l]);
        assert_eq!(v.resolve("/lib").map(|(p, _)| p), Some("usr/lib".to_string()));
        // `..` stops at the image's root.
        assert_eq!(v.resolve("/usr/up").map(|(p, _)| p), Some("usr/lib".to_string()));
        assert!(v.resolve("/lib/new/x").is_none());
        assert!(v.resolve("/loop").is_none());
        // Lenient: through the links that exist, the rest as written.
        assert_eq!(v.resolve_lenient("/lib/new/x").as_deref(), Some("/usr/lib/new/x"));
        assert_eq!(v.resolve_lenient("/usr/up/../y").as_deref(), Some("/usr/y"));
        assert_eq!(v.resolve_lenient("/nope/../lib/z").as_deref(), Some("/usr/lib/z"));
        assert_eq!(v.resolve_lenient("/loop/z"), None);
    }
}
