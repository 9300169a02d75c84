//! Container records: `containers/<id>/config.v2.json` (the record below)
//! next to the OCI `config.json`, and a row in the store's `containers` table
//! (id, name UNIQUE, image_id, created, state, config) so that `rmi` keeps the
//! images containers use and names stay unique across concurrent skiff runs.
//! The engine owns that table and migrates it ([`MIGRATIONS`], through
//! `skiff_image::db::Db::migrate`) before its first use in a process.

use crate::options::RunOptions;
use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};
use skiff_image::db::Db;
use skiff_image::{Digest, Store};
use std::path::{Path, PathBuf};

/// The owner name of the engine's tables in the store's `schema_versions`.
pub const DB_OWNER: &str = "engine";

/// The engine's migrations, oldest first; one that has shipped never changes, the next is added.
/// 1: `containers` exactly as skiff created it when the image crate made every table, so a
/// store from then is taken over with its rows. The image store reads `id` and `image_id`
/// (what pins an image), so those stay.
pub const MIGRATIONS: &[&str] = &["
CREATE TABLE IF NOT EXISTS containers(
    id TEXT PRIMARY KEY,
    name TEXT UNIQUE NOT NULL,
    image_id TEXT NOT NULL,
    created TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'created',
    config TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS containers_image ON containers(image_id);
"];

/// The store's database with the engine's tables migrated (checked once per process).
fn db(store: &Store) -> Result<&Db, RecordError> {
    store.db().migrate(DB_OWNER, MIGRATIONS)?;
    Ok(store.db())
}

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
    /// What kind of failure this is (see [`skiff_image::errdefs`]).
    pub fn kind(&self) -> skiff_image::ErrorKind {
        use skiff_image::ErrorKind;
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
    db(store)?.write(|tx| {
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
    db(store)?.write(|tx| {
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
    let current: Option<String> = db(store)?.read(|tx| {
        tx.query_row("SELECT state FROM containers WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .map_err(RecordError::from)
    })?;
    if current.as_deref() == Some(state) || current.is_none() {
        return Ok(());
    }
    db(store)?.write(|tx| {
        tx.execute("UPDATE containers SET state = ?2 WHERE id = ?1 AND state != ?2", [id, state])?;
        Ok(())
    })
}

/// Deletes a record.
pub fn delete(store: &Store, id: &str) -> Result<(), RecordError> {
    db(store)?.write(|tx| {
        tx.execute("DELETE FROM containers WHERE id = ?1", [id])?;
        Ok(())
    })
}

/// Reads a record from the `containers` table (or `config.v2.json`), upgrading one written by an
/// earlier skiff.
pub fn parse_record(text: &str) -> Result<Container, serde_json::Error> {
    // Every record of an earlier layout has `network_none`; today's never do.
    if !text.contains("\"network_none\"") {
        return serde_json::from_str(text);
    }
    let mut v: serde_json::Value = serde_json::from_str(text)?;
    upgrade(&mut v["opts"]);
    serde_json::from_value(v)
}

/// An earlier record's run options in today's form: `volumes` (`-v` strings, anonymous ones
/// already named, their names in `anonymous_volumes`) and `tmpfs` become `mounts`; the network
/// namespace mode and `network_none` become a network mode.
fn upgrade(o: &mut serde_json::Value) {
    use crate::mounts::{Mount, MountSource};
    let Some(map) = o.as_object_mut() else { return };
    let strings = |v: Option<serde_json::Value>| -> Vec<String> {
        v.and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default()
    };
    let anonymous = strings(map.remove("anonymous_volumes"));
    let mut mounts = Vec::new();
    for spec in strings(map.remove("tmpfs")) {
        mounts.extend(Mount::parse_tmpfs(&spec).ok());
    }
    for spec in strings(map.remove("volumes")) {
        if let Ok(mut m) = Mount::parse_volume(&spec) {
            if let MountSource::Volume { name, anonymous: a } = &mut m.source {
                *a = anonymous.contains(name);
            }
            mounts.push(m);
        }
    }
    map.insert("mounts".into(), serde_json::to_value(mounts).expect("mounts serialise"));
    if map.remove("network_none").and_then(|v| v.as_bool()) == Some(true) {
        map.insert("network".into(), serde_json::json!("none"));
    }
}

/// Every container, oldest first.
pub fn list(store: &Store) -> Result<Vec<Container>, RecordError> {
    db(store)?.read(|tx| {
        let mut stmt = tx.prepare("SELECT config FROM containers ORDER BY created, id")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for r in rows {
            let text = r?;
            let c = parse_record(&text)
                .map_err(|source| RecordError::Json { path: PathBuf::from("containers table"), source })?;
            out.push(c);
        }
        Ok(out)
    })
}

/// Finds a container by full id, name (with or without a leading `/`) or unique id prefix.
pub fn find(store: &Store, key: &str) -> Result<Container, RecordError> {
    let name = key.strip_prefix('/').unwrap_or(key);
    let text: Option<String> = db(store)?.read(|tx| {
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
    parse_record(&text).map_err(|source| RecordError::Json { path: PathBuf::from("containers table"), source })
}

/// Containers (id, name) that use image `id`, oldest first.
pub fn using_image(store: &Store, id: &Digest) -> Result<Vec<(String, String)>, RecordError> {
    db(store)?.read(|tx| {
        let mut stmt = tx.prepare("SELECT id, name FROM containers WHERE image_id = ?1 ORDER BY created")?;
        let rows = stmt.query_map([id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    })
}

/// Counts of containers by recorded state: (total, running, paused, stopped).
pub fn counts(store: &Store) -> Result<(u64, u64, u64, u64), RecordError> {
    db(store)?.read(|tx| {
        let mut stmt = tx.prepare("SELECT state, COUNT(*) FROM containers GROUP BY state")?;
        let mut c = (0, 0, 0, 0);
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))? {
            let (state, n) = row?;
            c.0 += n;
            match state.as_str() {
                "running" => c.1 += n,
                "paused" => c.2 += n,
                _ => c.3 += n,
            }
        }
        Ok(c)
    })
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

    /// A record as skiff wrote it before mounts and the network mode were typed.
    const EARLIER_RECORD: &str = r#"{"id":"c0ffee","name":"db","image":"busybox","image_id":"sha256:4b7e86637799f84a0355f07dbaefe6edba0df30356e7779b0357dd674358e838","created":"2026-11-27T10:00:00.000000000Z","path":"sleep","args":["60"],"opts":{"image":"busybox","cmd":["sleep","60"],"entrypoint":null,"name":"db","env":[],"workdir":null,"user":null,"hostname":null,"tty":false,"interactive":false,"detach":true,"auto_remove":false,"memory":8000000,"memory_swap":null,"memory_reservation":null,"nano_cpus":null,"cpu_shares":null,"cpuset_cpus":null,"pids_limit":null,"blkio_weight":null,"shm_size":null,"cap_add":[],"cap_drop":[],"privileged":false,"security_opt":[],"volumes":["/srv:/srv:ro","data:/data","5f2a:/cache"],"tmpfs":["/run:size=1m"],"read_only":false,"network":"Private","network_none":true,"pid":"Host","ipc":"Private","uts":{"Container":"other"},"init":false,"stop_signal":null,"stop_timeout":null,"anonymous_volumes":["5f2a"],"runtime":null},"restart_count":0}"#;

    #[test]
    fn records_of_an_earlier_skiff_still_read() {
        use crate::mounts::MountSource;
        use crate::network_mode::NetworkMode;
        use crate::options::NsMode;
        let c = parse_record(EARLIER_RECORD).unwrap();
        assert_eq!(c.opts.network, NetworkMode::None);
        assert_eq!((&c.opts.pid, &c.opts.uts), (&NsMode::Host, &NsMode::Container("other".into())));
        assert_eq!(c.opts.resources.memory, Some(8_000_000));
        let m = &c.opts.mounts;
        assert_eq!(m.len(), 4);
        assert_eq!((m[0].target.as_str(), &m[0].source), ("/run", &MountSource::Tmpfs { options: "size=1m".into() }));
        assert_eq!(m[1].source, MountSource::Bind { source: "/srv".into() });
        assert!(m[1].read_only && m[1].propagation.is_none());
        assert_eq!(m[2].source, MountSource::Volume { name: "data".into(), anonymous: false });
        assert_eq!(m[3].source, MountSource::Volume { name: "5f2a".into(), anonymous: true });
        // Written again, it is today's record and reads back the same.
        let again = parse_record(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(again.opts.mounts, c.opts.mounts);
        assert_eq!(again.opts.network, NetworkMode::None);
        let private = EARLIER_RECORD.replace(r#""network_none":true"#, r#""network_none":false"#);
        assert_eq!(parse_record(&private).unwrap().opts.network, NetworkMode::Default);
    }

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

    fn record(id: &str, name: &str) -> Container {
        Container {
            id: id.into(),
            name: name.into(),
            image: "busybox".into(),
            image_id: skiff_image::Digest::parse(&format!("sha256:{}", "b".repeat(64))).unwrap(),
            created: "2026-01-01T00:00:00.000000000Z".into(),
            path: "sh".into(),
            args: Vec::new(),
            opts: RunOptions::default(),
            restart_count: 0,
        }
    }

    #[test]
    fn a_store_made_before_owner_migrations_keeps_its_containers() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let old = record(&"c".repeat(64), "old");
        {
            // The layout skiff wrote before: every table from one schema, user_version 1.
            let conn = rusqlite::Connection::open(root.join("skiff.db")).unwrap();
            conn.pragma_update(None, "journal_mode", "WAL").unwrap();
            conn.execute_batch(include_str!("../../image/tests/format-1-schema.sql")).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute(
                "INSERT INTO containers(id, name, image_id, created, state, config) VALUES (?1, ?2, ?3, ?4, 'running', ?5)",
                rusqlite::params![old.id, old.name, old.image_id.to_string(), old.created, serde_json::to_string(&old).unwrap()],
            )
            .unwrap();
        }
        let store = Store::open(root).unwrap();
        assert_eq!(find(&store, "old").unwrap().id, old.id);
        assert_eq!(store.db().schema_version(DB_OWNER).unwrap(), 1);
        assert_eq!(counts(&store).unwrap(), (1, 1, 0, 0));
        assert_eq!(using_image(&store, &old.image_id).unwrap(), vec![(old.id.clone(), "old".to_string())]);
        // The name stays taken; new records go in beside it.
        assert!(matches!(insert(&store, &record(&"d".repeat(64), "old")), Err(RecordError::NameInUse { .. })));
        insert(&store, &record(&"d".repeat(64), "new")).unwrap();
        assert_eq!(list(&Store::open(root).unwrap()).unwrap().len(), 2);
    }

    #[test]
    fn a_new_store_gets_the_table_on_first_use() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.db().schema_version(DB_OWNER).unwrap(), 0);
        assert!(list(&store).unwrap().is_empty());
        assert_eq!(store.db().schema_version(DB_OWNER).unwrap(), 1);
    }
}
