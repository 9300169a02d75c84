//! Runtime state under `/run/skiff/<id>/` (tmpfs on most hosts: gone after a
//! reboot, as a running container is), two small files, each written to a
//! temporary name and renamed: `start`, written when the container has been
//! spawned (the init's pid, its monitor's pid and the start time, RFC 3339, one
//! per line), and `exit`, which the monitor writes when it has reaped the
//! container: the exit code, the finish time and `oom` when the memory cgroup's
//! OOM killer struck. (Few files: where /run is a disk, each costs a block.)

use std::path::{Path, PathBuf};

/// Where the state of every container lives unless the engine is told otherwise
/// (`SKIFF_RUN_ROOT` overrides, for tests).
pub fn default_run_root() -> PathBuf {
    std::env::var_os("SKIFF_RUN_ROOT").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/run/skiff"))
}

/// A container's status, derived from the state files and `/proc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Created,
    Running { pid: i32, started: String },
    Paused { pid: i32, started: String },
    Exited { code: i32, started: String, finished: String, oom_killed: bool },
}

impl Status {
    /// Docker's `State.Status` word.
    pub fn word(&self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running { .. } => "running",
            Status::Paused { .. } => "paused",
            Status::Exited { .. } => "exited",
        }
    }

    /// The init's pid while it runs.
    pub fn pid(&self) -> Option<i32> {
        match self {
            Status::Running { pid, .. } | Status::Paused { pid, .. } => Some(*pid),
            _ => None,
        }
    }

    pub fn is_running(&self) -> bool {
        matches!(self, Status::Running { .. } | Status::Paused { .. })
    }
}

fn read(dir: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(file)).ok().map(|s| s.trim_end().to_string())
}

/// The exit recorded in state directory `dir`: (code, finished, oom_killed).
pub fn read_exit(dir: &Path) -> Option<(i32, String, bool)> {
    let text = std::fs::read_to_string(dir.join("exit")).ok()?;
    let mut lines = text.lines();
    let code = lines.next()?.trim().parse().ok()?;
    let finished = lines.next().unwrap_or_default().to_string();
    let oom = lines.next() == Some("oom");
    Some((code, finished, oom))
}

/// The recorded start: (init pid, monitor pid, start time).
fn read_start(dir: &Path) -> Option<(i32, i32, String)> {
    let Some(text) = read(dir, "start") else {
        // A container started by an earlier skiff: one file each.
        let pid = read(dir, "pid")?.parse().ok()?;
        return Some((pid, read(dir, "monitor")?.parse().ok()?, read(dir, "started").unwrap_or_default()));
    };
    let mut lines = text.lines();
    let pid = lines.next()?.trim().parse().ok()?;
    let monitor = lines.next()?.trim().parse().ok()?;
    Some((pid, monitor, lines.next().unwrap_or_default().to_string()))
}

/// The pid of the monitor of the container whose state directory is `dir`, once it has started.
pub fn monitor_pid(dir: &Path) -> Option<i32> {
    read_start(dir).map(|(_, monitor, _)| monitor)
}

/// The status of the container whose state directory is `dir`; `frozen` says whether its cgroup
/// is frozen.
pub fn status(dir: &Path, frozen: impl FnOnce() -> bool) -> Status {
    let start = read_start(dir);
    let started = start.as_ref().map(|s| s.2.clone()).unwrap_or_default();
    if let Some((code, finished, oom_killed)) = read_exit(dir) {
        return Status::Exited { code, started, finished, oom_killed };
    }
    let Some((pid, monitor, _)) = start else {
        return Status::Created;
    };
    // Once the init has exited, its monitor reaps it and then records the exit: until the record
    // exists the container still counts as running. Only when the monitor is gone too without a
    // record (it was killed) is the container lost, reported as Docker reports one: 255.
    if !process_alive(pid) && !process_alive(monitor) {
        // The monitor may have written the record and exited just after the first look.
        if let Some((code, finished, oom_killed)) = read_exit(dir) {
            return Status::Exited { code, started, finished, oom_killed };
        }
        return Status::Exited { code: 255, started, finished: String::new(), oom_killed: false };
    }
    if frozen() {
        Status::Paused { pid, started }
    } else {
        Status::Running { pid, started }
    }
}

/// Whether `pid` exists and is not a zombie.
pub fn process_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s.rsplit_once(')').map(|(_, rest)| !rest.trim_start().starts_with('Z')).unwrap_or(false),
        Err(_) => false,
    }
}

/// Records a start in state directory `dir`: clears a previous exit, writes the pids and the
/// start time.
pub fn record_start(dir: &Path, pid: i32, monitor: i32, started: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let _ = std::fs::remove_file(dir.join("exit"));
    let tmp = dir.join("start.tmp");
    std::fs::write(&tmp, format!("{pid}\n{monitor}\n{started}\n"))?;
    std::fs::rename(&tmp, dir.join("start"))
}

/// Prepares the state directory `dir` before a start (clears the last run's files).
pub fn reset(dir: &Path) -> std::io::Result<()> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)
}

/// Removes the state directory `dir`.
pub fn remove(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_record_is_read_in_both_layouts() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(read_start(t.path()), None);
        // An earlier skiff's: one file each.
        std::fs::write(t.path().join("pid"), "12").unwrap();
        std::fs::write(t.path().join("monitor"), "11").unwrap();
        std::fs::write(t.path().join("started"), "2026-01-01T00:00:00Z").unwrap();
        assert_eq!(read_start(t.path()), Some((12, 11, "2026-01-01T00:00:00Z".into())));
        // Today's: one file, which wins.
        std::fs::write(t.path().join("start"), "22\n21\n2026-02-02T00:00:00Z\n").unwrap();
        assert_eq!(read_start(t.path()), Some((22, 21, "2026-02-02T00:00:00Z".into())));
    }
}
