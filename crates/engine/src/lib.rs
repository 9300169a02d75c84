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
//! mounts, pipes and `openat2`. Unlike ARCHITECTURE.md's ideal, this crate has
//! a little `unsafe` (fork before exec'ing the monitor, waitpid, signalfd,
//! termios, poll): each block carries a `// SAFETY:` comment.

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

pub use options::{NsMode, Resources, RunOptions};
