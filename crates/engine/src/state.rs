//! Runtime state under `/run/skiff/<id>/` (tmpfs: gone after a reboot, as a
//! running container is): `pid` (the container init), `monitor` (its
//! monitor's pid), `started` (RFC 3339), and `exit`, which the monitor writes
//! by rename when it has reaped the container: the exit code, the finish
//! time and `oom` when the memory cgroup's OOM killer struck.

use std::path::{Path, PathBuf};

/// Where the state of every container lives (`SKIFF_RUN_ROOT` overrides, for tests).
pub fn run_root() -> PathBuf {
    std::env::var_os("SKIFF_RUN_ROOT").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/run/skiff"))
}

/// `/run/skiff/<id>/`.
pub fn state_dir(id: &str) -> PathBuf {
    run_root().join(id)
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

/// The recorded exit: (code, finished, oom_killed).
pub fn read_exit(id: &str) -> Option<(i32, String, bool)> {
    let text = std::fs::read_to_string(state_dir(id).join("exit")).ok()?;
    let mut lines = text.lines();
    let code = lines.next()?.trim().parse().ok()?;
    let finished = lines.next().unwrap_or_default().to_string();
    let oom = lines.next() == Some("oom");
    Some((code, finished, oom))
}

/// The status of container `id`; `frozen` says whether its cgroup is frozen.
pub fn status(id: &str, frozen: impl FnOnce() -> bool) -> Status {
    let dir = state_dir(id);
    let started = read(&dir, "started").unwrap_or_default();
    if let Some((code, finished, oom_killed)) = read_exit(id) {
        return Status::Exited { code, started, finished, oom_killed };
    }
    let Some(pid) = read(&dir, "pid").and_then(|p| p.parse::<i32>().ok()) else {
        return Status::Created;
    };
    // Once the init has exited, its monitor reaps it and then records the exit: until the record
    // exists the container still counts as running. Only when the monitor is gone too without a
    // record (it was killed) is the container lost, reported as Docker reports one: 255.
    let monitor_alive = || read(&dir, "monitor").and_then(|p| p.parse::<i32>().ok()).is_some_and(process_alive);
    if !process_alive(pid) && !monitor_alive() {
        // The monitor may have written the record and exited just after the first look.
        if let Some((code, finished, oom_killed)) = read_exit(id) {
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

/// Records a start: clears a previous exit, writes pid, monitor and start time.
pub fn record_start(id: &str, pid: i32, monitor: i32, started: &str) -> std::io::Result<()> {
    let dir = state_dir(id);
    std::fs::create_dir_all(&dir)?;
    let _ = std::fs::remove_file(dir.join("exit"));
    for (f, v) in [("started", started.to_string()), ("monitor", monitor.to_string()), ("pid", pid.to_string())] {
        let tmp = dir.join(format!("{f}.tmp"));
        std::fs::write(&tmp, v)?;
        std::fs::rename(&tmp, dir.join(f))?;
    }
    Ok(())
}

/// Prepares the state directory before a start (clears the last run's files).
pub fn reset(id: &str) -> std::io::Result<PathBuf> {
    let dir = state_dir(id);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Removes the state directory.
pub fn remove(id: &str) {
    let _ = std::fs::remove_dir_all(state_dir(id));
}
