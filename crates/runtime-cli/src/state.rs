//! A container's state directory under `--root`: the record `state.json` holds, loading it, the
//! status derived from it (the init alive with the same start time, `started`, a frozen cgroup),
//! the OCI state document `state` and `list` print, and the files around it (the stored spec,
//! pid files).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use serde::{Deserialize, Serialize};
use skiff_runtime::cgroups::{CgroupManager, CGROUP_ROOT};
use skiff_runtime::oci_spec::runtime::{Hooks, Spec};

use crate::GlobalOpts;

/// What `state.json` holds.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Record {
    pub id: String,
    pub pid: i32,
    /// The init's start time (field 22 of `/proc/PID/stat`), so a later process reusing the pid is not taken for it.
    pub pid_start: u64,
    /// The holder process (the init's parent).
    pub holder: i32,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The cgroup path (relative to each hierarchy).
    pub cgroup: PathBuf,
    /// The spec's hooks: `start` runs the poststart ones, `delete` the poststop ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<Hooks>,
}

/// The time now as runc writes it (RFC 3339, nanoseconds, UTC).
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

pub fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    Ok(if p.is_absolute() { p.to_path_buf() } else { std::env::current_dir()?.join(p) })
}

/// runc's id rule: letters, digits, `_`, `+`, `-` and `.`, not `.` or `..`.
pub fn validate_id(id: &str) -> anyhow::Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'));
    if !ok {
        bail!("invalid id format: {id}");
    }
    Ok(())
}

/// The state directory and record of container `id`.
pub fn load(g: &GlobalOpts, id: &str) -> anyhow::Result<(PathBuf, Record)> {
    validate_id(id).map_err(|_| anyhow!("container does not exist"))?;
    let dir = g.root.join(id);
    let text = std::fs::read(dir.join("state.json")).map_err(|_| anyhow!("container does not exist"))?;
    let rec: Record = serde_json::from_slice(&text).with_context(|| format!("reading {}", dir.display()))?;
    Ok((dir, rec))
}

/// The container's cgroup, if it has one.
pub fn cgroup(rec: &Record) -> Option<CgroupManager> {
    CgroupManager::new(Path::new(CGROUP_ROOT), &rec.cgroup).ok()
}

/// The cgroup of container `id` when its status is one of `allowed`; otherwise the error says it
/// is not `wanted`.
pub fn cgroup_when(g: &GlobalOpts, id: &str, allowed: &[&str], wanted: &str) -> anyhow::Result<CgroupManager> {
    let (dir, rec) = load(g, id)?;
    if !allowed.contains(&status(&dir, &rec)) {
        bail!("container {id} is not {wanted}");
    }
    cgroup(&rec).ok_or_else(|| anyhow!("container {id} has no cgroup"))
}

/// `created`, `running`, `paused` or `stopped`.
pub fn status(dir: &Path, rec: &Record) -> &'static str {
    if rec.pid <= 0 || skiff_runtime::procs::start_time(rec.pid) != Some(rec.pid_start) {
        return "stopped";
    }
    if !dir.join("started").exists() {
        return "created";
    }
    let frozen = cgroup(rec).and_then(|cg| cg.dir("freezer")).is_some_and(|d| {
        std::fs::read_to_string(d.join("freezer.state")).map(|s| s.trim() == "FROZEN").unwrap_or(false)
            || std::fs::read_to_string(d.join("cgroup.freeze")).map(|s| s.trim() == "1").unwrap_or(false)
    });
    if frozen {
        "paused"
    } else {
        "running"
    }
}

/// The OCI state of a container (runc's fields and order, plus annotations).
pub fn state_json(dir: &Path, rec: &Record, owner: &str) -> serde_json::Value {
    let st = status(dir, rec);
    serde_json::json!({
        "ociVersion": skiff_runtime::OCI_VERSION,
        "id": rec.id,
        "pid": if st == "stopped" { 0 } else { rec.pid },
        "status": st,
        "bundle": rec.bundle,
        "rootfs": rec.rootfs,
        "created": rec.created,
        "owner": owner,
        "annotations": rec.annotations,
    })
}

/// The bundle's `config.json`, its root made absolute.
pub fn load_spec(bundle: &Path) -> anyhow::Result<Spec> {
    let path = bundle.join("config.json");
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!("JSON specification file config.json not found"),
        Err(e) => return Err(e).with_context(|| format!("open {}", path.display())),
    };
    let mut spec: Spec = serde_json::from_slice(&text).context("invalid config.json")?;
    let root = spec.root().clone().ok_or_else(|| anyhow!("root must be specified"))?;
    if root.path().is_relative() {
        let mut r = root.clone();
        r.set_path(bundle.join(root.path()));
        spec.set_root(Some(r));
    }
    Ok(spec)
}

/// The spec container `rec` (state in `dir`) was created from.
pub fn stored_spec(dir: &Path, rec: &Record) -> anyhow::Result<Spec> {
    let path = dir.join("config.json");
    match std::fs::read(&path) {
        Ok(t) => serde_json::from_slice(&t).with_context(|| format!("reading {}", path.display())),
        // Created by an earlier skiff, which kept no copy.
        Err(_) => load_spec(&rec.bundle),
    }
}

/// Writes `pid` to `p` as runc does: a hidden temporary file renamed into place.
pub fn write_pid_file(p: &Path, pid: i32) -> anyhow::Result<()> {
    let p = absolute(p)?;
    let tmp = p.with_file_name(format!(".{}", p.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()));
    std::fs::write(&tmp, pid.to_string()).with_context(|| format!("open {}", tmp.display()))?;
    std::fs::rename(&tmp, &p).with_context(|| format!("rename {}", p.display()))?;
    Ok(())
}

/// Waits (polling /proc: the holder is not our child) until `pid` is gone; bounded at 30 s.
pub fn wait_gone(pid: i32) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while pid > 0 && skiff_runtime::procs::start_time(pid).is_some() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Runs the container's `kind` hooks (poststart, poststop) with its state as `status`; their
/// failures are logged as warnings, as the runtime spec says.
pub fn run_hooks_warning(g: &GlobalOpts, rec: &Record, kind: skiff_runtime::hooks::HookKind, status: &str) {
    let hooks = skiff_runtime::hooks::of_kind(rec.hooks.as_ref(), kind);
    if hooks.is_empty() {
        return;
    }
    let ctx = skiff_runtime::hooks::HookContext {
        id: rec.id.clone(),
        bundle: rec.bundle.clone(),
        annotations: rec.annotations.clone(),
    };
    for w in skiff_runtime::hooks::run_all_warn(kind, hooks, &ctx.state(status, rec.pid)) {
        crate::log::line(g, "warning", &w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_runcs_rule() {
        for ok in ["a", "web-1", "x_y+z.2"] {
            assert!(validate_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a b"] {
            assert_eq!(validate_id(bad).unwrap_err().to_string(), format!("invalid id format: {bad}"));
        }
    }

    #[test]
    fn a_missing_container_does_not_exist() {
        let root = tempfile::tempdir().unwrap();
        let g = GlobalOpts { root: root.path().into(), log: None, log_format: "text".into(), debug: false };
        assert_eq!(load(&g, "nope").unwrap_err().to_string(), "container does not exist");
        assert_eq!(load(&g, "../etc").unwrap_err().to_string(), "container does not exist");
    }
}
