//! Signals: names and numbers, the signals a foreground CLI forwards to its container, the
//! signal mask, and waiting on an fd (or for a child) while forwarding the signals that queue
//! meanwhile, read from a signalfd(2); dispositions (ignore, die of a signal's default action).
//!
//! rustix has no safe signal-mask, signalfd or disposition calls, so these are libc calls in
//! `unsafe` blocks; waiting, reading and polling are [`crate::fd`]'s and [`crate::process`]'s.
//! See [signal(7)], [sigprocmask(2)], [signalfd(2)].
//!
//! [signal(7)]: https://man7.org/linux/man-pages/man7/signal.7.html
//! [sigprocmask(2)]: https://man7.org/linux/man-pages/man2/sigprocmask.2.html
//! [signalfd(2)]: https://man7.org/linux/man-pages/man2/signalfd.2.html

use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};

use crate::fd::{self, PollFd, PollFlags};
use crate::process::{self, ExitStatus, PidFd};

/// What failed, with the signal or input that failed.
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    /// Docker's words for a name or number that is no signal.
    #[error("invalid signal: {0}")]
    Unknown(String),
    #[error("signal {0} is out of range")]
    OutOfRange(i32),
    #[error("changing the signal mask: {source}")]
    Mask { source: std::io::Error },
    #[error("opening a signalfd: {source}")]
    SignalFd { source: std::io::Error },
    #[error("reading the signalfd: {source}")]
    Read { source: std::io::Error },
    #[error("setting the disposition of signal {signal}: {source}")]
    Disposition { signal: i32, source: std::io::Error },
    #[error(transparent)]
    Fd(#[from] fd::FdError),
    #[error(transparent)]
    Process(#[from] process::ProcessError),
}

/// The signals an attached CLI forwards to its container (SIGINT, SIGTERM, SIGHUP, SIGQUIT,
/// SIGUSR1, SIGUSR2).
pub const FORWARDED_SIGNALS: [libc::c_int; 6] =
    [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT, libc::SIGUSR1, libc::SIGUSR2];

/// Parses a signal name or number (`KILL`, `SIGTERM`, `sigterm`, `9`; numbers 1 to 64).
pub fn parse_signal(s: &str) -> Result<i32, SignalError> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let n = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "CHLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "WINCH" => libc::SIGWINCH,
        _ => return Err(SignalError::Unknown(s.to_string())),
    };
    Ok(n)
}

/// A set of signals (a `sigset_t`).
#[derive(Clone, Copy)]
pub struct SignalSet(libc::sigset_t);

impl std::fmt::Debug for SignalSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries((1..=libc::SIGRTMAX()).filter(|s| self.contains(*s))).finish()
    }
}

impl SignalSet {
    /// The set of `signals`; fails for a number that is no signal.
    pub fn new(signals: &[libc::c_int]) -> Result<SignalSet, SignalError> {
        let mut set = SignalSet::empty();
        for &s in signals {
            // SAFETY: sigaddset writes within the initialised set it is given.
            if unsafe { libc::sigaddset(&mut set.0, s) } != 0 {
                return Err(SignalError::OutOfRange(s));
            }
        }
        Ok(set)
    }

    /// No signal.
    pub fn empty() -> SignalSet {
        // SAFETY: sigset_t is plain data; sigemptyset initialises it before any use.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: a valid, writable sigset_t.
        unsafe { libc::sigemptyset(&mut set) };
        SignalSet(set)
    }

    pub fn contains(&self, signal: libc::c_int) -> bool {
        // SAFETY: sigismember reads the initialised set; an invalid number returns -1.
        unsafe { libc::sigismember(&self.0, signal) == 1 }
    }

    /// Blocks these signals in this thread (and the processes it forks from now on): they queue
    /// until unblocked or read from a [`SignalFd`].
    pub fn block(&self) -> Result<(), SignalError> {
        self.apply(libc::SIG_BLOCK).map(drop)
    }

    /// Unblocks these signals.
    pub fn unblock(&self) -> Result<(), SignalError> {
        self.apply(libc::SIG_UNBLOCK).map(drop)
    }

    /// Blocks these signals until the guard is dropped, which restores the mask as it was.
    pub fn block_scoped(&self) -> Result<BlockedSignals, SignalError> {
        self.apply(libc::SIG_BLOCK).map(|previous| BlockedSignals { previous })
    }

    fn apply(&self, how: libc::c_int) -> Result<SignalSet, SignalError> {
        let mut previous = SignalSet::empty();
        // SAFETY: both sets are valid sigset_t values; pthread_sigmask reads one, writes the other.
        let rc = unsafe { libc::pthread_sigmask(how, &self.0, &mut previous.0) };
        if rc != 0 {
            return Err(SignalError::Mask { source: std::io::Error::from_raw_os_error(rc) });
        }
        Ok(previous)
    }
}

/// Signals blocked by [`SignalSet::block_scoped`]; dropping it restores the mask it replaced.
#[derive(Debug)]
pub struct BlockedSignals {
    previous: SignalSet,
}

impl Drop for BlockedSignals {
    fn drop(&mut self) {
        let _ = self.previous.apply(libc::SIG_SETMASK);
    }
}

/// A signalfd: readable while a signal of its set is pending (the set must be blocked, or the
/// signals are delivered as usual instead of queueing).
#[derive(Debug)]
pub struct SignalFd(OwnedFd);

impl SignalFd {
    pub fn new(set: &SignalSet) -> Result<SignalFd, SignalError> {
        // SAFETY: signalfd reads the valid set; -1 asks for a new fd.
        let raw = unsafe { libc::signalfd(-1, &set.0, libc::SFD_CLOEXEC) };
        if raw < 0 {
            return Err(SignalError::SignalFd { source: std::io::Error::last_os_error() });
        }
        // SAFETY: signalfd returned a new fd that nothing else owns.
        Ok(SignalFd(unsafe { OwnedFd::from_raw_fd(raw) }))
    }

