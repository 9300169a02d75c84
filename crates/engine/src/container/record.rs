//! Container records: `containers/<id>/config.v2.json` (the record below)
//! next to the OCI `config.json`, and a row in the store's `containers` table
//! (id, name UNIQUE, image_id, created, state, config) so that `rmi` keeps the
//! images containers use and names stay unique across concurrent skiff runs.

use crate::options::RunOptions;
use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};
use skiff_image::Store;
use std::path::{Path, PathBuf};

/// Errors finding or recording containers.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    #[error("Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name.")]
    NameInUse { name: String, id: String },
    #[error("Invalid container name ({0}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName(String),
    #[error("multiple containers found with provided prefix: {0}")]
    Ambiguous(String),
    #[error("{op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },
    #[error("container record {path}: {source}")]
    Json { path: PathBuf, source: serde_json::Error },
    #[error(transparent)]
    Db(#[from] skiff_image::db::DbError),
    #[error("container metadata: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

impl RecordError {
    /// What kind of failure this is (see [`crate::error`]).
    pub fn kind(&self) -> crate::ErrorKind {
        use crate::ErrorKind;
        match self {
            RecordError::NoSuchContainer(_) => ErrorKind::NotFound,
            RecordError::NameInUse { .. } => ErrorKind::Conflict,
            RecordError::InvalidName(_) | RecordError::Ambiguous(_) => ErrorKind::InvalidArgument,
            RecordError::Io { .. } | RecordError::Json { .. } | RecordError::Db(_) | RecordError::Sqlite(_) => {
                ErrorKind::System
            }
        }
    }
}

/// What skiff records about a container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Container {
    pub id: String,
    pub name: String,
    /// The image as the user named it (`ps` shows this).
    pub image: String,
    /// The image's id (`sha256:...` in the record).
    pub image_id: skiff_image::Digest,
    /// RFC 3339 with nanoseconds.
    pub created: String,
    /// The process: `args[0]` and the rest, as Docker's `Path` and `Args`.
    pub path: String,
    pub args: Vec<String>,
    pub opts: RunOptions,
    #[serde(default)]
    pub restart_count: u32,
}

impl Container {
    /// `containers/<id>/` under the store root.
    pub fn dir(&self, store: &Store) -> PathBuf {
        container_dir(store.root(), &self.id)
    }

    /// The mount point of the root filesystem.
    pub fn rootfs(&self, store: &Store) -> PathBuf {
        self.dir(store).join("rootfs")
    }

    /// The json-file log.
    pub fn log_path(&self, store: &Store) -> PathBuf {
        self.dir(store).join(format!("{}-json.log", self.id))
    }

    /// `docker ps`'s COMMAND before quoting: path and args joined by spaces.
    pub fn command(&self) -> String {
        std::iter::once(self.path.as_str()).chain(self.args.iter().map(String::as_str)).collect::<Vec<_>>().join(" ")
    }

    /// The command as Docker's container list shows it: the path, then each argument, an argument
    /// with a space in single quotes (`sh -c 'echo hi'`).
    pub fn listed_command(&self) -> String {
        let mut out = self.path.clone();
        for a in &self.args {
            out.push(' ');
            if a.contains(' ') {
                out.push_str(&format!("'{a}'"));
            } else {
                out.push_str(a);
            }
        }
        out
    }
}

/// `containers/<id>/`.
pub fn container_dir(root: &Path, id: &str) -> PathBuf {
    root.join("containers").join(id)
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> RecordError + 'a {
    move |source| RecordError::Io { op, path: path.to_path_buf(), source }
}

/// Inserts a new record; fails if the name is taken.
pub fn insert(store: &Store, c: &Container) -> Result<(), RecordError> {
    let cfg = serde_json::to_string(c).expect("container records serialise");
    store.db().write(|tx| {
        let taken: Option<String> =
            tx.query_row("SELECT id FROM containers WHERE name = ?1", [&c.name], |r| r.get(0)).optional()?;
        if let Some(id) = taken {
            return Err(RecordError::NameInUse { name: c.name.clone(), id });
        }
        tx.execute(
            "INSERT INTO containers(id, name, image_id, created, state, config) VALUES (?1, ?2, ?3, ?4, 'created', ?5)",
            rusqlite::params![c.id, c.name, c.image_id.to_string(), c.created, cfg],
        )?;
        Ok(())
    })
}

