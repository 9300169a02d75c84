//! Processes: the one fork entry point of the workspace, waiting and wait statuses, pidfds, and
//! the calls that set a process up as a parent (child subreaper, new session).
//!
//! [`fork_child`] refuses, in every build, to fork a process that has more than one thread
//! (it counts the entries of `/proc/self/task`): the child of a multi-threaded process may only
//! make async-signal-safe calls until it execs, while skiff's children run ordinary Rust (they
//! allocate, format, read files). The runtime's own forks (the helper of [`crate::spawn`] and
//! [`crate::exec`]) go through the same check. The `CLONE_PARENT` clone that helper makes is
//! not checked again: a forked process has exactly one thread, and after joining a container's
//! mount namespace `/proc/self` need not name it any more.
//!
//! Safe calls are rustix's ([waitpid(2)], [pidfd_open(2)], [setsid(2)], `PR_SET_CHILD_SUBREAPER`);
//! `fork(2)` and `madvise(2)` have none.
//!
//! [waitpid(2)]: https://man7.org/linux/man-pages/man2/waitpid.2.html
//! [pidfd_open(2)]: https://man7.org/linux/man-pages/man2/pidfd_open.2.html
//! [setsid(2)]: https://man7.org/linux/man-pages/man2/setsid.2.html

use std::convert::Infallible;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use rustix::io::Errno;
use rustix::process::{Pid, WaitOptions};

/// What failed, with the pid it was done to.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The child of a multi-threaded process may only make async-signal-safe calls.
    #[error("refusing to fork: {threads} threads in this process")]
    MultiThreaded { threads: usize },
    #[error("counting the threads of this process in /proc/self/task: {source}")]
    CountThreads { source: std::io::Error },
    #[error("fork: {source}")]
    Fork { source: std::io::Error },
    #[error("waiting for pid {pid}: {source}")]
    Wait { pid: i32, source: std::io::Error },
    #[error("pidfd_open {pid}: {source}")]
    PidfdOpen { pid: i32, source: std::io::Error },
    #[error("waiting on the pidfd of pid {pid}: {source}")]
    PidfdWait { pid: i32, source: std::io::Error },
    #[error("no such pid: {pid}")]
    NoSuchPid { pid: i32 },
    #[error("becoming a child subreaper: {source}")]
    Subreaper { source: std::io::Error },
    #[error("setsid: {source}")]
    Setsid { source: std::io::Error },
}

impl ProcessError {
    /// The errno of the failed call (`EAGAIN` for a refused fork).
    pub fn errno(&self) -> i32 {
        match self {
            ProcessError::MultiThreaded { .. } => libc::EAGAIN,
            ProcessError::NoSuchPid { .. } => libc::ESRCH,
            ProcessError::CountThreads { source }
            | ProcessError::Fork { source }
            | ProcessError::Wait { source, .. }
            | ProcessError::PidfdOpen { source, .. }
            | ProcessError::PidfdWait { source, .. }
            | ProcessError::Subreaper { source }
            | ProcessError::Setsid { source } => source.raw_os_error().unwrap_or(libc::EIO),
        }
    }
}

fn os(e: Errno) -> std::io::Error {
    std::io::Error::from(e)
}

fn pid_of(pid: i32) -> Result<Pid, ProcessError> {
    Pid::from_raw(pid).filter(|_| pid > 0).ok_or(ProcessError::NoSuchPid { pid })
}

/// How many threads this process has (the entries of `/proc/self/task`).
pub fn thread_count() -> Result<usize, ProcessError> {
    let dir = std::fs::read_dir("/proc/self/task").map_err(|source| ProcessError::CountThreads { source })?;
    Ok(dir.count())
}

