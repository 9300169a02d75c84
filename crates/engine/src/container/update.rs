//! `docker update`: new resource limits, recorded and applied to a running container's cgroup.

use crate::error::{json, Result};
use crate::options::{HostCpus, Resources};
use crate::record::{self, Container};
use crate::Engine;

impl Engine {
    /// `docker update`: records the new limits and applies the ones `u` sets to a running
    /// container's cgroup.
    pub fn update(&self, c: &Container, u: &Resources) -> Result<()> {
        let mut c = c.clone();
        let new = c.opts.resources.updated(u);
        new.check(true, HostCpus::read)?;
        if self.status(&c).is_running() {
            // What `u` sets, with the swap limit a new memory limit brings along.
            let mut delta = u.clone();
            if u.memory.is_some() {
                delta.memory_swap = new.memory_swap;
            }
            let res: oci_spec::runtime::LinuxResources =
                serde_json::from_value(delta.oci()).map_err(json("resources"))?;
            self.cgroup(&c.id)?.update(&res)?;
        }
        c.opts.resources = new;
        record::save(self.store(), &c)?;
        Ok(())
    }
}
