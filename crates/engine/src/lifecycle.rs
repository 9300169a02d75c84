//! Process plumbing of an attached CLI that the runtime crate will own: forwarding signals to a
//! container while waiting for it, the terminal's raw mode, and signal names. (What remains here
//! until the runtime's safe equivalents replace it; the container operations live in
//! [`crate::container`].)

use crate::error::{EngineError, Result};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

pub use crate::engine::CGROUP_ROOT;

/// Waits for our child `child` to exit while the signals in `set` (already blocked, so queued)
/// are handed to `forward`; reaps the child and returns its wait status.
pub fn reap_forwarding_signals(child: i32, set: &libc::sigset_t, forward: impl FnMut(i32)) -> libc::c_int {
    // SAFETY: pidfd_open on our own child; the fd is owned below.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, child, 0) } as RawFd;
    if pidfd >= 0 {
        // SAFETY: pidfd was just opened and is owned by nothing else.
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
        wait_forwarding_signals(pidfd.as_fd(), set, forward);
    }
    let mut status = 0;
    // SAFETY: reaping our own child; `status` is a valid out pointer.
    unsafe { libc::waitpid(child, &mut status, 0) };
    status
}

/// Waits until `fd` is readable (or hung up) while the signals in `set` (already blocked, so
/// queued) are handed to `forward`.
pub(crate) fn wait_forwarding_signals(fd: BorrowedFd<'_>, set: &libc::sigset_t, mut forward: impl FnMut(i32)) {
    // SAFETY: a signalfd for the blocked set, owned below.
    let sfd = unsafe { libc::signalfd(-1, set, libc::SFD_CLOEXEC) };
    // SAFETY: sfd, when valid, was just opened and is owned by nothing else.
    let sfd = (sfd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(sfd) });
    loop {
        let mut fds = [
            libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: sfd.as_ref().map_or(-1, |f| f.as_raw_fd()), events: libc::POLLIN, revents: 0 },
        ];
        // SAFETY: `fds` is a valid array of two pollfds.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if n < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
        if let (Some(sfd), true) = (&sfd, fds[1].revents != 0) {
            // SAFETY: signalfd_siginfo is plain data; zeroed is a valid value.
            let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
            // SAFETY: reading into `info`, a valid buffer of its size.
            let r = unsafe {
                libc::read(
                    sfd.as_raw_fd(),
                    (&mut info as *mut libc::signalfd_siginfo).cast(),
                    std::mem::size_of_val(&info),
                )
            };
            if r > 0 {
                forward(info.ssi_signo as i32);
            }
        }
        if fds[0].revents != 0 {
            return;
        }
    }
}

/// The signals an attached CLI forwards to its container.
pub const FORWARDED_SIGNALS: [libc::c_int; 6] =
    [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT, libc::SIGUSR1, libc::SIGUSR2];

/// Blocks (`SIG_BLOCK`) or unblocks (`SIG_UNBLOCK`) the signals an attached CLI forwards to
/// its container; returns their set.
pub(crate) fn set_forwarded_signals(how: libc::c_int) -> libc::sigset_t {
    mask_signals(how, &FORWARDED_SIGNALS)
}

/// Applies `how` (`SIG_BLOCK`, `SIG_UNBLOCK`) to `signals` in our signal mask; returns their set.
pub fn mask_signals(how: libc::c_int, signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset before use; sigprocmask
    // only reads the set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in signals {
            libc::sigaddset(&mut set, *s);
        }
        libc::sigprocmask(how, &set, std::ptr::null_mut());
        set
    }
}

/// Puts stdin's terminal in raw mode until dropped.
pub struct RawTerminal(libc::termios);

impl RawTerminal {
    /// Raw mode, when stdin is a terminal.
    pub fn enter() -> Option<RawTerminal> {
        // SAFETY: termios is plain data; tcgetattr fills it or fails (not a terminal).
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::isatty(0) != 1 || libc::tcgetattr(0, &mut t) != 0 {
                return None;
            }
            let saved = t;
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(0, libc::TCSANOW, &t);
            Some(RawTerminal(saved))
        }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        // SAFETY: restoring the attributes read in `enter` on the same fd.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &self.0) };
    }
}

/// Parses a signal name or number (`KILL`, `SIGTERM`, `9`).
pub fn parse_signal(s: &str) -> Result<i32> {
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
        _ => return Err(EngineError::BadSignal(s.to_string())),
    };
    Ok(n)
}
