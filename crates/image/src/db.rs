//! The metadata database: one SQLite file (`skiff.db`, WAL mode) shared by the crates that
//! keep records, each owning its tables and their migrations ([`Db::migrate`], counted per owner
//! in `schema_versions`): the image store's (`crate::schema`), the engine's containers, the
//! builder's cache.
//!
//! SQLite gives the transactions ARCHITECTURE.md asks for: every change to the
//! records is one `BEGIN IMMEDIATE` transaction, so concurrent skiff processes
//! serialise their writes and a `kill -9` rolls an unfinished change back.
//! Reference counts are not stored: whether a layer or blob is still needed is
//! derived by query, so they can never drift.

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// The database's format (`PRAGMA user_version`): 1 was one schema for every table, created
/// here; 2 keeps each owner's version in `schema_versions` and lets owners migrate their tables.
const FORMAT_VERSION: i64 = 2;

/// How long a process waits for another's write transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(120);

/// The WAL size past which a writer checkpoints and truncates it: 64 pages of 4 KiB with their frame headers.
const WAL_LIMIT: u64 = 64 * (4096 + 24);

/// Each owner's applied migrations.
const SCHEMA_VERSIONS: &str =
    "CREATE TABLE IF NOT EXISTS schema_versions(owner TEXT PRIMARY KEY, version INTEGER NOT NULL);";