    /// Takes one pending signal off the queue and returns its number (blocks while none is).
    pub fn read(&self) -> Result<i32, SignalError> {
        // One signalfd_siginfo (128 bytes); its first field is the signal number.
        let mut info = [0u8; std::mem::size_of::<libc::signalfd_siginfo>()];
        let n = fd::read(&self.0, &mut info).map_err(|e| SignalError::Read { source: e.io() })?;
        if n < 4 {
            return Err(SignalError::Read { source: std::io::ErrorKind::UnexpectedEof.into() });
        }
        Ok(u32::from_ne_bytes([info[0], info[1], info[2], info[3]]) as i32)
    }
}

impl AsFd for SignalFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// Waits until `fd` is readable (or hung up) while the signals in `set`, blocked by the caller
/// so that they queue, are handed to `forward` as they arrive.
pub fn wait_readable_forwarding(
    fd: impl AsFd,
    set: &SignalSet,
    mut forward: impl FnMut(i32),
) -> Result<(), SignalError> {
    let sfd = SignalFd::new(set)?;
    loop {
        let mut fds = [PollFd::new(&fd, PollFlags::IN), PollFd::new(&sfd, PollFlags::IN)];
        fd::poll(&mut fds, None)?;
        let (done, signalled) = (fd::ready(&fds[0]), fd::ready(&fds[1]));
        if signalled {
            forward(sfd.read()?);
        }
        if done {
            return Ok(());
        }
    }
}

/// Waits for our child `child` to exit while the signals in `set` (blocked by the caller) are
/// handed to `forward`; reaps it and returns how it ended. Should forwarding fail (no pidfd, no
/// signalfd), the child is still waited for, without forwarding.
pub fn reap_forwarding(child: i32, set: &SignalSet, forward: impl FnMut(i32)) -> Result<ExitStatus, SignalError> {
    if let Ok(pidfd) = PidFd::open(child) {
        let _ = wait_readable_forwarding(&pidfd, set, forward);
    }
    Ok(process::wait(child)?)
}

/// Sets the disposition of `signals` to "ignore" (survives execve).
pub fn ignore(signals: &[libc::c_int]) -> Result<(), SignalError> {
    for &s in signals {
        set_disposition(s, libc::SIG_IGN)?;
    }
    Ok(())
}

fn set_disposition(signal: libc::c_int, handler: libc::sighandler_t) -> Result<(), SignalError> {
    // SAFETY: SIG_IGN and SIG_DFL are valid dispositions that run no code of ours.
    if unsafe { libc::signal(signal, handler) } == libc::SIG_ERR {
        return Err(SignalError::Disposition { signal, source: std::io::Error::last_os_error() });
    }
    Ok(())
}

/// Ends this process by `signal`'s default action (restored first; Rust ignores SIGPIPE), as a
/// shell sees a process killed by it; exits with 128 + `signal` if the signal does not end it
/// (blocked, say).
pub fn die_of(signal: libc::c_int) -> ! {
    let _ = set_disposition(signal, libc::SIG_DFL);
    // SAFETY: raise takes a signal number; its default action is what the caller asks for.
    unsafe { libc::raise(signal) };
    std::process::exit(128 + signal)
}

/// Restores default dispositions and an empty mask, for a process about to execve: ignored
/// signals survive execve, and the caller (a Rust program ignores SIGPIPE) must not pass its
/// own on to the container.
pub(crate) fn reset_for_exec() {
    for sig in 1..=libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // Failures for numbers the C library reserves are harmless.
        let _ = set_disposition(sig, libc::SIG_DFL);
    }
    let _ = SignalSet::empty().apply(libc::SIG_SETMASK);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_parse_as_docker_reads_them() {
        assert_eq!(parse_signal("KILL").unwrap(), libc::SIGKILL);
        assert_eq!(parse_signal("sigterm").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("SIGUSR1").unwrap(), libc::SIGUSR1);
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("64").unwrap(), 64);
        for bad in ["0", "65", "SIGNOPE", "", "-1"] {
            assert_eq!(parse_signal(bad).unwrap_err().to_string(), format!("invalid signal: {bad}"));
        }
    }

    #[test]
    fn sets_hold_what_they_were_given() {
        let s = SignalSet::new(&FORWARDED_SIGNALS).unwrap();
        assert!(FORWARDED_SIGNALS.iter().all(|&n| s.contains(n)));
        assert!(!s.contains(libc::SIGKILL));
        assert!(matches!(
            SignalSet::new(&[0, 1000]),
            Err(SignalError::OutOfRange(1000)) | Err(SignalError::OutOfRange(0))
        ));
    }

    #[test]
    fn a_scoped_block_queues_for_the_signalfd_and_restores_the_mask() {
        // The mask is per thread: this test's thread only.
        let set = SignalSet::new(&[libc::SIGUSR2]).unwrap();
        {
            let _blocked = set.block_scoped().unwrap();
            let sfd = SignalFd::new(&set).unwrap();
            // SAFETY: sending a (blocked, so queued) signal to this very thread.
            unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGUSR2) };
            let (r, w) = fd::pipe().unwrap();
            let mut seen = Vec::new();
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(20));
                drop(w);
            });
            wait_readable_forwarding(&r, &set, |s| seen.push(s)).unwrap();
            assert_eq!(seen, [libc::SIGUSR2]);
            drop(sfd);
        }
        let now = SignalSet::empty().apply(libc::SIG_BLOCK).unwrap();
        assert!(!now.contains(libc::SIGUSR2));
    }
}
