//! [`Engine`]: the one value every container operation works through: the image store (which
//! also holds the container records) and the host paths containers live under: the run root
//! (`/run/skiff`, runtime state), the cgroup root (`/sys/fs/cgroup`) and the `skiff-monitor`
//! binary. Front ends (the CLI, an API server) open one and call its operations
//! (`engine.create(..)`, `engine.start(..)`, ... in [`crate::container`]); tests point the paths
//! somewhere else.

use crate::error::{io, EngineError, Result};
use skiff_image::Store;
use skiff_runtime::cgroups::CgroupManager;
use std::path::{Path, PathBuf};

/// Where the cgroup filesystem is mounted.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The cgroup every container's cgroup is made under (`<cgroup root>/<controller>/skiff/<id>`).
pub const CGROUP_PARENT: &str = "/skiff";

/// The container engine of one store.
pub struct Engine {
    store: Store,
    run_root: PathBuf,
    cgroup_root: PathBuf,
    monitor: Option<PathBuf>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("store", &self.store.root())
            .field("run_root", &self.run_root)
            .field("cgroup_root", &self.cgroup_root)
            .field("monitor", &self.monitor)
            .finish()
    }
}

impl Engine {
    /// The engine of `store` with the host's paths: the run root from `SKIFF_RUN_ROOT` or
    /// `/run/skiff`, the cgroup root `/sys/fs/cgroup`, and `skiff-monitor` from `SKIFF_MONITOR`
    /// or next to the running binary.
    pub fn new(store: Store) -> Engine {
        Engine {
            store,
            run_root: crate::state::default_run_root(),
            cgroup_root: PathBuf::from(CGROUP_ROOT),
            monitor: std::env::var_os("SKIFF_MONITOR").map(PathBuf::from),
        }
    }

    /// Opens the store at `root` (creating it when missing) and its engine.
    pub fn open(root: &Path) -> Result<Engine> {
        Ok(Engine::new(Store::open(root)?))
    }

    /// Keeps runtime state under `run_root` instead.
    pub fn with_run_root(mut self, run_root: PathBuf) -> Engine {
        self.run_root = run_root;
        self
    }

    /// Uses the `skiff-monitor` binary at `path`.
    pub fn with_monitor(mut self, path: PathBuf) -> Engine {
        self.monitor = Some(path);
        self
    }

    /// The image store (and the container records).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Where every container's runtime state lives.
    pub fn run_root(&self) -> &Path {
        &self.run_root
    }

    /// A container's runtime state directory: `<run root>/<id>/`.
    pub fn state_dir(&self, id: &str) -> PathBuf {
        self.run_root.join(id)
    }

    /// Where the cgroup filesystem is mounted.
    pub fn cgroup_root(&self) -> &Path {
        &self.cgroup_root
    }

    /// The cgroup of container `id`.
    pub fn cgroup(&self, id: &str) -> Result<CgroupManager> {
        Ok(CgroupManager::new(&self.cgroup_root, Path::new(&format!("{CGROUP_PARENT}/{id}")))?)
    }

    /// The parent of every container's cgroup.
    pub(crate) fn cgroup_parent(&self) -> Result<CgroupManager> {
        Ok(CgroupManager::new(&self.cgroup_root, Path::new(CGROUP_PARENT))?)
    }

    /// The `skiff-monitor` binary: the one given, else the one next to the running binary.
    pub fn monitor_path(&self) -> Result<PathBuf> {
        if let Some(p) = &self.monitor {
            return Ok(p.clone());
        }
        let exe = std::env::current_exe().map_err(io("locate", Path::new("/proc/self/exe")))?;
        let p = exe.with_file_name("skiff-monitor");
        if p.exists() {
            Ok(p)
        } else {
            Err(EngineError::NoMonitor(p))
        }
    }
}
