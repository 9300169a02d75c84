//! An image's users and groups: `/etc/passwd` and `/etc/group` read through the merged layer
//! view ([`crate::overlay::view`]), looked up by name for the builder's `--chown`, and Docker's
//! `USER` / `-u name|uid[:group|gid]` resolved to the ids, groups and home a process runs with.
//!
//! Files are read as runc's user package (which Docker uses) reads them: lines split on `:`,
//! fields missing at the end left empty; blank lines and `#` comments are skipped, and so is a
//! line whose ids are not numbers. Formats: passwd(5), group(5).

use crate::overlay::view::MergedView;
use std::path::PathBuf;

/// A user or group that cannot be resolved (Docker's words).
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

/// An image's user database (empty when the files are missing).
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

/// The `:`-separated fields of each line that is neither blank nor a comment.
fn records(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(|l| l.split(':').collect())
}

/// An id field: absent is 0, present it must be a number.
fn id_field(fields: &[&str], i: usize) -> Option<u32> {
    fields.get(i).map_or(Some(0), |f| f.parse().ok())
}

/// Parses `/etc/passwd` text: `name:password:uid:gid:gecos:home:shell`.
pub fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    records(text)
        .filter_map(|f| {
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f.get(2)?.parse().ok()?,
                gid: id_field(&f, 3)?,
                home: f.get(5).copied().unwrap_or_default().to_string(),
            })
        })
        .collect()
}

/// Parses `/etc/group` text: `name:password:gid:member,member`.
pub fn parse_group(text: &str) -> Vec<GroupEntry> {
    records(text)
        .filter_map(|f| {
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)
                    .map_or(Vec::new(), |m| m.split(',').filter(|m| !m.is_empty()).map(str::to_string).collect()),
            })
        })
        .collect()
}

impl UserDb {
    /// Parses the contents of `/etc/passwd` and `/etc/group`.
    pub fn parse(passwd: &str, group: &str) -> UserDb {
        UserDb { passwd: parse_passwd(passwd), groups: parse_group(group) }
    }

    /// Reads the files through a merged view of an image's layers.
    pub fn from_view(view: &MergedView) -> UserDb {
        let text = |p: &str| view.read(p).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
        UserDb::parse(&text("/etc/passwd"), &text("/etc/group"))
    }

    /// Reads the files from overlay layer directories given base first.
    pub fn from_layers(layers: &[PathBuf]) -> UserDb {
        UserDb::from_view(&MergedView::new(layers.to_vec()))
    }

    /// The first user of this name.
    pub fn user(&self, name: &str) -> Option<&PasswdEntry> {
        self.passwd.iter().find(|p| p.name == name)
    }

    /// The first group of this name.
    pub fn group(&self, name: &str) -> Option<&GroupEntry> {
        self.groups.iter().find(|g| g.name == name)
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
            Err(_) => self.user(u).cloned(),
        }
        .ok_or_else(|| UserError::NoUser(u.to_string()))?;
        let gid = match g {
            None | Some("") => entry.gid,
            Some(g) => match g.parse::<u32>() {
                Ok(gid) => gid,
                Err(_) => self.group(g).ok_or_else(|| UserError::NoGroup(g.to_string()))?.gid,
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
    fn reads_short_and_odd_lines_as_runc_does() {
        let db = UserDb::parse("# comment\n\n  app:x:1001  \nbad:x:nope:0\nbadgid:x:5:g\n", "short:x:77\n");
        assert_eq!(db.user("app").map(|u| (u.uid, u.gid, u.home.as_str())), Some((1001, 0, "")));
        assert!(db.user("bad").is_none() && db.user("badgid").is_none() && db.user("# comment").is_none());
        assert_eq!(db.group("short").map(|g| (g.gid, g.members.len())), Some((77, 0)));
    }

    #[test]
    fn topmost_layer_and_whiteouts() {
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        std::fs::create_dir_all(a.join("etc")).unwrap();
        std::fs::create_dir_all(b.join("etc")).unwrap();
        std::fs::write(a.join("etc/passwd"), "old").unwrap();
        std::fs::write(b.join("etc/passwd"), "new").unwrap();
        let view = MergedView::new(vec![a.clone(), b.clone()]);
        assert_eq!(view.read("etc/passwd").as_deref(), Some(&b"new"[..]));
        std::fs::remove_file(b.join("etc/passwd")).unwrap();
        assert_eq!(view.read("etc/passwd").as_deref(), Some(&b"old"[..]));
        rustix::fs::mknodat(
            rustix::fs::CWD,
            b.join("etc/passwd"),
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::empty(),
            0,
        )
        .unwrap();
        assert_eq!(view.read("etc/passwd"), None);
        std::fs::write(a.join("etc/group"), "app:x:5:\n").unwrap();
        let db = UserDb::from_layers(&[a, b]);
        assert!(db.passwd.is_empty());
        assert_eq!(db.group("app").map(|g| g.gid), Some(5));
    }
}
