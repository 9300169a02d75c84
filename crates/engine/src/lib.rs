//! skiff's container engine: Docker's run options turned into OCI runtime
//! specs (a pure function, golden-tested against Docker's own), container
//! records under `containers/<id>/`, the overlay root filesystem, the
//! lifecycle (create, start, stop, kill, rm, wait, exec, ...), volumes, the
//! json-file log and the state the per-container monitor (`skiff-monitor`,
//! a binary of the `skiff` package) records under `/run/skiff`.
//!
//! Dependencies: `oci-spec` for the runtime spec types handed to
//! `skiff-runtime`; `skiff-image` for images, layers and the SQLite metadata
//! (the `containers` table); `tar` for `export` and `commit`; `rustix` for
//! mounts, pipes and `openat2`; process plumbing (fork, wait, pidfds, signals,
//! terminals, fds) is `skiff_runtime`'s (`process`, `signal`, `tty`, `fd`).
//! Unlike ARCHITECTURE.md's ideal, `lifecycle` still has `unsafe` of its own
//! (the monitor fork, waitpid, pidfd_open, signalfd, the signal mask, termios,
//! poll, dup2, close_range), each block with a `// SAFETY:` comment, until it
//! calls those functions too; then this crate forbids `unsafe`.

pub mod apparmor;
pub mod commit;
pub mod container;
pub mod exec;
pub mod fs;
pub mod lifecycle;
pub mod logs;
pub mod monitor;
pub mod names;
pub mod oci_runtime;
pub mod options;
pub mod rootfs;
pub mod spec;
pub mod state;
pub mod units;
pub mod userdb;

pub use options::{NsMode, Resources, RunOptions};