/// Rewrites a record (after rename or restart).
pub fn save(store: &Store, c: &Container) -> Result<(), RecordError> {
    let cfg = serde_json::to_string(c).expect("container records serialise");
    store.db().write(|tx| {
        if let Some(id) = tx
            .query_row("SELECT id FROM containers WHERE name = ?1 AND id != ?2", [&c.name, &c.id], |r| {
                r.get::<_, String>(0)
            })
            .optional()?
        {
            return Err(RecordError::NameInUse { name: c.name.clone(), id });
        }
        tx.execute("UPDATE containers SET name = ?2, config = ?3 WHERE id = ?1", rusqlite::params![c.id, c.name, cfg])?;
        Ok(())
    })?;
    write_json(&c.dir(store).join("config.v2.json"), c)
}

/// Records the state word (`created`, `running`, `paused`, `exited`) for `info` and `system df`.
pub fn set_state(store: &Store, id: &str, state: &str) -> Result<(), RecordError> {
    // Most calls find it unchanged: read first, so they take no write lock.
    let current: Option<String> = store.db().read(|tx| {
        tx.query_row("SELECT state FROM containers WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .map_err(RecordError::from)
    })?;
    if current.as_deref() == Some(state) || current.is_none() {
        return Ok(());
    }
    store.db().write(|tx| {
        tx.execute("UPDATE containers SET state = ?2 WHERE id = ?1 AND state != ?2", [id, state])?;
        Ok(())
    })
}

/// Deletes a record.
pub fn delete(store: &Store, id: &str) -> Result<(), RecordError> {
    store.db().write(|tx| {
        tx.execute("DELETE FROM containers WHERE id = ?1", [id])?;
        Ok(())
    })
}

/// Every container, oldest first.
pub fn list(store: &Store) -> Result<Vec<Container>, RecordError> {
    store.db().read(|tx| {
        let mut stmt = tx.prepare("SELECT config FROM containers ORDER BY created, id")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for r in rows {
            let text = r?;
            let c: Container = serde_json::from_str(&text)
                .map_err(|source| RecordError::Json { path: PathBuf::from("containers table"), source })?;
            out.push(c);
        }
        Ok(out)
    })
}

/// Finds a container by full id, name (with or without a leading `/`) or unique id prefix.
pub fn find(store: &Store, key: &str) -> Result<Container, RecordError> {
    let name = key.strip_prefix('/').unwrap_or(key);
    let text: Option<String> = store.db().read(|tx| {
        let exact: Option<String> = tx
            .query_row(
                "SELECT config FROM containers WHERE id = ?1 OR name = ?2 ORDER BY id = ?1 DESC LIMIT 1",
                [key, name],
                |r| r.get(0),
            )
            .optional()?;
        if exact.is_some() || key.is_empty() || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok::<_, RecordError>(exact);
        }
        let mut stmt = tx.prepare("SELECT config FROM containers WHERE id >= ?1 AND id < ?2 LIMIT 2")?;
        let hits: Vec<String> = stmt
            .query_map([key.to_string(), format!("{key}\u{7f}")], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        match hits.len() {
            0 => Ok(None),
            1 => Ok(hits.into_iter().next()),
            _ => Err(RecordError::Ambiguous(key.to_string())),
        }
    })?;
    let text = text.ok_or_else(|| RecordError::NoSuchContainer(key.to_string()))?;
    serde_json::from_str(&text).map_err(|source| RecordError::Json { path: PathBuf::from("containers table"), source })
}

/// Writes JSON to `path` atomically (temporary file + rename).
pub fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<(), RecordError> {
    let tmp = path.with_extension("tmp");
    let bytes = serde_json::to_vec(v).expect("records serialise");
    std::fs::write(&tmp, bytes).map_err(io("write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io("rename", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listed_command_quotes_arguments_with_spaces_as_docker_does() {
        let c = |path: &str, args: &[&str]| Container {
            id: String::new(),
            name: String::new(),
            image: String::new(),
            image_id: skiff_image::Digest::parse(&format!("sha256:{}", "0".repeat(64))).unwrap(),
            created: String::new(),
            path: path.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            opts: RunOptions::default(),
            restart_count: 0,
        };
        assert_eq!(c("sh", &["-c", "echo one; sleep 1"]).listed_command(), "sh -c 'echo one; sleep 1'");
        assert_eq!(c("redis-server", &[]).listed_command(), "redis-server");
        assert_eq!(c("ls", &["-l", "/"]).listed_command(), "ls -l /");
        // The plain join stays for what is not a listing.
        assert_eq!(c("sh", &["-c", "a b"]).command(), "sh -c a b");
    }
}
