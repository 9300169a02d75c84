//! `docker pause` and `unpause`: the container's cgroup frozen and thawed.

use crate::error::{EngineError, Result};
use crate::record::Container;
use crate::state::Status;
use crate::Engine;

impl Engine {
    /// `docker pause`.
    pub fn pause(&self, c: &Container) -> Result<()> {
        match self.status(c) {
            Status::Running { .. } => Ok(self.cgroup(&c.id)?.freeze()?),
            Status::Paused { .. } => Err(EngineError::AlreadyPaused(c.id.clone())),
            _ => Err(EngineError::NotRunning(c.id.clone())),
        }
    }

    /// `docker unpause`.
    pub fn unpause(&self, c: &Container) -> Result<()> {
        match self.status(c) {
            Status::Paused { .. } => Ok(self.cgroup(&c.id)?.thaw()?),
            _ => Err(EngineError::NotPaused(c.id.clone())),
        }
    }
}
