//! File descriptor plumbing, one way per call: reads and writes that retry `EINTR`, `poll(2)`
//! that retries it too, close-on-exec pipes and duplicates, FIFOs, and the fixed fd numbers of a
//! hand-over between processes (dup onto a number, take over an inherited number, close or mark
//! close-on-exec everything from a number up).
//!
//! Safe calls are rustix's ([poll(2)], [pipe2(2)], [fcntl(2)], [dup2(2)] for the standard
//! streams); `unsafe` is left for the calls rustix has no safe form of, which all act on fd
//! *numbers*: [`dup_onto`], [`claim_inherited`], [`close_from`] and [`cloexec_from`]. Those serve
//! the hand-over protocols of this workspace (the spawner places fds at 3, 4, ... and the
//! process it starts takes them over), where a number belongs to the protocol, not to an object
//! of the process, in the way the standard streams belong to the process as a whole.
//!
//! [poll(2)]: https://man7.org/linux/man-pages/man2/poll.2.html
//! [pipe2(2)]: https://man7.org/linux/man-pages/man2/pipe2.2.html
//! [fcntl(2)]: https://man7.org/linux/man-pages/man2/fcntl.2.html
//! [dup2(2)]: https://man7.org/linux/man-pages/man2/dup2.2.html

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::io::Errno;

pub use rustix::event::{PollFd, PollFlags};

/// What failed, with the fd number or path it was done to.
#[derive(Debug, thiserror::Error)]
pub enum FdError {
    #[error("reading fd {fd}: {source}")]
    Read { fd: RawFd, source: std::io::Error },
    #[error("writing fd {fd}: {source}")]
    Write { fd: RawFd, source: std::io::Error },
    #[error("poll: {source}")]
    Poll { source: std::io::Error },
    #[error("creating a pipe: {source}")]
    Pipe { source: std::io::Error },
    #[error("duplicating fd {fd}: {source}")]
    Dup { fd: RawFd, source: std::io::Error },
    #[error("duplicating fd {fd} onto fd {target}: {source}")]
    DupOnto { fd: RawFd, target: RawFd, source: std::io::Error },
    #[error("fd {fd} is not open: {source}")]
    NotOpen { fd: RawFd, source: std::io::Error },
    #[error("setting the flags of fd {fd}: {source}")]
    Flags { fd: RawFd, source: std::io::Error },
    #[error("close_range from fd {first}: {source}")]
    CloseRange { first: u32, source: std::io::Error },
    #[error("mkfifo {}: {source}", path.display())]
    Mkfifo { path: PathBuf, source: std::io::Error },
    #[error("open {}: {source}", path.display())]
    Open { path: PathBuf, source: std::io::Error },
}

impl FdError {
    /// The errno of the failed call.
    pub fn errno(&self) -> i32 {
        let source = match self {
            FdError::Read { source, .. }
            | FdError::Write { source, .. }
            | FdError::Poll { source }
            | FdError::Pipe { source }
            | FdError::Dup { source, .. }
            | FdError::DupOnto { source, .. }
            | FdError::NotOpen { source, .. }
            | FdError::Flags { source, .. }
            | FdError::CloseRange { source, .. }
            | FdError::Mkfifo { source, .. }
            | FdError::Open { source, .. } => source,
        };
        source.raw_os_error().unwrap_or(libc::EIO)
    }

    /// The operating system's error, without the fd or path this error adds.
    pub fn io(&self) -> std::io::Error {
        std::io::Error::from_raw_os_error(self.errno())
    }
}

fn os(e: Errno) -> std::io::Error {
    std::io::Error::from(e)
}

/// Reads what is there (at most `buf.len()` bytes), retrying `EINTR`; `Ok(0)` is end of file.
pub fn read(fd: impl AsFd, buf: &mut [u8]) -> Result<usize, FdError> {
    let fd = fd.as_fd();
    loop {
        match rustix::io::read(fd, &mut *buf) {
            Err(Errno::INTR) => continue,
            r => return r.map_err(|e| FdError::Read { fd: fd.as_raw_fd(), source: os(e) }),
        }
    }
}

/// Reads one byte; `Ok(None)` at end of file.
pub fn read_byte(fd: impl AsFd) -> Result<Option<u8>, FdError> {
    let mut b = [0u8; 1];
    Ok((read(fd, &mut b)? == 1).then_some(b[0]))
}

/// Writes what `fd` takes now of `data` (one write(2), retrying `EINTR`); returns how much.
pub fn write(fd: impl AsFd, data: &[u8]) -> Result<usize, FdError> {
    let fd = fd.as_fd();
    loop {
        match rustix::io::write(fd, data) {
            Err(Errno::INTR) => continue,
            r => return r.map_err(|e| FdError::Write { fd: fd.as_raw_fd(), source: os(e) }),
        }
    }
}

