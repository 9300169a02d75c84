//! skiff's container engine: Docker's run options turned into OCI runtime
//! specs (a pure function, golden-tested against Docker's own), container
//! records under `containers/<id>/`, the overlay root filesystem, one file per
//! container operation ([`container`]: create, start, stop, kill, rm, wait, ...,
//! each on [`Engine`]), exec, a container's files from the host ([`files`]),
//! volumes, the json-file log and the state the per-container monitor
//! (`skiff-monitor`, a binary of the `skiff` package) records under `/run/skiff`.
//! Errors are [`EngineError`], whose [`ErrorKind`] front ends map to exit codes
//! and HTTP statuses. Docker's flags arrive parsed once, as [`RunOptions`] with
//! typed [`mounts`], [`network_mode`] and [`ports`]; Docker's views of a
//! container (inspect JSON, ps rows) are built here ([`views`]), so every front
//! end prints the same thing.
//!
//! Dependencies: `oci-spec` for the runtime spec types handed to
//! `skiff-runtime`; `skiff-image` for images, layers and the SQLite database,
//! in which this crate creates and migrates its own `containers` table
//! ([`record`]); `tar` for `export` and `commit`; `rustix` for
//! mounts, pipes and `openat2`; process plumbing (fork, wait, pidfds, signals,
//! terminals, fds) is `skiff_runtime`'s (`process`, `signal`, `tty`, `fd`), so
//! this crate has none of its own: the attribute below holds it to that.
//!
//! The fork seam: `start` forks once (`skiff_runtime::process::fork_child`), and the
//! child runs Rust before it execs `skiff-monitor` (or monitors a foreground run in
//! place). That fork refuses in a process with more than one thread. A
//! multi-threaded front end (the Engine API server) therefore never calls `start`
//! in its own process: it spawns `skiff` itself (`skiff start ID`, `skiff run
//! ...`, `skiff exec ...`, with `std::process::Command`, which is safe in a
//! threaded process), handing it a client's connection as its stdio where a
//! stream is attached; everything that reads (inspect, list, logs) it calls here
//! directly.

#![forbid(unsafe_code)]

pub mod apparmor;
pub mod commit;
pub mod container;
mod engine;
pub mod error;
pub mod exec;
pub mod files;
pub mod hosts_files;
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
pub mod views;

pub use engine::{Engine, CGROUP_ROOT};
pub use error::{EngineError, ErrorKind};
pub use mounts::Mount;
pub use network_mode::NetworkMode;
pub use options::{NsMode, Resources, RunOptions};
