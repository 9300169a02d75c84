//! `docker container prune`: every stopped container removed, then what containers that are
//! gone left behind (empty cgroups, state a dead monitor was to delete, unused init layers).

use super::RemoveOptions;
use crate::error::Result;
use crate::record;
use crate::{rootfs, state, Engine};

impl Engine {
    /// `docker container prune`: removes every stopped container; returns their ids and the
    /// bytes of their writable layers.
    pub fn prune(&self) -> Result<Vec<(String, u64)>> {
        let store = self.store();
        let mut gone = Vec::new();
        for c in record::list(store)? {
            if !self.status(&c).is_running() {
                let size = crate::files::dir_size(&c.dir(store).join("upper"));
                self.remove(&c, RemoveOptions::default())?;
                gone.push((c.id, size));
            }
        }
        self.sweep_cgroups()?;
        let images: Vec<skiff_image::Digest> = record::list(store)?.into_iter().map(|c| c.image_id).collect();
        rootfs::collect_init_layers(store, images.iter())?;
        Ok(gone)
    }

    /// Removes the empty cgroups of containers that are gone without removing them (a run killed
    /// with its monitor, say), and state directories a dead monitor was to delete. Cgroups are
    /// shared by every store on the host, so one is taken only when it is named as a container id,
    /// no container of this store has that id, and its runtime state says it is over: no state
    /// directory, an exit recorded, or its monitor dead. (A container of another store that is
    /// starting has a state directory and no monitor yet: it is left alone.) A cgroup with
    /// processes in it is never removed.
    fn sweep_cgroups(&self) -> Result<()> {
        // State directories moved aside for a monitor that died before deleting them.
        for e in std::fs::read_dir(self.run_root()).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let owner =
                name.strip_prefix(".rm-").and_then(|n| n.rsplit('-').next()).and_then(|p| p.parse::<i32>().ok());
            if owner.is_some_and(|p| !state::process_alive(p)) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        let Ok(parent) = self.cgroup_parent() else { return Ok(()) };
        let known: std::collections::HashSet<String> = record::list(self.store())?.into_iter().map(|c| c.id).collect();
        for id in parent.children() {
            if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) || known.contains(&id) {
                continue;
            }
            let dir = self.state_dir(&id);
            let monitor = state::monitor_pid(&dir);
            let over = !dir.exists() || dir.join("exit").exists() || monitor.is_some_and(|p| !state::process_alive(p));
            if over {
                if let Ok(cg) = self.cgroup(&id) {
                    let _ = cg.remove();
                }
            }
        }
        Ok(())
    }
}