/// Forks; the child runs `child`, which never returns (it execs or exits: its closure ends in a
/// `!` expression, which is an [`Infallible`]; a panic in it ends the child with status 101,
/// never unwinding into the caller's frames). Returns the child's pid.
///
/// Refuses when this process has more than one thread. Values moved into `child` are the
/// child's: the parent's copies are dropped (fds closed) when this returns. Flush buffered
/// output first, or the child may write it again.
pub fn fork_child(child: impl FnOnce() -> Infallible) -> Result<i32, ProcessError> {
    let threads = thread_count()?;
    if threads > 1 {
        return Err(ProcessError::MultiThreaded { threads });
    }
    // SAFETY: the process has one thread (checked just above; nothing here starts another), so
    // the child is a complete copy in which ordinary Rust code may run. fork through libc, so
    // glibc's fork handlers keep malloc usable in the child.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(ProcessError::Fork { source: std::io::Error::last_os_error() });
    }
    if pid == 0 {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child));
        exit_now(101);
    }
    Ok(pid)
}

/// Ends this process at once with `code`: no destructors, no atexit handlers, no flush of
/// buffered output (for a forked child, whose buffers are its parent's).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit has no preconditions and never returns.
    unsafe { libc::_exit(code) }
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Exited(i32),
    Signaled(i32),
}

impl ExitStatus {
    /// A status as waitpid(2) reports it.
    pub fn from_wait_status(st: libc::c_int) -> ExitStatus {
        if libc::WIFSIGNALED(st) {
            ExitStatus::Signaled(libc::WTERMSIG(st))
        } else {
            ExitStatus::Exited(libc::WEXITSTATUS(st))
        }
    }

    /// The shell's (and Docker's) exit code: the status, or 128 + the signal.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => c,
            ExitStatus::Signaled(s) => 128 + s,
        }
    }
}

/// Waits for our child `pid` to end, and reaps it (retrying `EINTR`).
pub fn wait(pid: i32) -> Result<ExitStatus, ProcessError> {
    wait_with(pid, WaitOptions::empty()).map(|s| s.unwrap_or(ExitStatus::Exited(0)))
}

/// Reaps our child `pid` if it has ended; `None` while it runs.
pub fn try_wait(pid: i32) -> Result<Option<ExitStatus>, ProcessError> {
    wait_with(pid, WaitOptions::NOHANG)
}

fn wait_with(pid: i32, options: WaitOptions) -> Result<Option<ExitStatus>, ProcessError> {
    let p = pid_of(pid)?;
    loop {
        match rustix::process::waitpid(Some(p), options) {
            Ok(None) => return Ok(None),
            Ok(Some((_, st))) => return Ok(Some(ExitStatus::from_wait_status(st.as_raw()))),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(ProcessError::Wait { pid, source: os(e) }),
        }
    }
}

/// A pidfd (pidfd_open(2)): a handle on a process, ours or not, that becomes readable when it
/// exits; it can sit in a [`crate::fd::poll`] with other fds.
#[derive(Debug)]
pub struct PidFd {
    fd: OwnedFd,
    pid: i32,
}

