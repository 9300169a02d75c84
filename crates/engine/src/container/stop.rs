//! `docker stop`: the stop signal, then SIGKILL to the whole cgroup after the timeout.

use super::lock;
use crate::error::Result;
use crate::record::Container;
use crate::state::Status;
use crate::Engine;
use std::time::Duration;

impl Engine {
    /// `docker stop`: the container's stop signal (SIGTERM unless `--stop-signal`), then SIGKILL
    /// to the whole cgroup after `timeout` seconds (10 by default).
    pub fn stop(&self, c: &Container, timeout: Option<u64>) -> Result<()> {
        let _lock = lock::lock(self.store(), c)?;
        let st = self.status(c);
        let Some(pid) = st.pid() else { return Ok(()) };
        if matches!(st, Status::Paused { .. }) {
            let _ = self.cgroup(&c.id)?.thaw();
        }
        let cfg_sig = c.opts.stop_signal.as_deref().map(skiff_runtime::signal::parse_signal).transpose()?;
        let _ = skiff_runtime::signal(pid, cfg_sig.unwrap_or(libc::SIGTERM));
        let secs = timeout.unwrap_or(10);
        if !self.wait_timeout(c, Duration::from_secs(secs)) {
            let _ = self.cgroup(&c.id).map(|cg| cg.kill_all(libc::SIGKILL));
            let _ = skiff_runtime::signal(pid, libc::SIGKILL);
            self.wait_timeout(c, Duration::from_secs(30));
        }
        Ok(())
    }
}
