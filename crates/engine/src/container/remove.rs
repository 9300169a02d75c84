//! `docker rm`: kills a running container when forced, then unmounts its root filesystem and
//! removes its cgroup, runtime state, anonymous volumes (with `-v`), directory and record, the
//! record last, so that once `ps` no longer lists it nothing of it remains.

use super::{lock, Started};
use crate::error::{EngineError, Result};
use crate::mounts::MountSource;
use crate::record::{self, Container};
use crate::{rootfs, state, Engine};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How `rm` removes.
#[derive(Debug, Clone, Copy, Default)]
pub struct RemoveOptions {
    /// `-f`: kill a running container first.
    pub force: bool,
    /// `-v`: remove its anonymous volumes too.
    pub volumes: bool,
}

impl Engine {
    /// `docker rm [-f] [-v]`: refuses a running container unless `force`.
    pub fn remove(&self, c: &Container, o: RemoveOptions) -> Result<()> {
        self.remove_inner(c, o, None)
    }

    /// `run --rm` in the foreground, once [`Engine::wait_attached`] has returned: `rm -f -v`,
    /// the container's files moved out of the store at once and deleted by its monitor, which
    /// is about to exit anyway, after we have gone on.
    pub fn remove_after_run(&self, c: &Container, started: &mut Started) -> Result<()> {
        self.remove_inner(c, RemoveOptions { force: true, volumes: true }, Some(started))
    }

    fn remove_inner(&self, c: &Container, o: RemoveOptions, started: Option<&mut Started>) -> Result<()> {
        let store = self.store();
        let _lock = lock::lock(store, c)?;
        if record::find(store, &c.id).is_err() {
            // Removed while we waited for the lock (e.g. by the monitor of a --rm container).
            return Ok(());
        }
        // Not `status`: the record's state word need not be brought up to date, it is going.
        let st = self.raw_status(c);
        if st.is_running() {
            if !o.force {
                return Err(EngineError::RemoveRunning(c.id.clone()));
            }
            if let Ok(cg) = self.cgroup(&c.id) {
                let _ = cg.kill_all(libc::SIGKILL);
                let _ = cg.thaw();
            }
            if let Some(pid) = st.pid() {
                let _ = skiff_runtime::signal(pid, libc::SIGKILL);
            }
            self.wait_timeout(c, Duration::from_secs(30));
        }
        let dir = c.dir(store);
        if let Ok(Some(rt)) = crate::oci_runtime::resolve(c.opts.runtime.as_deref()) {
            crate::oci_runtime::delete(&rt, self.run_root(), &c.id);
        }
        let mark = skiff_runtime::timing::mark;
        mark("remove: checked");
        rootfs::unmount(&dir)?;
        mark("remove: unmounted");
        if let Ok(cg) = self.cgroup(&c.id) {
            // A killed process leaves its cgroup a moment after its parent sees it exit (and an
            // exec'd straggler may still be in it): kill what is left and retry, for up to 2 s.
            for _ in 0..200 {
                if cg.remove().is_ok() {
                    break;
                }
                let _ = cg.kill_all(libc::SIGKILL);
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        mark("remove: cgroup removed");
        // With a monitor to hand them to (a foreground `run --rm`), the state directory and the
        // container's directory are moved aside at once, a rename each, and their files deleted by
        // the monitor after we have gone on. The names carry the monitor's pid, so leftovers of a
        // monitor that died first are known: `container prune` and `system check --repair` remove
        // them.
        let mut aside = Vec::new();
        let mut move_aside = |from: &Path, to: PathBuf| {
            if started.is_some() && std::fs::rename(from, &to).is_ok() {
                aside.push(to);
            }
        };
        let monitor = started.as_ref().map_or(0, |s| s.monitor);
        let state_dir = self.state_dir(&c.id);
        move_aside(&state_dir, self.run_root().join(format!(".rm-{}-{monitor}", c.id)));
        state::remove(&state_dir);
        if o.volumes {
            for m in &c.opts.mounts {
                if let MountSource::Volume { name, anonymous: true } = &m.source {
                    let _ = std::fs::remove_dir_all(store.root().join("volumes").join(name));
                }
            }
        }
        // The record goes last: once `ps` no longer lists it, nothing of it remains.
        move_aside(&dir, store.tmp_dir().join(format!("rm-container-{}-{monitor}", &c.id[..12.min(c.id.len())])));
        if !aside.is_empty() && !started.is_some_and(|s| s.hand_off(&aside)) {
            for p in &aside {
                let _ = std::fs::remove_dir_all(p);
            }
        }
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(EngineError::Io { op: "remove", path: dir, source: e }),
        }
        mark("remove: files removed");
        record::delete(store, &c.id)?;
        Ok(())
    }
}
