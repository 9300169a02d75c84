//! `docker kill`: a signal to the container's init.

use crate::error::{EngineError, Result};
use crate::record::Container;
use crate::state::Status;
use crate::Engine;

impl Engine {
    /// `docker kill`: sends `signal` to the init (a paused container is thawed for SIGKILL).
    pub fn kill(&self, c: &Container, signal: i32) -> Result<()> {
        match self.status(c) {
            Status::Running { pid, .. } => Ok(skiff_runtime::signal(pid, signal)?),
            Status::Paused { pid, .. } => {
                skiff_runtime::signal(pid, signal)?;
                if signal == libc::SIGKILL {
                    let _ = self.cgroup(&c.id)?.thaw();
                }
                Ok(())
            }
            _ => Err(EngineError::NotRunning(c.id.clone())),
        }
    }
}