/// Errors from the metadata database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("metadata database {path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error("metadata database {path} has schema version {found}, this skiff knows {FORMAT_VERSION}")]
    Version { path: PathBuf, found: i64 },
    #[error("metadata database {path}: the {owner} tables have schema version {found}, this skiff knows {known}")]
    OwnerVersion { path: PathBuf, owner: &'static str, found: i64, known: i64 },
    #[error("metadata database {path}: {owner} migration {version}: {source}")]
    Migration { path: PathBuf, owner: &'static str, version: i64, source: Box<rusqlite::Error> },
}

/// The open database. One connection per process; calls serialise on it.
pub struct Db {
    path: PathBuf,
    conn: Mutex<Connection>,
    /// Owners whose migrations this process has seen applied, with how many.
    migrated: Mutex<HashMap<&'static str, i64>>,
}

impl Db {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Db, DbError> {
        let err = |source| DbError::Sqlite { path: path.to_path_buf(), source };
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
        // WAL: readers never block the writer; NORMAL sync is crash-safe (a
        // killed process loses nothing committed), fsync happens at checkpoints.
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(err)?;
        // No checkpoint when the connection closes: a short-lived CLI process
        // would otherwise checkpoint, fsync and delete the WAL on every exit,
        // and the next process would fsync a fresh WAL header. The WAL stays,
        // bounded by `write` (see `bound_wal`).
        conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true).map_err(err)?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(err)?;
        if version > FORMAT_VERSION {
            return Err(DbError::Version { path: path.to_path_buf(), found: version });
        }
        let db = Db { path: path.to_path_buf(), conn: Mutex::new(conn), migrated: Mutex::new(HashMap::new()) };
        if version < FORMAT_VERSION {
            // Several processes may set up a new database at once. Two connections changing the
            // journal mode or committing can deadlock, and SQLite then answers one of them BUSY
            // without waiting: that one tries again (every step is idempotent).
            let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
            loop {
                match db.set_up(version) {
                    Err(DbError::Sqlite { source, .. })
                        if source.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                            && std::time::Instant::now() < deadline =>
                    {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    res => break res?,
                }
            }
        }
        Ok(db)
    }

    /// WAL mode (persistent: set once, when the database is created) and the current format,
    /// decided again under the write lock.
    fn set_up(&self, version: i64) -> Result<(), DbError> {
        if version == 0 {
            self.lock().pragma_update(None, "journal_mode", "WAL").map_err(|e| self.err(e))?;
        }
        self.write(|tx| {
            let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(|e| self.err(e))?;
            if version > FORMAT_VERSION {
                return Err(DbError::Version { path: self.path.clone(), found: version });
            }
            if version < FORMAT_VERSION {
                tx.execute_batch(SCHEMA_VERSIONS).map_err(|e| self.err(e))?;
                tx.pragma_update(None, "user_version", FORMAT_VERSION).map_err(|e| self.err(e))?;
            }
            Ok(())
        })
    }

    /// Brings `owner`'s tables up to date: applies `migrations[n..]` (SQL batches, oldest first)
    /// when the database has the first `n`, all in one write transaction, and records the new
    /// count. Idempotent and safe when several skiff processes migrate at once (the count is read
    /// again under the write lock); a database already up to date costs one read, and nothing
    /// after the first call in a process. A database migrated further than `migrations` reach
    /// (by a newer skiff) is refused. Migrations that have shipped must never change: add one.
    pub fn migrate(&self, owner: &'static str, migrations: &[&str]) -> Result<(), DbError> {
        let known = migrations.len() as i64;
        if self.migrated.lock().unwrap_or_else(|p| p.into_inner()).get(owner) == Some(&known) {
            return Ok(());
        }
        let newer = |found| DbError::OwnerVersion { path: self.path.clone(), owner, found, known };
        let found = self.read(|tx| owner_version(tx, owner).map_err(|e| self.err(e)))?;
        if found > known {
            return Err(newer(found));
        }
        if found < known {
            self.write(|tx| {
                let found = owner_version(tx, owner).map_err(|e| self.err(e))?;
                if found > known {
                    return Err(newer(found));
                }
                for (i, sql) in migrations.iter().enumerate().skip(found as usize) {
                    tx.execute_batch(sql).map_err(|source| DbError::Migration {
                        path: self.path.clone(),
                        owner,
                        version: i as i64 + 1,
                        source: Box::new(source),
                    })?;
                }
                if found < known {
                    tx.execute(
                        "INSERT OR REPLACE INTO schema_versions(owner, version) VALUES (?1, ?2)",
                        rusqlite::params![owner, known],
                    )
                    .map_err(|e| self.err(e))?;
                }
                Ok(())
            })?;
        }
        self.migrated.lock().unwrap_or_else(|p| p.into_inner()).insert(owner, known);
        Ok(())
    }

    /// How many of `owner`'s migrations the database has (0: none yet).
    pub fn schema_version(&self, owner: &str) -> Result<i64, DbError> {
        self.read(|tx| owner_version(tx, owner).map_err(|e| self.err(e)))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` in one write transaction (`BEGIN IMMEDIATE`); commits if it returns Ok.
    pub fn write<T, E>(&self, f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<DbError>,
    {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| self.err(e))?;
        let out = f(&tx)?;
        tx.commit().map_err(|e| self.err(e))?;
        self.bound_wal(&conn);
        Ok(out)
    }

    /// Keeps the WAL short. Every process's first read rebuilds SQLite's WAL index by reading
    /// every valid frame of the WAL, so a long WAL taxes every short-lived skiff command (a
    /// 1000-page WAL costs about a millisecond). Once the WAL passes `WAL_LIMIT` bytes, the writer
    /// that grew it checkpoints it into the database and truncates it. It does not wait: when
    /// another process is reading or writing, the checkpoint is left to a later writer.
    fn bound_wal(&self, conn: &Connection) {
        if self.wal_len() <= WAL_LIMIT {
            return;
        }
        if conn.busy_timeout(Duration::ZERO).is_ok() {
            let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        }
        let _ = conn.busy_timeout(BUSY_TIMEOUT);
    }

    /// The WAL's current size in bytes (0 when there is none).
    fn wal_len(&self) -> u64 {
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
    }

    /// Runs `f` in one read transaction (a consistent snapshot).
    pub fn read<T, E>(&self, f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<DbError>,
    {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred).map_err(|e| self.err(e))?;
        let out = f(&tx)?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(out)
    }

    pub fn err(&self, source: rusqlite::Error) -> DbError {
        DbError::Sqlite { path: self.path.clone(), source }
    }
}

fn owner_version(tx: &rusqlite::Transaction<'_>, owner: &str) -> rusqlite::Result<i64> {
    tx.query_row("SELECT version FROM schema_versions WHERE owner = ?1", [owner], |r| r.get(0))
        .optional()
        .map(|v| v.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insert_blob(db: &Db, i: i64) {
        db.write(|tx| {
            tx.execute(
                "INSERT INTO blobs(digest, size) VALUES (?1, ?2)",
                rusqlite::params![format!("sha256:{i:064}"), i],
            )
            .map_err(|e| db.err(e))
        })
        .unwrap();
    }

    /// A database with the image store's tables, as `Store::open` makes it.
    fn open_with_images(path: &Path) -> Db {
        let db = Db::open(path).unwrap();
        db.migrate(crate::schema::OWNER, crate::schema::MIGRATIONS).unwrap();
        db
    }

    #[test]
    fn writers_keep_the_wal_short() {
        let dir = tempfile::tempdir().unwrap();
        let db = open_with_images(&dir.path().join("skiff.db"));
        let mut longest = 0;
        for i in 0..2000 {
            insert_blob(&db, i);
            longest = longest.max(db.wal_len());
        }
        // Without the bound SQLite lets the WAL grow to 1000 pages (4 MiB) before its own checkpoint.
        assert!(longest <= WAL_LIMIT + 8 * (4096 + 24), "the WAL reached {longest} bytes");
        let n: i64 =
            db.read(|tx| tx.query_row("SELECT count(*) FROM blobs", [], |r| r.get(0)).map_err(|e| db.err(e))).unwrap();
        assert_eq!(n, 2000, "every committed row survives the checkpoints");
    }

    #[test]
    fn a_reader_does_not_block_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("skiff.db");
        let db = open_with_images(&path);
        let other = Db::open(&path).unwrap();
        let mut conn = other.lock();
        let reader = conn.transaction_with_behavior(TransactionBehavior::Deferred).unwrap();
        let _: i64 = reader.query_row("SELECT count(*) FROM blobs", [], |r| r.get(0)).unwrap();
        // The reader holds its snapshot: the writers' checkpoints cannot truncate, and must not wait.
        let start = std::time::Instant::now();
        for i in 0..300 {
            insert_blob(&db, i);
        }
        assert!(start.elapsed() < BUSY_TIMEOUT, "a writer waited for the reader");
        drop(reader);
        drop(conn);
        db.write(|tx| tx.execute("DELETE FROM blobs", []).map_err(|e| db.err(e))).unwrap();
        assert!(db.wal_len() <= WAL_LIMIT, "once the reader is gone the next writer truncates the WAL");
    }

    const STEPS: &[&str] = &[
        "CREATE TABLE IF NOT EXISTS t(a TEXT); INSERT INTO t VALUES ('one');",
        "ALTER TABLE t ADD COLUMN b TEXT NOT NULL DEFAULT 'two';",
    ];

    fn rows(db: &Db) -> Vec<(String, String)> {
        db.read(|tx| {
            let mut stmt = tx.prepare("SELECT a, b FROM t").map_err(|e| db.err(e))?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(|e| db.err(e))?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| db.err(e))
        })
        .unwrap()
    }

    #[test]
    fn each_owner_migrates_once_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("skiff.db");
        let db = Db::open(&path).unwrap();
        db.migrate("t-owner", &STEPS[..1]).unwrap();
        assert_eq!(db.schema_version("t-owner").unwrap(), 1);
        // A later skiff brings the next migration; an earlier one's steps are not run again.
        let db = Db::open(&path).unwrap();
        db.migrate("t-owner", STEPS).unwrap();
        db.migrate("t-owner", STEPS).unwrap();
        assert_eq!(db.schema_version("t-owner").unwrap(), 2);
        assert_eq!(rows(&db), vec![("one".to_string(), "two".to_string())]);
        assert_eq!(db.schema_version("another").unwrap(), 0, "owners are counted apart");
        // An older skiff refuses tables a newer one migrated further.
        let err = Db::open(&path).unwrap().migrate("t-owner", &STEPS[..1]).unwrap_err();
        assert!(matches!(err, DbError::OwnerVersion { found: 2, known: 1, .. }), "{err}");
        // A failing migration names itself and leaves nothing half done.
        let bad = [STEPS[0], STEPS[1], "CREATE TABLE u(x); INSERT INTO nowhere VALUES (1);"];
        let err = Db::open(&path).unwrap().migrate("t-owner", &bad).unwrap_err();
        assert!(matches!(err, DbError::Migration { version: 3, .. }), "{err}");
        assert_eq!(db.schema_version("t-owner").unwrap(), 2);
        let u: Option<String> = db
            .read(|tx| {
                tx.query_row("SELECT name FROM sqlite_master WHERE name = 'u'", [], |r| r.get(0))
                    .optional()
                    .map_err(|e| db.err(e))
            })
            .unwrap();
        assert_eq!(u, None);
    }

    #[test]
    fn concurrent_processes_migrate_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("skiff.db");
        // Each thread opens its own connection, as separate skiff processes do, on a new file.
        let handles: Vec<_> = (0..16)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let db = Db::open(&path).unwrap();
                    db.migrate("t-owner", STEPS).unwrap();
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let db = Db::open(&path).unwrap();
        assert_eq!(rows(&db).len(), 1, "the first migration's insert ran once");
        assert_eq!(db.schema_version("t-owner").unwrap(), 2);
    }

    #[test]
    fn newer_database_formats_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("skiff.db");
        Connection::open(&path).unwrap().pragma_update(None, "user_version", 3).unwrap();
        assert!(matches!(Db::open(&path), Err(DbError::Version { found: 3, .. })));
    }
}
