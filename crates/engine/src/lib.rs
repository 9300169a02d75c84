//! skiff's container engine: Docker's run options turned into OCI runtime
//! specs (a pure function, golden-tested against Docker's own), container
//! records under `containers/<id>/`, the overlay root filesystem, one file per
//! container operation ([`container`]: create, start, stop, kill, rm, wait, ...,
//! each on [`Engine`]), exec, a container's files from the host ([`files`]),
//! volumes, the json-file log and the state the per-container monitor
//! (`skiff-monitor`, a binary of the `skiff` package) records under `/run/skiff`.
//! Errors are [`EngineError`], whose [`ErrorKind`] front ends map to exit codes
//! and HTTP statuses.
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
mod engine;
pub mod error;
pub mod exec;
pub mod files;
pub mod hosts_files;
pub mod lifecycle;
pub mod logs;
pub mod monitor;
pub mod mounts;
pub mod names;
pub mod network_mode;
pub mod oci_runtime;
pub mod options;
pub mod ports;
pub mod record;
pub mod rootfs;
pub mod spec;
pub mod state;
pub mod units;
pub mod userdb;
pub mod views;

pub use engine::{Engine, CGROUP_ROOT};
pub use error::{EngineError, ErrorKind};
pub use mounts::Mount;
pub use network_mode::NetworkMode;
pub use options::{NsMode, Resources, RunOptions};