/// Writes all of `data`, retrying `EINTR` and short writes.
pub fn write_all(fd: impl AsFd, data: &[u8]) -> Result<(), FdError> {
    let fd = fd.as_fd();
    let mut off = 0;
    while off < data.len() {
        match rustix::io::write(fd, &data[off..]) {
            Ok(0) => return Err(FdError::Write { fd: fd.as_raw_fd(), source: os(Errno::PIPE) }),
            Ok(n) => off += n,
            Err(Errno::INTR) => {}
            Err(e) => return Err(FdError::Write { fd: fd.as_raw_fd(), source: os(e) }),
        }
    }
    Ok(())
}

/// `poll(2)` until an fd is ready or `timeout` (None: no limit) has passed, retrying `EINTR`
/// with the time left; returns how many fds are ready (0: the timeout passed).
pub fn poll(fds: &mut [PollFd<'_>], timeout: Option<Duration>) -> Result<usize, FdError> {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let left = deadline.map(|d| {
            let t = d.saturating_duration_since(Instant::now());
            rustix::event::Timespec { tv_sec: t.as_secs() as _, tv_nsec: t.subsec_nanos() as _ }
        });
        match rustix::event::poll(fds, left.as_ref()) {
            Err(Errno::INTR) => continue,
            r => return r.map_err(|e| FdError::Poll { source: os(e) }),
        }
    }
}

/// Whether an entry of a [`poll`] is ready (readable, writable, hung up or in error).
pub fn ready(p: &PollFd<'_>) -> bool {
    !p.revents().is_empty()
}

/// A close-on-exec pipe: (read end, write end).
pub fn pipe() -> Result<(OwnedFd, OwnedFd), FdError> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| FdError::Pipe { source: os(e) })
}

/// A close-on-exec duplicate of `fd` at the lowest free number at or above `min`.
pub fn dup_cloexec(fd: impl AsFd, min: RawFd) -> Result<OwnedFd, FdError> {
    let fd = fd.as_fd();
    rustix::io::fcntl_dupfd_cloexec(fd, min).map_err(|e| FdError::Dup { fd: fd.as_raw_fd(), source: os(e) })
}

/// Makes fd number `target` a duplicate of `fd` that stays open across execve (dup2(2); for
/// `fd` already at `target`, clears its close-on-exec flag). Whatever `target` was is closed:
/// this places the fds of a hand-over at their agreed numbers, in a process about to exec or
/// forked for it.
pub fn dup_onto(fd: impl AsFd, target: RawFd) -> Result<(), FdError> {
    let fd = fd.as_fd();
    let fail = |source| FdError::DupOnto { fd: fd.as_raw_fd(), target, source };
    if fd.as_raw_fd() == target {
        return rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty()).map_err(|e| fail(os(e)));
    }
    // SAFETY: dup2 takes two integers and touches no memory of ours. It closes what `target`
    // referred to: the callers name the numbers of a hand-over protocol (documented above),
    // which no object of this process uses afterwards.
    if unsafe { libc::dup2(fd.as_raw_fd(), target) } < 0 {
        return Err(fail(std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Takes over fd number `fd`, which this process was handed at a fixed number (inherited across
/// execve, or placed by [`dup_onto`] for the call that names it). Fails when it is not open.
pub fn claim_inherited(fd: RawFd) -> Result<OwnedFd, FdError> {
    // SAFETY: F_GETFD takes and returns integers only; it tells whether the number is open.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(FdError::NotOpen { fd, source: std::io::Error::last_os_error() });
    }
    // SAFETY: the number is open, and by the hand-over protocol it was given to this caller and
    // no other object of the process owns it, so the OwnedFd is its only owner.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Whether fd number `fd` is open.
pub fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD takes and returns integers only.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// Closes every fd from `first` up (close_range(2)): a forked process that does not exec lets
/// go of what its parent had open. Objects of the process that own such fds must not be used
/// afterwards.
pub fn close_from(first: u32) -> Result<(), FdError> {
    close_range(first, 0)
}

/// Marks every fd from `first` up close-on-exec (close_range(2) with `CLOSE_RANGE_CLOEXEC`).
pub fn cloexec_from(first: u32) -> Result<(), FdError> {
    close_range(first, libc::CLOSE_RANGE_CLOEXEC)
}

fn close_range(first: u32, flags: libc::c_uint) -> Result<(), FdError> {
    // SAFETY: close_range takes integers only; with CLOSE_RANGE_CLOEXEC it only sets fd flags,
    // without it the callers are done with every fd in the range (see `close_from`).
    if unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, flags) } < 0 {
        return Err(FdError::CloseRange { first, source: std::io::Error::last_os_error() });
    }
    Ok(())
}

/// Sets or clears `O_NONBLOCK` on `fd`.
pub fn set_nonblocking(fd: impl AsFd, on: bool) -> Result<(), FdError> {
    let fd = fd.as_fd();
    let fail = |e| FdError::Flags { fd: fd.as_raw_fd(), source: os(e) };
    let mut flags = rustix::fs::fcntl_getfl(fd).map_err(fail)?;
    flags.set(rustix::fs::OFlags::NONBLOCK, on);
    rustix::fs::fcntl_setfl(fd, flags).map_err(fail)
}

/// Creates a FIFO at `path` with permissions `mode` (mkfifo(3)).
pub fn mkfifo(path: &Path, mode: u32) -> Result<(), FdError> {
    rustix::fs::mknodat(rustix::fs::CWD, path, rustix::fs::FileType::Fifo, rustix::fs::Mode::from_raw_mode(mode), 0)
        .map_err(|e| FdError::Mkfifo { path: path.to_path_buf(), source: os(e) })
}

/// Points the standard streams (0, 1 and 2) at `/dev/null`.
pub fn stdio_to_null() -> Result<(), FdError> {
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|source| FdError::Open { path: "/dev/null".into(), source })?;
    stdin_from(&null)?;
    let n = null.as_raw_fd();
    let fail = |target| move |e| FdError::DupOnto { fd: n, target, source: os(e) };
    rustix::stdio::dup2_stdout(&null).map_err(fail(1))?;
    rustix::stdio::dup2_stderr(&null).map_err(fail(2))
}

/// Makes standard input a duplicate of `fd`.
pub fn stdin_from(fd: impl AsFd) -> Result<(), FdError> {
    let fd = fd.as_fd();
    rustix::stdio::dup2_stdin(fd).map_err(|e| FdError::DupOnto { fd: fd.as_raw_fd(), target: 0, source: os(e) })
}

/// The standard streams as borrowed fds, for the calls above.
pub fn stdin() -> BorrowedFd<'static> {
    rustix::stdio::stdin()
}

