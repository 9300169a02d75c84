//! Users and groups of an image: `/etc/passwd` and `/etc/group` read from the
//! unpacked layers (topmost first, honouring overlay whiteouts), and the
//! resolution of `-u name|uid[:group|gid]` as Docker does it.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

/// A user that cannot be resolved.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserError {
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoUser(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    NoGroup(String),
}

/// One `/etc/passwd` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

/// One `/etc/group` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// The image's user database (empty when the files are missing).
#[derive(Debug, Clone, Default)]
pub struct UserDb {
    pub passwd: Vec<PasswdEntry>,
    pub groups: Vec<GroupEntry>,
}

/// What the process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups, the primary group first (as Docker lists them).
    pub additional_gids: Vec<u32>,
    pub home: String,
}

impl UserDb {
    /// Parses the contents of `/etc/passwd` and `/etc/group`.
    pub fn parse(passwd: &str, group: &str) -> UserDb {
        let passwd = passwd
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                if f.len() < 7 || l.starts_with('#') {
                    return None;
                }
                Some(PasswdEntry {
                    name: f[0].to_string(),
                    uid: f[2].parse().ok()?,
                    gid: f[3].parse().ok()?,
                    home: f[5].to_string(),
                })
            })
            .collect();
        let groups = group
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                if f.len() < 4 || l.starts_with('#') {
                    return None;
                }
                Some(GroupEntry {
                    name: f[0].to_string(),
                    gid: f[2].parse().ok()?,
                    members: f[3].split(',').filter(|m| !m.is_empty()).map(str::to_string).collect(),
                })
            })
            .collect();
        UserDb { passwd, groups }
    }

    /// Reads the files from overlay layer directories given base first.
    pub fn from_layers(layers: &[PathBuf]) -> UserDb {
        let passwd = read_from_layers(layers, "etc/passwd").unwrap_or_default();
        let group = read_from_layers(layers, "etc/group").unwrap_or_default();
        UserDb::parse(&passwd, &group)
    }

    /// Resolves Docker's `USER` / `-u` value (empty means root).
    pub fn resolve(&self, spec: &str) -> Result<ResolvedUser, UserError> {
        let (u, g) = match spec.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (spec, None),
        };
        let u = if u.is_empty() { "0" } else { u };
        let entry = match u.parse::<u32>() {
            Ok(uid) => self.passwd.iter().find(|p| p.uid == uid).cloned().or(Some(PasswdEntry {
                name: String::new(),
                uid,
                gid: 0,
                home: "/".to_string(),
            })),
            Err(_) => self.passwd.iter().find(|p| p.name == u).cloned(),
        }
        .ok_or_else(|| UserError::NoUser(u.to_string()))?;
        let gid = match g {
            None | Some("") => entry.gid,
            Some(g) => match g.parse::<u32>() {
                Ok(gid) => gid,
                Err(_) => {
                    self.groups.iter().find(|e| e.name == g).ok_or_else(|| UserError::NoGroup(g.to_string()))?.gid
                }
            },
        };
        let mut additional = vec![gid];
        if g.is_none() && !entry.name.is_empty() {
            for grp in &self.groups {
                if grp.members.iter().any(|m| m == &entry.name) && !additional.contains(&grp.gid) {
                    additional.push(grp.gid);
                }
            }
        }
        Ok(ResolvedUser { uid: entry.uid, gid, additional_gids: additional, home: entry.home })
    }
}

/// Reads `rel` from a stack of overlay layers (base first): the topmost layer
/// that has it wins; a whiteout (a 0:0 char device) or an opaque parent hides
/// lower copies.
pub fn read_from_layers(layers: &[PathBuf], rel: &str) -> Option<String> {
    for dir in layers.iter().rev() {
        let p = dir.join(rel);
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_char_device() => return None,
            Ok(m) if m.is_file() => return std::fs::read_to_string(&p).ok(),
            Ok(_) => return None,
            Err(_) => {}
        }
        if parent_is_opaque(dir, rel) {
            return None;
        }
    }
    None
}

fn parent_is_opaque(layer: &Path, rel: &str) -> bool {
    let mut cur = PathBuf::new();
    let parts: Vec<&str> = rel.split('/').collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        cur.push(part);
        let p = layer.join(&cur);
        let mut buf = [0u8; 4];
        if let Ok(n) = rustix::fs::lgetxattr(&p, "trusted.overlay.opaque", &mut buf) {
            if n >= 1 && buf[0] == b'y' {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nredis:x:999:1000:Linux User,,,:/home/redis:/sbin/nologin\n";
    const GROUP: &str = "root:x:0:root\nredis:x:1000:redis\nping:x:999:\nwheel:x:10:root,redis\n";

    #[test]
    fn resolves_names_ids_and_groups() {
        let db = UserDb::parse(PASSWD, GROUP);
        let r = db.resolve("redis").unwrap();
        assert_eq!((r.uid, r.gid, r.home.as_str()), (999, 1000, "/home/redis"));
        assert_eq!(r.additional_gids, vec![1000, 10]);
        let r = db.resolve("").unwrap();
        assert_eq!((r.uid, r.gid, r.home.as_str()), (0, 0, "/root"));
        let r = db.resolve("1234:ping").unwrap();
        assert_eq!((r.uid, r.gid, r.home.as_str()), (1234, 999, "/"));
        assert_eq!(db.resolve("nobody").unwrap_err(), UserError::NoUser("nobody".into()));
        assert!(db.resolve("redis:nogroup").unwrap_err().to_string().contains("nogroup"));
    }

    #[test]
    fn topmost_layer_and_whiteouts() {
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        std::fs::create_dir_all(a.join("etc")).unwrap();
        std::fs::create_dir_all(b.join("etc")).unwrap();
        std::fs::write(a.join("etc/passwd"), "old").unwrap();
        std::fs::write(b.join("etc/passwd"), "new").unwrap();
        let layers = vec![a.clone(), b.clone()];
        assert_eq!(read_from_layers(&layers, "etc/passwd").as_deref(), Some("new"));
        std::fs::remove_file(b.join("etc/passwd")).unwrap();
        assert_eq!(read_from_layers(&layers, "etc/passwd").as_deref(), Some("old"));
        rustix::fs::mknodat(
            rustix::fs::CWD,
            b.join("etc/passwd"),
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::empty(),
            0,
        )
        .unwrap();
        assert_eq!(read_from_layers(&layers, "etc/passwd"), None);
    }
}
