//! The attached half of a foreground `run` or `start -a`: waiting for the container's exit while
//! the signals a user sends the CLI are forwarded to the container, with the terminal in raw mode
//! for `-it`.

use super::Started;
use crate::record::Container;
use crate::{state, Engine};
use skiff_runtime::process::{self, ExitStatus};
use skiff_runtime::signal::{self, SignalSet, FORWARDED_SIGNALS};
use skiff_runtime::tty::RawTerminal;
use std::os::fd::AsFd;

impl Engine {
    /// Waits for an attached start's container to exit (its monitor says the exit is recorded),
    /// forwarding SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to the container. Returns
    /// the exit code.
    pub fn wait_attached(&self, c: &Container, started: &Started) -> i32 {
        // With -it on a terminal, keys go to the container's pty unprocessed.
        let _raw = (c.opts.tty && c.opts.interactive).then(RawTerminal::enter).flatten();
        let set = SignalSet::new(&FORWARDED_SIGNALS).unwrap_or_else(|_| SignalSet::empty());
        // Already blocked by `start` (so that none is lost in between); blocked again in case.
        let _ = set.block();
        let forward = |sig| {
            let _ = skiff_runtime::signal(started.pid, sig);
        };
        let status = match &started.handoff {
            Some(h) => {
                let _ = signal::wait_readable_forwarding(h.done.as_fd(), &set, forward);
                let mut byte = [0u8; 1];
                if matches!(rustix::io::read(&h.done, &mut byte), Ok(1)) {
                    h.recorded.set(true);
                    None
                } else {
                    // The monitor is gone without a word (killed): its status is all there is.
                    process::wait(started.monitor).ok()
                }
            }
            None => signal::reap_forwarding(started.monitor, &set, forward).ok(),
        };
        match (state::read_exit(&self.state_dir(&c.id)), status) {
            (Some((code, _, _)), _) => code,
            (None, Some(ExitStatus::Exited(code))) => code,
            _ => 255,
        }
    }
}
