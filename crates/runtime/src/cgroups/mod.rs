//! Cgroups: a container's cgroup under an injectable root (normally `/sys/fs/cgroup`), v1 or v2
//! chosen by probing the root (`cgroup.controllers` there means the unified v2 hierarchy; otherwise
//! each directory under the root is a v1 hierarchy, `unified` excepted). The manager creates the
//! cgroup, applies `linux.resources` (memory, cpu, cpuset, pids, blkio weight, devices on v1),
//! updates them live, reads stats, freezes, kills and removes. Controllers are plain file writes,
//! so both versions are tested against a temporary tree as well as for real.

mod devices;
mod v1;
mod v2;

pub use devices::attach_device_filter;

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

/// Where the host's cgroup filesystem is mounted: the root a real container's cgroup lives under.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Errors of the cgroup manager; each carries the file or directory that failed.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cgroup root {0} has no cgroup hierarchy")]
    NoHierarchy(PathBuf),
    #[error("creating cgroup {path}: {source}")]
    Create { path: PathBuf, source: std::io::Error },
    #[error("writing {value:?} to {path}: {source}")]
    Write { path: PathBuf, value: String, source: std::io::Error },
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("removing cgroup {path}: {source}")]
    Remove { path: PathBuf, source: std::io::Error },
    #[error("invalid cgroup value in {path}: {value:?}")]
    Parse { path: PathBuf, value: String },
    #[error("cgroup path {0:?} must not contain '..'")]
    BadPath(String),
    /// The kernel clamped `cpu.shares` (runc's words).
    #[error("the {bound} allowed cpu-shares is {value}")]
    SharesOutOfRange { bound: &'static str, value: u64 },
}

pub type Result<T> = std::result::Result<T, CgroupError>;

/// Resource usage of a cgroup, the numbers `docker stats` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupStats {
    pub cpu_usage_ns: u64,
    pub memory_usage: u64,
    /// `None` when unlimited.
    pub memory_limit: Option<u64>,
    pub pids_current: u64,
    /// `None` when unlimited.
    pub pids_limit: Option<u64>,
    pub blkio_read_bytes: u64,
    pub blkio_write_bytes: u64,
    pub oom_kill_count: u64,
}

/// Which cgroup version a manager drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    V1,
    V2,
}

/// One container's cgroup.
#[derive(Debug, Clone)]
pub struct CgroupManager {
    root: PathBuf,
    rel: PathBuf,
    version: CgroupVersion,
    /// v1: (hierarchy name, absolute dir of this cgroup in it).
    hierarchies: Vec<(String, PathBuf)>,
}

pub(crate) fn write(path: &Path, value: &str) -> Result<()> {
    std::fs::write(path, value).map_err(|source| CgroupError::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    })
}

pub(crate) fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| CgroupError::Read { path: path.to_path_buf(), source })
}

pub(crate) fn read_u64(path: &Path) -> Result<u64> {
    let s = read(path)?;
    s.trim().parse().map_err(|_| CgroupError::Parse { path: path.to_path_buf(), value: s.trim().to_string() })
}

/// Reads a "key value" line from a flat-keyed file (memory.events, cpu.stat, ...).
pub(crate) fn keyed(path: &Path, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(path).ok()?;
    s.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next() == Some(key)).then(|| it.next().and_then(|v| v.parse().ok())).flatten()
    })
}

