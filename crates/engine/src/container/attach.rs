//! The attached half of a foreground `run` or `start -a`: waiting for the container's exit while
//! the signals a user sends the CLI are forwarded to the container, with the terminal in raw mode
//! for `-it`.

use super::Started;
use crate::lifecycle::{reap_forwarding_signals, set_forwarded_signals, wait_forwarding_signals, RawTerminal};
use crate::record::Container;
use crate::{state, Engine};
use std::os::fd::AsFd;

impl Engine {
    /// Waits for an attached start's container to exit (its monitor says the exit is recorded),
    /// forwarding SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to the container. Returns
    /// the exit code.
    pub fn wait_attached(&self, c: &Container, started: &Started) -> i32 {
        // With -it on a terminal, keys go to the container's pty unprocessed.
        let _raw = (c.opts.tty && c.opts.interactive).then(RawTerminal::enter).flatten();
        let set = set_forwarded_signals(libc::SIG_BLOCK);
        let forward = |sig| {
            let _ = skiff_runtime::signal(started.pid, sig);
        };
        let status = match &started.handoff {
            Some(h) => {
                wait_forwarding_signals(h.done.as_fd(), &set, forward);
                let mut byte = [0u8; 1];
                if matches!(rustix::io::read(&h.done, &mut byte), Ok(1)) {
                    h.recorded.set(true);
                    None
                } else {
                    // The monitor is gone without a word (killed): its status is all there is.
                    let mut status = 0;
                    // SAFETY: reaping our own child; `status` is a valid out pointer.
                    unsafe { libc::waitpid(started.monitor, &mut status, 0) };
                    Some(status)
                }
            }
            None => Some(reap_forwarding_signals(started.monitor, &set, forward)),
        };
        match (state::read_exit(&self.state_dir(&c.id)), status) {
            (Some((code, _, _)), _) => code,
            (None, Some(status)) if libc::WIFEXITED(status) => libc::WEXITSTATUS(status),
            _ => 255,
        }
    }
}
