//! A container's status, derived from its runtime state (`crate::state`) and its cgroup's
//! freezer, with the record's state word brought up to date.

use super::lock;
use crate::record::{self, Container};
use crate::state::{self, Status};
use crate::{rootfs, Engine};

impl Engine {
    /// A container's current status (and the db's state word brought up to date). An exited
    /// container's overlay is released on the way.
    pub fn status(&self, c: &Container) -> Status {
        let s = self.raw_status(c);
        let _ = record::set_state(self.store(), &c.id, s.word());
        if matches!(s, Status::Exited { .. }) {
            self.release_rootfs(c);
        }
        s
    }

    /// The status without touching the record.
    pub(super) fn raw_status(&self, c: &Container) -> Status {
        state::status(&self.state_dir(&c.id), || self.frozen(&c.id))
    }

    /// Whether container `id`'s cgroup is frozen (paused).
    fn frozen(&self, id: &str) -> bool {
        let Ok(cg) = self.cgroup(id) else { return false };
        if let Some(d) = cg.dir("freezer") {
            if let Ok(s) = std::fs::read_to_string(d.join("freezer.state")) {
                return s.trim() == "FROZEN";
            }
            if let Ok(s) = std::fs::read_to_string(d.join("cgroup.freeze")) {
                return s.trim() == "1";
            }
        }
        false
    }

    /// An exited container's overlay is unmounted, as Docker unmounts on exit (cp, export and
    /// diff mount it again on demand). Only when no start, stop or rm holds the container's lock:
    /// a concurrent start may have just mounted it.
    fn release_rootfs(&self, c: &Container) {
        if let Some(_lock) = lock::try_lock(self.store(), c) {
            if matches!(state::status(&self.state_dir(&c.id), || false), Status::Exited { .. }) {
                let _ = rootfs::unmount(&c.dir(self.store()));
            }
        }
    }
}
