//! Terminals on the caller's side: raw mode for stdin while a container's pty has the keys
//! ([`RawTerminal`], restored on drop), window sizes, and the relay between a pty master and
//! our standard streams. All of it is rustix's safe termios calls ([termios(3)],
//! [ioctl_tty(2)]); the pty inside the container is `init`'s.
//!
//! [termios(3)]: https://man7.org/linux/man-pages/man3/termios.3.html
//! [ioctl_tty(2)]: https://man7.org/linux/man-pages/man2/ioctl_tty.2.html

use std::os::fd::{AsFd, AsRawFd, RawFd};

use rustix::termios::{OptionalActions, Termios};

use crate::fd::{self, PollFd, PollFlags};

pub use rustix::termios::Winsize;

/// What failed, with the fd it was done to.
#[derive(Debug, thiserror::Error)]
pub enum TtyError {
    #[error("reading the window size of fd {fd}: {source}")]
    GetWindowSize { fd: RawFd, source: std::io::Error },
    #[error("setting the window size of fd {fd}: {source}")]
    SetWindowSize { fd: RawFd, source: std::io::Error },
}

impl TtyError {
    /// The errno of the failed call.
    pub fn errno(&self) -> i32 {
        let (TtyError::GetWindowSize { source, .. } | TtyError::SetWindowSize { source, .. }) = self;
        source.raw_os_error().unwrap_or(libc::EIO)
    }
}

/// Stdin's terminal in raw mode until dropped (keys go to a container's pty unprocessed).
#[derive(Debug)]
pub struct RawTerminal {
    saved: Termios,
}

impl RawTerminal {
    /// Raw mode, when stdin is a terminal (else `None`, and nothing changes).
    pub fn enter() -> Option<RawTerminal> {
        let stdin = fd::stdin();
        if !rustix::termios::isatty(stdin) {
            return None;
        }
        let saved = rustix::termios::tcgetattr(stdin).ok()?;
        let mut raw = saved.clone();
        raw.make_raw();
        let _ = rustix::termios::tcsetattr(stdin, OptionalActions::Now, &raw);
        Some(RawTerminal { saved })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(fd::stdin(), OptionalActions::Now, &self.saved);
    }
}

/// The window size of the terminal `fd` (TIOCGWINSZ).
pub fn window_size(fd: impl AsFd) -> Result<Winsize, TtyError> {
    let fd = fd.as_fd();
    rustix::termios::tcgetwinsize(fd)
        .map_err(|e| TtyError::GetWindowSize { fd: fd.as_raw_fd(), source: std::io::Error::from(e) })
}

/// Sets the window size of the terminal `fd` (TIOCSWINSZ).
pub fn set_window_size(fd: impl AsFd, size: Winsize) -> Result<(), TtyError> {
    let fd = fd.as_fd();
    rustix::termios::tcsetwinsize(fd, size)
        .map_err(|e| TtyError::SetWindowSize { fd: fd.as_raw_fd(), source: std::io::Error::from(e) })
}

/// Gives the terminal `to` (a pty master) the window size of the terminal `from`.
pub fn copy_window_size(from: impl AsFd, to: impl AsFd) -> Result<(), TtyError> {
    set_window_size(to, window_size(from)?)
}

/// Copies what the pty `master` says to stdout (and, with `stdin`, our stdin to it) until the
/// pty closes (or fails). Stdin at end of file stops only that direction.
pub fn relay_pty(master: impl AsFd, stdin: bool) {
    let master = master.as_fd();
    let mut buf = vec![0u8; 16 * 1024];
    let mut stdin_open = stdin;
    loop {
        let mut fds = vec![PollFd::new(&master, PollFlags::IN)];
        let input = fd::stdin();
        if stdin_open {
            fds.push(PollFd::new(&input, PollFlags::IN));
        }
        if fd::poll(&mut fds, None).is_err() {
            return;
        }
        let (out_ready, in_ready) = (fd::ready(&fds[0]), stdin_open && fd::ready(&fds[1]));
        if out_ready {
            match fd::read(master, &mut buf) {
                Ok(0) | Err(_) => return,
                Ok(k) => {
                    let _ = fd::write_all(fd::stdout(), &buf[..k]);
                }
            }
        }
        if in_ready {
            match fd::read(input, &mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(k) => {
                    let _ = fd::write_all(master, &buf[..k]);
                }
            }
        }
    }
}
