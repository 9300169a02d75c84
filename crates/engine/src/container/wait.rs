//! `docker wait`: until a container is not running, then its exit code.

use crate::error::Result;
use crate::record::Container;
use crate::state::Status;
use crate::Engine;
use std::time::{Duration, Instant};

impl Engine {
    /// Waits (polling the state) until the container is not running; returns its exit code.
    pub fn wait(&self, c: &Container) -> Result<i32> {
        loop {
            match self.status(c) {
                Status::Exited { code, .. } => return Ok(code),
                Status::Created => return Ok(0),
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// Waits up to `timeout` for the container to stop running; whether it did.
    pub(super) fn wait_timeout(&self, c: &Container, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if !self.status(c).is_running() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