impl PidFd {
    pub fn open(pid: i32) -> Result<PidFd, ProcessError> {
        let fd = rustix::process::pidfd_open(pid_of(pid)?, rustix::process::PidfdFlags::empty())
            .map_err(|e| ProcessError::PidfdOpen { pid, source: os(e) })?;
        Ok(PidFd { fd, pid })
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Waits until the process has exited, for at most `timeout` (None: no limit); false when
    /// the time ran out first. Does not reap it.
    pub fn wait_exited(&self, timeout: Option<Duration>) -> Result<bool, ProcessError> {
        let mut fds = [crate::fd::PollFd::new(&self.fd, crate::fd::PollFlags::IN)];
        crate::fd::poll(&mut fds, timeout)
            .map(|n| n > 0)
            .map_err(|e| ProcessError::PidfdWait { pid: self.pid, source: e.io() })
    }
}

impl AsFd for PidFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// This process's id.
pub fn getpid() -> i32 {
    rustix::process::getpid().as_raw_nonzero().get()
}

/// Starts a new session (and process group) led by this process; returns its id.
pub fn setsid() -> Result<i32, ProcessError> {
    rustix::process::setsid().map(|p| p.as_raw_nonzero().get()).map_err(|e| ProcessError::Setsid { source: os(e) })
}

/// Makes this process the reaper of its orphaned descendants (`PR_SET_CHILD_SUBREAPER`), as a
/// runtime's parent is when the runtime daemonizes the container init.
pub fn set_child_subreaper() -> Result<(), ProcessError> {
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
        .map_err(|e| ProcessError::Subreaper { source: os(e) })
}

/// Drops from this process's page tables the pages of its read-only file mappings that hold no
/// private copy (`Anonymous: 0 kB` in `/proc/self/smaps`): the pages start-up touched (dynamic
/// loader, libc init) that a long-lived small process never needs again. They are exactly the
/// file's and fault back in from the page cache if used. `MADV_RANDOM` first, so a re-fault maps
/// one page rather than a fault-around window. Refuses in a multi-threaded process, where
/// another thread could remap a range between the read of smaps and the advice.
pub fn trim_resident() -> Result<(), ProcessError> {
    let threads = thread_count()?;
    if threads > 1 {
        return Err(ProcessError::MultiThreaded { threads });
    }
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else { return Ok(()) };
    let mut current: Option<(usize, usize)> = None;
    for l in smaps.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() >= 5 && f[0].contains('-') && !f[0].ends_with(':') {
            current = None;
            let file_backed = f.len() >= 6 && f[5].starts_with('/');
            if !file_backed || f[1].contains('w') {
                continue;
            }
            if let Some((a, b)) = f[0].split_once('-') {
                if let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) {
                    current = Some((a, b));
                }
            }
        } else if f.first() == Some(&"Anonymous:") {
            if let (Some((a, b)), Some(&"0")) = (current.take(), f.get(1)) {
                // SAFETY: the range is a whole mapping of ours, read-only, file-backed and
                // without private copies (and no other thread can change that meanwhile):
                // discarding its pages loses nothing, they are re-read from the file on use.
                unsafe {
                    libc::madvise(a as *mut libc::c_void, b - a, libc::MADV_RANDOM);
                    libc::madvise(a as *mut libc::c_void, b - a, libc::MADV_DONTNEED);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_statuses_decode_exit_codes_and_signals() {
        assert_eq!(ExitStatus::from_wait_status(3 << 8), ExitStatus::Exited(3));
        assert_eq!(ExitStatus::from_wait_status(libc::SIGKILL), ExitStatus::Signaled(libc::SIGKILL));
        assert_eq!(ExitStatus::Signaled(libc::SIGKILL).code(), 137);
        assert_eq!(ExitStatus::Exited(3).code(), 3);
    }

    #[test]
    fn waiting_for_no_child_names_the_pid() {
        let e = wait(1).unwrap_err();
        assert_eq!(e.errno(), libc::ECHILD);
        assert!(e.to_string().starts_with("waiting for pid 1: "), "{e}");
        assert!(matches!(wait(0), Err(ProcessError::NoSuchPid { pid: 0 })));
    }

    #[test]
    fn a_test_process_has_threads_and_fork_is_refused() {
        // The test harness runs this on a thread of its own: at least two.
        let _other = std::thread::spawn(|| std::thread::sleep(Duration::from_millis(200)));
        let n = thread_count().unwrap();
        assert!(n >= 2, "{n}");
        let e = fork_child(|| exit_now(0)).unwrap_err();
        assert!(matches!(e, ProcessError::MultiThreaded { threads } if threads >= 2), "{e}");
        assert!(e.to_string().starts_with("refusing to fork: ") && e.to_string().ends_with(" threads in this process"));
        assert!(matches!(trim_resident(), Err(ProcessError::MultiThreaded { .. })));
    }

    #[test]
    fn pidfd_of_a_child_is_readable_once_it_exits() {
        let mut child = std::process::Command::new("sleep").arg("0.05").spawn().unwrap();
        let pidfd = PidFd::open(child.id() as i32).unwrap();
        assert!(!pidfd.wait_exited(Some(Duration::ZERO)).unwrap());
        assert!(pidfd.wait_exited(Some(Duration::from_secs(10))).unwrap());
        assert!(child.wait().unwrap().success());
    }
}