impl CgroupManager {
    /// Probes `root` for the cgroup version and names the cgroup at `cgroups_path` (relative to
    /// each hierarchy's root; a leading '/' is ignored).
    pub fn new(root: &Path, cgroups_path: &Path) -> Result<Self> {
        let rel_s = cgroups_path.to_string_lossy();
        if cgroups_path.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
            return Err(CgroupError::BadPath(rel_s.to_string()));
        }
        let rel = PathBuf::from(rel_s.trim_start_matches('/'));
        if root.join("cgroup.controllers").exists() {
            return Ok(Self { root: root.to_path_buf(), rel, version: CgroupVersion::V2, hierarchies: Vec::new() });
        }
        let mut hierarchies = Vec::new();
        let mut seen = Vec::new();
        let entries =
            std::fs::read_dir(root).map_err(|source| CgroupError::Read { path: root.to_path_buf(), source })?;
        let mut names: Vec<String> = entries.flatten().map(|e| e.file_name().to_string_lossy().to_string()).collect();
        names.sort();
        for name in names {
            let dir = root.join(&name);
            if name == "unified" || !dir.is_dir() {
                continue;
            }
            // Co-mounted hierarchies appear as symlinks (cpu -> cpu,cpuacct): keep one of each.
            // (One readlink, not canonicalize: that would readlink every component of the path.)
            let canon = match std::fs::read_link(&dir) {
                Ok(target) => root.join(target),
                Err(_) => dir.clone(),
            };
            if seen.contains(&canon) {
                continue;
            }
            seen.push(canon.clone());
            hierarchies.push((name, canon.join(&rel)));
        }
        if hierarchies.is_empty() {
            return Err(CgroupError::NoHierarchy(root.to_path_buf()));
        }
        Ok(Self { root: root.to_path_buf(), rel, version: CgroupVersion::V1, hierarchies })
    }

    pub fn version(&self) -> CgroupVersion {
        self.version
    }

    /// The cgroup's directory on v2, or in the named v1 hierarchy (e.g. "memory").
    pub fn dir(&self, hierarchy: &str) -> Option<PathBuf> {
        match self.version {
            CgroupVersion::V2 => Some(self.root.join(&self.rel)),
            CgroupVersion::V1 => {
                self.hierarchies.iter().find(|(n, _)| n.split(',').any(|c| c == hierarchy)).map(|(_, p)| p.clone())
            }
        }
    }

    /// v1: (hierarchy name, host directory) for every hierarchy, used for the container's
    /// `/sys/fs/cgroup` binds. Empty on v2.
    pub fn v1_dirs(&self) -> Vec<(String, String)> {
        self.hierarchies.iter().map(|(n, p)| (n.clone(), p.to_string_lossy().to_string())).collect()
    }

    /// Creates the cgroup (all levels) and applies the resources.
    pub fn create(&self, resources: Option<&LinuxResources>) -> Result<()> {
        match self.version {
            CgroupVersion::V1 => v1::create(&self.hierarchies)?,
            CgroupVersion::V2 => {
                v2::create(&self.root, &self.rel)?;
                if let Some(devs) = resources.and_then(|r| r.devices().as_ref()) {
                    attach_device_filter(&self.root.join(&self.rel), devs)?;
                }
            }
        }
        if let Some(r) = resources {
            self.apply(r, true)?;
        }
        Ok(())
    }

    /// Applies resources; `initial` also writes the device rules (v1), which only creation sets.
    pub fn apply(&self, resources: &LinuxResources, initial: bool) -> Result<()> {
        match self.version {
            CgroupVersion::V1 => v1::apply(self, resources, initial),
            CgroupVersion::V2 => v2::apply(&self.root.join(&self.rel), resources),
        }
    }

    /// Live update of a running container's limits.
    pub fn update(&self, resources: &LinuxResources) -> Result<()> {
        self.apply(resources, false)
    }

    /// The files through which a single-threaded process moves itself into the cgroup by writing
    /// "0": every v1 hierarchy's `tasks`. The kernel moves the writing thread alone there without
    /// taking the global threadgroup lock, whose first writer after a quiet spell waits a whole
    /// RCU grace period (10-20 ms here); `cgroup.procs` always takes it. Empty on v2, where a
    /// thread cannot move by itself between domains: use [`add_pid`](Self::add_pid) there.
    pub fn self_join_files(&self) -> Vec<PathBuf> {
        match self.version {
            CgroupVersion::V1 => self.hierarchies.iter().map(|(_, d)| d.join("tasks")).collect(),
            CgroupVersion::V2 => Vec::new(),
        }
    }

    /// Moves a process into the cgroup (every hierarchy on v1).
    pub fn add_pid(&self, pid: i32) -> Result<()> {
        match self.version {
            CgroupVersion::V1 => {
                for (_, d) in &self.hierarchies {
                    write(&d.join("cgroup.procs"), &pid.to_string())?;
                }
                Ok(())
            }
            CgroupVersion::V2 => write(&self.root.join(&self.rel).join("cgroup.procs"), &pid.to_string()),
        }
    }

    /// The pids in the cgroup.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let d = match self.version {
            CgroupVersion::V1 => self.dir("pids").or_else(|| self.hierarchies.first().map(|h| h.1.clone())),
            CgroupVersion::V2 => Some(self.root.join(&self.rel)),
        };
        let Some(d) = d else { return Ok(Vec::new()) };
        Ok(read(&d.join("cgroup.procs"))?.lines().filter_map(|l| l.trim().parse().ok()).collect())
    }

    pub fn stats(&self) -> Result<CgroupStats> {
        match self.version {
            CgroupVersion::V1 => v1::stats(self),
            CgroupVersion::V2 => v2::stats(&self.root.join(&self.rel)),
        }
    }

    /// How many times the kernel's OOM killer killed a process of this cgroup.
    pub fn oom_kill_count(&self) -> Result<u64> {
        Ok(self.stats()?.oom_kill_count)
    }

    /// Freezes every process and waits until the kernel reports the cgroup frozen.
    pub fn freeze(&self) -> Result<()> {
        match self.version {
            CgroupVersion::V1 => v1::set_freezer(self, true),
            CgroupVersion::V2 => v2::set_frozen(&self.root.join(&self.rel), true),
        }
    }

    pub fn thaw(&self) -> Result<()> {
        match self.version {
            CgroupVersion::V1 => v1::set_freezer(self, false),
            CgroupVersion::V2 => v2::set_frozen(&self.root.join(&self.rel), false),
        }
    }

    /// Sends `signal` to every process in the cgroup (frozen first so none can fork away).
    pub fn kill_all(&self, signal: i32) -> Result<()> {
        if self.version == CgroupVersion::V2 && signal == libc::SIGKILL {
            let kill = self.root.join(&self.rel).join("cgroup.kill");
            if kill.exists() {
                return write(&kill, "1");
            }
        }
        let frozen = self.freeze().is_ok();
        for pid in self.pids()? {
            let _ = crate::sys::kill(pid, signal);
        }
        if frozen {
            self.thaw()?;
        }
        Ok(())
    }

    /// The cgroup's directory in every hierarchy (one on v2).
    fn all_dirs(&self) -> Vec<PathBuf> {
        match self.version {
            CgroupVersion::V1 => self.hierarchies.iter().map(|h| h.1.clone()).collect(),
            CgroupVersion::V2 => vec![self.root.join(&self.rel)],
        }
    }

    /// The names of the cgroup's child cgroups, in any hierarchy, sorted.
    pub fn children(&self) -> Vec<String> {
        let mut names = std::collections::BTreeSet::new();
        for d in self.all_dirs() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    names.insert(e.file_name().to_string_lossy().into_owned());
                }
            }
        }
        names.into_iter().collect()
    }

    /// Removes the cgroup; keeps going after a failure and reports the first one.
    pub fn remove(&self) -> Result<()> {
        let dirs = self.all_dirs();
        let mut first = None;
        for d in dirs {
            match std::fs::remove_dir(&d) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    first.get_or_insert(CgroupError::Remove { path: d, source });
                }
            }
        }
        first.map_or(Ok(()), Err)
    }
}

/// Docker's `--cpu-shares` (v1, 2..262144) to v2's `cpu.weight` (1..10000).
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 100;
    }
    1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142
}

/// Docker's `--blkio-weight` (10..1000) to v2's `io.weight` (1..10000).
pub fn blkio_to_io_weight(weight: u64) -> u64 {
    1 + (weight.clamp(10, 1000) - 10) * 9999 / 990
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_conversions_match_runc() {
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10000);
        assert_eq!(blkio_to_io_weight(500), 4950);
    }
}