/// Standard output (see [`stdin`]).
pub fn stdout() -> BorrowedFd<'static> {
    rustix::stdio::stdout()
}

/// Standard error (see [`stdin`]).
pub fn stderr() -> BorrowedFd<'static> {
    rustix::stdio::stderr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_all_then_read_back_through_a_pipe() {
        let (r, w) = pipe().unwrap();
        write_all(&w, b"hello").unwrap();
        drop(w);
        let mut buf = [0u8; 16];
        assert_eq!(read(&r, &mut buf).unwrap(), 5);
        assert_eq!(&buf[..5], b"hello");
        assert_eq!(read_byte(&r).unwrap(), None);
    }

    #[test]
    fn poll_times_out_then_sees_data() {
        let (r, w) = pipe().unwrap();
        let mut fds = [PollFd::new(&r, PollFlags::IN)];
        assert_eq!(poll(&mut fds, Some(Duration::from_millis(10))).unwrap(), 0);
        write_all(&w, b"x").unwrap();
        let mut fds = [PollFd::new(&r, PollFlags::IN)];
        assert_eq!(poll(&mut fds, None).unwrap(), 1);
        assert!(ready(&fds[0]));
    }

    #[test]
    fn dup_cloexec_lands_at_or_above_min() {
        let (r, _w) = pipe().unwrap();
        let d = dup_cloexec(&r, 100).unwrap();
        assert!(d.as_raw_fd() >= 100);
        assert!(is_open(d.as_raw_fd()));
        let n = d.as_raw_fd();
        drop(d);
        assert!(!is_open(n));
    }

    #[test]
    fn claiming_a_closed_number_names_it() {
        let e = claim_inherited(987_654).unwrap_err();
        assert_eq!(e.errno(), libc::EBADF);
        assert!(e.to_string().starts_with("fd 987654 is not open"), "{e}");
    }

    #[test]
    fn mkfifo_makes_a_fifo_and_names_the_path_when_it_cannot() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        mkfifo(&p, 0o600).unwrap();
        use std::os::unix::fs::FileTypeExt;
        assert!(std::fs::metadata(&p).unwrap().file_type().is_fifo());
        let e = mkfifo(&p, 0o600).unwrap_err();
        assert_eq!(e.errno(), libc::EEXIST);
        assert!(e.to_string().contains(&p.display().to_string()), "{e}");
    }
}
